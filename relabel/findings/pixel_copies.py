"""Near copies in pixel space: grey thumbnails compared with a shift-tolerant distance.

The thumbnails (:func:`relabel.findings.thumbnails`, 16 x 16 grey, kept with a run's image
statistics) see what a model may not: a re-encoded, resized, slightly shifted or
brightened copy of an image keeps its coarse layout of light and dark. Two steps, no
``n x n`` matrix:

1. **Candidates** (:func:`thumbnail_neighbours`): each thumbnail's nearest others in a
   shift-tolerant feature space (:func:`shift_features`: the magnitudes of the 2-D
   Fourier transform of the Hann-windowed thumbnail, which a shift barely changes,
   reduced by PCA to :data:`SHIFT_FEATURE_DIMS` dimensions), searched a chunk at a time.
   Neighbours in embedding space are candidates too.
2. **Verification** (:func:`shifted_distance`): the distance between the centre crop of
   one thumbnail and the best-matching crop of the other over offsets of up to
   :data:`MAX_SHIFT` thumbnail pixels in half-pixel steps (bilinear in between), each crop
   with its mean removed and scaled to unit length (``sqrt(2 - 2 cos)``, in ``[0, 2]``):
   brightness and contrast changes and shifts of up to 4 pixels of a 32-pixel image cost
   nothing, re-encoding and resizing little.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.errors import IssueInputError
from relabel.findings.validation import CHUNK_ROWS

__all__ = [
    "BLUR_SIGMA",
    "JOINT",
    "MAX_SHIFT",
    "PIXEL_ALONE",
    "SCALE_QUANTILE",
    "SHIFT_FEATURE_DIMS",
    "THUMB_NEIGHBOURS",
    "PixelPairs",
    "candidate_pairs",
    "copy_rule",
    "holdout_copies",
    "nearest_pixel_distance",
    "pixel_copies",
    "pixel_scale",
    "shift_features",
    "shifted_distance",
    "thumbnail_neighbours",
]

#: Largest offset tried, in thumbnail pixels (in half-pixel steps).
MAX_SHIFT: Final[int] = 2
#: Dimensions of the shift-tolerant candidate features (PCA of the Fourier magnitudes).
SHIFT_FEATURE_DIMS: Final[int] = 64
#: Candidates per sample from the thumbnail search.
THUMB_NEIGHBOURS: Final[int] = 10
#: Rows the PCA of :func:`shift_features` is fitted on (a seeded sample beyond that).
PCA_SAMPLE: Final[int] = 20000
#: Each space's scale: this quantile of its nearest-neighbour distances (lower quartile).
SCALE_QUANTILE: Final[float] = 0.25
#: Pixels alone: a pair within this fraction of the pixel scale is a near copy.
PIXEL_ALONE: Final[float] = 0.3
#: Gaussian blur (thumbnail pixels) of both thumbnails before they are compared: a
#: resized (blurred) copy then differs little from its source.
BLUR_SIGMA: Final[float] = 0.6
#: Joint evidence: the geometric mean of both scaled distances at most this.
JOINT: Final[float] = 0.3


def _check_thumbs(thumbs: npt.ArrayLike) -> np.ndarray:
    t = np.asarray(thumbs)
    if t.ndim != 3 or t.shape[1] != t.shape[2] or t.shape[1] < 2 * MAX_SHIFT + 2:
        raise IssueInputError(f"thumbnails must be (n, side, side) with side >= 6, got {t.shape}")
    return t


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows (last axis) with their mean removed, scaled to unit length (zero stays zero)."""
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-6)


def _magnitudes(t: np.ndarray) -> np.ndarray:
    """Unit vectors of the Fourier magnitudes of Hann-windowed, mean-removed thumbnails."""
    side = t.shape[1]
    window = np.hanning(side + 2)[1:-1].astype(np.float32)
    x = t.astype(np.float32)
    x -= x.mean(axis=(1, 2), keepdims=True)
    mag = np.abs(np.fft.rfft2(x * np.outer(window, window))).reshape(len(t), -1)
    norm = np.linalg.norm(mag, axis=1, keepdims=True)
    return np.divide(mag, norm, out=np.zeros_like(mag), where=norm > 1e-6).astype(np.float32)


