"""Push the top of the ranking to Label Studio: idempotent and resumable.

A push goes through states recorded in the label store's ``tasks`` table:

``planned``
    the selection is fixed (one transaction), before anything is sent;
``pending``
    a batch is about to be imported (recorded before the import);
``open``
    Label Studio answered with the task ids (recorded after the import).

A push interrupted at any point resumes: ``pending`` rows are reconciled with the tasks
that exist in Label Studio (found by ``sample_id``), so a batch that reached the server
before the crash is not imported again; ``planned`` rows are pushed. A sample with a
planned, pending or open task is never selected again, nor is a sample reviewed since its
label last changed.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from relabel.infra import failpoints
from relabel.infra.progress import Progress, count
from relabel.loop.binding import ensure_studio_project
from relabel.loop.gold import gold_items
from relabel.loop.pull import ask_more_reviewers
from relabel.project import Project, RankedSamples
from relabel.review.plan import PlanSummary, plan_review
from relabel.studio.client import StudioClient, TaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushSummary:
    """What a push did."""

    studio_project_id: int
    planned: int
    pushed: int
    reconciled: int
    resumed: bool
    excluded_busy: int
    excluded_reviewed: int
    seconds: float


def _task_spec(project: Project, row: Any, path: str, evidence: dict[str, Any]) -> TaskSpec:
    pre = project.config.review.pre_annotate
    data = {
        "given_label": evidence["given_label"],
        "predicted_label": evidence["predicted_label"],
        "predicted_confidence": f"{evidence['p_predicted']:.2f}",
        "suspicion": round(float(evidence["suspicion"]), 6),
        "rank": int(evidence["rank"]),
        "lane": evidence["lane"],
        "cycle": row["cycle"],
    }
    prediction = None
    if pre:
        prediction = {
            "label": evidence["predicted_label"],
            "score": float(evidence["p_predicted"]),
            "model_version": evidence["run_id"],
        }
    return TaskSpec(sample_id=row["sample_id"], image=path, data=data, prediction=prediction)


def plan(
    project: Project,
    studio_project_id: int,
    *,
    budget: float | None = None,
    lane: str | None = None,
    cycle: int | None = None,
    ranked: RankedSamples | None = None,
) -> PlanSummary:
    """Fix the selection for the next push (state ``planned``), gold tasks mixed in.

    The review domain decides (:func:`relabel.review.plan.plan_review`); this records it.
    ``ranked`` is the project's ranking when the caller has it already.

    Returns
    -------
    PlanSummary
    """
    review = project.config.review
    ranked = ranked or project.rank()
    seed = project.config.training.seed * 1000 + (cycle or 0)
    planned = plan_review(
        ranked.table,
        ranked.run_id,
        project.config.budget_count(len(ranked.table), budget),
        lane=lane or review.lane,
        busy=project.store.busy_sample_ids(),
        reviewed=project.store.reviewed_sample_ids(),
        rules=review,
        gold_source=lambda exclude, want: gold_items(project, ranked, exclude, want, seed),
        seed=seed,
    )
    project.store.plan_tasks(
        studio_project_id, planned.items, cycle=cycle, batch=uuid.uuid4().hex[:12]
    )
    return planned.summary


def sync_overlap(project: Project, client: StudioClient, studio_project_id: int) -> None:
    """Give the Label Studio project ``review.reviewers_per_task`` answers per task."""
    want = str(project.config.review.reviewers_per_task)
    key = f"studio_overlap:{studio_project_id}"
    if project.store.get_meta(key, "1") != want:
        client.set_maximum_annotations(studio_project_id, int(want))
        project.store.set_meta(key, want)


def reconcile_pending(project: Project, client: StudioClient, studio_project_id: int) -> int:
    """Settle rows left ``pending`` by an interrupted push; return how many were found."""
    store = project.store
    pending = store.tasks(studio_project_id, ("pending",))
    if not pending:
        return 0
    found = client.find_tasks_by_sample_ids(studio_project_id, [r["sample_id"] for r in pending])
    assignments = []
    missing = []
    for r in pending:
        task_ids = sorted(found.get(r["sample_id"], []))
        if task_ids:
            if len(task_ids) > 1:
                log.warning(
                    "sample %s has %d tasks in Label Studio: %s",
                    r["sample_id"],
                    len(task_ids),
                    task_ids,
                )
            assignments.append((r["row_id"], task_ids[0]))
        else:
            missing.append(r["row_id"])
    store.open_tasks(assignments)
    store.set_task_state(missing, "planned")
    log.info(
        "interrupted push: %d task(s) had reached Label Studio, %d will be sent again",
        len(assignments),
        len(missing),
    )
    return len(assignments)


def push_planned(
    project: Project,
    client: StudioClient,
    studio_project_id: int,
    *,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> int:
    """Import every planned task in batches; return how many were imported."""
    store = project.store
    labels = store.labels()
    paths = dict(zip(labels["sample_id"], labels["path"], strict=True))
    paths.update(store.gold_paths(studio_project_id))
    rows = store.tasks(studio_project_id, ("planned",))
    done = 0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        specs = [
            _task_spec(project, r, paths[r["sample_id"]], json.loads(r["evidence"])) for r in batch
        ]
        row_ids = [r["row_id"] for r in batch]
        store.set_task_state(row_ids, "pending")
        task_ids = client.import_tasks(
            studio_project_id,
            specs,
            project.config.review.image_mode,
            document_root=project.config.studio.document_root or None,
        )
        failpoints.hit("push:after_import")
        store.open_tasks(list(zip(row_ids, task_ids, strict=True)))
        done += len(batch)
        count(progress, "push", done, len(rows), f"push: {done}/{len(rows)} tasks")
    return done


def check_push(project: Project, client: StudioClient) -> RankedSamples | None:
    """Check what a push needs before Label Studio hears of it (no project is created,
    nothing recorded, when this raises): the image mode, the held-out manifest and, unless
    an interrupted push is to be finished, the ranking (a finished run and its ``runs/``
    folder). Returns the ranking when it was computed.

    Raises
    ------
    ConfigError
        ``local-files`` without the server's document root, or an unknown image mode.
    DatasetError
        A held-out label that is not a class.
    NotTrainedError
        No finished run, or its files are gone.
    """
    client.check_image_mode(
        project.config.review.image_mode, project.config.studio.document_root or None
    )
    project.holdout()
    if project.store.has_unfinished_push():
        return None
    return project.rank()


def push(
    project: Project,
    client: StudioClient,
    *,
    budget: float | None = None,
    lane: str | None = None,
    cycle: int | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> PushSummary:
    """Send the most suspicious samples to Label Studio, within the review budget.

    If an earlier push was interrupted, this finishes it instead of selecting anew.

    Parameters
    ----------
    project : Project
        The opened relabel project (it must have a training run).
    client : StudioClient
        The Label Studio connection.
    budget : float, optional
        Most samples to push: a count, or a fraction of the samples in (0, 1) (default:
        ``review.budget`` from the config).
    lane : str, optional
        ``label_issue``, ``uncertain`` or ``all`` (default: ``review.lane``).
    cycle : int, optional
        The cycle the tasks belong to.
    batch_size : int
        Tasks per import request.
    progress : callable, optional
        Receives progress lines.
    """
    started = time.perf_counter()
    ranked = check_push(project, client)
    studio_project_id = ensure_studio_project(project, client)
    ask_more_reviewers(project, client, studio_project_id)  # any a pull could not send
    reconciled = reconcile_pending(project, client, studio_project_id)
    resumed = bool(project.store.tasks(studio_project_id, ("planned",))) or reconciled > 0
    planned = busy = reviewed = 0
    if not project.store.tasks(studio_project_id, ("planned",)) and not reconciled:
        sync_overlap(project, client, studio_project_id)
        fixed = plan(
            project, studio_project_id, budget=budget, lane=lane, cycle=cycle, ranked=ranked
        )
        planned, busy, reviewed = fixed.planned, fixed.excluded_busy, fixed.excluded_reviewed
    pushed = push_planned(
        project, client, studio_project_id, batch_size=batch_size, progress=progress
    )
    return PushSummary(
        studio_project_id,
        planned,
        pushed,
        reconciled,
        resumed,
        busy,
        reviewed,
        time.perf_counter() - started,
    )
