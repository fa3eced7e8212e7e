"""Duplicate sets: exact copies by content hash, near copies by embedding distance.

Distances are Euclidean between L2-normalised embeddings (``sqrt(2 - 2 cos)``, in
``[0, 2]``), searched with scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors`
(exact, brute force) a chunk of queries at a time: no ``n x n`` matrix is built.

Two samples are near copies when their distance is at most a threshold:

* calibrated (:func:`calibrate_duplicate_threshold`): the distance within which augmented
  copies of the same images fall (a high quantile of the distances between each image and
  its augmented copy), or
* by default (:func:`fallback_threshold`): :data:`FALLBACK_FRACTION` of the
  :data:`FALLBACK_QUANTILE` quantile of the samples' nearest-neighbour distances (half the
  lower quartile): copies sit far below the typical nearest neighbour, and the rule holds
  while fewer than a quarter of the samples are copies, without flagging a fixed share of
  data that has none.

Samples linked by a copy relation (either kind) form a set (a connected component); a set
is *conflicting* when its members carry different given labels and *crosses the holdout
split* when it has members on both sides (a leak that inflates every holdout figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.errors import IssueInputError
from relabel.findings.validation import CHUNK_ROWS, check_embeddings, normalised

__all__ = [
    "FALLBACK_FRACTION",
    "FALLBACK_QUANTILE",
    "DuplicateSets",
    "calibrate_duplicate_threshold",
    "duplicate_sets",
    "fallback_threshold",
    "nearest_neighbours",
]

#: Default threshold: this fraction ...
FALLBACK_FRACTION: Final[float] = 0.5
#: ... of this quantile of the nearest-neighbour distances.
FALLBACK_QUANTILE: Final[float] = 0.25


@dataclass(frozen=True)
class DuplicateSets:
    """Duplicate sets found among ``n`` samples (arrays of length ``n``).

    Attributes
    ----------
    set_id : numpy.ndarray of int64
        The set of each sample (0, 1, ... in order of each set's first member), -1 if none.
    nearest : numpy.ndarray of float32
        Distance to the nearest other sample (0 for an exact copy; NaN without embeddings).
    exact : numpy.ndarray of bool
        The sample has the same content hash as another.
    conflicting : numpy.ndarray of bool
        Its set holds different given labels.
    crosses_holdout : numpy.ndarray of bool
        Its set has members on both sides of the holdout split.
    threshold : float
        The near-copy distance threshold used (NaN without embeddings).
    """

    set_id: np.ndarray
    nearest: np.ndarray
    exact: np.ndarray
    conflicting: np.ndarray
    crosses_holdout: np.ndarray
    threshold: float


def calibrate_duplicate_threshold(
    original_emb: npt.ArrayLike, augmented_emb: npt.ArrayLike, quantile: float = 0.95
) -> float:
    """The distance within which augmented copies of the same images fall.

    Parameters
    ----------
    original_emb : array_like, shape (m, d)
        Embeddings of a sample of images.
    augmented_emb : array_like, shape (m, d)
        Embeddings of an augmented copy of each (JPEG re-encode, resize, small shift or
        brightness change: what a near duplicate looks like), row for row.
    quantile : float
        The share of augmented copies the threshold must cover, in (0, 1].

    Returns
    -------
    float
        A distance between L2-normalised embeddings, for :func:`duplicate_sets`.

    Raises
    ------
    IssueInputError
        The arrays differ in shape, hold NaN, or ``quantile`` is out of range.
    """
    a, b = check_embeddings(original_emb), check_embeddings(augmented_emb)
    if a.shape != b.shape:
        raise IssueInputError(
            f"original_emb {a.shape} and augmented_emb {b.shape} must have the same shape"
        )
    if not 0 < quantile <= 1:
        raise IssueInputError(f"quantile must be in (0, 1], got {quantile}")
    d = np.linalg.norm(normalised(a) - normalised(b), axis=1)
    return float(np.quantile(d, quantile))


def nearest_neighbours(
    unit: np.ndarray, k: int, chunk: int = CHUNK_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other samples of each row of ``unit`` (itself left out).

    Parameters
    ----------
    unit : numpy.ndarray, shape (n, d)
        L2-normalised float32 embeddings.
    k : int
        Neighbours per sample (``1 <= k < n``).
    chunk : int
        Query rows searched at a time.

    Returns
    -------
    distances, indices : numpy.ndarray, shape (n, k)
        Sorted nearest first; ties broken by index (deterministic).
    """
    from sklearn.neighbors import NearestNeighbors

    n = unit.shape[0]
    index = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(unit)
    dist = np.empty((n, k), np.float32)
    idx = np.empty((n, k), np.int64)
    for start in range(0, n, chunk):
        d, i = index.kneighbors(unit[start : start + chunk], n_neighbors=k + 1)
        rows = np.arange(start, start + len(d))[:, None]
        order = np.lexsort((i, np.round(d, 6)), axis=1)  # ties by index
        d, i = np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)
        keep = i != rows
        keep[keep.sum(axis=1) > k, -1] = False  # self not among the k + 1: drop the last
        dist[start : start + len(d)] = d[keep].reshape(len(d), k)
        idx[start : start + len(d)] = i[keep].reshape(len(d), k)
    return dist, idx


def fallback_threshold(nearest: np.ndarray) -> float:
    """The near-copy threshold when none is calibrated (see the module docstring).

    Parameters
    ----------
    nearest : numpy.ndarray
        Each sample's distance to its nearest other sample.

    Returns
    -------
    float
    """
    d = np.asarray(nearest, dtype=np.float64)
    return float(FALLBACK_FRACTION * np.quantile(d, FALLBACK_QUANTILE))


