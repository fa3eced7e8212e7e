"""Pull reviews from Label Studio and apply them to the label store exactly once.

A pull reads the tasks updated since the previous pull (the cursor), resolves each task's
votes (:mod:`relabel.review.majority` or :mod:`relabel.review.dawid_skene`), lets the review
domain decide what each resolution does to its sample (:mod:`relabel.review.outcome`) and,
in ONE transaction, records the resolutions, the new label versions they imply and the new
cursor. A crash before the commit changes nothing;
a second pull changes nothing (a task whose set of answers is unchanged is skipped by its
fingerprint); an answer edited after a pull changes the fingerprint, so the task is
resolved again and, if the outcome differs from the current label, a new version is added.

A relabel project whose tasks fill several Label Studio projects
(``studio.max_tasks_per_project``) is pulled one project after another, each with its own
cursor and its own transaction: a crash between two leaves the first applied and the next
to the next pull.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relabel.errors import StudioError
from relabel.infra import failpoints
from relabel.infra.progress import Progress, count
from relabel.loop.binding import ensure_studio_projects
from relabel.project import Project
from relabel.review.annotators import crowd_model, item_key
from relabel.review.dawid_skene import Answer, resolve_posterior
from relabel.review.majority import NOT_SURE, NOT_VALID, Resolution, Vote, resolve
from relabel.review.outcome import (
    Decision,
    answered,
    decide,
    decide_unlabelled,
    review_evidence,
    stays_open,
    wants_one_more,
)
from relabel.store import Store
from relabel.studio.client import ReviewedTask, StudioClient

log = logging.getLogger(__name__)

#: A row of the store's task map (:meth:`relabel.store.Store.task_rows_by_task_id`).
TaskRow = Mapping[str, Any]


@dataclass(frozen=True)
class PullSummary:
    """What a pull did.

    Attributes
    ----------
    reviewed : int
        Tasks resolved by this pull (confirmed + corrected + excluded).
    confirmed, corrected, excluded, unresolved : int
        Outcomes; ``unresolved`` tasks stay open for another reviewer.
    corrections : dict
        ``"given>new"`` -> count of corrections per class pair.
    tasks_seen : int
        Tasks with answers read from Label Studio.
    unchanged : int
        Of those, tasks whose answers did not change since the last pull.
    unknown : int
        Tasks relabel did not push (ignored).
    labelled : int
        Label tasks (``relabel push --type label``) that gave a sample of the pool its
        first label (the sample left the pool).
    ignored_answers : int
        Answers naming a class the project does not have: warned about, recorded with
        their task (``ignored_answers`` in its evidence) and not counted as votes.
    gold : int
        Gold tasks answered: their answers measure the reviewers and change no label.
    more_reviewers : list of int
        Unresolved tasks given one more reviewer (Label Studio task ids).
    deleted : list of int
        Open tasks that were deleted in Label Studio (their former task ids): closed, and
        their samples free to be pushed again.
    consensus : str
        How the answers were resolved (``majority`` or ``dawid_skene``).
    studio_projects : int
        Label Studio projects read (more than one past ``studio.max_tasks_per_project``).
    """

    reviewed: int = 0
    confirmed: int = 0
    corrected: int = 0
    excluded: int = 0
    unresolved: int = 0
    corrections: dict[str, int] = field(default_factory=dict)
    tasks_seen: int = 0
    unchanged: int = 0
    unknown: int = 0
    labelled: int = 0
    ignored_answers: int = 0
    gold: int = 0
    more_reviewers: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    consensus: str = "majority"
    seconds: float = 0.0
    studio_projects: int = 1


def fingerprint(task: ReviewedTask) -> str:
    """A stable digest of a task's answers (id, choice, skipped), order-independent."""
    answers = sorted((a.id, a.choice or "", bool(a.was_cancelled)) for a in task.annotations)
    return json.dumps(answers)


Resolver = Callable[[ReviewedTask, list[Vote]], Resolution]


def _resolver(project: Project, studio_project_id: int, tasks: list[ReviewedTask]) -> Resolver:
    """How this pull turns a task's votes into a resolution (``review.consensus``)."""
    review, classes = project.config.review, project.config.dataset.classes
    if review.consensus != "dawid_skene":
        return lambda task, votes: resolve(
            votes, classes=classes, min_agreement=review.min_agreement
        )
    fresh = {
        item_key(studio_project_id, t.task_id): [
            Answer(item_key(studio_project_id, t.task_id), str(a.user), a.choice, a.was_cancelled)
            for a in sorted(t.annotations, key=lambda a: a.id)
        ]
        for t in tasks
    }
    store = project.store
    _, _, estimate = crowd_model(store.crowd_answers(), store.gold_task_labels(), classes, fresh)
    return lambda task, votes: resolve_posterior(
        votes,
        estimate.posterior_of(item_key(studio_project_id, task.task_id)),
        classes=classes,
        min_posterior=review.min_posterior,
    )


