"""Resizing decoded images: antialiased bilinear resampling and grey conversion in numpy.

The arithmetic is that of TensorFlow's ``tf.image.resize(..., antialias=True)`` (a
triangle kernel widened by the scale when shrinking, half-pixel centres, weights
normalised over the pixels inside the image, float32, rows then columns) and of
``tf.image.rgb_to_grayscale``, done in the same order: relabel's models were trained on
those pixels, and :func:`resize` gives them bit for bit (a test compares the two).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["LUMA_WEIGHTS", "grey", "resize"]

#: ITU-R BT.601 luma weights of R, G and B (those of ``tf.image.rgb_to_grayscale``).
LUMA_WEIGHTS = np.array([0.2989, 0.587, 0.114], np.float32)

_F32 = np.float32


def grey(rgb: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` uint8 RGB to ``(h, w, 1)`` uint8 luma (rounded down, as TensorFlow).

    A grey image stored as RGB comes back unchanged.
    """
    scaled = rgb.astype(np.float32) * _F32(1.0 / 255)
    luma = scaled @ LUMA_WEIGHTS
    return (luma * _F32(255.5)).astype(np.uint8)[..., None]


@functools.lru_cache(maxsize=64)
def _spans(in_size: int, out_size: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The taps of resampling ``in_size`` pixels to ``out_size``: for each position ``k``
    of a span, the source pixel of every output pixel and its weight.

    Each output pixel's weights sum to 1 (a short span's extra taps weigh 0).
    """
    inv_scale = _F32(1.0) / (_F32(out_size) / _F32(in_size))
    kernel_scale = max(inv_scale, _F32(1.0))
    span = min(2 * int(np.ceil(kernel_scale)) + 1, in_size)
    starts = np.zeros(out_size, np.int64)
    weights = np.zeros((out_size, span), np.float32)
    for x in range(out_size):
        centre = (_F32(x) + _F32(0.5)) * inv_scale
        low = int(np.ceil(centre - kernel_scale - _F32(0.5)))
        high = int(np.floor(centre + kernel_scale - _F32(0.5)))
        low = min(max(low, 0), in_size - 1)
        high = min(max(high, 0), in_size - 1) + 1
        source = np.arange(low, high, dtype=np.float32)
        distance = np.abs((source + _F32(0.5) - centre) * (_F32(1.0) / kernel_scale))
        row = np.maximum(_F32(0.0), _F32(1.0) - distance)
        total = _F32(0.0)
        for value in row:  # summed in order, as TensorFlow does
            total = _F32(total + value)
        if abs(total) >= 1000.0 * np.finfo(np.float32).tiny:
            row = row * (_F32(1.0) / total)
        weights[x, : high - low] = row
        starts[x] = low
    return tuple((np.minimum(starts + k, in_size - 1), weights[:, k]) for k in range(span))


def _rows(image: np.ndarray, out_size: int) -> np.ndarray:
    """``(..., h, w, c)`` float32 resampled to ``out_size`` rows."""
    out = np.zeros((*image.shape[:-3], out_size, *image.shape[-2:]), np.float32)
    for source, weight in _spans(image.shape[-3], out_size):  # in span order, as TensorFlow
        out += weight[:, None, None] * image[..., source, :, :]
    return out


def _columns(image: np.ndarray, out_size: int) -> np.ndarray:
    """``(..., h, w, c)`` float32 resampled to ``out_size`` columns."""
    out = np.zeros((*image.shape[:-2], out_size, image.shape[-1]), np.float32)
    for source, weight in _spans(image.shape[-2], out_size):  # in span order, as TensorFlow
        out += weight[:, None] * image[..., source, :]
    return out


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(h, w, c)`` uint8 to ``size`` (``(height, width)``), antialiased bilinear.

    Parameters
    ----------
    image : numpy.ndarray
        ``(h, w, c)`` uint8, or ``(n, h, w, c)``: ``n`` images of one size, each resized
        exactly as alone.
    size : tuple of int
        ``(height, width)`` of the result; the aspect ratio is not kept.

    Returns
    -------
    numpy.ndarray
        ``(height, width, c)`` (or ``(n, height, width, c)``) uint8, rounded half to even
        and clipped to [0, 255].
    """
    height, width = size
    if image.shape[-3:-1] == (height, width):
        return np.ascontiguousarray(image, dtype=np.uint8)
    x = _columns(_rows(image.astype(np.float32), height), width)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)
