"""Relabel cycles: train -> score/select -> push -> (review) -> pull/apply -> retrain -> evaluate.

Each step's completion is recorded in the label store (``cycle_steps``), so running
:func:`run_cycle` again continues where the last run stopped. The push and the pull are
themselves crash-safe (see :mod:`relabel.studio.push` and :mod:`relabel.studio.pull`): a
kill at any point never repeats a push and never applies a review twice.

A cycle waits for reviewers between the push and the pull: :func:`run_cycle` returns
``waiting`` (exit code 3) until enough reviews exist, and a later call (by hand or by a
scheduler) resumes with the pull.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from relabel.errors import ExitCode
from relabel.project import Project
from relabel.store import now

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

STEPS = ("train", "select", "push", "pull", "retrain", "evaluate")


@dataclass(frozen=True)
class SimulatedReview:
    """Settings for simulated reviewers (demos and benchmarks)."""

    truth: Mapping[str, str]
    accuracy: float = 0.95
    reviewers: int = 2
    skip_rate: float = 0.05
    seed: int = 0


@dataclass
class CycleResult:
    """What one call of :func:`run_cycle` did.

    Attributes
    ----------
    cycle : int
        The cycle worked on.
    state : str
        ``done``, ``waiting`` (for reviews) or ``nothing_to_do``.
    steps : list of str
        Steps completed in this call.
    summary : dict
        The cycle's figures (see :func:`cycle_history`).
    """

    cycle: int
    state: str
    steps: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        """The process exit code for this result."""
        return {
            "done": ExitCode.OK,
            "waiting": ExitCode.WAITING,
            "nothing_to_do": ExitCode.NOTHING_TO_DO,
        }[self.state]


class _Steps:
    """Reads and writes one cycle's step records."""

    def __init__(self, project: Project, cycle: int) -> None:
        self.store = project.store
        self.cycle = cycle

    def info(self, step: str) -> dict[str, Any] | None:
        row = self.store.conn.execute(
            "SELECT status, info FROM cycle_steps WHERE cycle = ? AND step = ?",
            (self.cycle, step),
        ).fetchone()
        if row is None or row["status"] != "done":
            return None
        return json.loads(row["info"])

    def done(self, step: str, info: dict[str, Any], started: float, started_at: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO cycle_steps (cycle, step, status, started_at, finished_at, seconds, "
                "info) VALUES (?, ?, 'done', ?, ?, ?, ?) ON CONFLICT(cycle, step) DO UPDATE SET "
                "status = 'done', finished_at = excluded.finished_at, "
                "seconds = excluded.seconds, info = excluded.info",
                (
                    self.cycle,
                    step,
                    started_at,
                    now(),
                    time.perf_counter() - started,
                    json.dumps(info, default=float, sort_keys=True),
                ),
            )


def _current_cycle(project: Project) -> tuple[int, bool]:
    """The cycle to work on and whether it is new."""
    row = project.store.conn.execute(
        "SELECT cycle, status FROM cycles ORDER BY cycle DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return 1, True
    if row["status"] == "done":
        return int(row["cycle"]) + 1, True
    return int(row["cycle"]), False


def _fresh_run(project: Project) -> dict[str, Any] | None:
    run = project.store.latest_run("train")
    if run is not None and int(run["labels_version"]) == project.store.max_version():
        return run
    return None


def _evaluate(project: Project, run_id: str) -> dict[str, Any]:
    """Accuracy and macro-F1: on the trusted held-out split if configured, else OOF."""
    from sklearn.metrics import accuracy_score, f1_score

    ranked = project.rank()
    given = ranked.scores.given
    pred = ranked.scores.predicted
    out: dict[str, Any] = {
        "estimated_errors_left": int(ranked.scores.joint.n_label_errors),
        "oof_accuracy": float(accuracy_score(given, pred)),
        "oof_macro_f1": float(f1_score(given, pred, average="macro")),
    }
    holdout = project.config.dataset.holdout
    if holdout:
        from relabel import dataset as dataset_mod
        from relabel import training

        path = Path(holdout) if Path(holdout).is_absolute() else project.root / holdout
        records, problems = dataset_mod.read_manifest(path)
        if problems:
            log.warning("held-out manifest %s: %d invalid row(s) ignored", path, len(problems))
        model = project.root / "runs" / run_id / "model.keras"
        probs = training.predict_probabilities(
            model, [r.path for r in records], project.train_settings()
        )
        y = project.label_indices(__import__("pandas").Series([r.label for r in records]))
        hp = np.asarray(probs).argmax(axis=1)
        out["holdout_accuracy"] = float(accuracy_score(y, hp))
        out["holdout_macro_f1"] = float(f1_score(y, hp, average="macro"))
        out["accuracy"], out["macro_f1"] = out["holdout_accuracy"], out["holdout_macro_f1"]
        out["accuracy_source"] = "holdout"
    else:
        out["accuracy"], out["macro_f1"] = out["oof_accuracy"], out["oof_macro_f1"]
        out["accuracy_source"] = "out-of-fold agreement with current labels"
    return out


def run_cycle(
    project: Project,
    client: Any,
    *,
    until: str | None = None,
    simulate: SimulatedReview | None = None,
    min_reviews: int | None = None,
    budget: float | None = None,
    progress: Progress | None = None,
) -> CycleResult:
    """Run (or resume) one relabel cycle.

    Parameters
    ----------
    project : Project
        The opened project. The caller holds :func:`project_lock`.
    client : relabel.studio.client.StudioClient
        The Label Studio connection.
    until : {"pushed"}, optional
        Stop after the push (people review; the next call resumes with the pull).
    simulate : SimulatedReview, optional
        Answer the tasks with simulated reviewers through the real Label Studio API.
    min_reviews : int, optional
        Pull and retrain only once this many tasks of the cycle have answers
        (default ``review.min_reviews``; 0 means every task of the cycle).
    budget : float, optional
        Override the review budget: a count, or a fraction of the samples in (0, 1).
    progress : callable, optional
        Receives progress lines.

    Returns
    -------
    CycleResult
    """
    from relabel.studio import pull as pull_mod
    from relabel.studio import push as push_mod

    progress = progress or (lambda m: log.info("%s", m))
    store = project.store
    cycle, new = _current_cycle(project)
    if new:
        with store.transaction() as conn:
            conn.execute(
                "INSERT INTO cycles (cycle, status, started_at) VALUES (?, 'running', ?)",
                (cycle, now()),
            )
        progress(f"cycle {cycle}: started")
    steps = _Steps(project, cycle)
    result = CycleResult(cycle, "done")

    def step(name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        info = steps.info(name)
        if info is not None:
            return info
        progress(f"cycle {cycle}: {name}")
        started, started_at = time.perf_counter(), now()
        info = work()
        steps.done(name, info, started, started_at)
        result.steps.append(name)
        return info

    def train() -> dict[str, Any]:
        run = _fresh_run(project)
        if run is not None:
            return {"run_id": run["run_id"], "reused": True}
        r = project.train(progress=progress, cycle=cycle)
        return {"run_id": r.run_id, "reused": False, "oof_accuracy": r.oof_accuracy}

    step("train", train)

    def select() -> dict[str, Any]:
        sp = push_mod.ensure_studio_project(project, client)
        push_mod.reconcile_pending(project, client, sp)
        already = store.tasks(sp, ("planned",))
        if already:
            return {"planned": len(already), "studio_project_id": sp}
        ranked = project.rank()
        planned, busy, reviewed = push_mod.plan(project, sp, budget=budget, cycle=cycle)
        return {
            "planned": planned,
            "studio_project_id": sp,
            "excluded_busy": busy,
            "excluded_reviewed": reviewed,
            "estimated_errors": int(ranked.scores.joint.n_label_errors),
            "budget": project.config.budget_count(len(ranked.table), budget),
        }

    selected = step("select", select)
    sp = int(selected["studio_project_id"])
    cycle_tasks = store.conn.execute(
        "SELECT COUNT(*) FROM tasks WHERE cycle = ? AND studio_project_id = ?", (cycle, sp)
    ).fetchone()[0]
    if selected["planned"] == 0 and cycle_tasks == 0:
        _finish(project, cycle, "done", {"nothing_to_do": True, **selected})
        result.state = "nothing_to_do"
        progress(f"cycle {cycle}: nothing to review (no eligible sample in the budget's lane)")
        return result

    def push() -> dict[str, Any]:
        push_mod.reconcile_pending(project, client, sp)
        pushed = push_mod.push_planned(project, client, sp, progress=progress)
        return {"pushed": pushed}

    step("push", push)
    if until == "pushed":
        result.state = "waiting"
        return result

    def pull() -> dict[str, Any] | None:
        if simulate is not None:
            from relabel.studio.simulate import simulate_reviews

            sim = simulate_reviews(
                client,
                sp,
                simulate.truth,
                accuracy=simulate.accuracy,
                reviewers=simulate.reviewers,
                skip_rate=simulate.skip_rate,
                seed=simulate.seed + cycle,
            )
            progress(f"cycle {cycle}: simulated reviewers answered {getattr(sim, 'created', sim)}")
        summary = pull_mod.pull(project, client, cycle=cycle, progress=progress)
        seen = store.conn.execute(
            "SELECT COUNT(DISTINCT t.row_id) FROM tasks t JOIN reviews r ON "
            "r.task_id = t.task_id AND r.studio_project_id = t.studio_project_id "
            "WHERE t.cycle = ? AND t.studio_project_id = ?",
            (cycle, sp),
        ).fetchone()[0]
        need = project.config.review.min_reviews if min_reviews is None else min_reviews
        need = cycle_tasks if need <= 0 else min(need, cycle_tasks)
        progress(
            f"cycle {cycle}: {seen}/{cycle_tasks} task(s) answered (need {need}); "
            f"this pull: {summary.corrected} corrected, {summary.confirmed} confirmed, "
            f"{summary.excluded} excluded, {summary.unresolved} unresolved"
        )
        if seen < need:
            return None
        return _cycle_review_counts(project, cycle, sp)

    if steps.info("pull") is None:
        started, started_at = time.perf_counter(), now()
        info = pull()
        if info is None:
            result.state = "waiting"
            return result
        steps.done("pull", info, started, started_at)
        result.steps.append("pull")

    def retrain() -> dict[str, Any]:
        run = _fresh_run(project)
        if run is not None:
            return {"run_id": run["run_id"], "reused": True}
        r = project.train(progress=progress, cycle=cycle)
        return {"run_id": r.run_id, "reused": False}

    retrained = step("retrain", retrain)
    evaluated = step("evaluate", lambda: _evaluate(project, retrained["run_id"]))
    summary = {**selected, **(steps.info("pull") or {}), **evaluated}
    _finish(project, cycle, "done", summary)
    from relabel.report.build import build_report

    progress(f"cycle {cycle}: report {build_report(project)}")
    result.summary = cycle_history(project)[-1]
    return result


def _cycle_review_counts(project: Project, cycle: int, sp: int) -> dict[str, Any]:
    """Reviewed / corrected / excluded / unresolved among a cycle's tasks (latest review)."""
    rows = project.store.conn.execute(
        """SELECT t.outcome, COUNT(*) FROM tasks t
           WHERE t.cycle = ? AND t.studio_project_id = ? AND t.outcome IS NOT NULL
           GROUP BY t.outcome""",
        (cycle, sp),
    ).fetchall()
    counts = {r[0]: int(r[1]) for r in rows}
    reviewed = counts.get("confirmed", 0) + counts.get("corrected", 0) + counts.get("excluded", 0)
    return {
        "reviewed": reviewed,
        "confirmed": counts.get("confirmed", 0),
        "corrected": counts.get("corrected", 0),
        "excluded": counts.get("excluded", 0),
        "unresolved": counts.get("unresolved", 0),
        "hit_rate": (counts.get("corrected", 0) + counts.get("excluded", 0)) / reviewed
        if reviewed
        else 0.0,
    }


def _finish(project: Project, cycle: int, status: str, summary: dict[str, Any]) -> None:
    with project.store.transaction() as conn:
        conn.execute(
            "UPDATE cycles SET status = ?, finished_at = ?, summary = ? WHERE cycle = ?",
            (status, now(), json.dumps(summary, default=float, sort_keys=True), cycle),
        )


def cycle_history(project: Project) -> list[dict[str, Any]]:
    """Per cycle: budget, reviewed, corrected, hit rate, errors left, accuracy, step times.

    Returns
    -------
    list of dict
        One dict per cycle, oldest first, with a ``stop_hint`` on the last finished one
        when the hit rate or the estimated errors left fall under the configured thresholds.
    """
    store = project.store
    out = []
    for row in store.conn.execute("SELECT * FROM cycles ORDER BY cycle"):
        summary = json.loads(row["summary"])
        times = {
            r["step"]: round(float(r["seconds"] or 0.0), 2)
            for r in store.conn.execute(
                "SELECT step, seconds FROM cycle_steps WHERE cycle = ? ORDER BY started_at",
                (row["cycle"],),
            )
        }
        out.append(
            {
                "cycle": row["cycle"],
                "status": row["status"],
                "budget": summary.get("budget"),
                "reviewed": summary.get("reviewed"),
                "corrected": summary.get("corrected"),
                "excluded": summary.get("excluded"),
                "hit_rate": summary.get("hit_rate"),
                "estimated_errors_left": summary.get("estimated_errors_left"),
                "accuracy": summary.get("accuracy"),
                "macro_f1": summary.get("macro_f1"),
                "accuracy_source": summary.get("accuracy_source"),
                "step_seconds": times,
                "started_at": row["started_at"],
                "finished_at": row["finished_at"],
            }
        )
    done = [c for c in out if c["status"] == "done" and c["reviewed"] is not None]
    if done:
        last = done[-1]
        review = project.config.review
        n = store.n_samples()
        hints = []
        if last["hit_rate"] is not None and last["hit_rate"] < review.stop_hit_rate:
            hints.append(f"hit rate {last['hit_rate']:.2f} < {review.stop_hit_rate}")
        left = last["estimated_errors_left"]
        if left is not None and left / max(n, 1) < review.stop_errors_left:
            hints.append(f"estimated errors left {left} < {review.stop_errors_left:.1%} of samples")
        if hints:
            last["stop_hint"] = "consider stopping: " + "; ".join(hints)
    return out
