"""What :class:`~relabel.studio.client.StudioClient` takes and returns, and the answer format.

Plain data: the task specs relabel imports, the reviewed tasks it reads back, a project's
description; the image modes; the Data Manager's datetime format; and the one-choice
result Label Studio stores for an answer or a prediction. Nothing here talks to a server.
All public names are importable from :mod:`relabel.studio.client` as well.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from relabel.studio.labeling import CHOICES_NAME, IMAGE_NAME

ImageMode = Literal["upload", "local-files", "url", "inline"]
#: The image modes :meth:`StudioClient.import_tasks` understands.
IMAGE_MODES: tuple[str, ...] = ("upload", "local-files", "url", "inline")
#: Task data keys set by the client itself.
RESERVED_DATA_KEYS = frozenset({IMAGE_NAME, "sample_id", "relabel_batch"})
#: Image file types Label Studio accepts as uploads; others are converted to PNG.
UPLOAD_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".svg"})
#: The datetime format the Data Manager's filters require.
DM_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: How far before the server's clock the pull watermark is put (slow transactions).
WATERMARK_MARGIN = timedelta(seconds=5)


@dataclass(frozen=True)
class Prediction:
    """A model suggestion shown pre-selected in the task (a Label Studio prediction)."""

    label: str
    score: float | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """One review task to import.

    Attributes
    ----------
    sample_id : str
        relabel's id of the sample; stored in the task data (``data.sample_id``).
    image : str or Path
        A local image file, an ``http(s)://``, ``s3://`` or ``gs://`` URL, or a ``data:``
        URI.
    data : mapping
        More task data (``given_label``, ``predicted_label``, ``predicted_confidence``,
        ``suspicion``, ``rank``, ``cycle`` ...). Values must be JSON-serialisable (numpy
        scalars are converted). The keys ``image``, ``sample_id`` and ``relabel_batch``
        are reserved.
    prediction : Prediction or mapping, optional
        A pre-annotation (``label``, ``score``, ``model_version``).
    """

    sample_id: str
    image: str | os.PathLike[str]
    data: Mapping[str, Any] = field(default_factory=dict)
    prediction: Prediction | Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Annotation:
    """One answer to a task.

    Attributes
    ----------
    id : int
        The Label Studio annotation id.
    user : str
        The reviewer's e-mail address (their user id as text when it is unknown).
    choice : str or None
        The chosen class or special answer; None for a skipped task.
    was_cancelled : bool
        True when the reviewer skipped the task.
    updated_at : str or None
        When the answer was last changed (ISO 8601, UTC).
    user_id : int or None
        The reviewer's Label Studio user id.
    """

    id: int
    user: str
    choice: str | None
    was_cancelled: bool
    updated_at: str | None
    user_id: int | None = None


@dataclass(frozen=True)
class ReviewedTask:
    """A task with at least one answer (or skip)."""

    task_id: int
    sample_id: str
    updated_at: str
    annotations: list[Annotation]


class ReviewedTaskList(list[ReviewedTask]):
    """The tasks :meth:`StudioClient.list_reviewed_tasks` returns, plus a safe cursor.

    Attributes
    ----------
    watermark : str or None
        The server's clock a few seconds before the listing started, in the format the
        ``updated_after`` argument takes. Passing it as ``updated_after`` next time never
        misses an answer given during this listing (some tasks may be read twice: make
        the consumer idempotent). Taking the largest ``updated_at`` seen instead can miss
        a task answered while the pages were read.
    """

    watermark: str | None = None


@dataclass(frozen=True)
class ProjectInfo:
    """What :meth:`StudioClient.get_project` returns."""

    id: int
    title: str
    description: str
    label_config: str
    task_count: int | None


def to_dm_datetime(value: str | datetime) -> str:
    """Return ``value`` in the only format the Data Manager's datetime filters accept.

    Parameters
    ----------
    value : str or datetime
        An ISO 8601 timestamp (``2026-01-02T03:04:05Z``, ``...+00:00``, with or without
        fractions) or a datetime; naive values are taken as UTC.
    """
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from exc
    else:
        dt = value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime(DM_DATETIME_FORMAT)


def choice_result(choice: str | None) -> list[dict[str, Any]]:
    """The ``result`` of an answer or prediction choosing ``choice`` (None: empty)."""
    if choice is None:
        return []
    return [
        {
            "from_name": CHOICES_NAME,
            "to_name": IMAGE_NAME,
            "type": "choices",
            "value": {"choices": [choice]},
        }
    ]


def choice_of(result: Any) -> str | None:
    """The choice in an annotation's ``result`` (relabel's choices tag first), or None."""
    if not isinstance(result, list):
        return None
    items = [r for r in result if isinstance(r, Mapping) and r.get("type") == "choices"]
    ours = [r for r in items if r.get("from_name") == CHOICES_NAME] or items
    for r in ours:
        choices = (r.get("value") or {}).get("choices") or []
        if choices:
            return str(choices[0])
    return None


def annotation_from(a: Mapping[str, Any], emails: Mapping[int, str]) -> Annotation:
    """An answer as Label Studio serves it (a task's annotation, or a webhook's) as an
    :class:`Annotation`; ``emails`` maps user ids to e-mail addresses.

    ``completed_by`` is a user id or a user object; the reviewer is its e-mail address when
    known, else the id as text.

    Raises
    ------
    KeyError, TypeError, ValueError
        No usable ``id``.
    """
    cb = a.get("completed_by")
    uid: int | None
    mail: str | None
    if isinstance(cb, Mapping):
        uid = int(cb["id"]) if cb.get("id") is not None else None
        mail = cb.get("email") or None
    else:
        uid = int(cb) if cb is not None else None
        mail = emails.get(uid) if uid is not None else None
    cancelled = bool(a.get("was_cancelled"))
    return Annotation(
        id=int(a["id"]),
        user=str(mail or uid or "unknown"),
        choice=None if cancelled else choice_of(a.get("result")),
        was_cancelled=cancelled,
        updated_at=a.get("updated_at"),
        user_id=uid,
    )
