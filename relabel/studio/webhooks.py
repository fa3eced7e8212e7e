"""Label Studio's webhook payloads: the answers they carry (pure parsing, no server).

A webhook's JSON body is ``{"action": ..., "annotation": ..., "task": ..., "project":
...}``. For ``ANNOTATION_CREATED`` and ``ANNOTATION_UPDATED`` the ``annotation`` and
``task`` are one object each (all of their fields: an annotation's ``task`` and
``project`` are ids, its ``completed_by`` a user id); for ``ANNOTATIONS_CREATED`` they
are lists. The task's ``data`` carries relabel's ``sample_id`` (a task without one is not
relabel's). Other actions carry no answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relabel.studio.models import Annotation, annotation_from

#: The actions whose payloads carry answers.
ANSWER_ACTIONS: tuple[str, ...] = (
    "ANNOTATION_CREATED",
    "ANNOTATIONS_CREATED",
    "ANNOTATION_UPDATED",
)


class PayloadError(ValueError):
    """A webhook body that is not a Label Studio payload relabel can read."""


@dataclass(frozen=True)
class WebhookAnswer:
    """One answer of a webhook: its task, the task's sample and the answer itself."""

    project_id: int
    task_id: int
    sample_id: str | None
    annotation: Annotation


@dataclass(frozen=True)
class WebhookEvent:
    """What a webhook says: its action and the answers it carries (none for others)."""

    action: str
    answers: list[WebhookAnswer] = field(default_factory=list)


def _as_list(value: Any, what: str) -> list[Mapping[str, Any]]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, Mapping) for i in items):
        raise PayloadError(f"{what} must be an object or a list of objects")
    return items


def _id_of(value: Any, what: str) -> int:
    """An id given as a number or as an object with ``id``."""
    raw = value.get("id") if isinstance(value, Mapping) else value
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise PayloadError(f"{what} has no id")
    try:
        return int(raw)
    except ValueError:
        raise PayloadError(f"{what} has no id") from None


def parse_webhook(payload: Any, emails: Mapping[int, str] | None = None) -> WebhookEvent:
    """Read a webhook's JSON body.

    Parameters
    ----------
    payload : object
        The decoded JSON body.
    emails : mapping, optional
        User id -> e-mail address, to name reviewers as a pull does.

    Returns
    -------
    WebhookEvent
        The action and, for :data:`ANSWER_ACTIONS`, one :class:`WebhookAnswer` per
        annotation (``sample_id`` None for a task that is not relabel's).

    Raises
    ------
    PayloadError
        Not an object with a string ``action``, or an answer action whose annotations,
        tasks or ids cannot be read.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("action"), str):
        raise PayloadError("the body must be a JSON object with an 'action'")
    action = str(payload["action"])
    if action not in ANSWER_ACTIONS:
        return WebhookEvent(action)
    annotations = _as_list(payload.get("annotation"), "'annotation'")
    tasks = {_id_of(t, "a task"): t for t in _as_list(payload.get("task"), "'task'")}
    project = payload.get("project")
    answers = []
    for a in annotations:
        task_id = _id_of(a.get("task"), "an annotation's task")
        task = tasks.get(task_id)
        if task is None:
            raise PayloadError(f"annotation {a.get('id')!r}: its task {task_id} is not in 'task'")
        owner = a.get("project", task.get("project", project))
        data = task.get("data")
        sample_id = data.get("sample_id") if isinstance(data, Mapping) else None
        try:
            annotation = annotation_from(a, emails or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise PayloadError(f"an annotation cannot be read: {exc!r}") from None
        answers.append(
            WebhookAnswer(
                _id_of(owner, f"annotation {annotation.id}'s project"),
                task_id,
                None if sample_id is None else str(sample_id),
                annotation,
            )
        )
    return WebhookEvent(action, answers)


def completed_by_ids(payload: Any) -> set[int]:
    """The user ids of the answers of a payload (to look their e-mail addresses up)."""
    if not isinstance(payload, Mapping):
        return set()
    found = payload.get("annotation")
    items = found if isinstance(found, list) else [found]
    return {
        int(i["completed_by"])
        for i in items
        if isinstance(i, Mapping)
        and isinstance(i.get("completed_by"), int)
        and not isinstance(i.get("completed_by"), bool)
    }