@dataclass
class _Tally:
    """What a pull has done so far, task by task."""

    outcomes: Counter[str] = field(default_factory=Counter)
    corrections: Counter[str] = field(default_factory=Counter)
    more: list[int] = field(default_factory=list)

    def summary(self, tasks_seen: int, consensus: str) -> PullSummary:
        o = self.outcomes
        return PullSummary(
            reviewed=o["confirmed"] + o["corrected"] + o["excluded"],
            confirmed=o["confirmed"],
            corrected=o["corrected"],
            excluded=o["excluded"],
            unresolved=o["unresolved"],
            corrections=dict(sorted(self.corrections.items())),
            tasks_seen=tasks_seen,
            unchanged=o["unchanged"],
            unknown=o["unknown"],
            labelled=o["labelled"],
            ignored_answers=o["ignored_answers"],
            gold=o["gold"],
            more_reviewers=self.more,
            consensus=consensus,
        )


def apply_reviews(
    project: Project,
    studio_project_id: int,
    tasks: list[ReviewedTask],
    *,
    cursor: str | None,
    cycle: int | None = None,
    progress: Progress | None = None,
    record_pull: bool = True,
) -> PullSummary:
    """Resolve and apply reviewed tasks in one transaction; see the module docstring.

    ``progress`` gets a count (task ``"pull"``) every 100 tasks and at the end.
    ``record_pull`` False applies the tasks without recording a pull (its cursor and
    summary): how :mod:`relabel.serve` records the answers a webhook brings.
    """
    store = project.store
    rows = store.task_rows_by_task_id(studio_project_id)
    resolver = _resolver(project, studio_project_id, tasks)
    tally = _Tally()
    with store.transaction():
        for done, task in enumerate(sorted(tasks, key=lambda t: t.task_id), start=1):
            if done % 100 == 0 or done == len(tasks):
                count(progress, "pull", done, len(tasks))
            _apply_one(project, studio_project_id, task, rows.get(task.task_id), resolver, tally)
        summary = tally.summary(len(tasks), project.config.review.consensus)
        if record_pull:
            store.add_pull(studio_project_id, cursor, summary.__dict__)
        failpoints.hit("apply:before_commit")
    if cycle is not None:
        log.debug("pull applied for cycle %s", cycle)
    return summary


def _apply_one(
    project: Project,
    studio_project_id: int,
    task: ReviewedTask,
    row: TaskRow | None,
    resolver: Resolver,
    tally: _Tally,
) -> None:
    """Apply one reviewed task (skipped when unknown or unchanged) and count what it did."""
    if row is None:
        tally.outcomes["unknown"] += 1
        return
    task_fingerprint = fingerprint(task)
    if row["fingerprint"] == task_fingerprint:
        tally.outcomes["unchanged"] += 1
        return
    store = project.store
    if json.loads(row["evidence"]).get("gold_label") is not None:
        _apply_gold(store, studio_project_id, task, row, task_fingerprint)
        tally.outcomes["gold"] += 1
        return
    foreign = _foreign_answers(task, project.config.dataset.classes)
    if foreign:
        store.note_ignored_answers(int(row["row_id"]), foreign)
        tally.outcomes["ignored_answers"] += len(foreign)
    review = project.config.review
    resolved = (resolver(task, _votes(task)), review.consensus)
    decision, asked = _apply_task(
        store, studio_project_id, task, row, resolved, task_fingerprint, review.reviewers_per_task
    )
    tally.outcomes[decision.outcome] += 1
    if decision.correction:
        tally.corrections[decision.correction] += 1
    if asked:
        tally.more.append(task.task_id)


