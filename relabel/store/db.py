"""The label store's file: connecting, opening and creating it, transactions and ``meta``.

:class:`Database` is the base of :class:`relabel.store.Store`: it holds the connection and
the write transaction every topic's methods use.

The integrity check. Before a store is read or written, its pages are checked (``PRAGMA
quick_check``, about a second at a million samples), unless the file is exactly as relabel
last left it. When an open that checked (or trusted) the file changes it and closes cleanly
(the WAL checkpointed into the file and removed), and when a store is created, the file's
identity (size, modification and change times in nanoseconds, inode) is recorded in the
*check stamp* (:data:`CHECK_STAMP_FILE`, beside ``relabel.db``). An open, read-only or
writable, skips the check while the file still has that identity and no WAL lies beside it:
its pages are then the checked ones plus what SQLite wrote for relabel in transactions. Any
other change (bytes edited or damaged by another program, a copy, a restore, a ``chmod``:
the change time moves and cannot be set back), a WAL left by a process that was killed or
is still writing, or a missing or unreadable stamp means a full check. Checking on every
open cost every command a second at a million samples (``relabel history``: 1.9 s for a
5 ms query) while guarding against nothing more: what changes a file without changing its
identity (the disk itself returning other bytes) is not what a check on open is for. Only
an open that changed the file writes the stamp, so commands that only read, and commands
refused before they wrote anything, leave the folder as it was. The stamp is a cache:
deleting it costs one check.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from relabel.errors import NotWritableError, StoreError
from relabel.infra import atomic, failpoints
from relabel.store.schema import SCHEMA, SCHEMA_VERSION, migrate

log = logging.getLogger(__name__)

DB_FILE = "relabel.db"
#: The check stamp's file name, beside ``relabel.db`` (see the module docstring).
CHECK_STAMP_FILE = ".relabel.db-checked"
_SQLITE_HEADER = b"SQLite format 3\x00"


def now() -> str:
    """The current UTC time as an ISO-8601 string (microseconds, ``+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _remove_db(path: Path) -> None:
    """Delete an SQLite file with its ``-wal`` and ``-shm`` companions."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def writable_problem(path: Path) -> str | None:
    """Why this process cannot write the store at ``path`` (None: it can).

    A store is written through its folder too: SQLite puts the ``-wal`` and ``-shm``
    files beside it.
    """
    path = Path(path)
    if not os.access(path.parent, os.W_OK):
        return "its folder is read-only"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path.name} is read-only"
    return None


def _read_only_uri(path: Path) -> str:
    """The URI that reads a store this process cannot write, leaving no file beside it.

    A store at rest has no ``-wal`` (the last connection checkpoints and removes it): it is
    opened ``immutable=1``, which needs neither a ``-shm`` nor a lock (a read-only mount or
    snapshot cannot hold them). With a ``-wal`` left (another process has it open, or one
    was killed) the WAL must be read: ``mode=ro``.
    """
    wal = Path(str(path) + "-wal")
    flags = "mode=ro" if wal.exists() and wal.stat().st_size else "immutable=1"
    return f"{path.resolve().as_uri()}?{flags}"


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Connect; ``readonly`` connections refuse every write (``PRAGMA query_only``).

    A read-only connection still opens the file read-write where it may, so that SQLite
    removes the WAL's companion files when it closes and a read leaves the project folder
    exactly as it was; where the file or its folder is not writable it opens the file
    read-only (:func:`_read_only_uri`).
    """
    path = Path(path)
    if readonly and writable_problem(path) is not None:
        uri = _read_only_uri(path)
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


# Stores this process holds open (resolved path -> connections). Closing any descriptor
# of a file drops every POSIX lock this process holds on it: SQLite's own locks of an
# open connection included, so that another process may think itself the last one and
# delete the WAL's shared memory under it ("How To Corrupt An SQLite Database File",
# 2.2). The header is read only while no connection of this process has the file open.
_OPEN: Counter[Path] = Counter()
_OPEN_LOCK = threading.Lock()


@contextmanager
def _held(path: Path) -> Iterator[None]:
    """Count a connection to ``path`` about to be made; its header is checked first when
    it is the process's only one (see :data:`_OPEN`). Uncounted when the body raises."""
    key = Path(path).resolve()
    with _OPEN_LOCK:
        if not _OPEN[key]:
            _check_header(path)
        _OPEN[key] += 1
    try:
        yield
    except BaseException:
        _release(key)
        raise


def _release(key: Path) -> None:
    with _OPEN_LOCK:
        _OPEN[key] -= 1
        if _OPEN[key] <= 0:
            del _OPEN[key]


def _check_header(path: Path) -> None:
    """Refuse a missing file, or one that is not an SQLite database, before opening it."""
    if not path.is_file():
        raise StoreError(f"{path}: label store not found (relabel init creates it)")
    with path.open("rb") as fh:
        header = fh.read(len(_SQLITE_HEADER))
    if header != _SQLITE_HEADER:
        what = "an empty file" if not header else "not an SQLite database"
        raise StoreError(f"{path}: not a relabel label store ({what})")


def _file_identity(path: Path) -> str | None:
    """The store file as it is now (size, times, inode), or None while a WAL is beside it
    (written by a live process, or left by a killed one) or the file cannot be read."""
    wal = Path(str(path) + "-wal")
    try:
        if wal.exists() and wal.stat().st_size:
            return None
        st = path.stat()
    except OSError:
        return None
    return json.dumps([st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino])


def stamp_path(path: Path) -> Path:
    """The check stamp of the store at ``path`` (see the module docstring)."""
    return Path(path).with_name(CHECK_STAMP_FILE)


def _stamp_matches(path: Path) -> bool:
    """True when the file is exactly as a checked writable open left it."""
    identity = _file_identity(path)
    try:
        return identity is not None and stamp_path(path).read_text() == identity
    except (OSError, UnicodeDecodeError):
        return False


def _write_stamp(path: Path) -> None:
    """Record the checked file's identity after a clean close (nothing when a WAL is left:
    another connection still writes; a stamp that cannot be written only costs a check)."""
    identity = _file_identity(path)
    stamp = stamp_path(path)
    try:
        if identity is None:
            stamp.unlink(missing_ok=True)
        elif not stamp.is_file() or stamp.read_text() != identity:
            atomic.write_text(stamp, identity)
    except (OSError, UnicodeDecodeError) as exc:
        log.debug("%s: check stamp not written (%s)", stamp, exc)


def _integrity_check(conn: sqlite3.Connection) -> None:
    """``PRAGMA quick_check``: raise ``sqlite3.DatabaseError`` on a damaged file."""
    check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if check != "ok":
        raise sqlite3.DatabaseError(f"damaged: {check}")


def _schema_version(conn: sqlite3.Connection, *, check: bool = True) -> int:
    """The store's schema version, after an integrity check unless ``check`` is False
    (``sqlite3.DatabaseError``)."""
    if check:
        _integrity_check(conn)
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or not str(row[0]).isdigit() or int(row[0]) > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"unknown schema version {row and row[0]}")
    return int(row[0])


