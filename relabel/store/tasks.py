"""The Label Studio task map: the bound Label Studio projects, and each task's way from
``planned`` through ``pending`` (being imported) to ``open`` and ``resolved``; the extra
reviewers asked for, and the pulls.

A task row is planned before Label Studio hears of it and opened once the import returned
its id, so a push killed at any point is finished, never repeated, by the next one.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from relabel.store.db import Database, now

_UNFINISHED = "('planned', 'pending', 'open')"


def _carry_over_rows(
    conn: sqlite3.Connection, old_project_id: int, new_project_id: int, found: dict[str, int]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Split the unfinished rows of ``old_project_id`` into ones to link and to re-plan.

    Returns
    -------
    linked : list of (new_project_id, task_id, time, row_id)
    replanned : list of (new_project_id, row_id)
    """
    t = now()
    taken = {
        r[0]
        for r in conn.execute(
            "SELECT task_id FROM tasks WHERE studio_project_id = ? AND task_id IS NOT NULL",
            (new_project_id,),
        )
    }
    rows = conn.execute(
        "SELECT row_id, sample_id FROM tasks WHERE studio_project_id = ? "
        f"AND state IN {_UNFINISHED} ORDER BY row_id",
        (old_project_id,),
    ).fetchall()
    linked: list[tuple[Any, ...]] = []
    replanned: list[tuple[Any, ...]] = []
    for r in rows:
        task_id = found.get(r["sample_id"])
        if task_id is not None and task_id not in taken:
            taken.add(task_id)
            linked.append((new_project_id, task_id, t, r["row_id"]))
        else:
            replanned.append((new_project_id, r["row_id"]))
    return linked, replanned


