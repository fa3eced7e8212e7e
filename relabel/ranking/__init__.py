"""The pure ranking core: scores of how likely each given label is wrong, confident-learning
estimates, lanes and the metrics that measure a ranking. numpy in, numpy out; no I/O.

Every scoring function takes

* ``labels`` -- shape ``(n,)``, integer class indices ``0 .. K-1`` (the *given* labels), and
* ``probs`` -- shape ``(n, K)``, out-of-fold class probabilities (float32 or float64, each
  row summing to 1 within ``1e-3``),

validates them, and raises :class:`relabel.errors.ScoringInputError` naming the offending
row or entry when they do not fit together. The modules, by family:

* :mod:`~relabel.ranking.validation` -- the checks of labels, probabilities and scores;
* :mod:`~relabel.ranking.confidence` -- per-sample quantities: :func:`self_confidence`,
  :func:`max_confidence`, :func:`margin`, :func:`normalized_margin`, :func:`entropy`,
  :func:`predicted_labels`;
* :mod:`~relabel.ranking.confident_joint` -- confident learning (Northcutt, Jiang and
  Chuang, JAIR 2021, as cleanlab implements it): :func:`per_class_thresholds`,
  :func:`confident_joint`, :class:`ConfidentJoint`;
* :mod:`~relabel.ranking.posterior` -- :func:`noise_posterior`, the default score;
* :mod:`~relabel.ranking.suspicion` -- :func:`suspicion`, one score per sample in
  ``[0, 1]`` by one of :data:`SCORING_METHODS`;
* :mod:`~relabel.ranking.ordering` -- :func:`rank_order` and :func:`ranks`;
* :mod:`~relabel.ranking.lanes` -- the review lanes (:data:`LANES`);
* :mod:`~relabel.ranking.sample_scores` -- :func:`score_samples`, everything at once, as
  :class:`Scores`;
* :mod:`~relabel.ranking.metrics` -- how well a ranking finds known errors;
* :mod:`~relabel.ranking.acquisition` -- active learning: :func:`select_batch` picks the
  unlabelled samples to label next by one of :data:`STRATEGIES`.

Rankings are deterministic: equal scores are ordered by sample index.
:mod:`relabel.scoring` re-exports the public names below for users.
"""

from relabel.ranking.acquisition import DEFAULT_STRATEGY, STRATEGIES, select_batch
from relabel.ranking.confidence import (
    entropy,
    margin,
    max_confidence,
    normalized_margin,
    predicted_labels,
    self_confidence,
)
from relabel.ranking.confident_joint import ConfidentJoint, confident_joint, per_class_thresholds
from relabel.ranking.lanes import LANE_LABEL_ISSUE, LANE_OK, LANE_UNCERTAIN, LANES
from relabel.ranking.ordering import rank_order, ranks
from relabel.ranking.posterior import POSTERIOR_PSEUDO_COUNT, noise_posterior
from relabel.ranking.sample_scores import Scores, score_samples
from relabel.ranking.suspicion import DEFAULT_METHOD, SCORING_METHODS, suspicion
from relabel.ranking.validation import ROW_SUM_TOLERANCE

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_STRATEGY",
    "LANES",
    "LANE_LABEL_ISSUE",
    "LANE_OK",
    "LANE_UNCERTAIN",
    "POSTERIOR_PSEUDO_COUNT",
    "ROW_SUM_TOLERANCE",
    "SCORING_METHODS",
    "STRATEGIES",
    "ConfidentJoint",
    "Scores",
    "confident_joint",
    "entropy",
    "margin",
    "max_confidence",
    "noise_posterior",
    "normalized_margin",
    "per_class_thresholds",
    "predicted_labels",
    "rank_order",
    "ranks",
    "score_samples",
    "select_batch",
    "self_confidence",
    "suspicion",
]