def _fill(
    conn: sqlite3.Connection, classes: list[str], samples: Iterable[tuple[str, str, str]]
) -> None:
    """Write a new store's meta, classes, samples and their original labels."""
    t = now()
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (t,))
    conn.executemany("INSERT INTO classes VALUES (?, ?)", list(enumerate(classes)))
    rows = [(sid, i, p, lab) for i, (sid, p, lab) in enumerate(samples)]
    conn.executemany(
        "INSERT INTO samples (sample_id, ord, path, added_at) VALUES (?, ?, ?, ?)",
        [(sid, i, p, t) for sid, i, p, _ in rows],
    )
    conn.executemany(  # an unlabelled sample (empty label) has no version: the pool
        "INSERT INTO label_versions (sample_id, label, source, created_at) "
        "VALUES (?, ?, 'original', ?)",
        [(sid, lab, t) for sid, _, _, lab in rows if lab],
    )


def _open_checked(path: Path, readonly: bool) -> sqlite3.Connection:
    """Connect to a store, check its pages and schema, and migrate it (writable only)."""
    conn = None
    try:
        conn = _connect(path, readonly=readonly)
        version = _schema_version(conn, check=not _stamp_matches(path))
        if not readonly:
            migrate(conn, version)
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if not isinstance(exc, sqlite3.DatabaseError):
            raise
        raise StoreError(
            f"{path}: not a relabel label store, or a damaged one ({exc}); restore it "
            "from a backup (relabel never repairs a store by itself)"
        ) from exc
    return conn


