"""One suspicion score per sample in ``[0, 1]`` (higher: the given label is more likely
wrong), by one of :data:`SCORING_METHODS`."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.errors import ScoringInputError
from relabel.ranking.confidence import max_other, row_entropy
from relabel.ranking.confident_joint import ConfidentJoint, estimate_joint
from relabel.ranking.posterior import posterior_scores
from relabel.ranking.validation import check_inputs

__all__ = ["DEFAULT_METHOD", "SCORING_METHODS", "suspicion"]

#: Methods accepted by :func:`suspicion` and :func:`relabel.ranking.score_samples`.
SCORING_METHODS: Final[tuple[str, ...]] = (
    "noise_posterior",
    "self_confidence",
    "normalized_margin",
    "margin",
    "max_softmax",
    "confidence_weighted_entropy",
    "disagreement",
)
#: The default scoring method, chosen by measurement (``BENCHMARKS.md``): the posterior
#: probability that the given label is wrong under the noise the confident joint estimates.
#: It matches ``self_confidence`` under symmetric noise and beats it clearly under
#: class-pair noise (digits 1>7, 3>8, 5>6 at 30%: precision@k 0.89 against 0.64).
DEFAULT_METHOD: Final[str] = "noise_posterior"
# cleanlab's lower clip of self-confidence in the confidence-weighted entropy.
_CLIP: Final[float] = 1e-6


def check_method(method: str) -> None:
    """Raise :class:`~relabel.errors.ScoringInputError` unless ``method`` is known.

    Parameters
    ----------
    method : str
        A scoring method name, one of :data:`SCORING_METHODS`.
    """
    if method not in SCORING_METHODS:
        raise ScoringInputError(
            f"unknown scoring method {method!r}; choose one of {', '.join(SCORING_METHODS)}"
        )


def weighted_entropy_scores(
    p: np.ndarray, p_given: np.ndarray, ent: np.ndarray | None
) -> np.ndarray:
    """1 minus cleanlab's confidence-weighted entropy, with saturated rows handled.

    The score is ``f(r) = 1 - log(1 + r) / r`` of ``r = H / p[given]`` (``H`` the entropy
    over ``log K``), which grows from 0 (``r -> 0``) to 1. A saturated row (a one-hot row,
    as float32 softmax and unanimous kNN neighbours give) has ``H = 0``: cleanlab's clip
    of ``r`` then turns a confident, agreeing row into the most suspicious sample. Here
    the probabilities of such a row are clipped at ``1e-6`` before its entropy (cleanlab's
    former ``min_allowed_prob``), so that a one-hot row agreeing with its label scores
    about ``1e-5`` and one contradicting it about 0.85, the score of the most confident
    contradiction; ``f`` is evaluated by its series ``r / 2 - r**2 / 3`` near 0. Rows with
    no probability under the clip score exactly as in cleanlab.

    Parameters
    ----------
    p : numpy.ndarray of float, shape (n, K)
        Checked class probabilities.
    p_given : numpy.ndarray of float64, shape (n,)
        ``p[i, y[i]]``.
    ent : numpy.ndarray, shape (n,), optional
        Row entropies in nats when already computed.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        Scores in ``[0, 1]``.
    """
    h = (row_entropy(p) if ent is None else ent).astype(np.float64)
    saturated = (p < _CLIP).any(axis=1)
    if saturated.any():
        h[saturated] = row_entropy(np.maximum(p[saturated], _CLIP))
    ratio = h / np.log(p.shape[1]) / np.maximum(p_given, _CLIP)
    small = ratio < 1e-4
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = 1.0 - np.log1p(ratio) / ratio
    return np.where(small, ratio / 2.0 - ratio * ratio / 3.0, exact)


def method_scores(
    method: str,
    y: np.ndarray,
    p: np.ndarray,
    p_given: np.ndarray,
    pred: np.ndarray,
    p_pred: np.ndarray,
    ent: np.ndarray | None,
    joint: ConfidentJoint | None,
) -> np.ndarray:
    """The suspicion of checked inputs by a checked ``method`` (see :func:`suspicion`).

    Parameters
    ----------
    method : str
        One of :data:`SCORING_METHODS`.
    y : numpy.ndarray of intp, shape (n,)
        Given labels.
    p : numpy.ndarray of float, shape (n, K)
        Checked class probabilities.
    p_given, pred, p_pred : numpy.ndarray, shape (n,)
        ``p[i, y[i]]``, ``p.argmax(axis=1)`` and ``p[i, pred[i]]``.
    ent : numpy.ndarray, shape (n,), optional
        Row entropies when already computed.
    joint : ConfidentJoint, optional
        The confident joint when already computed.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        Scores in ``[0, 1]``.
    """
    p_given = p_given.astype(np.float64, copy=False)
    p_pred = p_pred.astype(np.float64, copy=False)
    if method == "noise_posterior":
        if joint is None:
            joint = estimate_joint(y, p, p_given, pred, p_pred, None)
        s = posterior_scores(y, p, p_given, joint.counts)
    elif method == "self_confidence":
        s = 1.0 - p_given
    elif method == "max_softmax":
        s = 1.0 - p_pred
    elif method == "margin":
        s = p_pred - p_given
    elif method == "normalized_margin":
        s = (1.0 - (p_given - max_other(y, p, pred, p_pred))) / 2.0
    elif method == "confidence_weighted_entropy":
        s = weighted_entropy_scores(p, p_given, ent)
    elif method == "disagreement":
        s = np.where(pred != y, 0.5 + 0.5 * (p_pred - p_given), 0.5 * (1.0 - p_given))
    else:  # pragma: no cover - callers check the method first
        raise AssertionError(method)
    return np.clip(s, 0.0, 1.0, out=s)


def suspicion(
    labels: npt.ArrayLike, probs: npt.ArrayLike, method: str = DEFAULT_METHOD
) -> np.ndarray:
    """How likely each sample's given label is wrong: higher is more suspicious.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.
    method : str
        One of :data:`SCORING_METHODS`:

        ``"noise_posterior"`` (default)
            The posterior probability that the given label is wrong, see
            :func:`relabel.ranking.posterior.noise_posterior`.
        ``"self_confidence"``
            ``1 - p[given]`` (1 minus cleanlab's self-confidence score).
        ``"normalized_margin"``
            ``(1 - (p[given] - max_{k != given} p[k])) / 2`` (1 minus cleanlab's score).
        ``"margin"``
            ``p[predicted] - p[given]``: 0 for every sample whose label the model predicts.
        ``"max_softmax"``
            ``1 - max_k p[k]``: the baseline that ignores the label.
        ``"confidence_weighted_entropy"``
            1 minus cleanlab's confidence-weighted entropy score, with one-hot rows
            kept in order (see :func:`weighted_entropy_scores`).
        ``"disagreement"``
            Samples whose predicted class differs from the given label first, in
            ``[0.5, 1]`` by margin; then the others, in ``[0, 0.5)`` by ``1 - p[given]``.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        Scores in ``[0, 1]``.
    """
    check_method(method)
    y, p = check_inputs(labels, probs)
    rows = np.arange(p.shape[0])
    pred = p.argmax(axis=1)
    return method_scores(method, y, p, p[rows, y], pred, p[rows, pred], None, None)