class TasksMixin(Database):
    """The :class:`relabel.store.Store` methods for the Label Studio task map."""

    # -- the bound Label Studio project -------------------------------------------------
    def studio_project(self) -> sqlite3.Row | None:
        """The Label Studio project this project is bound to (its latest binding), or None.

        A project has one binding, whatever the server's URL: its ``url`` is where it was
        last used (redacted), updated by :meth:`rebind_studio_project` when the server
        moved.
        """
        return self.conn.execute(
            "SELECT * FROM studio_projects ORDER BY created_at DESC, rowid DESC LIMIT 1"
        ).fetchone()

    def add_studio_project(
        self, studio_project_id: int, url: str, title: str, classes: list[str]
    ) -> None:
        """Bind this project to a Label Studio project (it becomes the latest binding)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO studio_projects VALUES (?, ?, ?, ?, ?)",
                (studio_project_id, url, title, json.dumps(classes), now()),
            )

    def rebind_studio_project(
        self, studio_project_id: int, old_url: str, new_url: str, *, title: str | None = None
    ) -> None:
        """Record that the bound Label Studio project is now reached at ``new_url``.

        The binding keeps its project id, time and tasks; only its URL (and, when given,
        its title) change. Its further Label Studio projects (:meth:`studio_parts`) move
        with it.
        """
        with self.transaction() as conn:
            if new_url != old_url:  # an older binding to the same project at new_url
                conn.execute(
                    "DELETE FROM studio_projects WHERE url = ? AND studio_project_id = ?",
                    (new_url, studio_project_id),
                )
                conn.execute(
                    "DELETE FROM studio_parts WHERE url = ? AND first_id = ?",
                    (new_url, studio_project_id),
                )
            conn.execute(
                "UPDATE studio_projects SET url = ?, title = COALESCE(?, title) "
                "WHERE url = ? AND studio_project_id = ?",
                (new_url, title, old_url, studio_project_id),
            )
            conn.execute(
                "UPDATE studio_parts SET url = ? WHERE url = ? AND first_id = ?",
                (new_url, old_url, studio_project_id),
            )

    def studio_parts(self) -> list[dict[str, Any]]:
        """Every Label Studio project of the binding, in order: the bound project (part 1),
        then the further ones a push created when a project was full (parts 2, 3, ...).

        Each is a dict with ``part``, ``studio_project_id``, ``url`` and ``title``; an
        empty list when the project is not bound.
        """
        first = self.studio_project()
        if first is None:
            return []
        rows = self.conn.execute(
            "SELECT part, studio_project_id, url, title FROM studio_parts "
            "WHERE url = ? AND first_id = ? ORDER BY part",
            (first["url"], first["studio_project_id"]),
        ).fetchall()
        head = {
            "part": 1,
            "studio_project_id": int(first["studio_project_id"]),
            "url": str(first["url"]),
            "title": str(first["title"]),
        }
        return [head, *({**dict(r), "studio_project_id": int(r[1])} for r in rows)]

    def add_studio_part(self, part: int, studio_project_id: int, title: str) -> None:
        """Record a further Label Studio project of the binding (``part`` >= 2)."""
        first = self.studio_project()
        if first is None:
            raise ValueError("no Label Studio project is bound")
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO studio_parts VALUES (?, ?, ?, ?, ?, ?)",
                (first["studio_project_id"], first["url"], part, studio_project_id, title, now()),
            )

    def task_counts(self, studio_project_ids: list[int]) -> dict[int, int]:
        """Tasks relabel keeps in each Label Studio project (any state, but not the ones
        deleted in Label Studio): how full each project is."""
        marks = ",".join("?" * len(studio_project_ids))
        counts = dict.fromkeys(studio_project_ids, 0)
        counts.update(
            self.conn.execute(
                f"SELECT studio_project_id, COUNT(*) FROM tasks WHERE studio_project_id IN "
                f"({marks}) AND outcome IS NOT 'deleted' GROUP BY studio_project_id",
                studio_project_ids,
            ).fetchall()
        )
        return counts

    def carry_over_tasks(
        self, old_project_id: int, new_project_id: int, found: dict[str, int]
    ) -> tuple[int, int]:
        """Move the unfinished tasks of one Label Studio project to another (a re-bind).

        Every planned, pending or open row of ``old_project_id`` moves to
        ``new_project_id``: a sample in ``found`` (``sample_id -> task id`` in the new
        project) becomes ``open`` with that task; any other becomes ``planned`` again, so
        the next push sends it. Resolved rows stay with the old project (history).

        Returns
        -------
        linked, replanned : int
        """
        with self.transaction() as conn:
            linked, replanned = _carry_over_rows(conn, old_project_id, new_project_id, found)
            conn.executemany(
                "UPDATE tasks SET studio_project_id = ?, task_id = ?, state = 'open', "
                "pushed_at = COALESCE(pushed_at, ?), fingerprint = NULL WHERE row_id = ?",
                linked,
            )
            conn.executemany(
                "UPDATE tasks SET studio_project_id = ?, task_id = NULL, state = 'planned', "
                "pushed_at = NULL, fingerprint = NULL WHERE row_id = ?",
                replanned,
            )
        return len(linked), len(replanned)

    # -- a task's way: planned, pending, open -------------------------------------------
    def plan_tasks(
        self,
        studio_project_id: int,
        items: list[tuple[str, dict[str, Any]]],
        *,
        cycle: int | None,
        batch: str,
    ) -> int:
        """Plan tasks for samples (state ``planned``), in one transaction.

        Parameters
        ----------
        studio_project_id : int
            The Label Studio project the tasks are for.
        items : list of (sample_id, evidence)
            ``evidence`` (the scores at selection time) travels into the task data.
        cycle : int or None
            The cycle planning them.
        batch : str
            A name for this push's batch.

        Returns
        -------
        int
            Rows planned.
        """
        return self.plan_split_tasks([(studio_project_id, items)], cycle=cycle, batch=batch)

    def plan_split_tasks(
        self,
        parts: list[tuple[int, list[tuple[str, dict[str, Any]]]]],
        *,
        cycle: int | None,
        batch: str,
    ) -> int:
        """Plan tasks spread over Label Studio projects, in ONE transaction.

        Parameters
        ----------
        parts : list of (studio_project_id, items)
            The items (as for :meth:`plan_tasks`) each project gets.
        cycle, batch
            As for :meth:`plan_tasks`.

        Returns
        -------
        int
            Rows planned.
        """
        t = now()
        with self.transaction() as conn:
            current = dict(
                conn.execute(
                    "SELECT sample_id, MAX(version_id) FROM label_versions GROUP BY sample_id"
                ).fetchall()
            )
            conn.executemany(
                "INSERT INTO tasks (sample_id, studio_project_id, state, cycle, batch, "
                "version_at_push, planned_at, evidence) VALUES (?, ?, 'planned', ?, ?, ?, ?, ?)",
                [
                    (
                        sid,
                        studio_project_id,
                        cycle,
                        batch,
                        current.get(sid, 0),
                        t,
                        json.dumps(ev, sort_keys=True, default=float),
                    )
                    for studio_project_id, items in parts
                    for sid, ev in items
                ],
            )
        return sum(len(items) for _, items in parts)

    def tasks(self, studio_project_id: int, states: tuple[str, ...]) -> list[sqlite3.Row]:
        """Task rows of a Label Studio project in the given states, in plan order."""
        marks = ",".join("?" * len(states))
        return self.conn.execute(
            f"SELECT * FROM tasks WHERE studio_project_id = ? AND state IN ({marks}) "
            "ORDER BY row_id",
            (studio_project_id, *states),
        ).fetchall()

    def set_task_state(self, row_ids: list[int], state: str) -> None:
        """Move task rows to a state (``pending`` before an import)."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE tasks SET state = ? WHERE row_id = ?", [(state, r) for r in row_ids]
            )

    def open_tasks(self, assignments: list[tuple[int, int]]) -> None:
        """Record imported tasks: ``(row_id, task_id)`` pairs become ``open``."""
        t = now()
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE tasks SET task_id = ?, state = 'open', pushed_at = ? WHERE row_id = ?",
                [(task_id, t, row_id) for row_id, task_id in assignments],
            )

    def drop_tasks(self, row_ids: list[int]) -> None:
        """Forget planned or pending rows that never became Label Studio tasks."""
        with self.transaction() as conn:
            conn.executemany(
                "DELETE FROM tasks WHERE row_id = ? AND state IN ('planned', 'pending')",
                [(r,) for r in row_ids],
            )

    def has_unfinished_push(self) -> bool:
        """Whether a push was interrupted: task rows still ``planned`` or ``pending``."""
        row = self.conn.execute(
            "SELECT 1 FROM tasks WHERE state IN ('planned', 'pending') LIMIT 1"
        ).fetchone()
        return row is not None

    def busy_sample_ids(self) -> set[str]:
        """Samples with a planned, pending or open label task: never pushed again (issue
        tasks have their own rule: :meth:`issue_covered_samples`)."""
        return {
            r[0]
            for r in self.conn.execute(
                f"SELECT DISTINCT sample_id FROM tasks WHERE state IN {_UNFINISHED} "
                "AND kind = 'labels'"
            )
        }

    def task_rows_by_task_id(self, studio_project_id: int) -> dict[int, sqlite3.Row]:
        """Every pushed task row of a project, keyed by Label Studio task id."""
        return {
            r["task_id"]: r
            for r in self.conn.execute(
                "SELECT * FROM tasks WHERE studio_project_id = ? AND task_id IS NOT NULL",
                (studio_project_id,),
            )
        }

    # -- extra reviewers ------------------------------------------------------------------
    def request_extra_reviewer(self, row_id: int, overlap: int) -> None:
        """Record that a task needs ``overlap`` answers in Label Studio (inside a pull).

        The request is recorded as not sent yet (``extra_reviewer_sent`` false) in the
        pull's transaction; :meth:`overlaps_to_send` lists it until
        :meth:`mark_overlaps_sent` records that Label Studio took it, so a pull that dies
        (or loses the server) between its commit and the call leaves it to the next pull
        or push instead of stranding the task.
        """
        row = self.conn.execute("SELECT evidence FROM tasks WHERE row_id = ?", (row_id,))
        evidence = json.loads(row.fetchone()[0])
        evidence["extra_reviewer"] = int(overlap)
        evidence["extra_reviewer_sent"] = False
        self.conn.execute(
            "UPDATE tasks SET evidence = ? WHERE row_id = ?",
            (json.dumps(evidence, sort_keys=True, default=float), row_id),
        )

    def task_overlaps(self, studio_project_id: int) -> dict[int, int]:
        """Task id -> answers asked for, for the tasks given one more reviewer."""
        return {
            int(task_id): int(extra)
            for task_id, extra in self.conn.execute(
                "SELECT task_id, json_extract(evidence, '$.extra_reviewer') FROM tasks "
                "WHERE studio_project_id = ? AND task_id IS NOT NULL "
                "AND json_extract(evidence, '$.extra_reviewer') IS NOT NULL",
                (studio_project_id,),
            )
        }

    def overlaps_to_send(self, studio_project_id: int) -> dict[int, int]:
        """Task id -> answers asked for, of the open tasks whose request Label Studio has
        not taken yet (see :meth:`request_extra_reviewer`)."""
        return {
            int(task_id): int(extra)
            for task_id, extra in self.conn.execute(
                "SELECT task_id, json_extract(evidence, '$.extra_reviewer') FROM tasks "
                "WHERE studio_project_id = ? AND task_id IS NOT NULL AND state = 'open' "
                "AND json_extract(evidence, '$.extra_reviewer') IS NOT NULL "
                "AND json_extract(evidence, '$.extra_reviewer_sent') = 0 ORDER BY task_id",
                (studio_project_id,),
            )
        }

    def mark_overlaps_sent(self, studio_project_id: int, task_ids: list[int]) -> None:
        """Record that Label Studio took the extra-reviewer requests of these tasks."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE tasks SET evidence = json_set(evidence, '$.extra_reviewer_sent', "
                "json('true')) WHERE studio_project_id = ? AND task_id = ?",
                [(studio_project_id, int(t)) for t in task_ids],
            )

    def note_ignored_answers(self, row_id: int, answers: list[dict[str, Any]]) -> None:
        """Record a task's answers that named no class of the project (inside a pull):
        ``ignored_answers`` in its evidence, the latest set of them."""
        self.conn.execute(
            "UPDATE tasks SET evidence = json_set(evidence, '$.ignored_answers', json(?)) "
            "WHERE row_id = ?",
            (json.dumps(answers, sort_keys=True), int(row_id)),
        )

    # -- tasks deleted in Label Studio ----------------------------------------------------
    def release_deleted_tasks(self, row_ids: list[int]) -> None:
        """Close open tasks that were deleted in Label Studio; their samples are free again.

        Each row becomes ``resolved`` with outcome ``deleted``; its Label Studio task id
        moves into its evidence (``deleted_task_id``, with the time), because Label Studio
        may give the id to a new task. The sample's task history keeps the row.
        """
        t = now()
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE tasks SET evidence = json_set(evidence, '$.deleted_task_id', task_id, "
                "'$.deleted_noticed_at', ?), task_id = NULL, state = 'resolved', "
                "outcome = 'deleted', resolved_at = ? WHERE row_id = ? AND state = 'open'",
                [(t, t, int(r)) for r in row_ids],
            )

    def sample_tasks(self, sample_id: str) -> list[sqlite3.Row]:
        """Every task row of one sample, in plan order (its review history)."""
        return self.conn.execute(
            "SELECT * FROM tasks WHERE sample_id = ? ORDER BY row_id", (sample_id,)
        ).fetchall()

    def task_history(self, sample_id: str) -> list[dict[str, Any]]:
        """One sample's Label Studio tasks, oldest first: when each was pushed and how it
        ended (``open``; resolved as ``confirmed``, ``corrected``, ``excluded``,
        ``unresolved``, ``gold``; or ``deleted`` in Label Studio).

        Returns
        -------
        list of dict
            ``task_id`` (for a deleted task: the id it had), ``studio_project_id``,
            ``cycle``, ``state``, ``outcome``, ``pushed_at``, ``resolved_at``,
            ``ignored_answers`` (answers naming no class of the project).
        """
        out = []
        for r in self.sample_tasks(sample_id):
            evidence = json.loads(r["evidence"])
            task_id = r["task_id"] if r["task_id"] is not None else evidence.get("deleted_task_id")
            out.append(
                {
                    "task_id": task_id,
                    "studio_project_id": r["studio_project_id"],
                    "cycle": r["cycle"],
                    "state": r["state"],
                    "outcome": r["outcome"],
                    "pushed_at": r["pushed_at"],
                    "resolved_at": r["resolved_at"],
                    "ignored_answers": evidence.get("ignored_answers", []),
                }
            )
        return out

    # -- pulls ----------------------------------------------------------------------------
    def last_pull_cursor(self, studio_project_id: int) -> str | None:
        """The update-time cursor of the newest pull of a project."""
        row = self.conn.execute(
            "SELECT cursor FROM pulls WHERE studio_project_id = ? ORDER BY pull_id DESC LIMIT 1",
            (studio_project_id,),
        ).fetchone()
        return None if row is None else row[0]

    def add_pull(self, studio_project_id: int, cursor: str | None, summary: dict[str, Any]) -> None:
        """Record a pull (inside the pull's transaction)."""
        self.conn.execute(
            "INSERT INTO pulls (studio_project_id, started_at, cursor, summary) "
            "VALUES (?, ?, ?, ?)",
            (studio_project_id, now(), cursor, json.dumps(summary, sort_keys=True)),
        )
