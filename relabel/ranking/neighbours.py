"""The label agreement of each sample's nearest neighbours in embedding space.

:func:`neighbour_label_distribution` turns embeddings and given labels into a
probability-like matrix (the share of each class among a sample's neighbours) that any
score of :mod:`relabel.ranking` can rank. numpy and scikit-learn only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["neighbour_label_distribution"]


def neighbour_label_distribution(
    features: np.ndarray, labels: np.ndarray, n_classes: int, k: int = 10
) -> np.ndarray:
    """The given labels of each sample's ``k`` nearest neighbours (itself left out).

    Neighbours are by cosine similarity of the embeddings. Row ``i`` is the share of each
    class among the labels of sample ``i``'s neighbours: a probability-like matrix that any
    score of :mod:`relabel.ranking` can rank (low agreement with the given label =
    suspect).

    Parameters
    ----------
    features : numpy.ndarray
        ``(n, d)`` embeddings.
    labels : numpy.ndarray
        Given integer class of each sample.
    n_classes : int
        Number of classes.
    k : int
        Neighbours per sample (at most ``n - 1``).

    Returns
    -------
    numpy.ndarray
        ``(n, n_classes)`` float32, rows summing to 1.
    """
    from sklearn.neighbors import NearestNeighbors

    y = np.asarray(labels, dtype=np.int64)
    k = max(1, min(k, len(y) - 1))
    index = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(features)
    _, neighbours = index.kneighbors(features)
    out = np.zeros((len(y), n_classes), np.float32)
    for row, found in enumerate(neighbours):
        others = [j for j in found if j != row][:k]
        np.add.at(out[row], y[others], 1.0)
    return out / out.sum(axis=1, keepdims=True)
