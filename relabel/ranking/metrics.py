"""Measure how well a ranking finds known label errors (numpy; AUROC by scikit-learn).

These are for benchmarks and evaluation, where the true labels are known (a demo dataset
with injected noise, or a dataset with human-confirmed errors); the review loop itself
never needs them.

* ``is_error`` -- shape ``(n,)``, bool: whether sample ``i``'s given label is wrong.
* ``order`` -- sample indices, most suspicious first
  (:func:`relabel.ranking.rank_order`).
* ``score`` -- shape ``(n,)``, higher meaning more suspicious
  (:func:`relabel.ranking.suspicion`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from relabel.errors import ScoringInputError

__all__ = ["auroc", "precision_at_k", "recall_at"]


def _check_is_error(is_error: npt.ArrayLike) -> np.ndarray:
    e = np.asarray(is_error)
    if e.ndim != 1:
        raise ScoringInputError(f"is_error must be 1-D, got shape {e.shape}")
    if e.size == 0:
        raise ScoringInputError("is_error is empty: there are no samples to measure")
    if e.dtype != np.bool_:
        if not np.issubdtype(e.dtype, np.integer) or not np.isin(e, (0, 1)).all():
            raise ScoringInputError("is_error must be booleans (or 0/1 integers)")
        e = e.astype(bool)
    return e


def _check_order(order: npt.ArrayLike, n: int) -> np.ndarray:
    o = np.asarray(order)
    if o.ndim != 1 or not np.issubdtype(o.dtype, np.integer):
        raise ScoringInputError(f"order must be a 1-D array of sample indices, got {o.dtype}")
    if o.size and (o.min() < 0 or o.max() >= n):
        raise ScoringInputError(f"order holds indices outside 0..{n - 1}")
    return o


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ScoringInputError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ScoringInputError(f"{name} must be at least 1, got {value}")
    return int(value)


def precision_at_k(is_error: npt.ArrayLike, order: npt.ArrayLike, k: int) -> float:
    """Fraction of the first ``k`` samples of a ranking that are label errors.

    Parameters
    ----------
    is_error : array_like of bool, shape (n,)
        Whether each sample's given label is wrong.
    order : array_like of int
        Sample indices, most suspicious first.
    k : int
        How many of the top samples to look at (``>= 1``). When ``order`` is shorter, all of
        it is used.

    Returns
    -------
    float
        ``is_error[order[:k]].mean()``.
    """
    e = _check_is_error(is_error)
    o = _check_order(order, e.size)
    k = _check_count(k, "k")
    top = o[:k]
    if top.size == 0:
        raise ScoringInputError("order is empty: there is no ranking to measure")
    return float(np.count_nonzero(e[top]) / top.size)


def recall_at(is_error: npt.ArrayLike, order: npt.ArrayLike, budget: int) -> float:
    """Fraction of all label errors found in the first ``budget`` samples of a ranking.

    Parameters
    ----------
    is_error : array_like of bool, shape (n,)
        Whether each sample's given label is wrong; at least one must be.
    order : array_like of int
        Sample indices, most suspicious first.
    budget : int
        How many samples a reviewer looks at (``>= 1``).

    Returns
    -------
    float
        ``is_error[order[:budget]].sum() / is_error.sum()``.

    Raises
    ------
    ScoringInputError
        When there are no errors, so recall is undefined.
    """
    e = _check_is_error(is_error)
    o = _check_order(order, e.size)
    budget = _check_count(budget, "budget")
    total = int(np.count_nonzero(e))
    if total == 0:
        raise ScoringInputError("is_error marks no errors: recall is undefined")
    return float(np.count_nonzero(e[o[:budget]]) / total)


def auroc(is_error: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve of ``score`` separating errors from correct labels.

    ``sklearn.metrics.roc_auc_score(is_error, score)``, after checking the inputs (tied
    scores count half).

    Parameters
    ----------
    is_error : array_like of bool, shape (n,)
        Whether each sample's given label is wrong; both classes must occur.
    score : array_like of float, shape (n,)
        Higher means more suspicious.

    Returns
    -------
    float
        Probability that a random error scores higher than a random correct label (ties
        count half); 0.5 is chance.
    """
    e = _check_is_error(is_error)
    s = np.asarray(score, dtype=np.float64)
    if s.shape != e.shape:
        raise ScoringInputError(f"score has shape {s.shape} but is_error has shape {e.shape}")
    if np.isnan(s).any():
        raise ScoringInputError(f"score[{int(np.flatnonzero(np.isnan(s))[0])}] is NaN")
    n_pos = int(np.count_nonzero(e))
    n_neg = e.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ScoringInputError(
            "auroc needs both errors and correct labels; is_error has only "
            + ("correct labels" if n_pos == 0 else "errors")
        )
    return float(roc_auc_score(e, s))
