"""Rank samples by suspicion, deterministically: equal scores are ordered by sample index."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from relabel.ranking.validation import check_score

__all__ = ["order_by_score", "rank_order", "ranks"]


def order_by_score(s: np.ndarray) -> np.ndarray:
    """Sample indices by decreasing checked score, ties by index (see :func:`rank_order`).

    Parameters
    ----------
    s : numpy.ndarray of float64, shape (n,)
        Checked scores (no NaN).

    Returns
    -------
    numpy.ndarray of intp, shape (n,)
        A permutation of ``0 .. n-1``.
    """
    n = s.shape[0]
    # An unstable (SIMD) sort is several times faster than a stable one; equal scores are
    # then put in index order by sorting unique (group, index) keys.
    order = np.argsort(-s)
    ordered = s[order]
    ties = ordered[1:] == ordered[:-1]
    del ordered
    if ties.any():
        np.logical_not(ties, out=ties)
        key = np.zeros(n, dtype=np.int64)
        np.cumsum(ties, out=key[1:])  # group number of each position
        key *= n
        key += order
        key.sort()
        order = np.remainder(key, n, out=key)
    return order.astype(np.intp, copy=False)


def rank_order(score: npt.ArrayLike) -> np.ndarray:
    """Sample indices, most suspicious (highest score) first.

    Parameters
    ----------
    score : array_like of float, shape (n,)
        Suspicion scores (higher is more suspicious); NaN is refused.

    Returns
    -------
    numpy.ndarray of intp, shape (n,)
        A permutation of ``0 .. n-1``. Equal scores keep index order, so the result is the
        same as a stable sort by decreasing score.
    """
    return order_by_score(check_score(score))


def ranks(score: npt.ArrayLike) -> np.ndarray:
    """1-based rank of each sample, 1 being the most suspicious.

    Parameters
    ----------
    score : array_like of float, shape (n,)
        Suspicion scores (higher is more suspicious).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        ``ranks(score)[rank_order(score)] == 1 .. n``.
    """
    order = rank_order(score)
    out = np.empty(order.shape[0], dtype=np.int64)
    out[order] = np.arange(1, order.shape[0] + 1)
    return out