def _foreign_answers(task: ReviewedTask, classes: list[str]) -> list[dict[str, Any]]:
    """The task's answers naming a class the project does not have (given through the API
    or by a changed labeling config): warned about here, recorded by the pull, and not
    counted as votes."""
    valid = {*classes, NOT_SURE, NOT_VALID}
    foreign = [
        {"annotation_id": a.id, "reviewer": str(a.user), "choice": a.choice}
        for a in task.annotations
        if not a.was_cancelled and a.choice is not None and a.choice not in valid
    ]
    for answer in foreign:
        log.warning(
            "task %d (sample %s): %s answered %r, which is not a class of the project: "
            "not counted (recorded with the task)",
            task.task_id,
            task.sample_id,
            answer["reviewer"],
            answer["choice"],
        )
    return foreign


def _votes(task: ReviewedTask) -> list[Vote]:
    """The task's answers and skips as votes for :func:`relabel.review.majority.resolve`."""
    return [Vote(a.id, str(a.user), a.choice, bool(a.was_cancelled)) for a in task.annotations]


def _stored_answers(task: ReviewedTask) -> list[tuple[int, str, str | None, bool, Any]]:
    """The task's annotations as the store records them."""
    return [
        (a.id, str(a.user), a.choice, bool(a.was_cancelled), a.updated_at) for a in task.annotations
    ]


def _apply_gold(
    store: Store,
    studio_project_id: int,
    task: ReviewedTask,
    row: TaskRow,
    task_fingerprint: str,
) -> None:
    """Record a gold task's answers; they measure the reviewers and change no label."""
    store.replace_answers(studio_project_id, task.task_id, row["sample_id"], _stored_answers(task))
    store.close_gold_task(int(row["row_id"]), task_fingerprint)


def _apply_task(
    store: Store,
    studio_project_id: int,
    task: ReviewedTask,
    row: TaskRow,
    resolved: tuple[Resolution, str],
    task_fingerprint: str,
    reviewers_per_task: int,
) -> tuple[Decision, bool]:
    """Record one changed task: its label version, answers and review.

    Returns the decision, and whether one more reviewer was asked for.

    ``resolved`` is the resolution and the consensus method that made it. An unresolved
    task whose answers are all in is given one more reviewer, once (recorded here; the
    pull raises the task's overlap in Label Studio after the commit).
    """
    resolution, consensus = resolved
    votes = _votes(task)
    pushed = json.loads(row["evidence"])
    reviewers = sorted({v.reviewer for v in votes if not v.cancelled})
    evidence = review_evidence(
        (studio_project_id, task.task_id), votes, resolution, pushed, consensus
    )
    decision, version = _new_version(store, row, resolution, reviewers, evidence)
    store.replace_answers(studio_project_id, task.task_id, row["sample_id"], _stored_answers(task))
    extra = pushed.get("extra_reviewer")
    store.record_review(
        row,
        outcome=decision.outcome,
        label=decision.label,
        reviewers=reviewers,
        annotation_ids=evidence["annotation_ids"],
        votes=resolution.votes,
        fingerprint=task_fingerprint,
        version_after=version,
        still_open=stays_open(decision, votes, extra),
    )
    asked = wants_one_more(decision, votes, reviewers_per_task, extra)
    if asked:
        store.request_extra_reviewer(int(row["row_id"]), answered(votes) + 1)
    return decision, asked


def _new_version(
    store: Store,
    row: TaskRow,
    resolution: Resolution,
    reviewers: list[str],
    evidence: dict[str, Any],
) -> tuple[Decision, int]:
    """Decide what a resolution does to its sample and append the label version it
    implies; return the decision and the sample's version after it.

    A sample without a label (of the pool, a ``relabel push --type label`` task) gets its
    first label (:func:`relabel.review.outcome.decide_unlabelled`; the evidence says
    ``kind: label``), or is dropped when the image is not valid (version 0: none).
    """
    current = store.current_version_or_none(row["sample_id"])
    if current is None:
        decision, version = decide_unlabelled(resolution), 0
        evidence = {**evidence, "kind": "label"}
        if decision.outcome == "excluded":
            store.add_drop(
                row["sample_id"], True, cycle=row["cycle"], reviewers=reviewers, evidence=evidence
            )
    else:
        decision = decide(resolution, current["label"], current["status"])
        version = int(current["version_id"])
    if decision.new_status is not None and decision.label is not None:
        version = store.add_version(
            row["sample_id"],
            decision.label,
            source="review",
            status=decision.new_status,
            cycle=row["cycle"],
            reviewers=reviewers,
            evidence=evidence,
        )
    return decision, version


