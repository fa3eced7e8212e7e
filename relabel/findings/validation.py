"""Check the arrays given to :mod:`relabel.findings`; name the argument and row when wrong.

Every check raises :class:`relabel.errors.IssueInputError`. Embeddings may be a
memory-mapped file (``numpy.load(..., mmap_mode="r")``): they are read in chunks of
:data:`CHUNK_ROWS` rows and L2-normalised into one float32 copy, never an ``n x n`` matrix.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.errors import IssueInputError

__all__ = [
    "CHUNK_ROWS",
    "check_embeddings",
    "check_flags",
    "check_hashes",
    "check_labels",
    "normalised",
]

#: Rows read, normalised or searched at a time.
CHUNK_ROWS: Final[int] = 4096


def _first_bad_row(bad: np.ndarray) -> int:
    """The first row holding a True (``bad`` is 1-D or 2-D)."""
    rows = bad if bad.ndim == 1 else bad.any(axis=1)
    return int(np.flatnonzero(rows)[0])


def check_embeddings(embeddings: npt.ArrayLike, chunk: int = CHUNK_ROWS) -> np.ndarray:
    """Return ``embeddings`` as a 2-D floating array (a memmap stays one), or raise.

    Parameters
    ----------
    embeddings : array_like, shape (n, d)
        One vector per sample (float16, float32 or float64; a memmap is read in chunks).
    chunk : int
        Rows checked for NaN at a time.

    Returns
    -------
    numpy.ndarray
        ``embeddings`` itself when it is a floating numpy array.

    Raises
    ------
    IssueInputError
        Not numeric, not 2-D, fewer than 2 rows, or a row holding NaN or infinity (named).
    """
    e = embeddings if isinstance(embeddings, np.ndarray) else np.asarray(embeddings)
    if e.dtype == np.bool_ or not (
        np.issubdtype(e.dtype, np.floating) or np.issubdtype(e.dtype, np.integer)
    ):
        raise IssueInputError(f"embeddings must be a numeric array, got dtype {e.dtype}")
    if e.ndim != 2:
        raise IssueInputError(f"embeddings must be 2-D (n, d), got shape {e.shape}")
    if e.shape[0] < 2 or e.shape[1] < 1:
        raise IssueInputError(f"embeddings need at least 2 rows and 1 column, got {e.shape}")
    for start in range(0, e.shape[0], chunk):
        block = np.asarray(e[start : start + chunk])
        bad = ~np.isfinite(block)
        if bad.any():
            row = start + _first_bad_row(bad)
            raise IssueInputError(f"embeddings row {row} holds NaN or infinite values")
    return e


def normalised(embeddings: np.ndarray, chunk: int = CHUNK_ROWS) -> np.ndarray:
    """The rows of ``embeddings`` scaled to unit L2 norm, as one float32 array.

    A zero row stays zero. Read ``chunk`` rows at a time (a memmap is never read whole
    into a float64 copy).
    """
    out = np.empty(embeddings.shape, np.float32)
    for start in range(0, embeddings.shape[0], chunk):
        block = np.asarray(embeddings[start : start + chunk], dtype=np.float32)
        norm = np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block / np.where(norm > 0, norm, 1.0)
    return out


def check_labels(labels: npt.ArrayLike | None, n: int) -> np.ndarray | None:
    """Given labels as a 1-D array of length ``n`` (any hashable values), or None.

    Raises
    ------
    IssueInputError
        Wrong shape or length, or a missing (None/NaN) label (the row is named).
    """
    if labels is None:
        return None
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise IssueInputError(f"labels must have shape ({n},), got {y.shape}")
    if y.dtype == object:
        missing = np.array([v is None or (isinstance(v, float) and v != v) for v in y], bool)
    elif np.issubdtype(y.dtype, np.floating):
        missing = np.isnan(y)
    else:
        missing = np.zeros(n, bool)
    if np.asarray(missing).any():
        raise IssueInputError(f"labels row {_first_bad_row(np.asarray(missing))} is missing")
    return y


def check_hashes(hashes: npt.ArrayLike | None, n: int) -> np.ndarray | None:
    """Content hashes as a 1-D array of length ``n`` (strings, bytes or integers), or None.

    An empty string or None means "no hash" for that row (it matches nothing).

    Raises
    ------
    IssueInputError
        Wrong shape or length.
    """
    if hashes is None:
        return None
    h = np.asarray(hashes)
    if h.ndim != 1 or len(h) != n:
        raise IssueInputError(f"hashes must have shape ({n},), got {h.shape}")
    return h


def check_flags(flags: npt.ArrayLike | None, n: int, name: str) -> np.ndarray | None:
    """A boolean per sample (``holdout``), or None.

    Raises
    ------
    IssueInputError
        Wrong shape or length, or values other than booleans or 0/1 (the row is named).
    """
    if flags is None:
        return None
    f = np.asarray(flags)
    if f.ndim != 1 or len(f) != n:
        raise IssueInputError(f"{name} must have shape ({n},), got {f.shape}")
    if f.dtype != np.bool_:
        if not np.issubdtype(f.dtype, np.number):
            raise IssueInputError(f"{name} must be booleans, got dtype {f.dtype}")
        bad = ~np.isin(f, (0, 1))
        if bad.any():
            raise IssueInputError(f"{name} row {_first_bad_row(bad)} is {f[bad][0]!r}, not 0/1")
    return f.astype(bool)
