"""Issue reviews in the task map (duplicate sets, outliers) and drops, recorded as events.

An issue task is a row of ``tasks`` with a ``kind`` (``duplicates`` or ``outliers``) and
the ``members`` it covers (a JSON list of sample ids; ``sample_id`` is the first). It goes
the way of a label task (``planned``, ``pending``, ``open``, ``resolved``), in its own
Label Studio project.

A drop never deletes anything: ``drops`` holds one event per change (``dropped`` 1 or
0, with its source, cycle, reviewers and evidence), and a sample is dropped when its
latest event says so.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from relabel.errors import StoreError
from relabel.store.db import Database, now

#: The kinds of issue task.
ISSUE_KINDS = ("duplicates", "outliers")

_LATEST_DROP = """
    SELECT d.sample_id, d.dropped FROM drops d
    JOIN (SELECT sample_id, MAX(drop_id) AS last FROM drops GROUP BY sample_id) m
      ON m.last = d.drop_id
"""


def task_members(row: sqlite3.Row) -> list[str]:
    """The samples a task row covers (its ``members``, else its one ``sample_id``).

    Parameters
    ----------
    row : sqlite3.Row
        A row of ``tasks``.

    Returns
    -------
    list of str
    """
    members = row["members"]
    return list(json.loads(members)) if members else [str(row["sample_id"])]


class IssuesMixin(Database):
    """The :class:`relabel.store.Store` methods for issue tasks and drops."""

    def plan_issue_tasks(
        self,
        studio_project_id: int,
        kind: str,
        items: list[tuple[list[str], dict[str, Any]]],
        *,
        cycle: int | None,
        batch: str,
    ) -> int:
        """Plan issue tasks (state ``planned``), in one transaction.

        Parameters
        ----------
        studio_project_id : int
            The Label Studio project of this kind of issue.
        kind : str
            ``duplicates`` or ``outliers``.
        items : list of (members, evidence)
            The samples each task covers (the first is its ``sample_id``) and what was
            found (travels into the task data).
        cycle : int or None
            The cycle planning them.
        batch : str
            A name for this push's batch.

        Returns
        -------
        int
            Rows planned.

        Raises
        ------
        StoreError
            An unknown kind, or a task without members.
        """
        if kind not in ISSUE_KINDS:
            raise StoreError(f"issue kind must be one of {', '.join(ISSUE_KINDS)}; got {kind!r}")
        if any(not members for members, _ in items):
            raise StoreError("an issue task needs at least one sample")
        t = now()
        with self.transaction() as conn:
            version = int(conn.execute("SELECT MAX(version_id) FROM label_versions").fetchone()[0])
            conn.executemany(
                "INSERT INTO tasks (sample_id, studio_project_id, state, cycle, batch, "
                "version_at_push, planned_at, evidence, kind, members) "
                "VALUES (?, ?, 'planned', ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        members[0],
                        studio_project_id,
                        cycle,
                        batch,
                        version,
                        t,
                        json.dumps(ev, sort_keys=True, default=float),
                        kind,
                        json.dumps(list(members)),
                    )
                    for members, ev in items
                ],
            )
        return len(items)

    def issue_covered_samples(self, kind: str) -> set[str]:
        """Samples covered by an issue task of this kind that was not deleted in Label
        Studio (planned, pending, open or resolved): never pushed again for that kind."""
        rows = self.conn.execute(
            "SELECT sample_id, members FROM tasks WHERE kind = ? "
            "AND NOT (state = 'resolved' AND outcome = 'deleted')",
            (kind,),
        )
        return {sid for r in rows for sid in task_members(r)}

    def record_issue_review(
        self,
        row_id: int,
        *,
        outcome: str,
        fingerprint: str,
        evidence: dict[str, Any],
        still_open: bool,
    ) -> None:
        """Record what an issue task's answers did (inside a pull's transaction).

        ``evidence`` is merged into the row's evidence under ``review``; an unresolved
        task stays ``open`` (its fingerprint kept, so unchanged answers are skipped).
        """
        state = "open" if still_open else "resolved"
        self.conn.execute(
            "UPDATE tasks SET state = ?, outcome = ?, fingerprint = ?, resolved_at = ?, "
            "evidence = json_set(evidence, '$.review', json(?)) WHERE row_id = ?",
            (
                state,
                outcome,
                fingerprint,
                None if still_open else now(),
                json.dumps(evidence, sort_keys=True, default=float),
                int(row_id),
            ),
        )

    # -- drops ----------------------------------------------------------------------------
    def add_drop(
        self,
        sample_id: str,
        dropped: bool,
        *,
        source: str = "review",
        cycle: int | None = None,
        reviewers: list[str] | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> int:
        """Record that a sample is dropped (``dropped`` true) or kept again; return the
        event's id.

        Raises
        ------
        StoreError
            Unknown sample or source.
        """
        if source not in ("review", "manual"):
            raise StoreError(f"drop source must be review or manual; got {source!r}")
        known = self.conn.execute("SELECT 1 FROM samples WHERE sample_id = ?", (sample_id,))
        if known.fetchone() is None:
            raise StoreError(f"unknown sample_id {sample_id!r}")
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO drops (sample_id, dropped, source, cycle, reviewers, evidence, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    sample_id,
                    int(bool(dropped)),
                    source,
                    cycle,
                    json.dumps(reviewers or []),
                    json.dumps(evidence or {}, sort_keys=True, default=float),
                    now(),
                ),
            )
            return int(cur.lastrowid or 0)

    def dropped_sample_ids(self) -> set[str]:
        """Samples whose latest drop event drops them."""
        return {r[0] for r in self.conn.execute(_LATEST_DROP) if r[1]}

    def drop_events(self, sample_id: str | None = None) -> list[dict[str, Any]]:
        """Drop events, oldest first (of one sample, or all), with their provenance."""
        where, args = ("WHERE sample_id = ?", (sample_id,)) if sample_id else ("", ())
        rows = self.conn.execute(f"SELECT * FROM drops {where} ORDER BY drop_id", args)
        return [
            {
                **dict(r),
                "dropped": bool(r["dropped"]),
                "reviewers": json.loads(r["reviewers"]),
                "evidence": json.loads(r["evidence"]),
            }
            for r in rows
        ]
