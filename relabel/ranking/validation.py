"""Check the inputs of the scoring functions; name the offending row or entry when they are wrong.

* ``labels`` -- shape ``(n,)``, integer class indices ``0 .. K-1`` (the *given* labels);
* ``probs`` -- shape ``(n, K)``, out-of-fold class probabilities (float32 or float64, each
  row summing to 1 within :data:`ROW_SUM_TOLERANCE`);
* ``score`` -- shape ``(n,)``, suspicion scores to rank.

Every check raises :class:`relabel.errors.ScoringInputError`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.errors import ScoringInputError

__all__ = [
    "ROW_SUM_TOLERANCE",
    "check_inputs",
    "check_labels",
    "check_probs",
    "check_score",
    "read_only",
]

#: How far a row of ``probs`` may sum from 1.
ROW_SUM_TOLERANCE: Final[float] = 1e-3


def check_probs(probs: npt.ArrayLike) -> np.ndarray:
    """Return ``probs`` as a 2-D float32/float64 array with valid rows, or raise.

    Parameters
    ----------
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities; integers are converted to float64.

    Returns
    -------
    numpy.ndarray of float32 or float64, shape (n, K)
        ``probs`` itself when it is already float32 or float64 (no copy).

    Raises
    ------
    ScoringInputError
        If ``probs`` is not numeric, not 2-D, empty, has fewer than 2 classes, or a row
        holds NaN, infinite or negative values or does not sum to 1 (the first such row is
        named).
    """
    p = np.asarray(probs)
    if p.dtype == np.bool_ or not (
        np.issubdtype(p.dtype, np.floating) or np.issubdtype(p.dtype, np.integer)
    ):
        raise ScoringInputError(f"probs must be a numeric array, got dtype {p.dtype}")
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float64)
    if p.ndim != 2:
        raise ScoringInputError(f"probs must be 2-D (samples x classes), got shape {p.shape}")
    n, k = p.shape
    if n == 0:
        raise ScoringInputError("probs has no rows: there are no samples to score")
    if k < 2:
        raise ScoringInputError(f"probs must have at least 2 classes (columns), got {k}")
    # One matrix-vector product gives the row sums; NaN and inf end up in them, so a single
    # check finds every non-finite row too. The minimum finds negative entries.
    row_sums = p @ np.ones(k, dtype=p.dtype)
    bad_rows = ~(np.abs(row_sums - 1.0) <= ROW_SUM_TOLERANCE)
    if bad_rows.any() or not p.min() >= 0:
        _raise_bad_probs(p, row_sums, bad_rows)
    return p


def _raise_bad_probs(p: np.ndarray, row_sums: np.ndarray, bad_rows: np.ndarray) -> None:
    """Describe the first invalid row of ``p`` (and how many there are), then raise."""
    bad_rows = bad_rows | ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1)
    rows = np.flatnonzero(bad_rows)
    row = int(rows[0])
    values = p[row]
    if np.isnan(values).any():
        what = f"probability of class {int(np.flatnonzero(np.isnan(values))[0])} is NaN"
    elif np.isinf(values).any():
        what = f"probability of class {int(np.flatnonzero(np.isinf(values))[0])} is infinite"
    elif (values < 0).any():
        col = int(np.flatnonzero(values < 0)[0])
        what = f"probability of class {col} is negative ({values[col]:g})"
    else:
        what = (
            f"probabilities sum to {row_sums[row]:.6g}, not 1 "
            f"(tolerance {ROW_SUM_TOLERANCE:g}); pass softmax outputs, not logits"
        )
    more = f" ({rows.size - 1} more invalid rows)" if rows.size > 1 else ""
    raise ScoringInputError(f"probs row {row}: {what}{more}")


def check_labels(labels: npt.ArrayLike, n: int, k: int) -> np.ndarray:
    """Return ``labels`` as a 1-D intp array of ``n`` classes in ``0 .. k-1``, or raise.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    n : int
        Number of samples (rows of ``probs``).
    k : int
        Number of classes (columns of ``probs``).

    Returns
    -------
    numpy.ndarray of intp, shape (n,)
        ``labels`` itself when it is already intp (no copy).

    Raises
    ------
    ScoringInputError
        If ``labels`` is not 1-D integers, has not ``n`` entries, or an entry is not a
        class index (the first such entry is named).
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ScoringInputError(f"labels must be 1-D, got shape {y.shape}")
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        if y.size == 0 and y.dtype == np.float64:  # np.asarray([]) is float64
            y = y.astype(np.intp)
        else:
            raise ScoringInputError(f"labels must be integer class indices, got dtype {y.dtype}")
    if y.shape[0] != n:
        raise ScoringInputError(f"labels has {y.shape[0]} entries but probs has {n} rows")
    if n and (y.min() < 0 or y.max() >= k):
        bad = np.flatnonzero((y < 0) | (y >= k))
        raise ScoringInputError(
            f"labels[{int(bad[0])}] = {int(y[bad[0]])} is not a class index for {k} classes "
            f"(0..{k - 1})" + (f"; {bad.size - 1} more out of range" if bad.size > 1 else "")
        )
    return y.astype(np.intp, copy=False)


def check_inputs(labels: npt.ArrayLike, probs: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check labels and probabilities together (see :func:`check_probs`, :func:`check_labels`).

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.

    Returns
    -------
    tuple of numpy.ndarray
        The labels (intp) and the probabilities (float32 or float64).
    """
    p = check_probs(probs)
    y = check_labels(labels, p.shape[0], p.shape[1])
    return y, p


def check_score(score: npt.ArrayLike) -> np.ndarray:
    """Return suspicion scores as a 1-D float64 array without NaN, or raise.

    Parameters
    ----------
    score : array_like of float, shape (n,)
        Suspicion scores.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``score`` itself when it is already float64 (no copy).
    """
    s = np.asarray(score)
    if s.ndim != 1:
        raise ScoringInputError(f"score must be 1-D, got shape {s.shape}")
    if s.dtype == np.bool_ or not (
        np.issubdtype(s.dtype, np.floating) or np.issubdtype(s.dtype, np.integer)
    ):
        raise ScoringInputError(f"score must be numeric, got dtype {s.dtype}")
    s = s.astype(np.float64, copy=False)
    if np.isnan(s).any():
        raise ScoringInputError(f"score[{int(np.flatnonzero(np.isnan(s))[0])}] is NaN")
    return s


def read_only(a: np.ndarray) -> np.ndarray:
    """Mark an array the scoring functions hand out as read-only, and return it.

    Parameters
    ----------
    a : numpy.ndarray
        An array owned by the result (never the caller's input).

    Returns
    -------
    numpy.ndarray
        ``a`` itself, no longer writeable.
    """
    a.setflags(write=False)
    return a
