"""The request side of the webhook inbox: append an answer webhook durably, then answer.

:class:`Inbox` holds one connection to the store (:meth:`relabel.store.Store.open_inbox`)
for the server's request threads, one append at a time. The worker
(:mod:`relabel.serve.worker`) records what it appended, in batches, under the project lock.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from relabel.infra import failpoints
from relabel.store import DB_FILE, Store
from relabel.studio.webhooks import WebhookEvent


def event_key(event: WebhookEvent) -> str:
    """A webhook's identity in the inbox: its answers' projects, tasks, ids and versions.

    The same answers sent again (a replay, or ``ANNOTATIONS_CREATED`` after
    ``ANNOTATION_CREATED``) have the same key; an edited answer has a new one.
    """
    answers = sorted(
        (
            a.project_id,
            a.task_id,
            a.annotation.id,
            a.annotation.updated_at or "",
            a.annotation.choice or "",
            bool(a.annotation.was_cancelled),
            str(a.annotation.user),
        )
        for a in event.answers
    )
    return hashlib.sha256(json.dumps(answers).encode()).hexdigest()


class Inbox:
    """Answer webhooks appended to the store's inbox, and how many wait to be recorded.

    Parameters
    ----------
    root : Path
        The project folder.
    """

    def __init__(self, root: Path) -> None:
        self._store = Store.open_inbox(Path(root) / DB_FILE)
        self._lock = threading.Lock()
        self._pending = self._store.pending_webhook_count()
        #: Events left pending by an earlier run (recorded first).
        self.left_over = self._pending
        #: Webhooks whose answers were in the inbox already (not appended again).
        self.duplicates = 0

    def append(self, event: WebhookEvent, body: str) -> int | None:
        """Append a parsed webhook and its body; committed (fsync) when this returns.

        Returns the event's id, or None for a replay (its key is there: nothing written).
        """
        with self._lock:
            event_id = self._store.add_webhook(event_key(event), event.action, body)
            if event_id is None:
                self.duplicates += 1
            else:
                self._pending += 1
        failpoints.hit("serve:after_inbox")
        return event_id

    @property
    def pending(self) -> int:
        """Events appended and not yet recorded."""
        return self._pending

    def drained(self, events: int) -> None:
        """Count ``events`` as recorded (the worker committed them)."""
        with self._lock:
            self._pending = max(0, self._pending - events)

    def close(self) -> None:
        """Close the inbox's connection."""
        with self._lock:
            self._store.close()
