"""The label store: one SQLite file per project (``PROJECT/relabel.db``).

What it holds:

* ``samples``: one row per sample, with a stable ``sample_id`` and its image path.
* ``label_versions``: append-only label history. A sample's first version is its
  ``original`` label, kept forever; every change (``review``, ``manual``, ``import``)
  appends a version with its cycle, reviewers, time and evidence. The current label is the
  latest version. A version may also change the sample's ``status`` (``excluded``: the
  reviewers said it is not a valid image; it is kept but not trained on).
* ``runs``: training runs and their artifacts; ``cycles`` and ``cycle_steps``: the
  resumable cycle loop; ``studio_projects``, ``tasks``, ``reviews`` and ``pulls``: the
  Label Studio task map and the review outcomes applied (exactly once).

Every write happens in a transaction: a crash leaves the store as it was before the write.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from relabel.errors import StoreError
from relabel.infra import failpoints

DB_FILE = "relabel.db"
_SQLITE_HEADER = b"SQLite format 3\x00"
SCHEMA_VERSION = 2
SOURCES = ("original", "review", "manual", "import")
STATUSES = ("active", "excluded")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS classes (idx INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS samples (
    sample_id TEXT PRIMARY KEY,
    ord INTEGER NOT NULL UNIQUE,
    path TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS label_versions (
    version_id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL REFERENCES samples(sample_id),
    label TEXT NOT NULL REFERENCES classes(name),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'excluded')),
    source TEXT NOT NULL CHECK (source IN ('original', 'review', 'manual', 'import')),
    cycle INTEGER,
    reviewers TEXT NOT NULL DEFAULT '[]',
    evidence TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS label_versions_sample ON label_versions(sample_id, version_id);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    cycle INTEGER,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    labels_version INTEGER NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS cycles (
    cycle INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    summary TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS cycle_steps (
    cycle INTEGER NOT NULL REFERENCES cycles(cycle),
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    seconds REAL,
    info TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (cycle, step)
);
CREATE TABLE IF NOT EXISTS studio_projects (
    studio_project_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    classes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (url, studio_project_id)
);
CREATE TABLE IF NOT EXISTS tasks (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL,
    studio_project_id INTEGER NOT NULL,
    task_id INTEGER,
    state TEXT NOT NULL CHECK (state IN ('planned', 'pending', 'open', 'resolved')),
    cycle INTEGER,
    batch TEXT NOT NULL,
    version_at_push INTEGER NOT NULL,
    planned_at TEXT NOT NULL,
    pushed_at TEXT,
    evidence TEXT NOT NULL DEFAULT '{}',
    fingerprint TEXT,
    outcome TEXT,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS tasks_sample ON tasks(sample_id);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_task ON tasks(studio_project_id, task_id);
CREATE TABLE IF NOT EXISTS reviews (
    review_id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL REFERENCES samples(sample_id),
    task_id INTEGER NOT NULL,
    studio_project_id INTEGER NOT NULL,
    cycle INTEGER,
    outcome TEXT NOT NULL,
    label TEXT,
    reviewers TEXT NOT NULL,
    annotation_ids TEXT NOT NULL,
    votes TEXT NOT NULL,
    version_after INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_sample ON reviews(sample_id);
CREATE TABLE IF NOT EXISTS answers (
    studio_project_id INTEGER NOT NULL,
    task_id INTEGER NOT NULL,
    annotation_id INTEGER NOT NULL,
    sample_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    choice TEXT,
    cancelled INTEGER NOT NULL,
    updated_at TEXT,
    PRIMARY KEY (studio_project_id, annotation_id)
);
CREATE TABLE IF NOT EXISTS pulls (
    pull_id INTEGER PRIMARY KEY AUTOINCREMENT,
    studio_project_id INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    cursor TEXT,
    summary TEXT NOT NULL DEFAULT '{}'
);
"""