def shift_features(
    thumbs: npt.ArrayLike, dims: int = SHIFT_FEATURE_DIMS, chunk: int = CHUNK_ROWS
) -> np.ndarray:
    """Shift-tolerant features of thumbnails, for the candidate search.

    The magnitudes of the 2-D Fourier transform of each Hann-windowed, mean-removed
    thumbnail (a shift moves only the phases), as unit vectors, reduced by a PCA fitted on
    at most :data:`PCA_SAMPLE` rows (seeded) to ``dims`` dimensions; computed a chunk at a
    time, so memory is ``n x dims`` float32.

    Parameters
    ----------
    thumbs : array_like, shape (n, side, side)
        :func:`relabel.findings.thumbnails`.
    dims : int
        Dimensions kept (all when the magnitudes have fewer, or there are fewer rows).
    chunk : int
        Rows transformed at a time.

    Returns
    -------
    numpy.ndarray of float32, shape (n, min(dims, ...))
    """
    from sklearn.decomposition import PCA

    t = _check_thumbs(thumbs)
    n = len(t)
    rows = np.arange(n)
    if n > PCA_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(n, PCA_SAMPLE, replace=False))
    sample = _magnitudes(t[rows])
    keep = min(dims, sample.shape[1], len(rows))
    pca = PCA(keep, svd_solver="full").fit(sample)
    out = np.empty((n, keep), np.float32)
    for start in range(0, n, chunk):
        out[start : start + chunk] = pca.transform(_magnitudes(t[start : start + chunk]))
    return out


def thumbnail_neighbours(
    features: np.ndarray,
    k: int = THUMB_NEIGHBOURS,
    queries: np.ndarray | None = None,
    chunk: int = CHUNK_ROWS,
) -> np.ndarray:
    """The ``k`` nearest rows of ``features`` to each query (brute force, chunked).

    Parameters
    ----------
    features : numpy.ndarray, shape (n, d)
        :func:`shift_features` of the indexed thumbnails.
    k : int
        Neighbours per query (fewer when there are fewer rows).
    queries : numpy.ndarray, shape (m, d), optional
        Other rows to search for (held-out images); default ``features`` itself, each
        row's own index left out.
    chunk : int
        Queries searched at a time.

    Returns
    -------
    numpy.ndarray of int64, shape (m, k')
        Row indices into ``features``, nearest first.
    """
    from sklearn.neighbors import NearestNeighbors

    own = queries is None
    q = features if queries is None else queries
    k = max(0, min(k, len(features) - (1 if own else 0)))
    if k == 0 or len(q) == 0:
        return np.zeros((len(q), 0), np.int64)
    index = NearestNeighbors(n_neighbors=k + own, algorithm="brute").fit(features)
    out = np.empty((len(q), k), np.int64)
    for start in range(0, len(q), chunk):
        _, idx = index.kneighbors(q[start : start + chunk], n_neighbors=k + own)
        if own:
            rows = np.arange(start, start + len(idx))[:, None]
            keep = idx != rows
            keep[keep.sum(axis=1) > k, -1] = False
            idx = idx[keep].reshape(len(idx), k)
        out[start : start + len(idx)] = idx
    return out


