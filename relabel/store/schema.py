"""The label store's tables (written once, here) and the ordered migrations to them.

:data:`SCHEMA` creates every table of the current version; a writable open runs it after
the migrations, so a table added in a new version appears in an older store too. A change
to an existing table is a migration: a small function from version ``N`` to ``N + 1``,
appended to :data:`MIGRATIONS`. :data:`SCHEMA_VERSION` follows from their number.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS classes (idx INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    """CREATE TABLE IF NOT EXISTS samples (
    sample_id TEXT PRIMARY KEY,
    ord INTEGER NOT NULL UNIQUE,
    path TEXT NOT NULL,
    added_at TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS label_versions (
    version_id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL REFERENCES samples(sample_id),
    label TEXT NOT NULL REFERENCES classes(name),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'excluded')),
    source TEXT NOT NULL CHECK (source IN ('original', 'review', 'manual', 'import')),
    cycle INTEGER,
    reviewers TEXT NOT NULL DEFAULT '[]',
    evidence TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS label_versions_sample ON label_versions(sample_id, version_id)",
    """CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    cycle INTEGER,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    labels_version INTEGER NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}'
)""",
    """CREATE TABLE IF NOT EXISTS cycles (
    cycle INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    summary TEXT NOT NULL DEFAULT '{}'
)""",
    """CREATE TABLE IF NOT EXISTS cycle_steps (
    cycle INTEGER NOT NULL REFERENCES cycles(cycle),
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    seconds REAL,
    info TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (cycle, step)
)""",
    """CREATE TABLE IF NOT EXISTS studio_projects (
    studio_project_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    classes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (url, studio_project_id)
)""",
)

# A task's sample may be a gold sample of the held-out manifest, which is not a sample of
# the store: ``tasks.sample_id`` references no table (since schema 2).
_TASKS = (
    """CREATE TABLE IF NOT EXISTS tasks (
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
    resolved_at TEXT,
    kind TEXT NOT NULL DEFAULT 'labels' CHECK (kind IN ('labels', 'duplicates', 'outliers')),
    members TEXT
)""",
    "CREATE INDEX IF NOT EXISTS tasks_sample ON tasks(sample_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS tasks_task ON tasks(studio_project_id, task_id)",
)

_REVIEWS = (
    """CREATE TABLE IF NOT EXISTS reviews (
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
)""",
    "CREATE INDEX IF NOT EXISTS reviews_sample ON reviews(sample_id)",
    """CREATE TABLE IF NOT EXISTS answers (
    studio_project_id INTEGER NOT NULL,
    task_id INTEGER NOT NULL,
    annotation_id INTEGER NOT NULL,
    sample_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    choice TEXT,
    cancelled INTEGER NOT NULL,
    updated_at TEXT,
    PRIMARY KEY (studio_project_id, annotation_id)
)""",
    # a pull replaces each task's answers: found by task, not by scanning every answer
    "CREATE INDEX IF NOT EXISTS answers_task ON answers(studio_project_id, task_id)",
    """CREATE TABLE IF NOT EXISTS pulls (
    pull_id INTEGER PRIMARY KEY AUTOINCREMENT,
    studio_project_id INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    cursor TEXT,
    summary TEXT NOT NULL DEFAULT '{}'
)""",
)