def ask_more_reviewers(project: Project, client: StudioClient, studio_project_id: int) -> int:
    """Raise the overlap in Label Studio of every task given one more reviewer and not
    yet raised: this pull's, and any an earlier pull or push could not send (it died, or
    lost the server, after its commit). Each raise is recorded once Label Studio took it.

    A task whose update fails stays unresolved and open; the warning names it, and the
    next pull or push asks again. Returns how many were raised.
    """
    store = project.store
    sent = []
    for task_id, overlap in store.overlaps_to_send(studio_project_id).items():
        try:
            client.set_task_overlap(task_id, overlap)
        except StudioError as exc:
            log.warning(
                "task %d: could not ask for one more reviewer (%s); the next pull or push "
                "asks again",
                task_id,
                exc,
            )
        else:
            sent.append(task_id)
    store.mark_overlaps_sent(studio_project_id, sent)
    if sent:
        log.info("%d unresolved task(s) get one more reviewer", len(sent))
    return len(sent)


def release_deleted_tasks(
    project: Project,
    client: StudioClient,
    studio_project_id: int,
    listed: set[int] | None = None,
) -> list[int]:
    """Close the open tasks that were deleted in Label Studio; their samples are free.

    Each is warned about and recorded (the task row is resolved with outcome ``deleted``,
    see :meth:`relabel.store.Store.release_deleted_tasks`), so that a later push may send
    its sample again. ``listed``: task ids Label Studio just listed (they exist); when
    every open task is among them, the project's task ids are not read at all (listing
    10,000 ids took Label Studio about 7 s). Returns the deleted task ids.
    """
    store = project.store
    rows = store.tasks(studio_project_id, ("open",))
    if not rows or (listed is not None and {int(r["task_id"]) for r in rows} <= listed):
        return []
    present = client.task_ids(studio_project_id)
    gone = [r for r in rows if int(r["task_id"]) not in present]
    for r in gone:
        log.warning(
            "task %d (sample %s) was deleted in Label Studio: closed; the sample may be "
            "pushed again",
            r["task_id"],
            r["sample_id"],
        )
    store.release_deleted_tasks([int(r["row_id"]) for r in gone])
    return [int(r["task_id"]) for r in gone]


def merge_summaries(summaries: list[PullSummary]) -> PullSummary:
    """One summary of the pulls of several Label Studio projects: counts added up."""
    if len(summaries) == 1:
        return summaries[0]
    merged: dict[str, Any] = {}
    for name, value in summaries[0].__dict__.items():
        values = [s.__dict__[name] for s in summaries]
        if isinstance(value, dict):
            merged[name] = dict(sorted(sum((Counter(v) for v in values), Counter()).items()))
        elif isinstance(value, list):
            merged[name] = [x for v in values for x in v]
        elif isinstance(value, str):
            merged[name] = value
        else:
            merged[name] = sum(values)
    return PullSummary(**merged)


def pull(
    project: Project,
    client: StudioClient,
    *,
    cycle: int | None = None,
    progress: Progress | None = None,
) -> PullSummary:
    """Read every answer since the last pull and apply the outcomes exactly once.

    Every Label Studio project of the binding is read, each from its own cursor.

    Raises
    ------
    StudioError
        Server unreachable, token refused, project deleted or its classes changed; the
        store is unchanged.
    """
    started = time.perf_counter()
    ids = ensure_studio_projects(project, client, create=False)
    summaries = []
    for studio_project_id in ids:
        cursor = project.store.last_pull_cursor(studio_project_id)
        tasks = client.list_reviewed_tasks(studio_project_id, updated_after=cursor)
        listed = {t.task_id for t in tasks}
        deleted = release_deleted_tasks(project, client, studio_project_id, listed)
        if progress:
            where = f" in Label Studio project {studio_project_id}" if len(ids) > 1 else ""
            progress(
                f"pull: {len(tasks)} task(s) with answers{where} since {cursor or 'the start'}"
            )
        # The listing's watermark (server time a little before it started) never misses an
        # answer given while pages were read; tasks read twice are skipped by fingerprint.
        new_cursor = getattr(tasks, "watermark", None) or cursor
        summary = apply_reviews(
            project, studio_project_id, tasks, cursor=new_cursor, cycle=cycle, progress=progress
        )
        failpoints.hit("pull:before_overlap")
        ask_more_reviewers(project, client, studio_project_id)
        summaries.append(PullSummary(**{**summary.__dict__, "deleted": deleted}))
    seconds = time.perf_counter() - started
    return PullSummary(**{**merge_summaries(summaries).__dict__, "seconds": seconds})
