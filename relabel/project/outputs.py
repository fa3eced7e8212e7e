"""Reading and checking a model's out-of-fold outputs before they become a run
(:mod:`relabel.project.imported`, ``relabel import-run``).

Every check raises :class:`relabel.errors.RunImportError` naming the file (or the Python
argument) and the row or column, before anything is written. Arrays in ``.npy`` files are
read memory-mapped and checked in chunks of :data:`CHUNK_VALUES` values, so that the only
full-size copies are the ones written (float32 probabilities, float16 embeddings).

Rows are counted from 0 in an array (``probs.npy row 12``), by line in a CSV (the header
is line 1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel.errors import RunImportError
from relabel.ranking.validation import ROW_SUM_TOLERANCE

#: Values checked (and converted) at a time: a chunk is this many values' worth of rows.
CHUNK_VALUES = 1 << 22
#: The largest magnitude a float16 embedding holds.
FLOAT16_MAX = float(np.finfo(np.float16).max)
#: The id column of an ids file or a Parquet probabilities file.
ID_COLUMN = "sample_id"

ArrayInput = np.ndarray | pd.DataFrame | str | os.PathLike[str]


@dataclass(frozen=True)
class Given:
    """Probabilities (or logits) as given, before their values are checked.

    Attributes
    ----------
    values : numpy.ndarray
        ``(n, k)`` in the project's class order (memory-mapped for a ``.npy`` file).
    source : str
        The file's name, or ``probs`` for an array given in Python.
    ids : numpy.ndarray or None
        The ``sample_id`` column of a Parquet file or DataFrame, if it has one.
    """

    values: np.ndarray
    source: str
    ids: np.ndarray | None = None


def _error(message: str, source: str, **where: Any) -> RunImportError:
    return RunImportError(f"{source}: {message}; nothing was written", source=source, **where)


def _load_npy(path: Path, what: str) -> np.ndarray:
    """A ``.npy`` file memory-mapped (read-only)."""
    if not path.is_file():
        raise _error("file not found", str(path))
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _error(f"cannot read it as a .npy array of {what}: {exc}", path.name) from None


def _check_numeric(values: np.ndarray, source: str, what: str) -> None:
    """Refuse an array that is not 2-D numbers or has no rows."""
    dtype = values.dtype
    numeric = np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
    if dtype == np.bool_ or not numeric:
        raise _error(f"{what} must be numbers, got dtype {dtype}", source)
    if values.ndim != 2:
        raise _error(f"{what} must be 2-D (samples x columns), got shape {values.shape}", source)
    if values.shape[0] == 0:
        raise _error(f"{what} has no rows", source)


def _from_table(frame: pd.DataFrame, source: str, classes: list[str]) -> Given:
    """Probabilities from a table whose columns are named by class (and ``sample_id``)."""
    columns = [str(c) for c in frame.columns if not str(c).startswith("__index_level_")]
    unknown = [c for c in columns if c not in classes and c != ID_COLUMN]
    missing = [c for c in classes if c not in columns]
    if unknown or missing:
        parts = [f"column(s) {unknown} are not classes" if unknown else ""]
        parts.append(f"class column(s) {missing} are missing" if missing else "")
        raise _error(
            "; ".join(p for p in parts if p) + f" (the project's classes are {classes}; "
            f"one column per class, and an optional {ID_COLUMN} column)",
            source,
            column=(unknown or missing)[0],
        )
    for c in classes:
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]):
            raise _error(f"column {c!r} must be numbers, got {frame[c].dtype}", source, column=c)
    if frame.empty:
        raise _error("no rows", source)
    ids = frame[ID_COLUMN].astype(str).str.strip().to_numpy() if ID_COLUMN in columns else None
    return Given(frame[classes].to_numpy(dtype=np.float64), source, ids)


def _read_parquet(path: Path, classes: list[str]) -> Given:
    """A Parquet file of probabilities, one column per class."""
    if not path.is_file():
        raise _error("file not found", str(path))
    try:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        wanted = [n for n in names if n in classes or n == ID_COLUMN]
        frame = pd.read_parquet(path, columns=wanted)
    except Exception as exc:
        raise _error(f"cannot read it as Parquet: {exc}", path.name) from None
    if len(wanted) < len(names):  # name the columns that are not classes
        frame = frame.reindex(columns=[*frame.columns, *(n for n in names if n not in wanted)])
    return _from_table(frame, path.name, classes)


def read_probs(probs: ArrayInput, classes: list[str]) -> Given:
    """Read probabilities (or logits) and check their shape and class columns.

    Parameters
    ----------
    probs : numpy.ndarray, pandas.DataFrame or path
        An ``(n, k)`` array or ``.npy`` file, in the project's class order; or a
        ``.parquet`` file or DataFrame with one column per class (any order) and an
        optional ``sample_id`` column.
    classes : list of str
        The project's classes, in model-output order.

    Returns
    -------
    Given

    Raises
    ------
    RunImportError
        Unreadable file, not 2-D numbers, no rows, or columns that are not the classes.
    """
    if isinstance(probs, pd.DataFrame):
        return _from_table(probs, "probs", classes)
    if isinstance(probs, str | os.PathLike):
        path = Path(probs)
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            return _read_parquet(path, classes)
        if suffix != ".npy":
            raise _error("probabilities must be a .npy or .parquet file", path.name)
        given = Given(_load_npy(path, "probabilities"), path.name)
    else:
        given = Given(np.asarray(probs), "probs")
    _check_numeric(given.values, given.source, "probabilities")
    k = given.values.shape[1]
    if k != len(classes):
        raise _error(
            f"{k} columns, but the project has {len(classes)} classes {classes}: a .npy "
            "array's columns are the classes in this order (a Parquet file names them)",
            given.source,
        )
    return given


@dataclass(frozen=True)
class RowIds:
    """The sample of each input row, and where each row goes in the run.

    Attributes
    ----------
    ids : numpy.ndarray
        The sample id of each input row, in input order.
    order : numpy.ndarray or None
        The run's row (the active-sample order) of each input row; None when the input is
        already in that order.
    """

    ids: np.ndarray
    order: np.ndarray | None


def _read_ids_file(path: Path) -> tuple[np.ndarray, Callable[[int], str], str]:
    """An ids CSV's ids, how to name its rows (by line) and its name."""
    if not path.is_file():
        raise _error("file not found", str(path))
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise _error(f"cannot read it as CSV: {exc}", path.name) from None
    if ID_COLUMN in frame.columns:
        column = ID_COLUMN
    elif len(frame.columns) == 1:
        column = str(frame.columns[0])
    else:
        raise _error(
            f"needs a {ID_COLUMN} column, or a single column (found {list(frame.columns)})",
            path.name,
        )
    return frame[column].str.strip().to_numpy(dtype=object), lambda i: f"line {i + 2}", path.name


