"""Training runs, and the resumable cycle loop: cycles, their steps and their tasks' progress."""

from __future__ import annotations

import json
from typing import Any

from relabel.store.db import Database, now
from relabel.store.labels import max_version


class RunsMixin(Database):
    """The :class:`relabel.store.Store` methods for training runs and cycles."""

    # -- runs -------------------------------------------------------------------------
    def start_run(
        self, run_id: str, kind: str, settings: dict[str, Any], cycle: int | None
    ) -> None:
        """Record the start of a training run (on the current labels' version)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO runs (run_id, kind, cycle, status, started_at, labels_version, "
                "settings) VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (run_id, kind, cycle, now(), max_version(conn), json.dumps(settings, default=str)),
            )

    def finish_run(self, run_id: str, metrics: dict[str, Any], status: str = "done") -> None:
        """Record the end of a training run with its metrics."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, metrics = ? WHERE run_id = ?",
                (status, now(), json.dumps(metrics, default=float), run_id),
            )

    def running_runs(self) -> list[str]:
        """The runs recorded as ``running`` (under the project lock: left by a process that
        was killed)."""
        rows = self.conn.execute("SELECT run_id FROM runs WHERE status = 'running' ORDER BY run_id")
        return [str(r[0]) for r in rows]

    def has_run(self, run_id: str) -> bool:
        """Whether a run of this id was ever started."""
        row = self.conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row is not None

    def latest_run(self, kind: str = "train") -> dict[str, Any] | None:
        """The newest finished run of a kind, as a dict (settings and metrics decoded)."""
        row = self.conn.execute(
            "SELECT * FROM runs WHERE kind = ? AND status = 'done' "
            "ORDER BY finished_at DESC, run_id DESC LIMIT 1",
            (kind,),
        ).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["settings"] = json.loads(out["settings"])
        out["metrics"] = json.loads(out["metrics"])
        return out

    def finished_runs(self, kind: str = "train") -> list[dict[str, Any]]:
        """Every finished run of a kind, oldest first: ``run_id``, ``labels_version``,
        ``finished_at`` and ``metrics`` (decoded)."""
        rows = self.conn.execute(
            "SELECT run_id, labels_version, finished_at, metrics FROM runs "
            "WHERE kind = ? AND status = 'done' ORDER BY finished_at, run_id",
            (kind,),
        ).fetchall()
        return [{**dict(r), "metrics": json.loads(r["metrics"] or "{}")} for r in rows]

    # -- cycles -----------------------------------------------------------------------
    def latest_cycle(self) -> tuple[int, str] | None:
        """The newest cycle's number and status (``running`` or ``done``), or None."""
        row = self.conn.execute(
            "SELECT cycle, status FROM cycles ORDER BY cycle DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row["cycle"]), str(row["status"]))

    def start_cycle(self, cycle: int) -> None:
        """Record the start of a cycle (status ``running``)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO cycles (cycle, status, started_at) VALUES (?, 'running', ?)",
                (cycle, now()),
            )

    def finish_cycle(self, cycle: int, status: str, summary: dict[str, Any]) -> None:
        """Record the end of a cycle with its summary."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE cycles SET status = ?, finished_at = ?, summary = ? WHERE cycle = ?",
                (status, now(), json.dumps(summary, default=float, sort_keys=True), cycle),
            )

    def cycle_step(self, cycle: int, step: str) -> dict[str, Any] | None:
        """The recorded info of a finished step of a cycle, or None if it is not done."""
        row = self.conn.execute(
            "SELECT status, info FROM cycle_steps WHERE cycle = ? AND step = ?",
            (cycle, step),
        ).fetchone()
        if row is None or row["status"] != "done":
            return None
        return json.loads(row["info"])

    def finish_cycle_step(
        self, cycle: int, step: str, info: dict[str, Any], *, started_at: str, seconds: float
    ) -> None:
        """Record a cycle's step as done, with its info and duration."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO cycle_steps (cycle, step, status, started_at, finished_at, seconds, "
                "info) VALUES (?, ?, 'done', ?, ?, ?, ?) ON CONFLICT(cycle, step) DO UPDATE SET "
                "status = 'done', finished_at = excluded.finished_at, "
                "seconds = excluded.seconds, info = excluded.info",
                (
                    cycle,
                    step,
                    started_at,
                    now(),
                    seconds,
                    json.dumps(info, default=float, sort_keys=True),
                ),
            )

    def cycles(self) -> list[dict[str, Any]]:
        """Every cycle, oldest first: its row, ``summary`` decoded, and ``step_seconds``.

        ``step_seconds`` maps each recorded step to its duration (rounded to 0.01 s), in
        the order the steps started.
        """
        out = []
        for row in self.conn.execute("SELECT * FROM cycles ORDER BY cycle").fetchall():
            times = {
                r["step"]: round(float(r["seconds"] or 0.0), 2)
                for r in self.conn.execute(
                    "SELECT step, seconds FROM cycle_steps WHERE cycle = ? ORDER BY started_at",
                    (row["cycle"],),
                )
            }
            out.append({**dict(row), "summary": json.loads(row["summary"]), "step_seconds": times})
        return out

    # -- a cycle's tasks ----------------------------------------------------------------
    def count_cycle_tasks(self, cycle: int, studio_project_id: int) -> int:
        """Task rows planned in a cycle for a Label Studio project."""
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE cycle = ? AND studio_project_id = ?",
                (cycle, studio_project_id),
            ).fetchone()[0]
        )

    def count_answered_cycle_tasks(self, cycle: int, studio_project_id: int) -> int:
        """Task rows of a cycle whose answers were pulled (a review, or a gold task's answers)."""
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE cycle = ? AND studio_project_id = ? "
                "AND fingerprint IS NOT NULL",
                (cycle, studio_project_id),
            ).fetchone()[0]
        )

    def cycle_task_outcomes(self, cycle: int, studio_project_id: int) -> dict[str, int]:
        """Task rows of a cycle per latest review outcome (``corrected`` ...)."""
        rows = self.conn.execute(
            """SELECT t.outcome, COUNT(*) FROM tasks t
               WHERE t.cycle = ? AND t.studio_project_id = ? AND t.outcome IS NOT NULL
               GROUP BY t.outcome""",
            (cycle, studio_project_id),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}
