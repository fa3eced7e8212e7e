"""Relabel cycles: train -> score/select -> push -> (review) -> pull/apply -> retrain -> evaluate.

Each step's completion is recorded in the label store (``cycle_steps``), so running
:func:`run_cycle` again continues where the last run stopped. The push and the pull are
themselves crash-safe (see :mod:`relabel.loop.push` and :mod:`relabel.loop.pull`): a
kill at any point never repeats a push and never applies a review twice.

A cycle waits for reviewers between the push and the pull: :func:`run_cycle` returns
``waiting`` (exit code 3) until enough reviews exist, and a later call (by hand or by a
scheduler) resumes with the pull.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from relabel.errors import ExitCode
from relabel.infra.progress import Progress
from relabel.loop.binding import ensure_studio_projects
from relabel.project import Project
from relabel.project.gains import errors_left_of, learning_curve_of
from relabel.project.runs import trained_as_configured
from relabel.review.cycles import cycle_history
from relabel.review.stopping import stop_reason
from relabel.store import now

if TYPE_CHECKING:
    from relabel.studio.client import StudioClient

log = logging.getLogger(__name__)

#: Answers a cycle's tasks in Label Studio before each pull: called with the project, the
#: Label Studio client, the Label Studio project id and the cycle number. What it returns,
#: when not None, is shown as a progress line ``cycle N: <what it returned>``. Simulated
#: reviewers are one (:class:`relabel.demo.reviewers.SimulatedReview`).
Reviewer = Callable[[Project, "StudioClient", int, int], Any]

STEPS = ("train", "select", "push", "pull", "retrain", "evaluate")


@dataclass
class CycleResult:
    """What one call of :func:`run_cycle` did.

    Attributes
    ----------
    cycle : int
        The cycle worked on.
    state : str
        ``done``, ``waiting`` (for reviews), ``nothing_to_do`` or ``stopped`` (the next
        cycle was expected to gain too little; ``summary["stopped"]`` says why).
    steps : list of str
        Steps completed in this call.
    summary : dict
        The cycle's figures (see :func:`relabel.review.cycles.cycle_history`).
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
            "stopped": ExitCode.STOPPED,
        }[self.state]


@dataclass
class _OpenCycle:
    """The cycle being worked on: its project and Label Studio client, where progress
    goes, and the result of this call so far (the cycle number, the steps it completed).

    Each step's record lives in the store (:meth:`relabel.store.Store.cycle_step`).
    """

    project: Project
    client: StudioClient
    progress: Progress
    result: CycleResult

    @property
    def number(self) -> int:
        return self.result.cycle

    def say(self, message: str) -> None:
        self.progress(f"cycle {self.number}: {message}")

    def step(self, name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run a step unless the store records it as done, and record it; return its info."""
        info = self.try_step(name, work)
        if info is None:
            raise RuntimeError(f"cycle step {name} returned no info")
        return info

    def try_step(
        self, name: str, work: Callable[[], dict[str, Any] | None], *, announce: bool = True
    ) -> dict[str, Any] | None:
        """Run a step unless the store records it as done; record it when it is done.

        ``work`` returns the step's info, or None when the step cannot finish yet (it is
        then not recorded). Returns the info, recorded or new, or None.
        """
        store = self.project.store
        info = store.cycle_step(self.number, name)
        if info is not None:
            return info
        if announce:
            self.say(name)
        started, started_at = time.perf_counter(), now()
        info = work()
        if info is None:
            return None
        seconds = time.perf_counter() - started
        store.finish_cycle_step(self.number, name, info, started_at=started_at, seconds=seconds)
        self.result.steps.append(name)
        return info


def _stop_rule(project: Project, progress: Progress) -> CycleResult | None:
    """``stopped`` instead of a new cycle when the next one is expected to gain less than
    ``review.stop_when_gain_below`` (or ``stop_when_accuracy_gain_below``); None to go on.

    An unfinished cycle always goes on; without a run there is nothing to estimate.
    """
    review, store = project.config.review, project.store
    if review.stop_when_gain_below <= 0 and review.stop_when_accuracy_gain_below <= 0:
        return None
    latest = store.latest_cycle()
    if (latest is not None and latest[1] != "done") or store.latest_run("train") is None:
        return None
    errors = errors_left_of(project.root, project.config, store, project.rank())
    curve = learning_curve_of(project.config, store)
    reason = stop_reason(
        errors, curve, review.stop_when_gain_below, review.stop_when_accuracy_gain_below
    )
    if reason is None:
        return None
    number = 1 if latest is None else latest[0] + 1
    progress(f"cycle {number}: not started: {reason}")
    return CycleResult(number, "stopped", summary={"stopped": reason})


def _open_cycle(project: Project, client: StudioClient, progress: Progress) -> _OpenCycle:
    """The cycle to work on: the unfinished one, else a new one (recorded as started)."""
    latest = project.store.latest_cycle()
    if latest is not None and latest[1] != "done":
        return _OpenCycle(project, client, progress, CycleResult(latest[0], "done"))
    number = 1 if latest is None else latest[0] + 1
    cycle = _OpenCycle(project, client, progress, CycleResult(number, "done"))
    project.store.start_cycle(number)
    cycle.say("started")
    return cycle


def _fresh_run(project: Project) -> dict[str, Any] | None:
    """The latest training run if it was trained on the current labels with the model
    settings ``relabel.toml`` has now, else None."""
    run = project.store.latest_run("train")
    if run is None or int(run["labels_version"]) != project.store.max_version():
        return None
    if not trained_as_configured(run, project.config):
        log.info("run %s was trained before relabel.toml changed: training anew", run["run_id"])
        return None
    return run


def _train(cycle: _OpenCycle) -> dict[str, Any]:
    """Step ``train``: a model on the current labels (reusing a fresh run)."""
    run = _fresh_run(cycle.project)
    if run is not None:
        return {"run_id": run["run_id"], "reused": True}
    r = cycle.project.train(progress=cycle.progress, cycle=cycle.number)
    return {"run_id": r.run_id, "reused": False, "oof_accuracy": r.oof_accuracy}


def _select(cycle: _OpenCycle, budget: float | None) -> dict[str, Any]:
    """Step ``select``: plan the cycle's tasks (the most suspicious samples in the budget)."""
    from relabel.loop import push as push_mod

    project = cycle.project
    checked = push_mod.check_push(project, cycle.client)  # before a project is created
    for studio_project_id in ensure_studio_projects(project, cycle.client):
        push_mod.reconcile_pending(project, cycle.client, studio_project_id)
        already = project.store.tasks(studio_project_id, ("planned",))
        if already:
            return {"planned": len(already), "studio_project_id": studio_project_id}
    studio_project_id = push_mod.current_project(project, cycle.client)
    push_mod.sync_overlap(project, cycle.client, studio_project_id)
    ranked = checked or project.rank()
    fixed = push_mod.plan(
        project, studio_project_id, budget=budget, cycle=cycle.number, ranked=ranked
    )
    return {
        "planned": fixed.planned,
        "gold": fixed.gold,
        "studio_project_id": studio_project_id,
        "excluded_busy": fixed.excluded_busy,
        "excluded_reviewed": fixed.excluded_reviewed,
        "below_floor": fixed.below_floor,
        "reason": fixed.reason if fixed.planned == 0 else "",
        "estimated_errors": int(ranked.scores.joint.n_label_errors),
        "budget": project.config.budget_count(len(ranked.table), budget),
    }


