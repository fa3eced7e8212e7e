"""Confident learning: per-class thresholds, the confident joint of given and true labels,
and the number of label errors it estimates.

The method follows confident learning (Northcutt, Jiang and Chuang, JAIR 2021) as
implemented by cleanlab, and agrees with cleanlab where the docstrings say so:

* :func:`per_class_thresholds` -- ``t_j``, the mean probability of class ``j`` over the
  samples labelled ``j``;
* :func:`confident_joint` -- counts of (given label, confident true label) pairs, calibrated
  into an estimate of the joint and of the number of label errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.errors import ScoringInputError
from relabel.ranking.confidence import BLOCK_ELEMENTS, given_probability
from relabel.ranking.validation import check_inputs, read_only

__all__ = ["ConfidentJoint", "confident_joint", "per_class_thresholds"]

#: cleanlab's fuzzy comparison: p_j >= t_j - 1e-6 counts as confident, and a class must beat
#: the given label by more than this to count as a disagreement that flags a label issue.
FLOAT_TOLERANCE: Final[float] = 1e-6
# cleanlab clips thresholds from below so that a class nobody predicts does not make every
# sample confident in it (p >= 0 - tolerance would always hold).
_THRESHOLD_LOWER_BOUND: Final[float] = 2e-6


def _thresholds(y: np.ndarray, p_given: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class thresholds and label counts from the given-label probabilities."""
    label_counts = np.bincount(y, minlength=k)
    sums = np.bincount(y, weights=p_given, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        thresholds = np.where(label_counts > 0, sums / np.maximum(label_counts, 1), np.inf)
    np.maximum(thresholds, _THRESHOLD_LOWER_BOUND, out=thresholds)
    return thresholds, label_counts


def per_class_thresholds(
    labels: npt.ArrayLike, probs: npt.ArrayLike, n_classes: int | None = None
) -> np.ndarray:
    """Confident-learning thresholds: the mean self-confidence of each class.

    ``t_j`` is the mean of ``probs[:, j]`` over the samples whose given label is ``j``, as in
    cleanlab's ``count.get_confident_thresholds`` (including its lower bound of ``2e-6``).

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.
    n_classes : int, optional
        Number of classes; when given it must equal ``K``.

    Returns
    -------
    numpy.ndarray of float64, shape (K,)
        The thresholds. A class that no sample is labelled with gets ``+inf``, so no sample
        is ever confidently counted into it (cleanlab uses 2, to the same effect).
    """
    y, p = check_inputs(labels, probs)
    k = p.shape[1]
    if n_classes is not None and n_classes != k:
        raise ScoringInputError(f"n_classes is {n_classes} but probs has {k} columns")
    return _thresholds(y, given_probability(y, p), k)[0]


def _confident_labels(
    p: np.ndarray, pred: np.ndarray, p_pred: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Each sample's confident true label, or -1 when no class reaches its threshold.

    The confident label is the most probable class among those with ``p_j >= t_j``. When the
    predicted class reaches its own threshold it is that class, so only the other rows need
    a pass over all classes.
    """
    cutoff = thresholds - FLOAT_TOLERANCE
    out = pred.copy()
    rest = np.flatnonzero(p_pred < cutoff[pred])
    k = p.shape[1]
    block = max(1, BLOCK_ELEMENTS // k)
    buf = np.empty((min(block, rest.size), k), dtype=p.dtype)
    below = np.empty(buf.shape, dtype=bool)
    for start in range(0, rest.size, block):
        idx = rest[start : start + block]
        b, lo = buf[: idx.size], below[: idx.size]
        np.take(p, idx, axis=0, out=b)
        np.less(b, cutoff, out=lo)
        np.copyto(b, -1.0, where=lo)  # only classes reaching their threshold compete
        best = b.argmax(axis=1)
        none = b[np.arange(idx.size), best] < 0
        best[none] = -1
        out[idx] = best
    return out


def _round_preserving_row_totals(a: np.ndarray) -> np.ndarray:
    """Round each row to integers keeping its (rounded) total: cleanlab's algorithm.

    Entries are rounded, then the row's shortfall (excess) is made up by raising (lowering)
    the entries rounded down (up) the most. cleanlab orders them with an unstable
    ``np.argsort``, so exact ties of the rounding residue go in an order that depends on
    the CPU's sorting code; here the sort is stable (as cleanlab's is on short rows without
    SIMD sorting), so the result is reproducible. The two can differ by 1 in cells whose
    residues tie exactly.
    """
    out = np.rint(a)
    for i in range(a.shape[0]):
        want = np.rint(a[i].sum())
        diff = int(want - out[i].sum())
        while diff != 0:
            step = 1 if diff > 0 else -1
            changes = min(abs(diff), a.shape[1])
            idx = np.argsort(a[i] - out[i], kind="stable")[::-step][:changes]
            out[i, idx] += step
            diff -= step * changes
    return out.astype(np.int64)


@dataclass(frozen=True, eq=False)
class ConfidentJoint:
    """The confident joint of given and true labels, and the label-error estimate drawn from it.

    Attributes
    ----------
    thresholds : numpy.ndarray of float64, shape (K,)
        Per-class thresholds used for counting (see :func:`per_class_thresholds`).
    counts : numpy.ndarray of int64, shape (K, K)
        ``counts[i, j]`` is the number of samples with given label ``i`` whose confident true
        label is ``j``: the most probable class among those with ``p_j >= t_j - 1e-6``.
        Samples that reach no threshold are not counted. Unlike cleanlab's
        ``compute_confident_joint`` these are the raw counts; cleanlab raises each diagonal
        entry to at least 1, which this class applies only when calibrating.
    calibrated : numpy.ndarray of float64, shape (K, K)
        ``counts`` (diagonal raised to at least 1) with each row rescaled to the number of
        samples given label ``i``, then normalised to sum to ``n``: an estimate of the joint
        counts of (given, true) labels. This is cleanlab's ``calibrate_confident_joint``
        before its rounding to integers.
    label_counts : numpy.ndarray of int64, shape (K,)
        Number of samples given each label.
    errors_per_pair : numpy.ndarray of int64, shape (K, K)
        Estimated number of samples given label ``i`` whose true label is ``j`` (zero
        diagonal): ``calibrated`` rounded row by row keeping row totals, as cleanlab rounds.
    n_label_errors : int
        Estimated number of label errors: the sum of ``errors_per_pair``, which is cleanlab's
        ``count.num_label_issues(..., estimation_method="off_diagonal_calibrated")`` (equal
        unless a diagonal cell ties exactly in the rounding). It can differ from
        ``round(calibrated.sum() - trace(calibrated))`` by the per-row rounding.
    n_confident_off_diagonal : int
        Samples counted off the diagonal whose given label is not (within 1e-6) the most
        probable class: cleanlab's default ``num_label_issues`` estimate, usually smaller.
    """

    thresholds: np.ndarray
    counts: np.ndarray
    calibrated: np.ndarray
    label_counts: np.ndarray
    errors_per_pair: np.ndarray
    n_label_errors: int
    n_confident_off_diagonal: int

    @property
    def n_classes(self) -> int:
        """Number of classes ``K``."""
        return int(self.counts.shape[0])

    @property
    def errors_per_class(self) -> np.ndarray:
        """Estimated label errors per given label, shape ``(K,)``."""
        return self.errors_per_pair.sum(axis=1)

    @property
    def noise_matrix(self) -> np.ndarray:
        """``P(true = j | given = i)``: rows of ``calibrated`` normalised to sum to 1.

        A class no sample is labelled with gets the unit row ``e_i`` (nothing to estimate).
        """
        rows = self.calibrated.sum(axis=1, keepdims=True)
        out = np.divide(self.calibrated, rows, out=np.zeros_like(self.calibrated), where=rows > 0)
        empty = rows[:, 0] <= 0
        out[empty, empty.nonzero()[0]] = 1.0
        return out


def _check_thresholds(thresholds: npt.ArrayLike, k: int) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64)
    if t.shape != (k,):
        raise ScoringInputError(f"thresholds must have shape ({k},), got {t.shape}")
    if np.isnan(t).any():
        raise ScoringInputError(f"thresholds[{int(np.flatnonzero(np.isnan(t))[0])}] is NaN")
    return t


def estimate_joint(
    y: np.ndarray,
    p: np.ndarray,
    p_given: np.ndarray,
    pred: np.ndarray,
    p_pred: np.ndarray,
    thresholds: np.ndarray | None,
) -> ConfidentJoint:
    """The confident joint of checked inputs (see :func:`confident_joint`).

    Parameters
    ----------
    y : numpy.ndarray of intp, shape (n,)
        Given labels.
    p : numpy.ndarray of float, shape (n, K)
        Checked class probabilities.
    p_given, pred, p_pred : numpy.ndarray, shape (n,)
        ``p[i, y[i]]``, ``p.argmax(axis=1)`` and ``p[i, pred[i]]``.
    thresholds : numpy.ndarray of float64, shape (K,), optional
        Per-class thresholds; ``None`` for the mean self-confidence of each class.

    Returns
    -------
    ConfidentJoint
        Counts, calibrated joint and error estimates (arrays read-only).
    """
    k = p.shape[1]
    own_thresholds, label_counts = _thresholds(y, p_given, k)
    t = own_thresholds if thresholds is None else thresholds
    conf = _confident_labels(p, pred, p_pred, t)
    counted = conf >= 0
    counts = np.bincount(y[counted] * k + conf[counted], minlength=k * k).reshape(k, k)

    # cleanlab: at least one correctly labelled sample per class, then calibrate the rows to
    # the given-label counts and the whole to n.
    cj = counts.astype(np.float64)
    np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1.0))
    # (the same operations, in the same order, as cleanlab's calibrate_confident_joint)
    calibrated = (cj.T / np.maximum(cj.sum(axis=1), 1e-100) * label_counts).T
    calibrated = calibrated / max(float(calibrated.sum()), 1e-100) * float(label_counts.sum())
    errors = _round_preserving_row_totals(calibrated)
    np.fill_diagonal(errors, 0)

    # cleanlab's default estimate: off-diagonal confident samples whose given label is not
    # within 1e-6 of the top probability.
    off = counted & (conf != y) & (p_pred - p_given > FLOAT_TOLERANCE)
    return ConfidentJoint(
        thresholds=read_only(np.array(t, dtype=np.float64)),
        counts=read_only(counts.astype(np.int64)),
        calibrated=read_only(calibrated),
        label_counts=read_only(label_counts.astype(np.int64)),
        errors_per_pair=read_only(errors),
        n_label_errors=int(errors.sum()),
        n_confident_off_diagonal=int(np.count_nonzero(off)),
    )


def confident_joint(
    labels: npt.ArrayLike, probs: npt.ArrayLike, thresholds: npt.ArrayLike | None = None
) -> ConfidentJoint:
    """Count confident (given, true) label pairs and estimate the number of label errors.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.
    thresholds : array_like of float, shape (K,), optional
        Per-class thresholds; default :func:`per_class_thresholds`.

    Returns
    -------
    ConfidentJoint
        Counts, calibrated joint, noise matrix and error estimates.

    Notes
    -----
    A sample's confident true label is the most probable class among those reaching their
    threshold, as the confident-learning paper defines it. cleanlab's vectorised
    ``compute_confident_joint`` instead takes the overall argmax when two or more classes
    reach their thresholds, which differs in the rare case where the overall argmax itself
    is below its threshold.
    """
    y, p = check_inputs(labels, probs)
    t = None if thresholds is None else _check_thresholds(thresholds, p.shape[1])
    rows = np.arange(p.shape[0])
    pred = p.argmax(axis=1)
    return estimate_joint(y, p, p[rows, y], pred, p[rows, pred], t)
