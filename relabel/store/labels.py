"""Classes, samples and their label versions: the append-only label history.

A sample's first version is its ``original`` label, kept forever; every change (``review``,
``manual``, ``import``) appends a version with its cycle, reviewers, time and evidence. The
current label is the latest version.

A sample without any label version is unlabelled: a sample of the pool (a manifest row
with an empty label). Its original label is none; the first label it is given (a
``review`` version from a ``relabel push --type label`` task) takes it out of the pool.
:meth:`LabelsMixin.labels` lists the labelled samples only, :meth:`LabelsMixin.pool` the
others.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from relabel.errors import StoreError
from relabel.store.db import Database, now

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SOURCES = ("original", "review", "manual", "import")
STATUSES = ("active", "excluded")


def _current() -> ModuleType:
    """:mod:`relabel.store.current`, imported when labels are read: it needs numpy and
    pandas, which a command reading one sample's history (a tenth of a second) does not."""
    from relabel.store import current

    return current


@dataclass(frozen=True)
class LabelVersion:
    """One entry of a sample's label history.

    ``version`` numbers the sample's own versions 1, 2, 3 (1: its original label);
    ``version_id`` is the store's row, unique across samples.
    """

    version_id: int
    version: int
    sample_id: str
    label: str
    status: str
    source: str
    cycle: int | None
    reviewers: list[str]
    evidence: dict[str, Any]
    created_at: str


def max_version(conn: sqlite3.Connection) -> int:
    """The id of the newest label version: it changes whenever any label changes.

    Parameters
    ----------
    conn : sqlite3.Connection
        The store's connection.

    Returns
    -------
    int
    """
    return int(conn.execute("SELECT MAX(version_id) FROM label_versions").fetchone()[0])


