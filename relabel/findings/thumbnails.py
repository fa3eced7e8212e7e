"""Small grey thumbnails of decoded images: the pixel-space view of near copies.

A thumbnail is the image's luma averaged down (box filter) to :data:`THUMB_SIDE` x
:data:`THUMB_SIDE` pixels, uint8. It is computed in the decoding pass (no second read of
any file), kept beside a run's image statistics, and lets near copies be found without a
model: a re-encoded, resized or slightly shifted copy of an image keeps its coarse layout
of light and dark. :func:`thumbnail_features` turns thumbnails into unit vectors that
ignore brightness and contrast changes.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.errors import IssueInputError

__all__ = ["THUMB_SIDE", "thumbnail_features", "thumbnails"]

#: The side of a thumbnail, in pixels.
THUMB_SIDE: Final[int] = 16


def _averaging(n: int, side: int) -> np.ndarray:
    """``(side, n)`` matrix averaging ``n`` pixels into ``side`` bins (nearest when fewer)."""
    out = np.zeros((side, n), np.float32)
    if n >= side:
        out[(np.arange(n) * side) // n, np.arange(n)] = 1.0
    else:
        out[np.arange(side), (np.arange(side) * n) // side] = 1.0
    return out / out.sum(axis=1, keepdims=True)


def thumbnails(batch_uint8: npt.ArrayLike, side: int = THUMB_SIDE) -> np.ndarray:
    """Grey box-filtered thumbnails of decoded images.

    Parameters
    ----------
    batch_uint8 : array_like, shape (m, h, w, c) or (m, h, w)
        Decoded images (1 or 3 channels), uint8.
    side : int
        The thumbnail's side.

    Returns
    -------
    numpy.ndarray of uint8, shape (m, side, side)

    Raises
    ------
    IssueInputError
        Not uint8 images of 1 or 3 channels.
    """
    b = np.asarray(batch_uint8)
    if b.ndim == 3:
        b = b[..., None]
    if b.dtype != np.uint8 or b.ndim != 4 or b.shape[-1] not in (1, 3):
        raise IssueInputError(f"images must be uint8 (m, h, w[, 1 or 3]), got {b.dtype} {b.shape}")
    x = b.astype(np.float32)
    luma = x[..., 0] if b.shape[-1] == 1 else x @ np.array([0.299, 0.587, 0.114], np.float32)
    rows, cols = _averaging(b.shape[1], side), _averaging(b.shape[2], side)
    small = np.einsum("ih,mhw,jw->mij", rows, luma, cols, optimize=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def thumbnail_features(thumbs: npt.ArrayLike) -> np.ndarray:
    """Unit vectors of thumbnails with their mean removed (brightness and contrast ignored).

    Parameters
    ----------
    thumbs : array_like, shape (n, side, side)
        :func:`thumbnails`.

    Returns
    -------
    numpy.ndarray of float32, shape (n, side * side)
        A flat thumbnail has the zero vector.
    """
    t = np.asarray(thumbs)
    if t.ndim != 3:
        raise IssueInputError(f"thumbnails must be (n, side, side), got shape {t.shape}")
    x = t.reshape(len(t), -1).astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-6)
