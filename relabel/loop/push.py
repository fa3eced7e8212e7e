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

One Label Studio project holds at most ``studio.max_tasks_per_project`` of relabel's tasks:
the planned tasks fill the binding's projects in order (:func:`spread_tasks`), and the ones
left over go to new projects (:func:`relabel.loop.binding.add_studio_part`), created before
the tasks are planned into them; each project is reconciled and pushed on its own, so the
guarantees above hold in every one.
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
from relabel.loop.binding import add_studio_part, ensure_studio_projects
from relabel.loop.gold import gold_items
from relabel.loop.pull import ask_more_reviewers
from relabel.project import Project, RankedSamples
from relabel.review.plan import PlanSummary, ReviewPlan, plan_review
from relabel.studio.client import StudioClient, TaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushSummary:
    """What a push did.

    ``studio_project_id`` is the bound (first) Label Studio project; ``studio_projects``
    every project of the binding after the push (more than one past
    ``studio.max_tasks_per_project``).
    """

    studio_project_id: int
    planned: int
    pushed: int
    reconciled: int
    resumed: bool
    excluded_busy: int
    excluded_reviewed: int
    seconds: float
    studio_projects: tuple[int, ...] = ()


def _label_task_spec(row: Any, path: str, evidence: dict[str, Any]) -> TaskSpec:
    """The task of a sample of the unlabelled pool (``relabel push --type label``): the
    model's prediction always comes as the pre-annotation."""
    data = {
        "given_label": "(unlabelled)",
        "predicted_label": evidence["predicted_label"],
        "predicted_confidence": f"{evidence['p_predicted']:.2f}",
        "suspicion": 0.0,
        "rank": int(evidence["pick"]),
        "lane": "pool",
        "cycle": row["cycle"],
    }
    prediction = {
        "label": evidence["predicted_label"],
        "score": float(evidence["p_predicted"]),
        "model_version": evidence["run_id"],
    }
    return TaskSpec(sample_id=row["sample_id"], image=path, data=data, prediction=prediction)


def _task_spec(project: Project, row: Any, path: str, evidence: dict[str, Any]) -> TaskSpec:
    if evidence.get("kind") == "label":
        return _label_task_spec(row, path, evidence)
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