# Schema 2: a task's sample may be a gold sample of the held-out manifest, which is not a
# sample of the store, so ``tasks.sample_id`` no longer references ``samples``.
_MIGRATE_1_TO_2 = """
CREATE TABLE tasks_v2 (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL,
    studio_project_id INTEGER NOT NULL,
    task_id INTEGER,
    state TEXT NOT NULL CHECK (state IN ('planned', 'pending', 'open', 'resolved')),
    cycle INTEGER,
    batch TEXT NOT NULL,
    version_at_push INTEGER NOT NULL,
    planned_at TEXT NOT NULL,
    pushed_at TEXT,
    evidence TEXT NOT NULL DEFAULT '{}',
    fingerprint TEXT,
    outcome TEXT,
    resolved_at TEXT
);
INSERT INTO tasks_v2 SELECT * FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_v2 RENAME TO tasks;
CREATE INDEX tasks_sample ON tasks(sample_id);
CREATE UNIQUE INDEX tasks_task ON tasks(studio_project_id, task_id);
UPDATE meta SET value = '2' WHERE key = 'schema_version';
"""


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a store of an older schema version up to :data:`SCHEMA_VERSION`, atomically."""
    if version >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _MIGRATE_1_TO_2.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _remove_db(path: Path) -> None:
    """Delete an SQLite file with its ``-wal`` and ``-shm`` companions."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def now() -> str:
    """The current UTC time as an ISO-8601 string (microseconds, ``+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class LabelVersion:
    """One entry of a sample's label history."""

    version_id: int
    sample_id: str
    label: str
    status: str
    source: str
    cycle: int | None
    reviewers: list[str]
    evidence: dict[str, Any]
    created_at: str