class LabelsMixin(Database):
    """The :class:`relabel.store.Store` methods for classes, samples and label versions."""

    @property
    def classes(self) -> list[str]:
        """Class names in model-output order."""
        return [r[0] for r in self.conn.execute("SELECT name FROM classes ORDER BY idx")]

    def n_samples(self) -> int:
        """Number of samples (excluded ones included)."""
        return int(self.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def max_version(self) -> int:
        """The id of the newest label version: it changes whenever any label changes."""
        return max_version(self.conn)

    def pool(self) -> pd.DataFrame:
        """The unlabelled samples (the pool): those without any label version, in order.

        Returns
        -------
        pandas.DataFrame
            Columns ``sample_id, ord, path``.
        """
        import pandas as pd

        return pd.read_sql_query(
            """SELECT s.sample_id, s.ord, s.path FROM samples s
               WHERE NOT EXISTS (SELECT 1 FROM label_versions lv
                                 WHERE lv.sample_id = s.sample_id)
               ORDER BY s.ord""",
            self.conn,
        )

    def n_unlabelled(self) -> int:
        """Number of samples of the pool (without any label version)."""
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM samples s WHERE NOT EXISTS "
                "(SELECT 1 FROM label_versions lv WHERE lv.sample_id = s.sample_id)"
            ).fetchone()[0]
        )

    def labels(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every sample with its current and original label, in ``ord`` order.

        Read from the label snapshot when it is current, else from the tables (a writable
        store then writes the snapshot); see :mod:`relabel.store.current`.

        Parameters
        ----------
        columns : sequence of str, optional
            Only these columns, in this order (default: all).

        Returns
        -------
        pandas.DataFrame
            Columns ``sample_id, ord, path, label, status, source, version_id,
            original_label, changed_in_cycle, n_versions``. ``changed_in_cycle`` is the
            cycle of the latest change (None when the label is the original one);
            ``original_label`` is missing (NA) for a sample labelled out of the pool.
            The unlabelled samples (:meth:`pool`) are not rows.

        Raises
        ------
        StoreError
            A column that is not one of these.
        """
        current = _current()
        unknown = sorted(set(columns or ()) - set(current.LABEL_COLUMNS))
        if unknown:
            raise StoreError(f"unknown label column(s) {unknown}; known: {current.LABEL_COLUMNS}")
        key = current.snapshot_key(self.conn)
        frame = current.read_snapshot(current.snapshot_path(self.path), key, columns)
        if frame is None:
            frame = self._labels_from_tables(key)
            if columns is not None:
                frame = frame[list(columns)]
        return frame

    def _labels_from_tables(self, key: str) -> pd.DataFrame:
        """The current labels read from SQL; a writable store keeps them as its snapshot."""
        current = _current()
        frame = current.read_current(self.conn)
        if not self.conn.execute("PRAGMA query_only").fetchone()[0]:
            current.write_snapshot(current.snapshot_path(self.path), frame, key)
        return frame

    def refresh_label_snapshot(self) -> None:
        """Bring the label snapshot up to date (a writable store, when labels changed).

        Called when a writable store closes, so that the commands that only read after a
        write find a current snapshot; a failure leaves the snapshot stale (it is a cache).
        """
        try:
            if self.conn.execute("PRAGMA query_only").fetchone()[0]:
                return
            current = _current()
            key = current.snapshot_key(self.conn)
            path = current.snapshot_path(self.path)
            if current.read_snapshot(path, key, columns=()) is None:
                self._labels_from_tables(key)
        except sqlite3.Error as exc:
            log.debug("label snapshot not refreshed: %s", exc)

    def close(self) -> None:
        """Refresh the label snapshot (a writable store), then close the connection."""
        self.refresh_label_snapshot()
        super().close()

    def history(self, sample_id: str) -> list[LabelVersion]:
        """Every label version of one sample, oldest first (none for a sample of the pool).

        Raises
        ------
        StoreError
            No such sample.
        """
        rows = self.conn.execute(
            "SELECT * FROM label_versions WHERE sample_id = ? ORDER BY version_id", (sample_id,)
        ).fetchall()
        if not rows:
            known = self.conn.execute("SELECT 1 FROM samples WHERE sample_id = ?", (sample_id,))
            if known.fetchone() is not None:
                return []  # a sample of the pool: no label yet
            raise StoreError(f"unknown sample_id {sample_id!r}")
        return [
            LabelVersion(
                version_id=r["version_id"],
                version=number,
                sample_id=r["sample_id"],
                label=r["label"],
                status=r["status"],
                source=r["source"],
                cycle=r["cycle"],
                reviewers=json.loads(r["reviewers"]),
                evidence=json.loads(r["evidence"]),
                created_at=r["created_at"],
            )
            for number, r in enumerate(rows, start=1)
        ]

    def _check_version(self, sample_id: str, label: str, source: str, status: str) -> None:
        """Refuse a version of an unknown sample, class, source or status."""
        if source not in SOURCES or source == "original":
            raise StoreError(f"label source must be one of review, manual, import; got {source!r}")
        if status not in STATUSES:
            raise StoreError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        if label not in self.classes:
            raise StoreError(f"unknown label {label!r} for sample {sample_id!r}")
        known = self.conn.execute("SELECT 1 FROM samples WHERE sample_id = ?", (sample_id,))
        if known.fetchone() is None:
            raise StoreError(f"unknown sample_id {sample_id!r}")

    def add_version(
        self,
        sample_id: str,
        label: str,
        *,
        source: str,
        status: str = "active",
        cycle: int | None = None,
        reviewers: list[str] | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> int:
        """Append a label version; return its ``version_id``.

        Raises
        ------
        StoreError
            Unknown sample, unknown class, source or status.
        """
        self._check_version(sample_id, label, source, status)
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO label_versions (sample_id, label, status, source, cycle, reviewers, "
                "evidence, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sample_id,
                    label,
                    status,
                    source,
                    cycle,
                    json.dumps(reviewers or []),
                    json.dumps(evidence or {}, sort_keys=True),
                    now(),
                ),
            )
            return int(cur.lastrowid or 0)

    def current_version(self, sample_id: str) -> sqlite3.Row:
        """The latest label version row of one sample.

        Raises
        ------
        StoreError
            No such sample, or a sample of the pool (no label yet).
        """
        row = self.current_version_or_none(sample_id)
        if row is None:
            raise StoreError(f"unknown sample_id {sample_id!r}")
        return row

    def current_version_or_none(self, sample_id: str) -> sqlite3.Row | None:
        """The latest label version row of one sample; None for an unlabelled sample (of
        the pool) or an unknown one."""
        return self.conn.execute(
            "SELECT * FROM label_versions WHERE sample_id = ? ORDER BY version_id DESC LIMIT 1",
            (sample_id,),
        ).fetchone()

    def label_changes(self) -> pd.DataFrame:
        """Every label version after the original ones, oldest first, with provenance.

        Returns
        -------
        pandas.DataFrame
            ``version_id, sample_id, original_label, label, status, source, cycle,
            reviewers, evidence, created_at``; ``reviewers`` and ``evidence`` decoded;
            ``original_label`` None for a sample labelled out of the pool.
        """
        import pandas as pd

        frame = pd.read_sql_query(
            """SELECT lv.version_id, lv.sample_id, o.label AS original_label, lv.label,
                      lv.status, lv.source, lv.cycle, lv.reviewers, lv.evidence, lv.created_at
               FROM label_versions lv
               LEFT JOIN label_versions o
                 ON o.sample_id = lv.sample_id AND o.source = 'original'
               WHERE lv.source != 'original' ORDER BY lv.version_id""",
            self.conn,
        )
        frame["reviewers"] = frame["reviewers"].map(json.loads)
        frame["evidence"] = frame["evidence"].map(json.loads)
        return frame
