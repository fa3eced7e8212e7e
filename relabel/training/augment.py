"""Random flips and shifts of decoded image batches, in numpy.

When images are cached (:func:`relabel.training.decode_images`), flips and translations
are applied here, batch by batch, while the next batch trains: on a CPU that is several
times cheaper than Keras' ``RandomFlip`` and ``RandomTranslation`` layers inside the
model. A translation is a random crop of the image padded by reflection (whole pixels,
up to ``translation`` of the height and width each way); a flip mirrors about half of the
images. The random stream is the caller's ``numpy.random.Generator``, so a seeded
generator gives the same batches.
"""

from __future__ import annotations

import numpy as np

__all__ = ["flip_and_shift", "max_shift"]


def max_shift(size: int, translation: float) -> int:
    """Largest shift in pixels of a side of ``size`` for a ``translation`` fraction."""
    return round(translation * size)


def flip_and_shift(
    images: np.ndarray, rng: np.random.Generator, flip: str, translation: float
) -> np.ndarray:
    """Randomly flip and shift a batch of images.

    Parameters
    ----------
    images : numpy.ndarray
        ``(batch, height, width, channels)`` images (any dtype); not modified.
    rng : numpy.random.Generator
        The random stream.
    flip : str
        ``"none"``, ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``.
    translation : float
        Largest shift as a fraction of the height and width; 0 turns shifts off.

    Returns
    -------
    numpy.ndarray
        A new array of the same shape and dtype.
    """
    out = np.array(images, copy=True)
    n, height, width = out.shape[:3]
    if flip in ("horizontal", "horizontal_and_vertical"):
        mirrored = rng.random(n) < 0.5
        out[mirrored] = out[mirrored, :, ::-1]
    if flip in ("vertical", "horizontal_and_vertical"):
        mirrored = rng.random(n) < 0.5
        out[mirrored] = out[mirrored, ::-1]
    dy_max, dx_max = max_shift(height, translation), max_shift(width, translation)
    if dy_max or dx_max:
        dy_max, dx_max = min(dy_max, height - 1), min(dx_max, width - 1)
        padded = np.pad(out, ((0, 0), (dy_max, dy_max), (dx_max, dx_max), (0, 0)), "reflect")
        dy = rng.integers(0, 2 * dy_max + 1, n)
        dx = rng.integers(0, 2 * dx_max + 1, n)
        rows = dy[:, None] + np.arange(height)[None, :]
        cols = dx[:, None] + np.arange(width)[None, :]
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out