def _push(cycle: _OpenCycle, studio_project_id: int) -> dict[str, Any]:
    """Step ``push``: send the planned tasks to Label Studio."""
    from relabel.loop import push as push_mod

    push_mod.reconcile_pending(cycle.project, cycle.client, studio_project_id)
    pushed = push_mod.push_planned(
        cycle.project, cycle.client, studio_project_id, progress=cycle.progress
    )
    return {"pushed": pushed}


def _pull(
    cycle: _OpenCycle,
    studio_project_id: int,
    cycle_tasks: int,
    review: Reviewer | None,
    min_reviews: int | None,
) -> dict[str, Any] | None:
    """Step ``pull``: let ``review`` answer, apply the answers; None until enough exist."""
    from relabel.loop import pull as pull_mod

    project, store = cycle.project, cycle.project.store
    if review is not None:
        answered = review(project, cycle.client, studio_project_id, cycle.number)
        if answered is not None:
            cycle.say(str(answered))
    summary = pull_mod.pull(project, cycle.client, cycle=cycle.number, progress=cycle.progress)
    seen, need = review_progress(project, cycle.number, studio_project_id, min_reviews)
    cycle.say(
        f"{seen}/{cycle_tasks} task(s) answered (need {need}); "
        f"this pull: {summary.corrected} corrected, {summary.confirmed} confirmed, "
        f"{summary.excluded} excluded, {summary.unresolved} unresolved"
    )
    if seen < need:
        return None
    return _review_counts(store.cycle_task_outcomes(cycle.number, studio_project_id))


def review_progress(
    project: Project, cycle: int, studio_project_id: int, min_reviews: int | None = None
) -> tuple[int, int]:
    """How many tasks of a cycle have answers, and how many its pull step waits for.

    Parameters
    ----------
    project : Project
        The opened project.
    cycle : int
        The cycle.
    studio_project_id : int
        Its Label Studio project.
    min_reviews : int, optional
        As for :func:`run_cycle` (default ``review.min_reviews``; 0: every task).

    Returns
    -------
    (answered, needed) : tuple of int
    """
    store = project.store
    cycle_tasks = store.count_cycle_tasks(cycle, studio_project_id)
    need = project.config.review.min_reviews if min_reviews is None else min_reviews
    need = cycle_tasks if need <= 0 else min(need, cycle_tasks)
    return store.count_answered_cycle_tasks(cycle, studio_project_id), need