def _select(
    project: Project,
    *,
    budget: float | None,
    lane: str | None,
    cycle: int | None,
    ranked: RankedSamples | None,
) -> ReviewPlan:
    """The review domain's selection for the next push, gold tasks mixed in."""
    review = project.config.review
    ranked = ranked or project.rank()
    seed = project.config.training.seed * 1000 + (cycle or 0)
    return plan_review(
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


def plan(
    project: Project,
    studio_project_id: int,
    *,
    budget: float | None = None,
    lane: str | None = None,
    cycle: int | None = None,
    ranked: RankedSamples | None = None,
) -> PlanSummary:
    """Fix the selection for the next push (state ``planned``), gold tasks mixed in, all
    in one Label Studio project (:func:`plan_split` spreads them over several).

    The review domain decides (:func:`relabel.review.plan.plan_review`); this records it.
    ``ranked`` is the project's ranking when the caller has it already.

    Returns
    -------
    PlanSummary
    """
    planned = _select(project, budget=budget, lane=lane, cycle=cycle, ranked=ranked)
    project.store.plan_tasks(
        studio_project_id, planned.items, cycle=cycle, batch=uuid.uuid4().hex[:12]
    )
    return planned.summary


def spread_tasks(used: list[int], limit: int, n: int) -> list[int]:
    """How many of ``n`` new tasks go to each project, each holding at most ``limit``.

    Parameters
    ----------
    used : list of int
        Tasks already in each existing project, in order.
    limit : int
        Most tasks in one project (at least 1).
    n : int
        New tasks.

    Returns
    -------
    list of int
        New tasks per existing project (the first ones with room fill first), then one
        number per new project needed; the numbers sum to ``n``.
    """
    spread = []
    for in_it in used:
        take = min(max(limit - in_it, 0), n)
        spread.append(take)
        n -= take
    while n > 0:
        spread.append(min(limit, n))
        n -= spread[-1]
    return spread


def plan_split(
    project: Project,
    client: StudioClient,
    *,
    budget: float | None = None,
    lane: str | None = None,
    cycle: int | None = None,
    ranked: RankedSamples | None = None,
) -> PlanSummary:
    """As :func:`plan`, spread over the binding's Label Studio projects: each holds at
    most ``studio.max_tasks_per_project`` tasks, and the projects needed beyond them are
    created first (:func:`relabel.loop.binding.add_studio_part`). The tasks are planned in
    ONE transaction.

    Returns
    -------
    PlanSummary
    """
    planned = _select(project, budget=budget, lane=lane, cycle=cycle, ranked=ranked)
    plan_spread(project, client, planned.items, cycle=cycle)
    return planned.summary


def plan_spread(
    project: Project,
    client: StudioClient,
    items: list[tuple[str, dict[str, Any]]],
    *,
    cycle: int | None,
) -> None:
    """Plan ``items`` (sample id, evidence) over the binding's Label Studio projects, each
    holding at most ``studio.max_tasks_per_project`` tasks (the projects needed beyond
    them created first), in ONE transaction."""
    store = project.store
    ids = [int(p["studio_project_id"]) for p in store.studio_parts()]
    counts = store.task_counts(ids)
    spread = spread_tasks(
        [counts[i] for i in ids], project.config.studio.max_tasks_per_project, len(items)
    )
    while len(ids) < len(spread):
        ids.append(add_studio_part(project, client))
    parts, start = [], 0
    for studio_project_id, n in zip(ids, spread, strict=True):
        if n:
            parts.append((studio_project_id, items[start : start + n]))
        start += n
    store.plan_split_tasks(parts, cycle=cycle, batch=uuid.uuid4().hex[:12])


def current_project(project: Project, client: StudioClient) -> int:
    """The Label Studio project a cycle's tasks go to: the binding's last one, or a new
    one (:func:`relabel.loop.binding.add_studio_part`) when that holds
    ``studio.max_tasks_per_project`` tasks already. A cycle's tasks stay in one project."""
    last = ensure_studio_projects(project, client)[-1]
    if project.store.task_counts([last])[last] >= project.config.studio.max_tasks_per_project:
        return add_studio_part(project, client)
    return last


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
    if any(r["sample_id"] not in paths for r in rows):  # label tasks of the unlabelled pool
        pool = store.pool()
        paths.update(zip(pool["sample_id"], pool["path"], strict=True))
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


def open_push(project: Project, client: StudioClient) -> tuple[list[int], int, bool]:
    """Check the binding's Label Studio projects, ask for the reviewers a pull could not
    send and reconcile the tasks an interrupted push left ``pending``; when nothing is left
    to finish, sync the overlap tasks for a new plan. Return the projects' ids, how many
    tasks were reconciled, and whether the push resumes an interrupted one.
    """
    store = project.store
    ids = ensure_studio_projects(project, client)
    reconciled = 0
    for studio_project_id in ids:
        ask_more_reviewers(project, client, studio_project_id)  # any a pull could not send
        reconciled += reconcile_pending(project, client, studio_project_id)
    waiting = any(store.tasks(studio_project_id, ("planned",)) for studio_project_id in ids)
    resumed = waiting or reconciled > 0
    if not resumed:
        for studio_project_id in ids:
            sync_overlap(project, client, studio_project_id)
    return ids, reconciled, resumed


def push_all_planned(
    project: Project,
    client: StudioClient,
    ids: list[int] | None,
    *,
    batch_size: int,
    progress: Progress | None,
) -> tuple[list[int], int]:
    """Import the planned tasks of the projects ``ids`` (``None``: the binding's projects as
    the store has them now, a plan may have added some); return the ids and how many
    tasks were imported.
    """
    if ids is None:
        ids = [int(p["studio_project_id"]) for p in project.store.studio_parts()]
    pushed = sum(
        push_planned(project, client, pid, batch_size=batch_size, progress=progress) for pid in ids
    )
    return ids, pushed


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
    ids, reconciled, resumed = open_push(project, client)
    planned = busy = reviewed = 0
    if not resumed:
        fixed = plan_split(project, client, budget=budget, lane=lane, cycle=cycle, ranked=ranked)
        planned, busy, reviewed = fixed.planned, fixed.excluded_busy, fixed.excluded_reviewed
    ids, pushed = push_all_planned(
        project, client, ids if resumed else None, batch_size=batch_size, progress=progress
    )
    return PushSummary(
        ids[0],
        planned,
        pushed,
        reconciled,
        resumed,
        busy,
        reviewed,
        time.perf_counter() - started,
        tuple(ids),
    )