def _given_ids(
    ids: Sequence[str] | str | os.PathLike[str] | None, given: Given
) -> tuple[np.ndarray, Callable[[int], str], str] | None:
    """The ids of the rows as given (a file, a sequence, the Parquet column), or None."""
    if ids is not None and given.ids is not None:
        raise _error(
            f"has a {ID_COLUMN} column and ids were given too: give one of them",
            given.source,
            column=ID_COLUMN,
        )
    if isinstance(ids, str | os.PathLike):
        return _read_ids_file(Path(ids))
    if ids is not None:
        values = np.asarray([str(i).strip() for i in ids], dtype=object)
        return values, lambda i: f"[{i}]", "ids"
    if given.ids is not None:
        return given.ids.astype(object), lambda i: f"row {i}", f"{given.source} {ID_COLUMN}"
    return None


def row_ids(
    given: Given,
    ids: Sequence[str] | str | os.PathLike[str] | None,
    active: pd.Series,
    known: pd.Series,
) -> RowIds:
    """The sample of each row: from ``ids`` (or the Parquet ``sample_id`` column), else
    the active samples in order; checked against the project.

    Parameters
    ----------
    given : Given
        The probabilities as read.
    ids : sequence of str, path or None
        A CSV file with a ``sample_id`` column (or a single column) or a sequence of ids,
        one per row of the probabilities, in their order.
    active : pandas.Series
        The project's active sample ids, in order (:meth:`Project.active_samples`).
    known : pandas.Series
        Every sample id of the project (excluded samples too).

    Returns
    -------
    RowIds

    Raises
    ------
    RunImportError
        A count that differs from the probabilities' rows (or, without ids, from the
        active samples), an empty, duplicate, unknown or excluded id, or an active sample
        without a row.
    """
    n = given.values.shape[0]
    read = _given_ids(ids, given)
    if read is None:
        if n != len(active):
            raise _error(
                f"{n} rows, but the project has {len(active)} active samples: without ids "
                "the rows are the active samples in the order of Project.active_samples() "
                "(give --ids to name each row's sample)",
                given.source,
            )
        return RowIds(active.to_numpy(dtype=object), None)
    values, where, source = read
    if len(values) != n:
        hint = " (its first line is the header)" if source.endswith(".csv") else ""
        raise _error(f"{len(values)} ids{hint}, but {given.source} has {n} rows", source)
    _check_ids(values, where, source, active, known)
    active_ix = pd.Index(active.to_numpy(dtype=object), dtype=object)
    order = active_ix.get_indexer(np.asarray(values, dtype=object))
    return RowIds(values, None if (order == np.arange(n)).all() else order)


