"""Outliers: samples far from the rest, judged within their own class.

:func:`relabel.findings.find_issues` scores the distance to the nearest class centre in
whitened PCA space (:func:`class_distance`), plus, with thumbnails, the pixel residual
(:func:`pixel_residual`); :func:`outlier_scores` alone scores the neighbour distance.

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

__all__ = [
    "CLASS_DIMS",
    "MAD_SCALE",
    "OUTLIER_K",
    "OUTLIER_Z",
    "RESIDUAL_COMPONENTS",
    "Outliers",
    "class_distance",
    "outlier_scores",
    "pixel_residual",
    "robust_z",
]

#: Neighbours whose mean distance is a sample's outlier distance.
OUTLIER_K: Final[int] = 10
#: Robust z-score above which a sample is an outlier.
OUTLIER_Z: Final[float] = 3.5
#: The median absolute deviation times this estimates a normal standard deviation.
MAD_SCALE: Final[float] = 1.4826
#: Principal components of the thumbnails whose residual is the pixel outlier distance.
RESIDUAL_COMPONENTS: Final[int] = 16
#: Rows the thumbnails' PCA is fitted on (a seeded sample beyond that).
RESIDUAL_SAMPLE: Final[int] = 20000
#: Whitened principal components of the embeddings the class distance is measured in.
CLASS_DIMS: Final[int] = 64


def class_distance(
    unit: np.ndarray, labels: np.ndarray | None = None, dims: int = CLASS_DIMS, chunk: int = 4096
) -> np.ndarray:
    """Distance of each embedding to the nearest class centre, in whitened PCA space.

    The L2-normalised embeddings are projected on their ``dims`` principal components
    (fitted on at most :data:`RESIDUAL_SAMPLE` rows, a seeded sample; at most a tenth as
    many components as rows), each scaled to unit variance, and the part outside them is
    kept as one more coordinate, its length over the mean variance left out: the
    Mahalanobis distance of probabilistic PCA, one covariance shared by all classes.
    Each sample's distance to the nearest mean of a given class is taken.
    Unlike a nearest-neighbour distance it is not fooled when outliers resemble one
    another (a cluster of outliers is still far from every class centre).

    Parameters
    ----------
    unit : numpy.ndarray, shape (n, d)
        L2-normalised embeddings.
    labels : numpy.ndarray, shape (n,), optional
        Given labels (one centre when None).
    dims : int
        Components kept (fewer when there are fewer rows or dimensions).
    chunk : int
        Rows transformed at a time.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    from sklearn.decomposition import PCA

    n = len(unit)
    rows = np.arange(n)
    if n > RESIDUAL_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(n, RESIDUAL_SAMPLE, replace=False))
    sample = np.asarray(unit[rows], np.float32)
    keep = max(1, min(dims, sample.shape[1] - 1, len(rows) // 10))
    pca = PCA(keep, svd_solver="full").fit(sample)
    scale = np.sqrt(np.maximum(pca.explained_variance_, 1e-12))
    noise = float(np.sqrt(max(pca.noise_variance_, 1e-12)))
    z = np.empty((n, keep + 1), np.float32)
    for start in range(0, n, chunk):
        block = np.asarray(unit[start : start + chunk], np.float32)
        proj = pca.transform(block)
        rest = np.linalg.norm(block - pca.inverse_transform(proj), axis=1) / noise
        z[start : start + len(block)] = np.c_[proj / scale, rest]
    codes = np.zeros(n, np.int64)
    if labels is not None:
        _, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    centres = np.stack([z[codes == g].mean(axis=0) for g in range(int(codes.max()) + 1)])
    out = np.empty(n, np.float64)
    for start in range(0, n, chunk):
        block = z[start : start + chunk]
        d2 = ((block[:, None, :] - centres[None]) ** 2).sum(axis=2)
        out[start : start + len(block)] = np.sqrt(d2.min(axis=1))
    return out


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


def pixel_residual(
    thumbs: np.ndarray, components: int = RESIDUAL_COMPONENTS, chunk: int = 4096
) -> np.ndarray:
    """How badly each thumbnail fits the dataset's principal thumbnail components.

    The distance between a thumbnail's feature vector
    (:func:`relabel.findings.thumbnail_features`) and its reconstruction from the
    ``components`` principal components of the dataset's (fitted on at most
    :data:`RESIDUAL_SAMPLE` rows, a seeded sample): an image unlike the dataset's images
    (a digit on black, noise) keeps much of its vector outside them. Model-free, and
    not fooled when outliers resemble one another (a nearest-neighbour distance is).

    Parameters
    ----------
    thumbs : numpy.ndarray, shape (n, side, side)
        :func:`relabel.findings.thumbnails`.
    components : int
        Principal components kept (fewer when there are fewer rows or pixels).
    chunk : int
        Rows transformed at a time.

    Returns
    -------
    numpy.ndarray of float32, shape (n,)
    """
    from sklearn.decomposition import PCA

    from relabel.findings.thumbnails import thumbnail_features

    n = len(thumbs)
    rows = np.arange(n)
    if n > RESIDUAL_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(n, RESIDUAL_SAMPLE, replace=False))
    sample = thumbnail_features(np.asarray(thumbs[rows]))
    pca = PCA(min(components, *sample.shape), svd_solver="full").fit(sample)
    out = np.empty(n, np.float32)
    for start in range(0, n, chunk):
        f = thumbnail_features(np.asarray(thumbs[start : start + chunk]))
        out[start : start + len(f)] = np.linalg.norm(
            f - pca.inverse_transform(pca.transform(f)), axis=1
        )
    return out


def outlier_scores(
    distances: np.ndarray,
    labels: np.ndarray | None = None,
    threshold: float = OUTLIER_Z,
    *,
    residual: np.ndarray | None = None,
    centre_distance: np.ndarray | None = None,
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
    residual : numpy.ndarray, shape (n,), optional
        :func:`pixel_residual`: the score is then the robust z of the sum of both robust
        z-scores (embedding distance and pixel residual, each within its class).
    centre_distance : numpy.ndarray, shape (n,), optional
        :func:`class_distance`: used in place of the neighbour distance for the
        embeddings' robust z-score (``distance`` is still reported).

    Returns
    -------
    Outliers
    """
    mean = np.asarray(distances, dtype=np.float32).mean(axis=1)
    score = robust_z(mean if centre_distance is None else centre_distance, labels)
    if residual is not None:
        score = robust_z(score + robust_z(np.asarray(residual, np.float64), labels), labels)
    return Outliers(mean, score, score > threshold)
