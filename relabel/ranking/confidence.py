"""Per-sample quantities of the model's probabilities: self-confidence, max-softmax,
margins, entropy and the predicted labels.

Every public function validates its inputs (:mod:`relabel.ranking.validation`) and returns
one float64 (or intp) value per sample.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.ranking.validation import check_inputs, check_probs

__all__ = [
    "entropy",
    "margin",
    "max_confidence",
    "normalized_margin",
    "predicted_labels",
    "self_confidence",
]

#: Rows per block of the passes over ``probs`` (about 1 MiB of float64, so the buffers stay
#: in cache), as a number of elements.
BLOCK_ELEMENTS: Final[int] = 1 << 17


def given_probability(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Probability of each sample's given label, in the dtype of ``p`` (inputs checked).

    Parameters
    ----------
    y : numpy.ndarray of intp, shape (n,)
        Given labels.
    p : numpy.ndarray of float, shape (n, K)
        Class probabilities.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``p[i, y[i]]``.
    """
    return p[np.arange(p.shape[0]), y]


def row_entropy(p: np.ndarray) -> np.ndarray:
    """Row entropies in nats, computed in float32 (absolute error about 1e-7 * log K).

    Parameters
    ----------
    p : numpy.ndarray of float32 or float64, shape (n, K)
        Checked class probabilities.

    Returns
    -------
    numpy.ndarray of float32, shape (n,)
        ``-sum_k p_k log p_k`` with ``0 log 0 = 0``.
    """
    # 0 * log(0) = 0: clamping to the smallest normal number makes log finite, and the
    # product with the exact zero is 0. Blocks of rows keep the buffers in cache.
    n, k = p.shape
    out = np.empty(n, dtype=np.float32)
    block = max(1, BLOCK_ELEMENTS // k)
    x32 = np.empty((min(block, n), k), dtype=np.float32)
    logp = np.empty_like(x32)
    tiny = np.finfo(np.float32).tiny
    for start in range(0, n, block):
        x = p[start : start + block]
        m = x.shape[0]
        xb, lb = x32[:m], logp[:m]
        if x.dtype == np.float32:
            xb = x
        else:
            np.copyto(xb, x, casting="same_kind")
        np.maximum(xb, tiny, out=lb)
        np.log(lb, out=lb)
        np.einsum("ij,ij->i", xb, lb, out=out[start : start + block])
    np.negative(out, out=out)
    return out


def max_other(y: np.ndarray, p: np.ndarray, pred: np.ndarray, p_pred: np.ndarray) -> np.ndarray:
    """Largest probability among the classes other than the given one, per sample.

    Parameters
    ----------
    y : numpy.ndarray of intp, shape (n,)
        Given labels.
    p : numpy.ndarray of float, shape (n, K)
        Checked class probabilities.
    pred : numpy.ndarray of intp, shape (n,)
        ``p.argmax(axis=1)``.
    p_pred : numpy.ndarray of float, shape (n,)
        ``p[i, pred[i]]``.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``max_{k != y[i]} p[i, k]``.
    """
    out = p_pred.copy()
    agree = np.flatnonzero(pred == y)
    if agree.size:
        sub = p[agree]
        sub[np.arange(agree.size), y[agree]] = -1.0
        out[agree] = sub.max(axis=1)
    return out


def self_confidence(labels: npt.ArrayLike, probs: npt.ArrayLike) -> np.ndarray:
    """Probability the model gives to each sample's given label.

    Equal to cleanlab's ``rank.get_self_confidence_for_each_label``.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``probs[i, labels[i]]``; lower means the label is more likely wrong.
    """
    y, p = check_inputs(labels, probs)
    return given_probability(y, p).astype(np.float64)


def predicted_labels(probs: npt.ArrayLike) -> np.ndarray:
    """Most probable class of each sample.

    Parameters
    ----------
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.

    Returns
    -------
    numpy.ndarray of intp, shape (n,)
        ``argmax`` of each row; ties go to the lowest class index.
    """
    return check_probs(probs).argmax(axis=1)


def max_confidence(probs: npt.ArrayLike) -> np.ndarray:
    """Largest class probability of each sample (the max-softmax confidence).

    Parameters
    ----------
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``max`` of each row.
    """
    p = check_probs(probs)
    return p[np.arange(p.shape[0]), p.argmax(axis=1)].astype(np.float64)


def margin(labels: npt.ArrayLike, probs: npt.ArrayLike) -> np.ndarray:
    """How much more probable the predicted class is than the given label.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``p[predicted] - p[given]``, in ``[0, 1]``; 0 when the model predicts the given label.
    """
    y, p = check_inputs(labels, probs)
    rows = np.arange(p.shape[0])
    return (p[rows, p.argmax(axis=1)] - p[rows, y]).astype(np.float64)


def normalized_margin(labels: npt.ArrayLike, probs: npt.ArrayLike) -> np.ndarray:
    """Given-label probability minus the largest probability of any other class.

    This is cleanlab's normalized margin before its rescaling:
    ``rank.get_normalized_margin_for_each_label`` returns ``(normalized_margin + 1) / 2``.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``p[given] - max_{k != given} p[k]``, in ``[-1, 1]``; negative when another class is
        more probable than the given label.
    """
    y, p = check_inputs(labels, probs)
    rows = np.arange(p.shape[0])
    pred = p.argmax(axis=1)
    return (p[rows, y] - max_other(y, p, pred, p[rows, pred])).astype(np.float64)


def entropy(probs: npt.ArrayLike) -> np.ndarray:
    """Shannon entropy of each row, in nats.

    Parameters
    ----------
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``-sum_k p_k log p_k`` with ``0 log 0 = 0``; between 0 and ``log K``.
    """
    return row_entropy(check_probs(probs)).astype(np.float64)