def _key(h: object) -> str:
    """A hash as a string; "" for none (None, NaN, empty)."""
    return "" if h is None or (isinstance(h, float) and h != h) else str(h)


def _hash_edges(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs linking each row to the first row with the same (non-empty) hash."""
    keys = np.array([_key(h) for h in hashes.tolist()], dtype=object)
    rows = np.flatnonzero(keys != "")
    _, first, inverse = np.unique(keys[rows], return_index=True, return_inverse=True)
    return rows, rows[first[inverse]]


def _near_edges(unit: np.ndarray, threshold: float, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows within ``threshold`` of each other (a radius search per chunk)."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(algorithm="brute").fit(unit)
    a, b = [], []
    for start in range(0, unit.shape[0], chunk):
        found = index.radius_neighbors(
            unit[start : start + chunk], radius=threshold, return_distance=False
        )
        for offset, near in enumerate(found):
            a.append(np.full(len(near), start + offset, np.int64))
            b.append(near.astype(np.int64))
    return (np.concatenate(a), np.concatenate(b)) if a else (np.zeros(0, int), np.zeros(0, int))


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Set ids of the connected components of more than one member, -1 for the others."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    _, first = np.unique(comp, return_index=True)
    renumber = np.full(len(sizes), -1, np.int64)
    multi = np.flatnonzero(sizes > 1)
    renumber[multi[np.argsort(first[multi], kind="stable")]] = np.arange(len(multi))
    return renumber[comp]


def _set_mark(set_id: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per sample: its set holds more than one distinct value of ``values``."""
    out = np.zeros(len(set_id), bool)
    member = set_id >= 0
    if not member.any():
        return out
    _, codes = np.unique(values[member].astype(str), return_inverse=True)
    pairs = np.unique(np.stack([set_id[member], codes]), axis=1)
    distinct = np.bincount(pairs[0], minlength=int(set_id.max()) + 1)
    out[member] = distinct[set_id[member]] > 1
    return out


def duplicate_sets(
    embeddings: npt.ArrayLike | None = None,
    *,
    hashes: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    holdout: np.ndarray | None = None,
    threshold: float | None = None,
    nearest: np.ndarray | None = None,
    chunk: int = CHUNK_ROWS,
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
    radius: bool = True,
) -> DuplicateSets:
    """Exact and near copies, joined into sets, with conflicts and holdout leaks marked.

    Parameters
    ----------
    embeddings : array_like, shape (n, d), optional
        One vector per sample (may be a memmap); without them only exact copies are found.
    hashes : numpy.ndarray, shape (n,), optional
        A content hash per sample (file bytes or decoded pixels); empty/None for unknown.
    labels : numpy.ndarray, shape (n,), optional
        Given labels, to mark conflicting sets.
    holdout : numpy.ndarray of bool, shape (n,), optional
        Which samples belong to the holdout split, to mark sets that cross it.
    threshold : float, optional
        Near-copy distance (:func:`calibrate_duplicate_threshold`); default
        :func:`fallback_threshold`.
    nearest : numpy.ndarray, shape (n,), optional
        Each sample's nearest-neighbour distance, when already computed.
    chunk : int
        Query rows searched at a time.
    pairs : tuple of two numpy.ndarray of int, optional
        More near-copy pairs of rows, found otherwise (in pixel space:
        :func:`relabel.findings.pixel_copies.pixel_copies`), joined into the sets too.
    radius : bool
        Join the embeddings' pairs within ``threshold`` (False: only ``pairs`` and the
        hashes join; the threshold still scales the score).

    Returns
    -------
    DuplicateSets
    """
    n = len(hashes) if embeddings is None and hashes is not None else None
    a, b = np.zeros(0, np.int64), np.zeros(0, np.int64)
    near_t = float("nan")
    if embeddings is not None:
        e = check_embeddings(embeddings, chunk)
        n, unit = e.shape[0], normalised(e, chunk)
        if nearest is None:
            nearest = nearest_neighbours(unit, 1, chunk)[0][:, 0]
        near_t = fallback_threshold(nearest) if threshold is None else float(threshold)
        if not np.isfinite(near_t) or near_t < 0:
            raise IssueInputError(f"duplicate threshold must be a distance >= 0, got {near_t}")
        if radius:
            a, b = _near_edges(unit, near_t, chunk)
    if n is None:
        raise IssueInputError("duplicate_sets needs embeddings or hashes")
    if pairs is not None:
        pa, pb = (np.asarray(p, np.int64) for p in pairs)
        if pa.shape != pb.shape or (
            pa.size and (min(pa.min(), pb.min()) < 0 or max(pa.max(), pb.max()) >= n)
        ):
            raise IssueInputError(f"pairs must be two arrays of one length of rows < {n}")
        a, b = np.concatenate([a, pa]), np.concatenate([b, pb])
    exact = np.zeros(n, bool)
    if hashes is not None:
        ha, hb = _hash_edges(hashes)
        exact[ha[ha != hb]] = exact[hb[ha != hb]] = True
        a, b = np.concatenate([a, ha]), np.concatenate([b, hb])
    set_id = _components(n, a, b)
    dist = np.full(n, np.nan, np.float32) if nearest is None else np.asarray(nearest, np.float32)
    dist = np.where(exact, 0.0, dist).astype(np.float32)
    no_labels, no_split = np.zeros(n, np.int8), np.zeros(n, bool)
    return DuplicateSets(
        set_id,
        dist,
        exact,
        _set_mark(set_id, labels if labels is not None else no_labels),
        _set_mark(set_id, holdout if holdout is not None else no_split),
        near_t,
    )
