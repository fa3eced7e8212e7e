"""Every ranking the detection benchmark compares, on the same out-of-fold outputs.

A run gives, per sample, out-of-fold probabilities and (for trained runs) out-of-fold
embeddings (the model's pooled features of the fold that held the sample out). From them:

* relabel's scores (:data:`relabel.scoring.SCORING_METHODS`);
* cleanlab's ``get_label_quality_scores`` (a ranking; its default, self-confidence) and
  ``find_label_issues`` (a flagged set, ranked by cleanlab's own order);
* the label agreement of each sample's nearest neighbours in embedding space (SimiFeat,
  Zhu et al. 2022), and fusions of the two kinds of signal.

Every ranking is an array of scores, higher meaning more suspicious.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from relabel import scoring
from relabel.ranking.neighbours import neighbour_label_distribution

#: Neighbours of the kNN agreement signal.
KNN_K = 10


@dataclass(frozen=True)
class RunOutputs:
    """What a run leaves that a ranking can use."""

    labels: np.ndarray
    probs: np.ndarray
    embeddings: np.ndarray | None = None
    folds: np.ndarray | None = None  # the fold that held each sample out


def relabel_scores(run: RunOutputs) -> dict[str, np.ndarray]:
    """relabel's own scores, by method name."""
    return {
        method: scoring.suspicion(run.labels, run.probs, method=method)
        for method in scoring.SCORING_METHODS
    }


def cleanlab_quality(run: RunOutputs) -> np.ndarray:
    """cleanlab's ``get_label_quality_scores`` (its default), as suspicion (1 - quality)."""
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(run.labels, run.probs.astype(np.float64))
    return 1.0 - np.asarray(quality, dtype=np.float64)


def cleanlab_quality_adjusted(run: RunOutputs) -> np.ndarray:
    """cleanlab's ``get_label_quality_scores(adjust_pred_probs=True)``: each class's
    probabilities offset by its mean confidence before self-confidence, as suspicion."""
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(
        run.labels, run.probs.astype(np.float64), adjust_pred_probs=True
    )
    return 1.0 - np.asarray(quality, dtype=np.float64)


def cleanlab_flagged(run: RunOutputs) -> np.ndarray:
    """cleanlab's ``find_label_issues`` flagged set (default filter), as a boolean mask."""
    from cleanlab.filter import find_label_issues

    return np.asarray(find_label_issues(run.labels, run.probs.astype(np.float64)), dtype=bool)


def knn_disagreement(run: RunOutputs, k: int = KNN_K) -> np.ndarray | None:
    """The share of a sample's ``k`` nearest neighbours whose label is not its label.

    Neighbours by cosine similarity of the out-of-fold embeddings (None without them),
    among the samples of the same fold when the folds are known: each fold's model embeds
    its held-out samples in its own feature space, so rows of different folds are not
    comparable.
    """
    if run.embeddings is None:
        return None
    n_classes = run.probs.shape[1]
    groups = np.zeros(len(run.labels), np.int64) if run.folds is None else run.folds
    out = np.empty(len(run.labels))
    for fold in np.unique(groups):
        rows = np.flatnonzero(groups == fold)
        emb = np.asarray(run.embeddings[rows], dtype=np.float32)
        shares = neighbour_label_distribution(emb, run.labels[rows], n_classes, k)
        out[rows] = 1.0 - shares[np.arange(len(rows)), run.labels[rows]]
    return out


def rank_fraction(score: np.ndarray) -> np.ndarray:
    """Each score's rank as a fraction in (0, 1] (1 = most suspicious), ties by index."""
    order = scoring.rank_order(score)
    out = np.empty(len(score))
    out[order] = 1.0 - np.arange(len(score)) / len(score)
    return out


def fused(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` of the first ranking's rank fraction plus the rest of the second's."""
    return weight * rank_fraction(a) + (1.0 - weight) * rank_fraction(b)


#: Pairs of softmax scores whose rank average is a candidate (equal weights).
SOFTMAX_FUSIONS = (
    ("noise_posterior", "self_confidence"),
    ("self_confidence", "normalized_margin"),
)

#: Fusion weights tried on the tuning half (of the softmax score against kNN agreement).
FUSION_WEIGHTS = (0.5, 0.7, 0.85)


def candidate_rankings(run: RunOutputs) -> dict[str, np.ndarray]:
    """Every ranking of the benchmark for one run, by name."""
    out = relabel_scores(run)
    out["cleanlab_quality"] = cleanlab_quality(run)
    out["cleanlab_quality_adjusted"] = cleanlab_quality_adjusted(run)
    for a, b in SOFTMAX_FUSIONS:
        out[f"fusion:{a}+{b}"] = fused(out[a], out[b], 0.5)
    knn = knn_disagreement(run)
    if knn is not None:
        out["knn_disagreement"] = knn
        for base in ("self_confidence", scoring.DEFAULT_METHOD):
            for w in FUSION_WEIGHTS:
                out[f"fusion:{base}+knn@{w}"] = fused(out[base], knn, w)
    return out


Ranking = Callable[[RunOutputs], np.ndarray]