def _check_ids(
    values: np.ndarray,
    where: Callable[[int], str],
    source: str,
    active: pd.Series,
    known: pd.Series,
) -> None:
    """Refuse empty, duplicate, unknown or excluded ids, and active samples without a row."""
    empty = np.flatnonzero(values == "")
    if empty.size:
        raise _error(f"{where(int(empty[0]))}: empty id", source, row=int(empty[0]))
    # object indexes: hashed lookups (isin on pandas' Arrow strings walks them in Python)
    index = pd.Index(np.asarray(values, dtype=object), dtype=object)
    actives = pd.Index(active.to_numpy(dtype=object), dtype=object)
    dup = np.flatnonzero(index.duplicated())
    if dup.size:
        row = int(dup[0])
        first = int(np.flatnonzero(values == values[row])[0])
        raise _error(
            f"{where(row)}: duplicate id {values[row]!r} (first at {where(first)})",
            source,
            row=row,
        )
    unknown = np.flatnonzero(~index.isin(actives.to_numpy()))
    if unknown.size:
        row = int(unknown[0])
        why = "is excluded (not trained on)" if values[row] in set(known) else "is unknown"
        more = f" ({unknown.size - 1} more ids are not active samples)" if unknown.size > 1 else ""
        raise _error(
            f"{where(row)}: sample {values[row]!r} {why}: ids must be the project's active "
            f"samples{more}",
            source,
            row=row,
        )
    missing = active[~actives.isin(index.to_numpy())].tolist()
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise _error(
            f"{len(missing)} active sample(s) have no row: {shown} (a run covers every "
            "active sample)",
            source,
        )


