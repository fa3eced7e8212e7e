"""``relabel serve``'s webhook inbox: answer webhooks kept durably until they are recorded.

A webhook is appended (:meth:`InboxMixin.add_webhook`, its own small transaction) before
Label Studio gets its answer, and marked done (:meth:`InboxMixin.finish_webhooks`) inside
the transaction that records its answers, so an event is recorded exactly once whatever
the moment of a crash: before the mark's commit it is still pending and recorded again
from the start; after it, it is never read again. Each event has a key (its answers'
ids and versions): the same webhook twice is appended once. A done event keeps its key
and loses its body.

The inbox is written from the server's request threads through a connection of its own
(:meth:`InboxMixin.open_inbox`), without the project lock: it writes this table only, in
transactions of one row, and SQLite orders them with the writes of the lock's holder.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from relabel.errors import StoreError
from relabel.store.db import Database, _held, _schema_version, now
from relabel.store.schema import INBOX


class InboxMixin(Database):
    """The :class:`relabel.store.Store` methods for ``relabel serve``'s webhook inbox."""

    @classmethod
    def open_inbox(cls, path: Path) -> Self:
        """Open the store for appending webhooks from any thread (``synchronous = FULL``).

        The store is checked as :meth:`open` checks it, but not migrated (that is for the
        project lock's holder); the inbox table is created when missing. The connection may
        be used from several threads, one at a time (the caller serialises).

        Raises
        ------
        StoreError
            Missing, not a relabel store, damaged or of a newer schema.
        """
        path = Path(path)
        with _held(path):
            conn = sqlite3.connect(
                path, isolation_level=None, timeout=30.0, check_same_thread=False
            )
            try:
                _schema_version(conn)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")  # an answer survives a power cut
                for statement in INBOX:
                    conn.execute(statement)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise StoreError(f"{path}: cannot keep webhooks in this store ({exc})") from exc
            conn.row_factory = sqlite3.Row
            return cls(path, conn)._counted()

    def add_webhook(self, key: str, action: str, body: str) -> int | None:
        """Append a webhook, committed before this returns; None: its key is there already.

        Parameters
        ----------
        key : str
            The event's identity (its answers' ids and versions).
        action : str
            Label Studio's action (``ANNOTATION_CREATED``...).
        body : str
            The raw JSON body.

        Returns
        -------
        int or None
            The new event's id, or None for a replay (nothing was written).
        """
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO webhook_inbox (event_key, action, body, received_at) "
                "VALUES (?, ?, ?, ?)",
                (key, action, body, now()),
            )
            return int(cur.lastrowid) if cur.rowcount == 1 and cur.lastrowid else None

    def pending_webhooks(self, limit: int) -> list[tuple[int, str]]:
        """The oldest ``limit`` events not yet recorded: ``(event_id, body)``, in order."""
        return [
            (int(i), str(b))
            for i, b in self.conn.execute(
                "SELECT event_id, body FROM webhook_inbox WHERE done_at IS NULL "
                "ORDER BY event_id LIMIT ?",
                (limit,),
            )
        ]

    def pending_webhook_count(self) -> int:
        """How many events wait to be recorded."""
        row = self.conn.execute("SELECT COUNT(*) FROM webhook_inbox WHERE done_at IS NULL")
        return int(row.fetchone()[0])

    def finish_webhooks(self, event_ids: Sequence[int], outcome: str = "recorded") -> None:
        """Mark events done (inside the transaction that recorded them); drop their bodies."""
        t = now()
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE webhook_inbox SET done_at = ?, outcome = ?, body = NULL "
                "WHERE event_id = ? AND done_at IS NULL",
                [(t, outcome, int(i)) for i in event_ids],
            )