def waiting_cycle(project: Project) -> tuple[int, int] | None:
    """The cycle that waits for answers, with its Label Studio project, or None.

    That is the latest cycle when it is unfinished and its tasks were pushed.
    """
    latest = project.store.latest_cycle()
    if latest is None or latest[1] == "done":
        return None
    pushed = project.store.cycle_step(latest[0], "push")
    selected = project.store.cycle_step(latest[0], "select")
    if pushed is None or selected is None:
        return None
    return latest[0], int(selected["studio_project_id"])


def _retrain(cycle: _OpenCycle) -> dict[str, Any]:
    """Step ``retrain``: a model on the reviewed labels (reusing a fresh run)."""
    run = _fresh_run(cycle.project)
    if run is not None:
        return {"run_id": run["run_id"], "reused": True}
    r = cycle.project.train(progress=cycle.progress, cycle=cycle.number)
    return {"run_id": r.run_id, "reused": False}


def _evaluate(project: Project, run_id: str) -> dict[str, Any]:
    """Accuracy and macro-F1: on the trusted held-out split if configured, else OOF."""
    from sklearn.metrics import accuracy_score, f1_score

    ranked = project.rank()
    given = ranked.scores.given
    pred = ranked.scores.predicted
    left = errors_left_of(project.root, project.config, project.store, ranked)
    out: dict[str, Any] = {
        "estimated_errors_left": int(ranked.scores.joint.n_label_errors),
        "errors_left": round(left.expected, 1),
        "errors_left_low": round(left.low, 1),
        "errors_left_high": round(left.high, 1),
        "next_cycle_expected": round(left.next_expected, 1),
        "oof_accuracy": float(accuracy_score(given, pred)),
        "oof_macro_f1": float(f1_score(given, pred, average="macro")),
    }
    records = project.holdout()
    if records:
        probs = project.predict([r.path for r in records], run_id)
        y = project.label_indices(pd.Series([r.label for r in records]))
        hp = np.asarray(probs).argmax(axis=1)
        out["holdout_accuracy"] = float(accuracy_score(y, hp))
        out["holdout_macro_f1"] = float(f1_score(y, hp, average="macro"))
        out["accuracy"], out["macro_f1"] = out["holdout_accuracy"], out["holdout_macro_f1"]
        out["accuracy_source"] = "holdout"
    else:
        out["accuracy"], out["macro_f1"] = out["oof_accuracy"], out["oof_macro_f1"]
        out["accuracy_source"] = "out-of-fold agreement with current labels"
    return out


def _review_counts(counts: dict[str, int]) -> dict[str, Any]:
    """Reviewed / corrected / excluded / unresolved and the hit rate, from outcome counts."""
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


def run_cycle(
    project: Project,
    client: StudioClient,
    *,
    until: str | None = None,
    review: Reviewer | None = None,
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
    review : Reviewer, optional
        Answers the tasks before each pull, e.g. simulated reviewers
        (:class:`relabel.demo.reviewers.SimulatedReview`) through the real Label Studio
        API. Without it, people answer in Label Studio.
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
    project.holdout()  # a held-out label that is no class: refused before anything is written
    say = progress or (lambda m: log.info("%s", m))
    stopped = _stop_rule(project, say)
    if stopped is not None:
        return stopped
    cycle = _open_cycle(project, client, say)
    cycle.step("train", lambda: _train(cycle))
    selected = cycle.step("select", lambda: _select(cycle, budget))
    studio_project_id = int(selected["studio_project_id"])
    cycle_tasks = project.store.count_cycle_tasks(cycle.number, studio_project_id)
    if selected["planned"] == 0 and cycle_tasks == 0:
        project.store.finish_cycle(cycle.number, "done", {"nothing_to_do": True, **selected})
        cycle.result.state = "nothing_to_do"
        cycle.say(f"nothing to review: {selected.get('reason') or 'no eligible sample'}")
        return cycle.result
    cycle.step("push", lambda: _push(cycle, studio_project_id))
    if until == "pushed":
        cycle.result.state = "waiting"
        return cycle.result
    pulled = cycle.try_step(
        "pull",
        lambda: _pull(cycle, studio_project_id, cycle_tasks, review, min_reviews),
        announce=False,
    )
    if pulled is None:
        cycle.result.state = "waiting"
        return cycle.result
    retrained = cycle.step("retrain", lambda: _retrain(cycle))
    evaluated = cycle.step("evaluate", lambda: _evaluate(project, retrained["run_id"]))
    return _finish(cycle, {**selected, **pulled, **evaluated})


def _finish(cycle: _OpenCycle, summary: dict[str, Any]) -> CycleResult:
    """Record the cycle as done, write the report, and return the result with its figures."""
    from relabel.report.build import build_report

    project = cycle.project
    project.store.finish_cycle(cycle.number, "done", summary)
    cycle.say(f"report {build_report(project)}")
    store = project.store
    history = cycle_history(store.cycles(), store.n_samples(), project.config.review)
    cycle.result.summary = history[-1]
    return cycle.result