# A drop is an event, never a deletion: the latest row of a sample says whether it is
# dropped (left out of training, scoring and pushes; ``drop`` in the export). Since schema 3.
_DROPS = (
    """CREATE TABLE IF NOT EXISTS drops (
    drop_id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL REFERENCES samples(sample_id),
    dropped INTEGER NOT NULL CHECK (dropped IN (0, 1)),
    source TEXT NOT NULL CHECK (source IN ('review', 'manual')),
    cycle INTEGER,
    reviewers TEXT NOT NULL DEFAULT '[]',
    evidence TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS drops_sample ON drops(sample_id, drop_id)",
)

# A relabel project whose tasks outgrow one Label Studio project owns more: its binding
# (``studio_projects``) is part 1, and each further project is a row here, keyed by the
# binding's project id (``first_id``) and URL. Since schema 4.
_PARTS = (
    """CREATE TABLE IF NOT EXISTS studio_parts (
    first_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    part INTEGER NOT NULL CHECK (part >= 2),
    studio_project_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (url, first_id, part)
)""",
)

# ``relabel serve``'s webhook inbox: each answer webhook, appended (durably) before it is
# answered and marked done in the transaction that records it. A new table only, and no new
# version: an older relabel leaves the inbox alone (its events' answers are found by the
# next pull), and a newer one creates it when it opens the store.
INBOX = (
    """CREATE TABLE IF NOT EXISTS webhook_inbox (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL UNIQUE,
    action TEXT NOT NULL,
    body TEXT,
    received_at TEXT NOT NULL,
    done_at TEXT,
    outcome TEXT
)""",
    "CREATE INDEX IF NOT EXISTS webhook_inbox_pending ON webhook_inbox(event_id) "
    "WHERE done_at IS NULL",
)

#: Every table and index of the current schema, as one script (idempotent).
SCHEMA = ";\n".join((*_TABLES, *_TASKS, *_REVIEWS, *_DROPS, *_PARTS, *INBOX)) + ";\n"


def _tasks_without_sample_reference(conn: sqlite3.Connection) -> None:
    """Schema 1 to 2: ``tasks.sample_id`` no longer references ``samples``.

    SQLite cannot drop a foreign key, so the table is rebuilt from :data:`_TASKS` and its
    rows copied over, column by column. The indexes are created after the old table (and
    its indexes, which keep their names through the rename) is dropped.
    """
    conn.execute("ALTER TABLE tasks RENAME TO tasks_v1")
    conn.execute(_TASKS[0])
    columns = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(tasks_v1)"))
    conn.execute(f"INSERT INTO tasks ({columns}) SELECT {columns} FROM tasks_v1")
    conn.execute("DROP TABLE tasks_v1")
    for index in _TASKS[1:]:
        conn.execute(index)


def _issue_tasks_and_drops(conn: sqlite3.Connection) -> None:
    """Schema 2 to 3: a task has a ``kind`` (``labels``, ``duplicates``, ``outliers``) and
    the ``members`` it covers (a JSON list of sample ids; NULL: its one ``sample_id``), and
    drops are recorded as events in ``drops``.

    ``tasks`` is rebuilt from :data:`_TASKS` as schema 2 was (its rows copied column by
    column, the new columns at their defaults), so a migrated store has the same table as
    a new one. A store that came through schema 2's rebuild already has the columns: it
    only gains ``drops``.
    """
    columns = [r[1] for r in conn.execute("PRAGMA table_info(tasks)")]
    if "kind" not in columns:
        conn.execute("ALTER TABLE tasks RENAME TO tasks_v2")
        conn.execute(_TASKS[0])
        names = ", ".join(columns)
        conn.execute(f"INSERT INTO tasks ({names}) SELECT {names} FROM tasks_v2")
        conn.execute("DROP TABLE tasks_v2")
        for index in _TASKS[1:]:
            conn.execute(index)
    for statement in _DROPS:
        conn.execute(statement)


def _studio_parts(conn: sqlite3.Connection) -> None:
    """Schema 3 to 4: ``studio_parts``, the further Label Studio projects of a binding.

    A new table only, but a new version, so that an older relabel refuses a store whose
    tasks may live in several Label Studio projects instead of reading one of them.
    """
    for statement in _PARTS:
        conn.execute(statement)


#: ``MIGRATIONS[n - 1]`` brings a store of schema ``n`` to schema ``n + 1``.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _tasks_without_sample_reference,
    _issue_tasks_and_drops,
    _studio_parts,
)
#: The schema version this code writes (a store of a newer one is refused).
SCHEMA_VERSION = len(MIGRATIONS) + 1


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a store of schema ``version`` up to :data:`SCHEMA_VERSION`, then add new tables.

    Each migration runs in its own transaction with the version it reaches, so a crash
    leaves the store at the last version it completed; the next writable open goes on.

    Parameters
    ----------
    conn : sqlite3.Connection
        A writable connection in autocommit mode, outside any transaction.
    version : int
        The store's ``meta.schema_version``.
    """
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[target - 2](conn)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    conn.executescript(SCHEMA)