def _chunks(shape: tuple[int, ...]) -> list[slice]:
    """The row ranges of an ``(n, d)`` array, about :data:`CHUNK_VALUES` values each."""
    n, width = shape[0], max(1, int(shape[1]))
    step = max(1, CHUNK_VALUES // width)
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _target(rows: RowIds, part: slice) -> slice | np.ndarray:
    """Where the input rows ``part`` go in the run (the active-sample order)."""
    return part if rows.order is None else rows.order[part]


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits (the row's maximum subtracted first)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _bad_rows(chunk: np.ndarray, logits: bool) -> np.ndarray:
    """Rows of a chunk (float64) that are not finite or, for probabilities, that hold a
    negative value or do not sum to 1."""
    bad = ~np.isfinite(chunk).all(axis=1)
    if not logits:
        bad |= (chunk < 0).any(axis=1) | ~(np.abs(chunk.sum(axis=1) - 1.0) <= ROW_SUM_TOLERANCE)
    return bad


def _describe(row: np.ndarray, classes: list[str], logits: bool) -> str:
    """What is wrong with one row of probabilities (or logits)."""
    what = "logit" if logits else "probability"
    for test, word in ((np.isnan, "NaN"), (np.isinf, "infinite")):
        hit = np.flatnonzero(test(row))
        if hit.size:
            return f"{what} of class {classes[hit[0]]!r} (column {hit[0]}) is {word}"
    negative = np.flatnonzero(row < 0)
    if negative.size:
        c = int(negative[0])
        return (
            f"probability of class {classes[c]!r} (column {c}) is negative ({row[c]:g}); "
            "if these are logits, pass --logits (Python: logits=True)"
        )
    return (
        f"the probabilities sum to {row.sum():.6g}, not 1 (tolerance {ROW_SUM_TOLERANCE:g}); "
        "if these are logits, pass --logits (Python: logits=True)"
    )


def checked_probs(
    given: Given, rows: RowIds, classes: list[str], *, logits: bool = False
) -> np.ndarray:
    """The probabilities as the run stores them: float32, in the active-sample order,
    softmax applied to logits; every row checked, chunk by chunk.

    Parameters
    ----------
    given : Given
        The probabilities (or logits) as read.
    rows : RowIds
        Each input row's sample and run row.
    classes : list of str
        The project's classes (to name a bad column).
    logits : bool
        The values are logits: a stable softmax makes them probabilities.

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` float32; the input itself (no copy) when it is float32 probabilities
        already in order.

    Raises
    ------
    RunImportError
        Naming the first row (and its sample) with NaN or infinite values or, for
        probabilities, a negative value or a sum that is not 1, and how many rows are bad.
    """
    values = given.values
    n, k = values.shape
    keep = not logits and rows.order is None and values.dtype == np.float32
    out = values if keep else np.empty((n, k), dtype=np.float32)
    first: tuple[int, np.ndarray] | None = None
    n_bad = 0
    for part in _chunks(values.shape):
        chunk = np.asarray(values[part], dtype=np.float64)
        bad = _bad_rows(chunk, logits)
        if bad.any():
            n_bad += int(bad.sum())
            if first is None:
                at = int(np.argmax(bad))
                first = (part.start + at, chunk[at].copy())
        elif not keep and not n_bad:
            out[_target(rows, part)] = _softmax(chunk) if logits else chunk
    if first is not None:
        row, data = first
        more = f" ({n_bad - 1} more bad rows)" if n_bad > 1 else ""
        raise _error(
            f"row {row} (sample {rows.ids[row]!r}): {_describe(data, classes, logits)}{more}",
            given.source,
            row=row,
        )
    return out


def _embedding_source(embeddings: np.ndarray | str | os.PathLike[str]) -> tuple[np.ndarray, str]:
    if isinstance(embeddings, str | os.PathLike):
        path = Path(embeddings)
        if path.suffix.lower() != ".npy":
            raise _error("embeddings must be a .npy file", path.name)
        return _load_npy(path, "embeddings"), path.name
    return np.asarray(embeddings), "embeddings"


def read_embeddings(
    embeddings: np.ndarray | str | os.PathLike[str], rows: RowIds
) -> tuple[np.ndarray, str]:
    """Read embeddings and check them: 2-D numbers, one row per probabilities row, every
    value finite and within float16's range (they are stored as float16).

    Parameters
    ----------
    embeddings : numpy.ndarray or path
        ``(n, d)``, a ``.npy`` file (read memory-mapped) or an array, rows in the order of
        the probabilities' rows.
    rows : RowIds
        Each input row's sample.

    Returns
    -------
    values, source
        The embeddings as given (not copied) and how messages name them.

    Raises
    ------
    RunImportError
        Naming the file and the first bad row (and its sample).
    """
    values, source = _embedding_source(embeddings)
    _check_numeric(values, source, "embeddings")
    n = len(rows.ids)
    if values.shape[0] != n:
        raise _error(f"{values.shape[0]} rows, but the probabilities have {n} rows", source)
    for part in _chunks(values.shape):
        chunk = np.asarray(values[part], dtype=np.float64)
        finite = np.isfinite(chunk).all(axis=1)
        fits = (np.abs(np.where(np.isfinite(chunk), chunk, 0.0)) <= FLOAT16_MAX).all(axis=1)
        bad = np.flatnonzero(~(finite & fits))
        if bad.size:
            row = part.start + int(bad[0])
            what = (
                "a NaN or infinite value"
                if not finite[bad[0]]
                else f"a value beyond float16's range (|x| <= {FLOAT16_MAX:g}): scale them"
            )
            raise _error(f"row {row} (sample {rows.ids[row]!r}) holds {what}", source, row=row)
    return values, source


def write_embeddings(values: np.ndarray, rows: RowIds, dest: Path) -> None:
    """Write checked embeddings as a float16 ``.npy`` file (memory-mappable), in the run's
    row order, chunk by chunk."""
    out = np.lib.format.open_memmap(dest, mode="w+", dtype=np.float16, shape=values.shape)
    try:
        for part in _chunks(values.shape):
            out[_target(rows, part)] = np.asarray(values[part], dtype=np.float16)
        out.flush()
    finally:
        del out
