"""Everything at once: per-sample scores, the ranking and a review lane per sample."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from relabel.errors import ScoringInputError
from relabel.ranking.confidence import row_entropy
from relabel.ranking.confident_joint import ConfidentJoint, estimate_joint
from relabel.ranking.lanes import LANES, assign_lanes
from relabel.ranking.ordering import order_by_score
from relabel.ranking.suspicion import DEFAULT_METHOD, check_method, method_scores
from relabel.ranking.validation import check_inputs, read_only

logger = logging.getLogger(__name__)

__all__ = ["Scores", "score_samples"]


@dataclass(frozen=True, eq=False)
class Scores:
    """Per-sample scores, ranking and lanes from :func:`score_samples`.

    Every array has one entry per sample, in input order, and is read-only.

    Attributes
    ----------
    given : numpy.ndarray of intp
        Given labels.
    predicted : numpy.ndarray of intp
        Most probable class (ties to the lowest index).
    p_given : numpy.ndarray of float64
        Probability of the given label (self-confidence).
    p_predicted : numpy.ndarray of float64
        Probability of the predicted class.
    max_confidence : numpy.ndarray of float64
        Largest class probability (the same values as ``p_predicted``).
    margin : numpy.ndarray of float64
        ``p_predicted - p_given`` (``>= 0``).
    entropy : numpy.ndarray of float64
        Shannon entropy in nats.
    disagreement : numpy.ndarray of bool
        ``predicted != given``.
    suspicion : numpy.ndarray of float64
        Score of ``method`` in ``[0, 1]``; higher is more likely mislabelled.
    rank : numpy.ndarray of int64
        1-based rank by suspicion (ties by index); 1 is the most suspicious.
    order : numpy.ndarray of intp
        Sample indices, most suspicious first (``order[rank - 1] == arange(n)``).
    lane : numpy.ndarray of str
        ``"label_issue"``, ``"uncertain"`` or ``"ok"`` (see :func:`score_samples`).
    joint : ConfidentJoint
        Confident joint and the label-error estimate.
    method : str
        Scoring method used for ``suspicion``.
    uncertain_threshold : float
        ``max_confidence`` below which a sample not in the label-issue lane is uncertain.
    """

    given: np.ndarray
    predicted: np.ndarray
    p_given: np.ndarray
    p_predicted: np.ndarray
    max_confidence: np.ndarray
    margin: np.ndarray
    entropy: np.ndarray
    disagreement: np.ndarray
    suspicion: np.ndarray
    rank: np.ndarray
    order: np.ndarray
    lane: np.ndarray
    joint: ConfidentJoint
    method: str
    uncertain_threshold: float

    @property
    def n_samples(self) -> int:
        """Number of samples scored."""
        return int(self.given.shape[0])

    def lane_counts(self) -> dict[str, int]:
        """Number of samples in each lane.

        Returns
        -------
        dict of str to int
            Lane name to count, in :data:`~relabel.ranking.lanes.LANES` order.
        """
        return {lane: int(np.count_nonzero(self.lane == lane)) for lane in LANES}


def score_samples(
    labels: npt.ArrayLike,
    probs: npt.ArrayLike,
    method: str = DEFAULT_METHOD,
    uncertain_threshold: float = 0.5,
) -> Scores:
    """Score, rank and sort every sample into a review lane.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities (float32 input is computed in float32).
    method : str
        Scoring method for the ranking, one of
        :data:`~relabel.ranking.suspicion.SCORING_METHODS`.
    uncertain_threshold : float
        A sample outside the label-issue lane whose largest class probability is below this
        is ``"uncertain"``.

    Returns
    -------
    Scores
        Per-sample arrays, the ranking, the lanes and the confident joint.

    Notes
    -----
    Lanes:

    ``"label_issue"``
        The ``joint.n_label_errors`` most suspicious samples (by ``method``) among those whose
        given label is *not* the model's prediction -- another class beats it by more than
        ``1e-6``. This is cleanlab's ``low_self_confidence`` filter (as many issues as the
        estimate, most suspicious first), except that a sample the model predicts as its given
        label is never called a label issue, and the lane is filled from further down the
        ranking instead. Such a sample is ambiguous, not evidence of a wrong label, and a
        reviewer would have no other label to consider; it falls to ``"uncertain"`` or
        ``"ok"``. The lane is therefore not always a prefix of the ranking.
    ``"uncertain"``
        The other samples with ``max_confidence < uncertain_threshold``: the model is sure of
        nothing (odd or ambiguous images), but the label is not specifically suspicious.
    ``"ok"``
        Everything else.
    """
    check_method(method)
    if not 0.0 <= uncertain_threshold <= 1.0:
        raise ScoringInputError(
            f"uncertain_threshold must be between 0 and 1, got {uncertain_threshold}"
        )
    y, p = check_inputs(labels, probs)
    n = p.shape[0]
    rows = np.arange(n)
    pred = p.argmax(axis=1)
    # per-sample values are float64 from here on (no copy for float64 input)
    p_given = p[rows, y].astype(np.float64, copy=False)
    p_pred = p[rows, pred].astype(np.float64, copy=False)
    del rows
    ent = row_entropy(p)

    joint = estimate_joint(y, p, p_given, pred, p_pred, None)
    susp = method_scores(method, y, p, p_given, pred, p_pred, ent, joint)
    order = order_by_score(susp)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    gap = p_pred - p_given
    lane = assign_lanes(order, gap, p_pred, joint.n_label_errors, uncertain_threshold)
    scores = Scores(
        given=read_only(y.copy()),  # y may be the caller's own array
        predicted=read_only(pred),
        p_given=read_only(p_given),
        p_predicted=read_only(p_pred),
        max_confidence=p_pred,
        margin=read_only(gap),
        entropy=read_only(ent.astype(np.float64, copy=False)),
        disagreement=read_only(pred != y),
        suspicion=read_only(susp),
        rank=read_only(rank),
        order=read_only(order),
        lane=read_only(lane),
        joint=joint,
        method=method,
        uncertain_threshold=float(uncertain_threshold),
    )
    _log_scores(scores)
    return scores


def _log_scores(scores: Scores) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "scored %d samples with %s: %d estimated label errors, lanes %s",
            scores.n_samples,
            scores.method,
            scores.joint.n_label_errors,
            scores.lane_counts(),
        )
