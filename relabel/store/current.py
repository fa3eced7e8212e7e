"""The current labels, read fast: two sequential scans and a derived Parquet snapshot.

:meth:`relabel.store.Store.labels` is every sample with its current and original label.
Read as one ``GROUP BY`` with joins it took tens of seconds at a million samples; here it
is two scans (``samples`` and ``label_versions``, each column read as one JSON array)
joined in numpy (:func:`read_current`).

The snapshot (:data:`SNAPSHOT_FILE`, beside ``relabel.db``) is that table as Parquet,
keyed by :func:`snapshot_key`: the schema, the store's creation time and the newest label
version (its id, sample and time). Label versions are only ever appended and samples only
added with their original version, so any change to the table changes the key. It is only
a cache: the SQLite store stays the only truth; a snapshot whose key differs (or that
cannot be read) is ignored, and only a writable store writes one (atomically), so commands
that only read leave the project folder as it was.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from relabel.infra import atomic
from relabel.store.schema import SCHEMA_VERSION

log = logging.getLogger(__name__)

#: The snapshot's file name, beside ``relabel.db`` (hidden: it is a cache, never edited).
SNAPSHOT_FILE = ".labels-snapshot.parquet"
#: Bumped whenever the snapshot's columns or their meaning change.
SNAPSHOT_FORMAT = 1
#: The Parquet schema metadata key holding :func:`snapshot_key`.
_KEY = b"relabel.labels_key"

#: The columns of :meth:`relabel.store.Store.labels`, in order.
LABEL_COLUMNS = (
    "sample_id",
    "ord",
    "path",
    "label",
    "status",
    "source",
    "version_id",
    "original_label",
    "changed_in_cycle",
    "n_versions",
)


def snapshot_path(db_path: Path) -> Path:
    """The snapshot file of the store at ``db_path``."""
    return Path(db_path).with_name(SNAPSHOT_FILE)


def snapshot_key(conn: sqlite3.Connection) -> str:
    """What the current labels depend on, as a string (an index lookup, no scan).

    Parameters
    ----------
    conn : sqlite3.Connection
        The store's connection.

    Returns
    -------
    str
        JSON of the snapshot format, the schema version, the store's ``created_at`` and the
        newest label version's id, sample and creation time.
    """
    created = conn.execute("SELECT value FROM meta WHERE key = 'created_at'").fetchone()
    newest = conn.execute(
        "SELECT version_id, sample_id, created_at FROM label_versions "
        "ORDER BY version_id DESC LIMIT 1"
    ).fetchone()
    parts = [
        SNAPSHOT_FORMAT,
        SCHEMA_VERSION,
        created and created[0],
        list(newest) if newest else None,
    ]
    return json.dumps(parts)


def _columns(conn: sqlite3.Connection, table: str, columns: Sequence[str]) -> list[np.ndarray]:
    """Whole columns of ``table`` as object arrays, sorted by the first column.

    Each column comes back as one JSON array (``json_group_array``): one string per
    column instead of a Python tuple per row, several times faster at a million rows. The
    aggregates of one query see the rows in the same order, so the columns stay aligned;
    they are sorted by the first (a unique integer) here, whatever order SQLite used.
    """
    select = ", ".join(f"json_group_array({c})" for c in columns)
    row = conn.execute(f"SELECT {select} FROM {table}").fetchone()  # names are constants
    arrays = [np.asarray(json.loads(text), dtype=object) for text in row]
    key = arrays[0].astype(np.int64)
    if len(key) > 1 and not bool((key[1:] > key[:-1]).all()):
        order = np.argsort(key, kind="stable")
        arrays = [a[order] for a in arrays]
    return arrays


def read_current(conn: sqlite3.Connection) -> pd.DataFrame:
    """Every sample with its current and original label, in ``ord`` order, from SQL.

    The samples without any label version (the unlabelled pool) are left out; a sample
    labelled out of the pool has no original label (NA).

    Parameters
    ----------
    conn : sqlite3.Connection
        The store's connection.

    Returns
    -------
    pandas.DataFrame
        :data:`LABEL_COLUMNS` (see :meth:`relabel.store.Store.labels`).
    """
    order, sid, path = _columns(conn, "samples", ("ord", "sample_id", "path"))
    vid, v_sid, label, status, source, cycle = _columns(
        conn, "label_versions", ("version_id", "sample_id", "label", "status", "source", "cycle")
    )
    if len(v_sid) == len(sid) and bool((v_sid == sid).all()):
        pos = np.arange(len(sid))  # one version per sample, in sample order: the usual case
    else:
        pos = pd.Index(sid, dtype=object).get_indexer(v_sid)
    by_sample = np.argsort(pos, kind="stable")  # versions stay in version_id order
    pos_sorted = pos[by_sample]
    starts = np.flatnonzero(np.r_[True, pos_sorted[1:] != pos_sorted[:-1]])
    ends = np.r_[starts[1:], len(pos_sorted)] - 1
    first, last = by_sample[starts], by_sample[ends]
    rows = pos_sorted[starts]
    latest_source = source[last]
    changed = np.where(latest_source == "original", None, cycle[last])
    return pd.DataFrame(
        {
            "sample_id": pd.array(sid[rows], dtype="str"),
            "ord": order[rows].astype(np.int64),
            "path": pd.array(path[rows], dtype="str"),
            "label": pd.array(label[last], dtype="str"),
            "status": pd.array(status[last], dtype="str"),
            "source": pd.array(latest_source, dtype="str"),
            "version_id": vid[last].astype(np.int64),
            "original_label": pd.array(
                np.where(source[first] == "original", label[first], None), dtype="str"
            ),
            "changed_in_cycle": pd.array(changed, dtype="Int64"),
            "n_versions": (ends - starts + 1).astype(np.int64),
        }
    )


def read_snapshot(
    path: Path, key: str, columns: Sequence[str] | None = None
) -> pd.DataFrame | None:
    """The snapshot's table when its key is ``key``; None when it is missing, stale or
    unreadable.

    Parameters
    ----------
    path : Path
        The snapshot file.
    key : str
        :func:`snapshot_key` of the store now.
    columns : sequence of str, optional
        Read only these columns (default: all).

    Returns
    -------
    pandas.DataFrame or None
    """
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    try:
        handle = pq.ParquetFile(path)
        meta = handle.schema_arrow.metadata or {}
        if meta.get(_KEY) != key.encode():
            return None
        table = handle.read(columns=list(columns) if columns is not None else None)
        return table.to_pandas()
    except (OSError, ValueError) as exc:  # damaged or half-copied: the store still answers
        log.debug("label snapshot %s ignored: %s", path, exc)
        return None


def write_snapshot(path: Path, frame: pd.DataFrame, key: str) -> None:
    """Write ``frame`` (:func:`read_current`) as the snapshot of ``key``, atomically.

    A failure (a full disk, a read-only folder) is logged and ignored: the snapshot is a
    cache.

    Parameters
    ----------
    path : Path
        The snapshot file.
    frame : pandas.DataFrame
        The current labels.
    key : str
        :func:`snapshot_key` of the store they were read from.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _KEY: key.encode()})
    try:
        with atomic.atomic_path(path) as partial:
            pq.write_table(table, partial)
    except OSError as exc:
        log.debug("label snapshot %s not written: %s", path, exc)