class Database:
    """An open label store file: its connection, transactions and ``meta`` table.

    Open with :meth:`open` (existing) or :meth:`create` (new). Use as a context manager
    to close it.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, *, checked: bool = False) -> None:
        self.path = Path(path)
        self.conn = conn
        #: Whether this open checked (or trusted) the file and may write: closing stamps it
        #: if the file changed meanwhile (a command that wrote nothing leaves no stamp).
        self._stamp_on_close = checked
        self._opened_as = _file_identity(self.path) if checked else None
        self._held: Path | None = None  # set when the open counted it (see _OPEN)

    def _counted(self) -> Self:
        """Mark this connection as counted in :data:`_OPEN` (released by :meth:`close`)."""
        self._held = self.path.resolve()
        return self

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Self:
        """Open an existing store.

        The file is checked before anything is written to it: an SQLite header, an intact
        page structure (``PRAGMA quick_check``) and relabel's schema version. A writable
        open brings an older schema up to date (:func:`relabel.store.schema.migrate`); a
        read-only one reads it as it is. The page check is skipped when the file is exactly
        as a checked open left it (the check stamp: see the module docstring).

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
        NotWritableError
            A writable open of a store whose file or folder this process cannot write.
        """
        path = Path(path)
        with _held(path):
            problem = None if readonly else writable_problem(path)
            if problem is not None:
                raise NotWritableError(
                    f"{path.parent} is not writable ({problem}); nothing was changed"
                )
            conn = _open_checked(path, readonly)
            return cls(path, conn, checked=not readonly)._counted()

    @classmethod
    def create(
        cls,
        path: Path,
        classes: list[str],
        samples: Iterable[tuple[str, str, str]],
    ) -> Self:
        """Create a store with its classes and samples' original labels, in one transaction.

        The store is written whole under a hidden partial name and renamed when complete
        (:func:`relabel.infra.atomic.atomic_path`): the rename is the commit point, so a
        creation killed at any moment leaves no store and can simply be run again.

        Parameters
        ----------
        path : Path
            The SQLite file to create (must not exist).
        classes : list of str
            Class names in model-output order.
        samples : iterable of (sample_id, path, label)
            In a stable order; the order is kept as ``ord``.

        Raises
        ------
        StoreError
            ``path`` already exists.
        """
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: already exists")
        _remove_db(atomic.partial_path(path))  # left by a creation that was killed
        with atomic.atomic_path(path) as partial:
            conn = _connect(partial)
            try:
                conn.executescript(SCHEMA)
                with cls(partial, conn).transaction():
                    _fill(conn, classes, samples)
                    failpoints.hit("init:before_commit")
                conn.close()  # checkpoints the WAL into the file
            except BaseException:
                conn.close()
                _remove_db(partial)
                raise
        db = cls.open(path)
        db._opened_as = None  # relabel wrote the whole file: closing stamps it
        return db

    def close(self) -> None:
        """Close the connection; a checked writable store then stamps the file it leaves."""
        self.conn.close()
        if self._stamp_on_close:
            self._stamp_on_close = False
            if _file_identity(self.path) != self._opened_as:
                _write_stamp(self.path)
        if self._held is not None:
            _release(self._held)
            self._held = None

    def __enter__(self) -> Self:
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
