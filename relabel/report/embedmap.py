"""The 2-D map of the embeddings: a seeded sample of the samples, laid out by t-SNE.

scikit-learn's :class:`~sklearn.manifold.TSNE` (Barnes-Hut, PCA initialisation, a fixed
seed) on at most :data:`MAP_POINTS` samples, reduced to :data:`PCA_DIMS` dimensions by
PCA first; the same embeddings give the same layout. Flagged samples are kept in the
sample first (up to half of it), so the issues show on the map of a large dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: At most this many points on the map.
MAP_POINTS = 3000
#: Seed of the sample, the PCA and the t-SNE.
MAP_SEED = 0
#: Dimensions kept by PCA before t-SNE.
PCA_DIMS = 50
#: t-SNE iterations (scikit-learn's minimum is 250).
TSNE_ITERATIONS = 500
#: t-SNE perplexity (lowered for small samples: it must stay below the number of points).
PERPLEXITY = 30.0


@dataclass(frozen=True)
class EmbeddingMap:
    """The points of the map.

    Attributes
    ----------
    rows : numpy.ndarray
        ``(m,)`` the sample index of each point, ascending.
    xy : numpy.ndarray
        ``(m, 2)`` the layout.
    method : str
        How the layout was made (``"t-SNE"``, or ``"PCA"`` for fewer than 5 points).
    """

    rows: np.ndarray
    xy: np.ndarray
    method: str


def map_sample(flagged: np.ndarray, limit: int, seed: int = MAP_SEED) -> np.ndarray:
    """Which samples the map shows: all of them, or a seeded sample of ``limit``.

    Flagged samples come first, up to half the sample (a seeded choice among them when
    there are more), and a seeded uniform choice of the others fills the rest.

    Parameters
    ----------
    flagged : numpy.ndarray
        ``(n,)`` bool, samples with an issue.
    limit : int
        At most this many samples.
    seed : int
        Seed of the choice.

    Returns
    -------
    numpy.ndarray
        Sample indices, ascending.
    """
    flagged = np.asarray(flagged, dtype=bool)
    n = flagged.size
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    hit, rest = np.flatnonzero(flagged), np.flatnonzero(~flagged)
    take = min(hit.size, limit // 2)
    chosen = rng.choice(hit, take, replace=False) if take < hit.size else hit
    others = rng.choice(rest, min(rest.size, limit - take), replace=False)
    return np.sort(np.r_[chosen, others]).astype(np.int64)


def layout(features: np.ndarray, seed: int = MAP_SEED) -> tuple[np.ndarray, str]:
    """A 2-D layout of some vectors: PCA to :data:`PCA_DIMS`, then t-SNE.

    Parameters
    ----------
    features : numpy.ndarray
        ``(m, d)`` vectors (non-finite values count as 0).
    seed : int
        Seed of the PCA and the t-SNE.

    Returns
    -------
    xy : numpy.ndarray
        ``(m, 2)`` coordinates.
    method : str
        ``"t-SNE"``, or ``"PCA"`` for fewer than 5 points.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.nan_to_num(np.asarray(features, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    m = x.shape[0]
    if x.shape[1] < 2:
        x = np.c_[x, np.zeros((m, 2 - x.shape[1]), np.float32)]
    dims = min(PCA_DIMS, m, x.shape[1])
    if x.shape[1] > dims and dims >= 2:
        x = PCA(n_components=dims, random_state=seed).fit_transform(x)
    if m < 5:
        xy = np.zeros((m, 2)) if m < 2 else PCA(n_components=2).fit_transform(x)
        return np.asarray(xy, dtype=np.float64), "PCA"
    tsne = TSNE(
        n_components=2,
        perplexity=min(PERPLEXITY, (m - 1) / 3),
        init="pca",
        max_iter=TSNE_ITERATIONS,
        random_state=seed,
    )
    return np.asarray(tsne.fit_transform(x), dtype=np.float64), "t-SNE"


def embedding_map(
    embeddings: Any, flagged: np.ndarray, limit: int = MAP_POINTS, seed: int = MAP_SEED
) -> EmbeddingMap:
    """The map of a run's embeddings: a sample of its rows and their 2-D layout.

    Parameters
    ----------
    embeddings : array_like
        ``(n, d)`` one vector per sample (a float16 memory map is fine: only the
        sampled rows are read).
    flagged : numpy.ndarray
        ``(n,)`` bool, samples with an issue (kept in the sample first).
    limit : int
        At most this many points.
    seed : int
        Seed of the sample and the layout.

    Returns
    -------
    EmbeddingMap
        The sampled rows and their coordinates.
    """
    rows = map_sample(flagged, limit, seed)
    xy, method = layout(np.asarray(embeddings[rows], dtype=np.float32), seed)
    return EmbeddingMap(rows=rows, xy=xy, method=method)