class Store:
    """The SQLite label store of one project.

    Open with :meth:`Store.open` (existing) or :meth:`Store.create` (new). Use as a
    context manager to close it.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = Path(path)
        self.conn = conn

    # -- opening ---------------------------------------------------------------------
    @staticmethod
    def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
        """Connect; ``readonly`` connections refuse every write (``PRAGMA query_only``).

        A read-only connection still opens the file read-write where it may, so that SQLite
        removes the WAL's companion files when it closes and a read leaves the project
        folder exactly as it was; where the folder is not writable it opens ``mode=ro``.
        """
        path = Path(path)
        if readonly and not os.access(path.parent, os.W_OK):
            uri = f"{path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
        else:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Store:
        """Open an existing store.

        The file is checked before anything is written to it: an SQLite header, an intact
        page structure (``PRAGMA quick_check``) and relabel's schema version.

        Parameters
        ----------
        path : Path
            The store's file (``PROJECT/relabel.db``).
        readonly : bool
            Open it read-only: for commands that only read, so they never write.

        Raises
        ------
        StoreError
            The file does not exist, is not an SQLite database, is damaged, or is not a
            relabel label store.
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: label store not found (relabel init creates it)")
        with path.open("rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
        if header != _SQLITE_HEADER:
            what = "an empty file" if not header else "not an SQLite database"
            raise StoreError(f"{path}: not a relabel label store ({what})")
        conn = None
        try:
            conn = cls._connect(path, readonly=readonly)
            check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"damaged: {check}")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None or not str(row[0]).isdigit() or int(row[0]) > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"unknown schema version {row and row[0]}")
            if not readonly:
                _migrate(conn, int(row[0]))
                conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise StoreError(
                f"{path}: not a relabel label store, or a damaged one ({exc}); restore it "
                "from a backup (relabel never repairs a store by itself)"
            ) from exc
        return cls(path, conn)

    @classmethod
    def create(
        cls,
        path: Path,
        classes: list[str],
        samples: Iterable[tuple[str, str, str]],
    ) -> Store:
        """Create a store with its classes and samples' original labels, in one transaction.

        Parameters
        ----------
        path : Path
            The SQLite file to create (must not exist).
        classes : list of str
            Class names in model-output order.
        samples : iterable of (sample_id, path, label)
            In a stable order; the order is kept as ``ord``.
        """
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: already exists")
        partial = path.with_name(path.name + ".partial")
        _remove_db(partial)  # left by a creation that was killed
        conn = cls._connect(partial)
        try:
            conn.executescript(_SCHEMA)
            t = now()
            with cls(partial, conn).transaction():
                conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
                conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (t,))
                conn.executemany("INSERT INTO classes VALUES (?, ?)", list(enumerate(classes)))
                rows = [(sid, i, p, lab) for i, (sid, p, lab) in enumerate(samples)]
                conn.executemany(
                    "INSERT INTO samples (sample_id, ord, path, added_at) VALUES (?, ?, ?, ?)",
                    [(sid, i, p, t) for sid, i, p, _ in rows],
                )
                conn.executemany(
                    "INSERT INTO label_versions (sample_id, label, source, created_at) "
                    "VALUES (?, ?, 'original', ?)",
                    [(sid, lab, t) for sid, _, _, lab in rows],
                )
                failpoints.hit("init:before_commit")
            conn.close()  # checkpoints the WAL into the file
            partial.replace(path)
        except BaseException:
            conn.close()
            _remove_db(partial)
            raise
        return cls.open(path)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back.

        Nested use joins the outer transaction.
        """
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- classes and samples --------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        """Class names in model-output order."""
        return [r[0] for r in self.conn.execute("SELECT name FROM classes ORDER BY idx")]

    def n_samples(self) -> int:
        """Number of samples (excluded ones included)."""
        return int(self.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def max_version(self) -> int:
        """The id of the newest label version: it changes whenever any label changes."""
        return int(self.conn.execute("SELECT MAX(version_id) FROM label_versions").fetchone()[0])

    def labels(self) -> pd.DataFrame:
        """Every sample with its current and original label, in ``ord`` order.

        Returns
        -------
        pandas.DataFrame
            Columns ``sample_id, ord, path, label, status, source, version_id,
            original_label, changed_in_cycle, n_versions``. ``changed_in_cycle`` is the
            cycle of the latest change (None when the label is the original one).
        """
        query = """
            WITH cur AS (
                SELECT sample_id, MAX(version_id) AS vid, MIN(version_id) AS first_vid,
                       COUNT(*) AS n_versions
                FROM label_versions GROUP BY sample_id
            )
            SELECT s.sample_id, s.ord, s.path, lv.label, lv.status, lv.source,
                   lv.version_id, o.label AS original_label,
                   CASE WHEN lv.source = 'original' THEN NULL ELSE lv.cycle END
                       AS changed_in_cycle,
                   cur.n_versions
            FROM samples s
            JOIN cur ON cur.sample_id = s.sample_id
            JOIN label_versions lv ON lv.version_id = cur.vid
            JOIN label_versions o ON o.version_id = cur.first_vid
            ORDER BY s.ord
        """
        frame = pd.read_sql_query(query, self.conn)
        frame["changed_in_cycle"] = frame["changed_in_cycle"].astype("Int64")
        return frame

    def history(self, sample_id: str) -> list[LabelVersion]:
        """Every label version of one sample, oldest first.

        Raises
        ------
        StoreError
            No such sample.
        """
        rows = self.conn.execute(
            "SELECT * FROM label_versions WHERE sample_id = ? ORDER BY version_id", (sample_id,)
        ).fetchall()
        if not rows:
            raise StoreError(f"unknown sample_id {sample_id!r}")
        return [
            LabelVersion(
                version_id=r["version_id"],
                sample_id=r["sample_id"],
                label=r["label"],
                status=r["status"],
                source=r["source"],
                cycle=r["cycle"],
                reviewers=json.loads(r["reviewers"]),
                evidence=json.loads(r["evidence"]),
                created_at=r["created_at"],
            )
            for r in rows
        ]

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
        if source not in SOURCES or source == "original":
            raise StoreError(f"label source must be one of review, manual, import; got {source!r}")
        if status not in STATUSES:
            raise StoreError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        if label not in self.classes:
            raise StoreError(f"unknown label {label!r} for sample {sample_id!r}")
        if (
            self.conn.execute("SELECT 1 FROM samples WHERE sample_id = ?", (sample_id,)).fetchone()
            is None
        ):
            raise StoreError(f"unknown sample_id {sample_id!r}")
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
        """The latest label version row of one sample."""
        row = self.conn.execute(
            "SELECT * FROM label_versions WHERE sample_id = ? ORDER BY version_id DESC LIMIT 1",
            (sample_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"unknown sample_id {sample_id!r}")
        return row

    # -- meta -------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A value from the ``meta`` table."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the ``meta`` table."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- runs -------------------------------------------------------------------------
    def start_run(
        self, run_id: str, kind: str, settings: dict[str, Any], cycle: int | None
    ) -> None:
        """Record the start of a training run."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO runs (run_id, kind, cycle, status, started_at, labels_version, "
                "settings) VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (run_id, kind, cycle, now(), self.max_version(), json.dumps(settings, default=str)),
            )

    def finish_run(self, run_id: str, metrics: dict[str, Any], status: str = "done") -> None:
        """Record the end of a training run with its metrics."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, metrics = ? WHERE run_id = ?",
                (status, now(), json.dumps(metrics, default=float), run_id),
            )

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

    # -- Label Studio task map ----------------------------------------------------------------
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
        its title) change.
        """
        with self.transaction() as conn:
            if new_url != old_url:  # an older binding to the same project at new_url
                conn.execute(
                    "DELETE FROM studio_projects WHERE url = ? AND studio_project_id = ?",
                    (new_url, studio_project_id),
                )
            conn.execute(
                "UPDATE studio_projects SET url = ?, title = COALESCE(?, title) "
                "WHERE url = ? AND studio_project_id = ?",
                (new_url, title, old_url, studio_project_id),
            )

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
        t = now()
        with self.transaction() as conn:
            taken = {
                r[0]
                for r in conn.execute(
                    "SELECT task_id FROM tasks WHERE studio_project_id = ? AND task_id IS NOT NULL",
                    (new_project_id,),
                )
            }
            rows = conn.execute(
                "SELECT row_id, sample_id FROM tasks WHERE studio_project_id = ? "
                "AND state IN ('planned', 'pending', 'open') ORDER BY row_id",
                (old_project_id,),
            ).fetchall()
            linked, replanned = [], []
            for r in rows:
                task_id = found.get(r["sample_id"])
                if task_id is not None and task_id not in taken:
                    taken.add(task_id)
                    linked.append((new_project_id, task_id, t, r["row_id"]))
                else:
                    replanned.append((new_project_id, r["row_id"]))
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
        items : list of (sample_id, evidence)
            ``evidence`` (the scores at selection time) travels into the task data.
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
                    for sid, ev in items
                ],
            )
        return len(items)

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

    def busy_sample_ids(self) -> set[str]:
        """Samples with a planned, pending or open task: never pushed again."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT sample_id FROM tasks WHERE state IN ('planned', 'pending', 'open')"
            )
        }

    def reviewed_sample_ids(self) -> set[str]:
        """Samples reviewed since their label last changed (not pushed again)."""
        return {
            r[0]
            for r in self.conn.execute(
                """SELECT r.sample_id FROM reviews r
               JOIN (SELECT sample_id, MAX(version_id) AS vid FROM label_versions
                     GROUP BY sample_id) cur ON cur.sample_id = r.sample_id
               WHERE r.outcome != 'unresolved' AND r.version_after = cur.vid"""
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

    def gold_labels(self) -> dict[str, str]:
        """Samples whose label is trusted: confirmed by two or more reviewers who all agreed.

        A sample counts when its active label is the one its latest resolved review (gold
        reviews aside) gave, and every non-skipped vote of that review named it.
        """
        rows = self.conn.execute(
            """SELECT r.sample_id, r.label, r.votes FROM reviews r
               JOIN (SELECT sample_id, MAX(review_id) AS rid FROM reviews
                     WHERE outcome IN ('confirmed', 'corrected') GROUP BY sample_id) last
                 ON last.rid = r.review_id
               JOIN (SELECT sample_id, MAX(version_id) AS vid FROM label_versions
                     GROUP BY sample_id) cur ON cur.sample_id = r.sample_id
               JOIN label_versions lv ON lv.version_id = cur.vid
               WHERE lv.status = 'active' AND lv.label = r.label"""
        ).fetchall()
        trusted = {}
        for sample_id, label, votes in rows:
            tally = json.loads(votes)
            if list(tally) == [label] and int(tally[label]) >= 2:
                trusted[str(sample_id)] = str(label)
        return trusted

    def crowd_answers(self) -> pd.DataFrame:
        """Every answer last pulled, with its task's gold label (None for other tasks).

        Returns
        -------
        pandas.DataFrame
            ``studio_project_id, task_id, annotation_id, sample_id, reviewer, choice,
            cancelled, gold_label``, oldest annotation first.
        """
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

    def gold_task_labels(self) -> dict[tuple[int, int], str]:
        """``(studio_project_id, task_id) -> gold label`` of every pushed gold task."""
        out = {}
        for pid, task_id, evidence in self.conn.execute(
            "SELECT studio_project_id, task_id, evidence FROM tasks "
            "WHERE task_id IS NOT NULL AND evidence LIKE '%gold_label%'"
        ):
            label = json.loads(evidence).get("gold_label")
            if label is not None:
                out[(int(pid), int(task_id))] = str(label)
        return out

    def gold_paths(self, studio_project_id: int) -> dict[str, str]:
        """Image paths of the held-out gold tasks of a project (not samples of the store)."""
        out = {}
        for sample_id, evidence in self.conn.execute(
            "SELECT sample_id, evidence FROM tasks WHERE studio_project_id = ? "
            "AND evidence LIKE '%gold_label%'",
            (studio_project_id,),
        ):
            path = json.loads(evidence).get("path")
            if path:
                out[str(sample_id)] = str(path)
        return out

    def request_extra_reviewer(self, row_id: int, overlap: int) -> None:
        """Record that a task asked Label Studio for ``overlap`` answers (inside a pull)."""
        evidence = json.loads(
            self.conn.execute("SELECT evidence FROM tasks WHERE row_id = ?", (row_id,)).fetchone()[
                0
            ]
        )
        evidence["extra_reviewer"] = int(overlap)
        self.conn.execute(
            "UPDATE tasks SET evidence = ? WHERE row_id = ?",
            (json.dumps(evidence, sort_keys=True, default=float), row_id),
        )

    def task_overlaps(self, studio_project_id: int) -> dict[int, int]:
        """Task id -> answers asked for, for the tasks given one more reviewer."""
        out = {}
        for task_id, evidence in self.conn.execute(
            "SELECT task_id, evidence FROM tasks WHERE studio_project_id = ? "
            "AND task_id IS NOT NULL AND evidence LIKE '%extra_reviewer%'",
            (studio_project_id,),
        ):
            extra = json.loads(evidence).get("extra_reviewer")
            if extra is not None:
                out[int(task_id)] = int(extra)
        return out

    def answers(self) -> pd.DataFrame:
        """Every reviewer answer last pulled, with the sample's current label."""
        return pd.read_sql_query(
            """SELECT a.*, cur.label AS current_label, cur.status AS current_status
               FROM answers a JOIN (
                   SELECT lv.sample_id, lv.label, lv.status FROM label_versions lv
                   JOIN (SELECT sample_id, MAX(version_id) AS vid FROM label_versions
                         GROUP BY sample_id) m ON m.vid = lv.version_id
               ) cur ON cur.sample_id = a.sample_id
               ORDER BY a.annotation_id""",
            self.conn,
        )

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

    def reviews(self) -> pd.DataFrame:
        """Every recorded task resolution, oldest first."""
        return pd.read_sql_query("SELECT * FROM reviews ORDER BY review_id", self.conn)

    def label_changes(self) -> pd.DataFrame:
        """Every label version after the original ones, oldest first, with provenance.

        Returns
        -------
        pandas.DataFrame
            ``version_id, sample_id, original_label, label, status, source, cycle,
            reviewers, evidence, created_at``; ``reviewers`` and ``evidence`` decoded.
        """
        frame = pd.read_sql_query(
            """SELECT lv.version_id, lv.sample_id, o.label AS original_label, lv.label,
                      lv.status, lv.source, lv.cycle, lv.reviewers, lv.evidence, lv.created_at
               FROM label_versions lv
               JOIN label_versions o ON o.sample_id = lv.sample_id AND o.source = 'original'
               WHERE lv.source != 'original' ORDER BY lv.version_id""",
            self.conn,
        )
        frame["reviewers"] = frame["reviewers"].map(json.loads)
        frame["evidence"] = frame["evidence"].map(json.loads)
        return frame
