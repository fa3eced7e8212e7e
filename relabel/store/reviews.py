"""Review outcomes, reviewers' answers and gold: what a pull records, exactly once.

A pull writes, in one transaction, each task's resolution (:meth:`ReviewsMixin.record_review`
with the label version it made), the task's answers as last seen in Label Studio, and the
gold tasks' answers, which change no label.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

from relabel.store.db import Database, now

if TYPE_CHECKING:
    import pandas as pd

_CURRENT_VERSION = (
    "(SELECT sample_id, MAX(version_id) AS vid FROM label_versions GROUP BY sample_id)"
)


class ReviewsMixin(Database):
    """The :class:`relabel.store.Store` methods for reviews, answers and gold."""

    # -- reviews --------------------------------------------------------------------------
    def record_review(
        self,
        row: sqlite3.Row,
        *,
        outcome: str,
        label: str | None,
        reviewers: list[str],
        annotation_ids: list[int],
        votes: dict[str, int],
        fingerprint: str,
        version_after: int,
        still_open: bool,
    ) -> None:
        """Record a task's resolution (inside the pull's transaction)."""
        t = now()
        self.conn.execute(
            "INSERT INTO reviews (sample_id, task_id, studio_project_id, cycle, outcome, label, "
            "reviewers, annotation_ids, votes, version_after, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["sample_id"],
                row["task_id"],
                row["studio_project_id"],
                row["cycle"],
                outcome,
                label,
                json.dumps(reviewers),
                json.dumps(annotation_ids),
                json.dumps(votes, sort_keys=True),
                version_after,
                t,
            ),
        )
        self.conn.execute(
            "UPDATE tasks SET fingerprint = ?, outcome = ?, state = ?, resolved_at = ? "
            "WHERE row_id = ?",
            (
                fingerprint,
                outcome,
                "open" if still_open else "resolved",
                None if still_open else t,
                row["row_id"],
            ),
        )

    def reviews(self) -> pd.DataFrame:
        """Every recorded task resolution, oldest first."""
        import pandas as pd

        return pd.read_sql_query("SELECT * FROM reviews ORDER BY review_id", self.conn)

    def reviewed_sample_ids(self) -> set[str]:
        """Samples reviewed since their label last changed (not pushed again)."""
        return {
            r[0]
            for r in self.conn.execute(
                f"""SELECT r.sample_id FROM reviews r
               JOIN {_CURRENT_VERSION} cur ON cur.sample_id = r.sample_id
               WHERE r.outcome != 'unresolved' AND r.version_after = cur.vid"""
            )
        }

    def reviewed_label_tasks(self) -> pd.DataFrame:
        """Every label task resolved as confirmed, corrected or excluded (gold tasks aside),
        oldest first: ``sample_id``, ``cycle``, ``outcome`` and the scores it was sent with,
        ``p_error`` (NULL for tasks sent before relabel recorded it) and ``p_given``."""
        import pandas as pd

        return pd.read_sql_query(
            "SELECT sample_id, cycle, outcome, "
            "json_extract(evidence, '$.p_error') AS p_error, "
            "json_extract(evidence, '$.p_given') AS p_given FROM tasks "
            "WHERE kind = 'labels' AND outcome IN ('confirmed', 'corrected', 'excluded') "
            "AND json_extract(evidence, '$.gold_label') IS NULL ORDER BY row_id",
            self.conn,
        )

    # -- answers --------------------------------------------------------------------------
    def replace_answers(
        self,
        studio_project_id: int,
        task_id: int,
        sample_id: str,
        answers: list[tuple[int, str, str | None, bool, str | None]],
    ) -> None:
        """Replace the recorded answers of one task (inside the pull's transaction).

        ``answers`` holds ``(annotation_id, reviewer, choice, cancelled, updated_at)``.
        """
        self.conn.execute(
            "DELETE FROM answers WHERE studio_project_id = ? AND task_id = ?",
            (studio_project_id, task_id),
        )
        self.conn.executemany(
            "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (studio_project_id, task_id, a, sample_id, r, c, int(x), u)
                for a, r, c, x, u in answers
            ],
        )

    def task_answers(
        self, studio_project_id: int, task_id: int
    ) -> list[tuple[int, str, str | None, bool, str | None]]:
        """The recorded answers of one task, as :meth:`replace_answers` takes them,
        oldest annotation first."""
        return [
            (int(a), str(r), c, bool(x), u)
            for a, r, c, x, u in self.conn.execute(
                "SELECT annotation_id, reviewer, choice, cancelled, updated_at FROM answers "
                "WHERE studio_project_id = ? AND task_id = ? ORDER BY annotation_id",
                (studio_project_id, task_id),
            )
        ]

    def answers(self) -> pd.DataFrame:
        """Every reviewer answer last pulled, with the sample's current label."""
        import pandas as pd

        return pd.read_sql_query(
            f"""SELECT a.*, cur.label AS current_label, cur.status AS current_status
               FROM answers a JOIN (
                   SELECT lv.sample_id, lv.label, lv.status FROM label_versions lv
                   JOIN {_CURRENT_VERSION} m ON m.vid = lv.version_id
               ) cur ON cur.sample_id = a.sample_id
               ORDER BY a.annotation_id""",
            self.conn,
        )

    def crowd_answers(self) -> pd.DataFrame:
        """Every answer last pulled, with its task's gold label (None for other tasks).

        Returns
        -------
        pandas.DataFrame
            ``studio_project_id, task_id, annotation_id, sample_id, reviewer, choice,
            cancelled, gold_label``, oldest annotation first.
        """
        import pandas as pd

        frame = pd.read_sql_query(
            """SELECT a.studio_project_id, a.task_id, a.annotation_id, a.sample_id,
                      a.reviewer, a.choice, a.cancelled, t.evidence
               FROM answers a LEFT JOIN tasks t
                 ON t.studio_project_id = a.studio_project_id AND t.task_id = a.task_id
               ORDER BY a.annotation_id""",
            self.conn,
        )
        frame["gold_label"] = [
            json.loads(e).get("gold_label") if isinstance(e, str) else None
            for e in frame.pop("evidence")
        ]
        frame["cancelled"] = frame["cancelled"].astype(bool)
        return frame

    # -- gold -----------------------------------------------------------------------------
    def close_gold_task(self, row_id: int, fingerprint: str) -> None:
        """Record that a gold task's answers were pulled (inside the pull's transaction).

        Gold answers change no label, so no review is recorded; the answers themselves are
        kept by :meth:`replace_answers`.
        """
        self.conn.execute(
            "UPDATE tasks SET fingerprint = ?, outcome = 'gold', state = 'resolved', "
            "resolved_at = ? WHERE row_id = ?",
            (fingerprint, now(), row_id),
        )

    def gold_labels(self) -> dict[str, str]:
        """Samples whose label is trusted: confirmed by two or more reviewers who all agreed.

        A sample counts when its active label is the one its latest resolved review (gold
        reviews aside) gave, and every non-skipped vote of that review named it.
        """
        rows = self.conn.execute(
            f"""SELECT r.sample_id, r.label, r.votes FROM reviews r
               JOIN (SELECT sample_id, MAX(review_id) AS rid FROM reviews
                     WHERE outcome IN ('confirmed', 'corrected') GROUP BY sample_id) last
                 ON last.rid = r.review_id
               JOIN {_CURRENT_VERSION} cur ON cur.sample_id = r.sample_id
               JOIN label_versions lv ON lv.version_id = cur.vid
               WHERE lv.status = 'active' AND lv.label = r.label"""
        ).fetchall()
        trusted = {}
        for sample_id, label, votes in rows:
            tally = json.loads(votes)
            if list(tally) == [label] and int(tally[label]) >= 2:
                trusted[str(sample_id)] = str(label)
        return trusted

    def gold_task_labels(self) -> dict[tuple[int, int], str]:
        """``(studio_project_id, task_id) -> gold label`` of every pushed gold task."""
        return {
            (int(pid), int(task_id)): str(label)
            for pid, task_id, label in self.conn.execute(
                "SELECT studio_project_id, task_id, json_extract(evidence, '$.gold_label') "
                "FROM tasks WHERE task_id IS NOT NULL "
                "AND json_extract(evidence, '$.gold_label') IS NOT NULL"
            )
        }

    def gold_paths(self, studio_project_id: int) -> dict[str, str]:
        """Image paths of the held-out gold tasks of a project (not samples of the store)."""
        return {
            str(sample_id): str(path)
            for sample_id, path in self.conn.execute(
                "SELECT sample_id, json_extract(evidence, '$.path') FROM tasks "
                "WHERE studio_project_id = ? "
                "AND json_extract(evidence, '$.gold_label') IS NOT NULL",
                (studio_project_id,),
            )
            if path
        }