def candidate_pairs(*neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct unordered pairs ``(i, j)``, ``i < j``, of neighbour tables.

    Parameters
    ----------
    *neighbours : numpy.ndarray, shape (n, k)
        Each row's neighbours (row ``i`` of every table is sample ``i``).

    Returns
    -------
    a, b : numpy.ndarray of int64
        Sorted by ``a`` then ``b``.
    """
    pairs = [np.zeros((0, 2), np.int64)]
    for table in neighbours:
        t = np.asarray(table, np.int64)
        rows = np.repeat(np.arange(len(t)), t.shape[1])
        cols = t.ravel()
        pairs.append(np.stack([np.minimum(rows, cols), np.maximum(rows, cols)], axis=1))
    both = np.concatenate(pairs)
    both = np.unique(both[both[:, 0] != both[:, 1]], axis=0)
    return both[:, 0], both[:, 1]


def _half_grid(t: np.ndarray) -> np.ndarray:
    """Thumbnails on a half-pixel grid (``2 side - 1``), bilinear between pixels."""
    n, side = t.shape[0], t.shape[1]
    grid = np.empty((n, 2 * side - 1, 2 * side - 1), np.float32)
    grid[:, ::2, ::2] = t
    grid[:, 1::2, ::2] = 0.5 * (grid[:, 2::2, ::2] + grid[:, :-2:2, ::2])
    grid[:, :, 1::2] = 0.5 * (grid[:, :, 2::2] + grid[:, :, :-2:2])
    return grid


def _blurred(t: np.ndarray, sigma: float) -> np.ndarray:
    """Thumbnails as float32, Gaussian-blurred within each (edges repeated)."""
    from scipy.ndimage import gaussian_filter

    x = t.astype(np.float32)
    return gaussian_filter(x, (0, sigma, sigma), mode="nearest") if sigma > 0 else x


def _crop_sums(grid: np.ndarray, crop: int, offsets: int) -> np.ndarray:
    """The sum of every half-pixel crop (``crop`` grid points two apart each way) at each of
    ``offsets x offsets`` offsets: rows first, then columns."""
    rows = grid[:, 0 : 0 + offsets].copy()
    for i in range(1, crop):
        rows += grid[:, 2 * i : 2 * i + offsets]
    out = rows[:, :, 0:offsets].copy()
    for j in range(1, crop):
        out += rows[:, :, 2 * j : 2 * j + offsets]
    return out


def _one_way(centre_of: np.ndarray, shifted_of: np.ndarray, shift: int) -> np.ndarray:
    """Cosine of the centre crop of each first thumbnail with the best half-pixel crop of
    the second (dot products, sums and squares summed one crop pixel at a time: no copy of
    every crop is made)."""
    side = centre_of.shape[1]
    crop = side - 2 * shift
    centre = _unit_rows(
        centre_of[:, shift : shift + crop, shift : shift + crop].reshape(len(centre_of), -1)
    ).reshape(-1, crop, crop)
    grid = _half_grid(shifted_of)
    offsets = 4 * shift + 1
    dot = np.zeros((len(grid), offsets, offsets), np.float32)
    for i in range(crop):
        for j in range(crop):
            dot += (
                grid[:, 2 * i : 2 * i + offsets, 2 * j : 2 * j + offsets]
                * centre[:, i, j, None, None]
            )
    total, squares = _crop_sums(grid, crop, offsets), _crop_sums(grid * grid, crop, offsets)
    spread = np.sqrt(np.maximum(squares - total * total / (crop * crop), 0))
    cos = np.divide(dot, spread, out=np.zeros_like(dot), where=spread > 1e-3)
    return cos.reshape(len(grid), -1).max(axis=1)


def shifted_distance(
    thumbs: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    max_shift: int = MAX_SHIFT,
    chunk: int = CHUNK_ROWS,
    other: npt.ArrayLike | None = None,
    blur: float = BLUR_SIGMA,
) -> np.ndarray:
    """Shift-tolerant distance between thumbnails ``a[p]`` and ``b[p]`` for each pair ``p``.

    The centre crop (``side - 2 max_shift`` square) of one, against every crop of the
    other at offsets up to ``max_shift`` pixels in half-pixel steps; each crop with its
    mean removed and scaled to unit length; the smaller distance ``sqrt(2 - 2 cos)`` of the
    best offset, either way round. Both are blurred first (``blur``), so that a resized
    copy differs little. A flat crop matches nothing (distance sqrt 2).

    Parameters
    ----------
    thumbs : array_like, shape (n, side, side)
        :func:`relabel.findings.thumbnails`.
    a, b : array_like of int, shape (p,)
        Row pairs: ``a`` into ``thumbs``, ``b`` into ``other`` (default ``thumbs``).
    max_shift : int
        Largest offset, in thumbnail pixels.
    chunk : int
        Pairs compared at a time.
    other : array_like, shape (m, side, side), optional
        The thumbnails ``b`` indexes (held-out images).
    blur : float
        Gaussian blur (sigma, in thumbnail pixels) of both thumbnails first; 0 for none.

    Returns
    -------
    numpy.ndarray of float32, shape (p,)
    """
    t = _check_thumbs(thumbs)
    u = t if other is None else _check_thumbs(other)
    if u.shape[1:] != t.shape[1:]:
        raise IssueInputError(f"thumbnails differ in size: {t.shape[1:]} and {u.shape[1:]}")
    ia, ib = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if ia.shape != ib.shape or ia.ndim != 1:
        raise IssueInputError(f"pairs must be two 1-D arrays of one length, got {ia.shape}")
    if not 0 <= max_shift <= (t.shape[1] - 2) // 2:
        raise IssueInputError(f"max_shift {max_shift} does not fit thumbnails of {t.shape[1]}")
    out = np.empty(len(ia), np.float32)
    step = max(1, chunk // 4)
    for start in range(0, len(ia), step):
        ta = _blurred(t[ia[start : start + step]], blur)
        tb = _blurred(u[ib[start : start + step]], blur)
        cos = np.maximum(_one_way(ta, tb, max_shift), _one_way(tb, ta, max_shift))
        out[start : start + len(ta)] = np.sqrt(np.clip(2 - 2 * cos, 0, 4))
    return out


def nearest_pixel_distance(
    n: int, a: np.ndarray, b: np.ndarray | None, distance: np.ndarray
) -> np.ndarray:
    """Each of ``n`` rows' smallest distance among the pairs ``(a, b)`` it is in (``sqrt
    2`` where it is in none; ``b`` None: only ``a`` indexes the rows).

    Returns
    -------
    numpy.ndarray of float32, shape (n,)
    """
    out = np.full(n, np.sqrt(2), np.float32)
    np.minimum.at(out, np.asarray(a, np.int64), distance)
    if b is not None:
        np.minimum.at(out, np.asarray(b, np.int64), distance)
    return out


def pixel_scale(nearest: np.ndarray) -> float:
    """The :data:`SCALE_QUANTILE` quantile of nearest-neighbour distances: what an
    ordinary nearest neighbour looks like in that space (copies sit far below it)."""
    return float(np.quantile(np.asarray(nearest, np.float64), SCALE_QUANTILE))


def copy_rule(
    pixel: np.ndarray,
    pixel_scale_: float,
    embedding: np.ndarray | None = None,
    embedding_scale: float | None = None,
) -> np.ndarray:
    """Which pairs are near copies, from their distances relative to each space's scale.

    With ``r_p = pixel / pixel_scale_`` and ``r_e = embedding / embedding_scale``, a pair
    is a near copy when ``r_p <= PIXEL_ALONE`` (pixels alone) or ``sqrt(r_p r_e) <=
    JOINT`` (both moderately close: joint evidence). Embeddings alone are judged by
    :func:`relabel.findings.duplicate_sets` (its threshold).

    Returns
    -------
    numpy.ndarray of bool
    """
    rp = np.asarray(pixel, np.float64) / max(pixel_scale_, 1e-9)
    near = rp <= PIXEL_ALONE
    if embedding is not None and embedding_scale is not None:
        re = np.asarray(embedding, np.float64) / max(embedding_scale, 1e-9)
        near |= np.sqrt(rp * re) <= JOINT
    return near


@dataclass(frozen=True)
class PixelPairs:
    """Candidate pairs compared in pixel space, and which of them are near copies.

    Attributes
    ----------
    a, b : numpy.ndarray of int64
        The pairs' rows (``b`` into the held-out thumbnails for :func:`holdout_copies`).
    pixel : numpy.ndarray of float32
        :func:`shifted_distance` of each pair.
    embedding : numpy.ndarray of float32 or None
        Their embedding distance (None without embeddings).
    near : numpy.ndarray of bool
        :func:`copy_rule`.
    nearest : numpy.ndarray of float32
        Each (indexed) thumbnail's smallest pixel distance among the pairs.
    scale : float
        The pixel scale (:func:`pixel_scale`).
    """

    a: np.ndarray
    b: np.ndarray
    pixel: np.ndarray
    embedding: np.ndarray | None
    near: np.ndarray
    nearest: np.ndarray
    scale: float


def pixel_copies(
    thumbs: npt.ArrayLike,
    unit: np.ndarray | None = None,
    neighbours: np.ndarray | None = None,
    k: int = THUMB_NEIGHBOURS,
    chunk: int = CHUNK_ROWS,
) -> PixelPairs:
    """Near copies among thumbnails, with embeddings' evidence when there are any.

    Candidates are each thumbnail's ``k`` nearest in :func:`shift_features` and the
    embedding ``neighbours`` given; each pair's :func:`shifted_distance` (and embedding
    distance) decide by :func:`copy_rule`, against the scale of each space: the lower
    quartile of the thumbnails' nearest pixel distances and of ``unit``'s nearest
    neighbours.

    Parameters
    ----------
    thumbs : array_like, shape (n, side, side)
        :func:`relabel.findings.thumbnails` of every sample.
    unit : numpy.ndarray, shape (n, d), optional
        L2-normalised embeddings.
    neighbours : numpy.ndarray of int, shape (n, k_e), optional
        Each sample's nearest others in embedding space, nearest first (with ``unit``).
    k : int
        Thumbnail candidates per sample.
    chunk : int
        Rows searched, pairs compared at a time.

    Returns
    -------
    PixelPairs
    """
    t = _check_thumbs(thumbs)
    tables = [thumbnail_neighbours(shift_features(t, chunk=chunk), k, chunk=chunk)]
    use_emb = unit is not None and neighbours is not None
    if use_emb:
        if len(unit) != len(t) or len(neighbours) != len(t):
            raise IssueInputError(
                f"embeddings and thumbnails differ in rows: {len(unit)}, {len(t)}"
            )
        tables.append(neighbours)
    a, b = candidate_pairs(*tables)
    pixel = shifted_distance(t, a, b, chunk=chunk)
    nearest = nearest_pixel_distance(len(t), a, b, pixel)
    scale = pixel_scale(nearest)
    emb = None
    if use_emb:
        emb = np.empty(len(a), np.float32)
        for s in range(0, len(a), chunk):
            ua, ub = unit[a[s : s + chunk]], unit[b[s : s + chunk]]
            emb[s : s + len(ua)] = np.linalg.norm(ua - ub, axis=1)
        e_scale = pixel_scale(np.linalg.norm(unit - unit[neighbours[:, 0]], axis=1))
        near = copy_rule(pixel, scale, emb, e_scale)
    else:
        near = copy_rule(pixel, scale)
    return PixelPairs(a, b, pixel, emb, near, nearest, scale)


def holdout_copies(
    thumbs: npt.ArrayLike,
    held: npt.ArrayLike,
    k: int = THUMB_NEIGHBOURS,
    scale: float | None = None,
    chunk: int = CHUNK_ROWS,
) -> PixelPairs:
    """Near copies of held-out images among the training images, in pixel space alone.

    Each held-out thumbnail's ``k`` nearest training thumbnails (:func:`shift_features` of
    both together) are compared by :func:`shifted_distance`; a pair within
    :data:`PIXEL_ALONE` of the training set's pixel scale is a near copy (held-out images
    have no embeddings). The scale is estimated, when not given, from the nearest pixel
    distances of a seeded sample of at most 5,000 training thumbnails.

    Parameters
    ----------
    thumbs, held : array_like, shape (n, side, side) and (m, side, side)
        Thumbnails of the training and of the held-out images.
    k : int
        Training candidates per held-out image.
    scale : float, optional
        The training set's pixel scale (:attr:`PixelPairs.scale` of :func:`pixel_copies`).
    chunk : int
        Rows searched, pairs compared at a time.

    Returns
    -------
    PixelPairs
        ``a`` training rows, ``b`` held-out rows; ``nearest`` per training row.
    """
    t, h = _check_thumbs(thumbs), _check_thumbs(held)
    if h.shape[1:] != t.shape[1:]:
        raise IssueInputError(f"thumbnails differ in size: {t.shape[1:]} and {h.shape[1:]}")
    feats = shift_features(np.concatenate([t, h]), chunk=chunk)
    train, queries = feats[: len(t)], feats[len(t) :]
    if scale is None:
        rows = np.arange(len(t))
        if len(t) > 5000:
            rows = np.sort(np.random.default_rng(0).choice(len(t), 5000, replace=False))
        own = thumbnail_neighbours(train, k + 1, queries=train[rows], chunk=chunk)
        sa, sb = np.repeat(rows, own.shape[1]), own.ravel()
        keep = sa != sb
        d = shifted_distance(t, sa[keep], sb[keep], chunk=chunk)
        best = np.full(len(t), np.inf, np.float32)
        np.minimum.at(best, sa[keep], d)
        scale = pixel_scale(best[rows])
    found = thumbnail_neighbours(train, k, queries=queries, chunk=chunk)
    b = np.repeat(np.arange(len(h)), found.shape[1])
    a = found.ravel()
    pixel = shifted_distance(t, a, b, chunk=chunk, other=h)
    nearest = nearest_pixel_distance(len(t), a, None, pixel)
    return PixelPairs(a, b, pixel, None, copy_rule(pixel, scale), nearest, scale)
