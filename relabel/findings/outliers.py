"""Outliers: samples far from their nearest neighbours, judged within their own class.

A sample's distance is the mean Euclidean distance to its ``k`` nearest other samples
(L2-normalised embeddings, :func:`relabel.findings.duplicates.nearest_neighbours`). Classes
differ in how spread they are, so the distance is calibrated per given class by a robust
z-score (:func:`robust_z`: the median and the scaled median absolute deviation of that
class's distances); a sample is an outlier when its z-score exceeds
:data:`OUTLIER_Z` (3.5, the usual cut for the modified z-score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = ["MAD_SCALE", "OUTLIER_K", "OUTLIER_Z", "Outliers", "outlier_scores", "robust_z"]

#: Neighbours whose mean distance is a sample's outlier distance.
OUTLIER_K: Final[int] = 10
#: Robust z-score above which a sample is an outlier.
OUTLIER_Z: Final[float] = 3.5
#: The median absolute deviation times this estimates a normal standard deviation.
MAD_SCALE: Final[float] = 1.4826


@dataclass(frozen=True)
class Outliers:
    """Outlier scores of ``n`` samples.

    Attributes
    ----------
    distance : numpy.ndarray of float32
        Mean distance to the ``k`` nearest other samples.
    score : numpy.ndarray of float64
        The robust z-score of ``distance`` within the sample's given class.
    flag : numpy.ndarray of bool
        ``score > threshold``.
    """

    distance: np.ndarray
    score: np.ndarray
    flag: np.ndarray


def robust_z(
    values: np.ndarray, groups: np.ndarray | None = None, floor: float = 1e-6
) -> np.ndarray:
    """The robust z-score of each value within its group: ``(x - median) / (1.4826 MAD)``.

    Parameters
    ----------
    values : numpy.ndarray, shape (n,)
        Finite values.
    groups : numpy.ndarray, shape (n,), optional
        A group per value (the given class); one group when None.
    floor : float
        The smallest scale used (a group whose values are nearly all equal would otherwise
        turn any difference into an infinite score).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    x = np.asarray(values, dtype=np.float64)
    if groups is None:
        codes = np.zeros(len(x), np.int64)
    else:
        _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    out = np.empty(len(x), np.float64)
    for g in np.unique(codes):
        member = codes == g
        median = np.median(x[member])
        scale = max(MAD_SCALE * float(np.median(np.abs(x[member] - median))), floor)
        out[member] = (x[member] - median) / scale
    return out


def outlier_scores(
    distances: np.ndarray, labels: np.ndarray | None = None, threshold: float = OUTLIER_Z
) -> Outliers:
    """Outlier scores from each sample's distances to its nearest neighbours.

    Parameters
    ----------
    distances : numpy.ndarray, shape (n, k)
        Distances to the ``k`` nearest other samples (L2-normalised embeddings).
    labels : numpy.ndarray, shape (n,), optional
        Given labels: the scores are calibrated within each class (one class when None).
    threshold : float
        Robust z-score above which a sample is flagged.

    Returns
    -------
    Outliers
    """
    mean = np.asarray(distances, dtype=np.float32).mean(axis=1)
    score = robust_z(mean, labels)
    return Outliers(mean, score, score > threshold)
