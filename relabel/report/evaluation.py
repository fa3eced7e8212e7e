"""Metrics over the whole dataset from out-of-fold probabilities.

The confusion matrix and per-class precision, recall and F1 are counted in numpy with
scikit-learn's definitions (``confusion_matrix``, ``precision_recall_fscore_support``
with ``zero_division=0``), and the tests check that they agree. Precision-recall curves
and average precision ARE scikit-learn's (``precision_recall_curve``,
``average_precision_score``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_curve

from relabel.report.data import ReportInputError

#: Points kept of each precision-recall curve (see :attr:`Evaluation.pr_curves`).
CURVE_POINTS = 2000


def _pr_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """One class's precision-recall curve and average precision, as scikit-learn's.

    Up to :data:`CURVE_POINTS` samples: ``precision_recall_curve`` itself. Beyond: one
    sort of the scores (no argsort), the average precision summed over the positives'
    distinct scores (the only thresholds where recall moves:
    ``sum(n_pos(= t) / m * n_pos(>= t) / n(>= t))``, scikit-learn's sum) and the curve
    at :data:`CURVE_POINTS` thresholds spaced evenly through the sorted scores (points of
    scikit-learn's curve, in its order, ending at precision 1, recall 0).
    """
    if y.size <= CURVE_POINTS:
        prec, rec, _ = precision_recall_curve(y, score)
        return prec, rec, float(-np.sum(np.diff(rec) * prec[:-1]))
    ranked = np.sort(score)
    pos = np.sort(score[y])
    n, m = ranked.size, pos.size

    def at(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positives and samples scored at least each threshold ``t``."""
        return m - np.searchsorted(pos, t, "left"), n - np.searchsorted(ranked, t, "left")

    distinct = np.unique(pos)
    pos_ge, all_ge = at(distinct)
    pos_eq = np.searchsorted(pos, distinct, "right") - np.searchsorted(pos, distinct, "left")
    ap = float(np.sum(pos_eq / m * (pos_ge / all_ge)))
    picks = np.unique(ranked[np.linspace(0, n - 1, CURVE_POINTS).round().astype(np.int64)])
    pos_ge, all_ge = at(picks)
    prec = np.r_[pos_ge / all_ge, 1.0]
    rec = np.r_[pos_ge / m, 0.0]
    return prec, rec, ap


@dataclass(frozen=True)
class Evaluation:
    """Out-of-fold metrics of a classifier against the current labels.

    Attributes
    ----------
    classes : list[str]
        Class names.
    predicted : numpy.ndarray
        ``(n,)`` ``argmax`` of the probabilities (the lowest class index wins ties).
    confusion : numpy.ndarray
        ``(K, K)`` counts; row = given label, column = predicted label.
    precision, recall, f1 : numpy.ndarray
        ``(K,)`` per class; 0 where undefined (no predictions, no samples).
    support : numpy.ndarray
        ``(K,)`` samples given each class.
    average_precision : numpy.ndarray
        ``(K,)`` one-vs-rest average precision of ``probs[:, k]``; NaN for a class no
        sample is given.
    pr_curves : list[tuple[numpy.ndarray, numpy.ndarray]]
        Per class ``(precision, recall)`` as ``sklearn.metrics.precision_recall_curve``
        returns them (empty arrays for a class with no samples); above :data:`CURVE_POINTS`
        samples, that many of its points with both ends (a figure cannot show more, and
        1,000 classes x 100,000 samples kept whole took 1.6 GB and two sorts per class).
    accuracy, macro_f1 : float
        Share of samples whose prediction equals the given label; unweighted mean F1.
    """

    classes: list[str]
    predicted: np.ndarray
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    average_precision: np.ndarray
    pr_curves: list[tuple[np.ndarray, np.ndarray]]
    accuracy: float
    macro_f1: float

    @property
    def confusion_normalized(self) -> np.ndarray:
        """Row-normalised confusion matrix (each row sums to 1; empty rows stay 0)."""
        rows = self.confusion.sum(axis=1, keepdims=True)
        return np.divide(
            self.confusion,
            rows,
            out=np.zeros(self.confusion.shape, dtype=np.float64),
            where=rows > 0,
        )


def evaluate(given: np.ndarray, probs: np.ndarray, classes: list[str]) -> Evaluation:
    """Compute the confusion matrix, per-class metrics and PR curves.

    Parameters
    ----------
    given : numpy.ndarray
        ``(n,)`` int labels in ``0..K-1`` (the reference, e.g. the current labels).
    probs : numpy.ndarray
        ``(n, K)`` out-of-fold probabilities; the prediction is their argmax.
    classes : list[str]
        The K class names.

    Returns
    -------
    Evaluation
        Metrics equal to scikit-learn's on the same predictions.

    Raises
    ------
    ReportInputError
        If the shapes do not fit or a label is out of range.
    """
    given = np.asarray(given)
    probs = np.asarray(probs, dtype=np.float64)
    k = len(classes)
    if probs.ndim != 2 or probs.shape[1] != k or given.shape != (probs.shape[0],):
        raise ReportInputError(
            f"evaluate: given {given.shape} and probs {probs.shape} do not fit {k} classes"
        )
    given = given.astype(np.int64)
    if given.size and (given.min() < 0 or given.max() >= k):
        raise ReportInputError(f"evaluate: labels must be in 0..{k - 1}")
    predicted = probs.argmax(axis=1) if probs.shape[0] else np.zeros(0, dtype=np.int64)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (given, predicted), 1)
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    n_pred = confusion.sum(axis=0)
    precision = _safe_div(tp, n_pred.astype(np.float64))
    recall = _safe_div(tp, support.astype(np.float64))
    # sklearn (>= 1.3) computes F1 as 2 tp / (2 tp + fp + fn).
    f1 = _safe_div(2 * tp, (2 * tp + (n_pred - tp) + (support - tp)).astype(np.float64))
    ap = np.full(k, np.nan)
    curves: list[tuple[np.ndarray, np.ndarray]] = []
    for c in range(k):
        y = given == c
        if not y.any():
            curves.append((np.zeros(0), np.zeros(0)))
            continue
        prec, rec, ap[c] = _pr_curve(y, probs[:, c])
        curves.append((prec, rec))
    n = given.size
    return Evaluation(
        classes=list(classes),
        predicted=predicted,
        confusion=confusion,
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
        average_precision=ap,
        pr_curves=curves,
        accuracy=float(tp.sum() / n) if n else 0.0,
        macro_f1=float(f1.mean()),
    )


def _binary_counts(
    y_true: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives when predicting ``score >= t``, t descending over scores."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(s, kind="mergesort")[::-1]
    s = s[order]
    y = y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y, dtype=np.float64)[last]
    fps = 1.0 + last - tps
    return tps, fps, s[last]


@dataclass(frozen=True)
class ThresholdChoice:
    """A decision threshold for a two-class project.

    A sample is predicted ``positive_class`` when ``probs[:, positive] >= threshold``.

    Attributes
    ----------
    positive_class : str
        The class called positive.
    threshold : float
        The chosen threshold on the positive class's probability.
    criterion : str
        ``"target_recall"`` or ``"cost"``.
    statement : str
        One sentence saying which criterion chose the threshold, for the report.
    confusion : numpy.ndarray
        ``(2, 2)`` ``[[TN, FP], [FN, TP]]`` (rows = given, columns = predicted;
        index 0 = negative, 1 = positive).
    precision, recall : float
        Of the positive class at the threshold.
    cost : float
        ``cost_fp * FP + cost_fn * FN`` at the threshold.
    reached : bool
        False when no threshold reaches the target recall (then every sample is
        predicted positive).
    """

    positive_class: str
    threshold: float
    criterion: str
    statement: str
    confusion: np.ndarray
    precision: float
    recall: float
    cost: float
    reached: bool = True


def choose_threshold(
    is_positive: np.ndarray,
    score: np.ndarray,
    *,
    positive_class: str = "positive",
    target_recall: float | None = None,
    cost_fp: float = 1.0,
    cost_fn: float = 1.0,
) -> ThresholdChoice:
    """Choose a decision threshold for a two-class problem.

    With ``target_recall`` the threshold is the highest one whose recall is at least
    the target (the fewest positive predictions that still reach it). Without it, the
    threshold minimises ``cost_fp * FP + cost_fn * FN`` (the highest threshold among
    equally cheap ones).

    Parameters
    ----------
    is_positive : numpy.ndarray
        ``(n,)`` bool, True where the given label is the positive class.
    score : numpy.ndarray
        ``(n,)`` probability of the positive class.
    positive_class : str
        The positive class's name, for the statement.
    target_recall : float | None
        Recall to reach, in ``(0, 1]``.
    cost_fp, cost_fn : float
        Costs of a false positive and a false negative.

    Returns
    -------
    ThresholdChoice
        The threshold, its confusion matrix and the statement of the criterion.

    Raises
    ------
    ReportInputError
        If the inputs are empty or have no positive sample.
    """
    y = np.asarray(is_positive, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1 or y.size == 0:
        raise ReportInputError("choose_threshold: is_positive and score must be equal-length 1-D")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ReportInputError(f"choose_threshold: no sample is given {positive_class!r}")
    # Candidates: every distinct score, descending (predict positive if score >= t),
    # plus "nothing positive" (t above every score).
    tps, fps, thr = _binary_counts(y, s)
    tps = np.r_[0.0, tps]
    fps = np.r_[0.0, fps]
    thr = np.r_[np.nextafter(thr[0], np.inf), thr]
    fns = n_pos - tps
    recall = tps / n_pos
    reached = True
    if target_recall is not None:
        ok = np.flatnonzero(recall >= target_recall - 1e-12)
        reached = bool(ok.size)
        i = int(ok[0]) if ok.size else len(thr) - 1
        criterion = "target_recall"
    else:
        cost = cost_fp * fps + cost_fn * fns
        i = int(np.flatnonzero(cost == cost.min())[0])
        criterion = "cost"
    tp, fp, fn = tps[i], fps[i], fns[i]
    tn = y.size - n_pos - fp
    conf = np.array([[tn, fp], [fn, tp]], dtype=np.int64)
    prec = float(tp / (tp + fp)) if tp + fp else 0.0
    rec = float(recall[i])
    total_cost = float(cost_fp * fp + cost_fn * fn)
    t = float(thr[i])
    if criterion == "target_recall":
        statement = (
            f"Threshold {t:.4g} on p({positive_class}) is the highest one whose recall of "
            f"{positive_class!r} reaches the target recall {target_recall:.3g}"
            + ("" if reached else " (no threshold reaches it; every sample is called positive)")
            + f": recall {rec:.3f}, precision {prec:.3f}."
        )
    else:
        statement = (
            f"Threshold {t:.4g} on p({positive_class}) minimises the cost "
            f"{cost_fp:g} x false positives + {cost_fn:g} x false negatives "
            f"(cost {total_cost:g}, {total_cost / y.size:.4g} per sample): "
            f"recall {rec:.3f}, precision {prec:.3f}."
        )
    return ThresholdChoice(
        positive_class=positive_class,
        threshold=t,
        criterion=criterion,
        statement=statement,
        confusion=conf,
        precision=prec,
        recall=rec,
        cost=total_cost,
        reached=reached,
    )


@dataclass(frozen=True)
class ConfusedPair:
    """Two classes whose labels get mixed up, both directions combined.

    Attributes
    ----------
    a, b : int
        Class indices, ``a < b``.
    errors_ab : float
        Estimated samples given ``a`` whose true class is ``b``.
    errors_ba : float
        Estimated samples given ``b`` whose true class is ``a``.
    """

    a: int
    b: int
    errors_ab: float
    errors_ba: float

    @property
    def total(self) -> float:
        """Estimated errors in both directions."""
        return self.errors_ab + self.errors_ba


def confused_pairs(errors_per_pair: np.ndarray, top: int | None = None) -> list[ConfusedPair]:
    """Rank unordered class pairs by estimated label errors, both directions combined.

    Parameters
    ----------
    errors_per_pair : numpy.ndarray
        ``(K, K)`` estimated samples given i whose true class is j; the diagonal is ignored.
    top : int | None
        Keep only the first ``top`` pairs.

    Returns
    -------
    list[ConfusedPair]
        Pairs with at least some estimated errors, most errors first (ties: lower
        class indices first).
    """
    e = np.asarray(errors_per_pair, dtype=np.float64)
    k = e.shape[0]
    pairs = [
        ConfusedPair(a, b, float(e[a, b]), float(e[b, a]))
        for a in range(k)
        for b in range(a + 1, k)
        if e[a, b] + e[b, a] > 0
    ]
    pairs.sort(key=lambda p: (-p.total, p.a, p.b))
    return pairs if top is None else pairs[:top]


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(num.shape, dtype=np.float64), where=den != 0)
