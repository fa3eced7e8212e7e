"""Record the answers a webhook brings, exactly as a pull would, and exactly once.

For each task of the webhook, the answers the store recorded last (a pull's, or an earlier
webhook's) are merged with the webhook's (an answer with the same annotation id is
replaced: ``ANNOTATION_UPDATED``), and the task goes through
:func:`relabel.loop.pull.apply_reviews`, the pull's own code path, without recording a
pull. So the same rules hold: a task whose set of answers is unchanged (a replayed
webhook, or a pull after the webhook) is skipped by its fingerprint; a changed one is
resolved again; an answer older than the one recorded (a webhook recorded after a pull
that saw the answer edited) is left out. The pull stays the truth: an answer whose webhook
was lost, or a deleted answer, is found by the next pull.

:func:`record_inbox` records the pending events of the webhook inbox
(:mod:`relabel.store.inbox`) in one batch, and marks them done in the same transaction.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from relabel.infra import failpoints
from relabel.loop.pull import PullSummary, apply_reviews, merge_summaries
from relabel.project import Project
from relabel.studio.models import Annotation, ReviewedTask
from relabel.studio.webhooks import (
    PayloadError,
    WebhookAnswer,
    WebhookEvent,
    completed_by_ids,
    parse_webhook,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """What one webhook did to the store.

    Attributes
    ----------
    answers : int
        Answers the webhook carried.
    other_project : int
        Of those, answers of another Label Studio project (or any, when the project is
        not bound yet): ignored.
    summary : PullSummary or None
        What applying the tasks did, as a pull reports it (None when nothing was applied).
    """

    answers: int
    other_project: int
    summary: PullSummary | None

    def as_dict(self) -> dict[str, object]:
        """The JSON the webhook's answer carries."""
        s = self.summary
        return {
            "answers": self.answers,
            "other_project": self.other_project,
            "tasks": 0 if s is None else s.tasks_seen,
            "reviewed": 0 if s is None else s.reviewed,
            "unchanged": 0 if s is None else s.unchanged,
            "unknown": 0 if s is None else s.unknown,
            "unresolved": 0 if s is None else s.unresolved,
            "gold": 0 if s is None else s.gold,
        }


def _stored(project: Project, studio_project_id: int, task_id: int) -> list[Annotation]:
    return [
        Annotation(id=a, user=r, choice=c, was_cancelled=x, updated_at=u)
        for a, r, c, x, u in project.store.task_answers(studio_project_id, task_id)
    ]


def merged_tasks(
    project: Project, studio_project_id: int, answers: list[WebhookAnswer]
) -> list[ReviewedTask]:
    """The webhook's tasks with every answer known now: the store's, then the webhook's.

    Tasks without a ``sample_id`` (not relabel's) are left out.
    """
    by_task: dict[int, list[WebhookAnswer]] = defaultdict(list)
    for answer in answers:
        if answer.sample_id is not None:
            by_task[answer.task_id].append(answer)
    tasks = []
    for task_id, found in sorted(by_task.items()):
        known = {a.id: a for a in _stored(project, studio_project_id, task_id)}
        for a in found:  # in the order received: a later version replaces an earlier one
            if not _older(a.annotation, known.get(a.annotation.id)):
                known[a.annotation.id] = a.annotation
        updated = max((a.annotation.updated_at or "" for a in found), default="")
        tasks.append(
            ReviewedTask(
                task_id,
                str(found[0].sample_id),
                updated,
                [known[k] for k in sorted(known)],
            )
        )
    return tasks


def _when(stamp: str | None) -> datetime | None:
    try:
        return None if not stamp else datetime.fromisoformat(stamp)
    except ValueError:
        return None


def _older(given: Annotation, recorded: Annotation | None) -> bool:
    """Whether ``given`` is an older version of the ``recorded`` answer (both dated)."""
    if recorded is None:
        return False
    new, old = _when(given.updated_at), _when(recorded.updated_at)
    try:
        return new is not None and old is not None and new < old
    except TypeError:  # one with a time zone, one without: not comparable
        return False


def record_event(project: Project, event: WebhookEvent) -> Recorded:
    """Apply a webhook's answers to the store of ``project`` (whose lock the caller holds).

    Parameters
    ----------
    project : Project
        The opened project, held under its lock.
    event : WebhookEvent
        The parsed webhook (:func:`relabel.studio.webhooks.parse_webhook`).

    Returns
    -------
    Recorded
    """
    bound = [int(p["studio_project_id"]) for p in project.store.studio_parts()]
    ours = [a for a in event.answers if a.project_id in bound]
    other = len(event.answers) - len(ours)
    if other:
        log.info("webhook: %d answer(s) of another Label Studio project ignored", other)
    summaries = []
    for studio_project_id in bound:  # each of the binding's projects (usually one)
        mine = [a for a in ours if a.project_id == studio_project_id]
        tasks = merged_tasks(project, studio_project_id, mine)
        if tasks:
            summaries.append(
                apply_reviews(project, studio_project_id, tasks, cursor=None, record_pull=False)
            )
    summary = merge_summaries(summaries) if summaries else None
    return Recorded(len(event.answers), other, summary)


@dataclass(frozen=True)
class Drained:
    """What one batch of the inbox did: its events, and what recording them did."""

    events: int
    unreadable: int
    recorded: Recorded


#: Reviewers' e-mail addresses for user ids (ids missing: unknown).
Emails = Callable[[set[int]], Mapping[int, str]]


def record_inbox(project: Project, limit: int, emails: Emails | None = None) -> Drained | None:
    """Record the oldest ``limit`` pending webhooks of the inbox as one batch.

    One transaction records their answers (:func:`record_event`, the pull's code path)
    and marks them done, so each event is recorded exactly once: a crash before the
    commit leaves them all pending. A body that no longer parses is marked done as
    ``unreadable`` (logged) and not recorded.

    Parameters
    ----------
    project : Project
        The opened project, held under its lock.
    limit : int
        Most events of one batch.
    emails : callable, optional
        User ids -> e-mail addresses, to name reviewers as a pull does.

    Returns
    -------
    Drained or None
        None when no event was pending.
    """
    store = project.store
    pending = store.pending_webhooks(limit)
    if not pending:
        return None
    bodies = [(i, json.loads(b)) for i, b in pending]
    ids: set[int] = set()
    for _, body in bodies:
        ids |= completed_by_ids(body)
    known = dict(emails(ids)) if emails is not None and ids else {}
    answers, unreadable = [], []
    for event_id, body in bodies:
        try:
            answers.extend(parse_webhook(body, known).answers)
        except PayloadError as exc:
            log.warning("webhook %d cannot be read (%s): not recorded", event_id, exc)
            unreadable.append(event_id)
    with store.transaction():
        recorded = record_event(project, WebhookEvent("inbox", answers))
        store.finish_webhooks([i for i, _ in pending if i not in unreadable])
        store.finish_webhooks(unreadable, "unreadable")
        failpoints.hit("serve:before_commit")
    return Drained(len(pending), len(unreadable), recorded)
