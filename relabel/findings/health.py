"""Image health from pixel statistics: dark, bright, blurry, low information, odd size or
aspect ratio, and grayscale in an RGB set.

:func:`image_statistics` turns a batch of decoded images into a few numbers per image; it
is meant to run while the images are decoded anyway (the ``on_chunk`` hook of
:func:`relabel.data.images.decode_many`), so no file is read twice. :func:`health_issues`
scores a dataset's statistics, each type with a score (higher is worse), a flag and a
reason:

* ``dark``: score 1 - mean brightness (luma in [0, 1]); flagged below :data:`DARK_BELOW`;
* ``bright``: score the mean brightness; flagged above :data:`BRIGHT_ABOVE`;
* ``blurry``: score the robust z of -log sharpness (the variance of the Laplacian over the
  variance of the image, so that contrast does not count); flagged above :data:`HEALTH_Z`;
* ``low_information``: score the robust z of -entropy of the luma histogram; flagged when
  the entropy is below :data:`LOW_ENTROPY_BITS`;
* ``odd_size``: score the larger robust z of log area and log aspect ratio (of the file,
  before resizing); flagged above :data:`HEALTH_Z`;
* ``grayscale``: score 1 - colourfulness / :data:`GREY_BELOW` in an RGB set (0 otherwise);
  flagged below :data:`GREY_BELOW` in an RGB set.

The robust z-scores are against the dataset itself (median and MAD,
:func:`relabel.findings.outliers.robust_z`); an RGB set is one where most images have
colour (median colourfulness at least :data:`COLOUR_SET_ABOVE`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.errors import IssueInputError
from relabel.findings.outliers import robust_z

__all__ = [
    "BRIGHT_ABOVE",
    "COLOUR_SET_ABOVE",
    "DARK_BELOW",
    "GREY_BELOW",
    "HEALTH_TYPES",
    "HEALTH_Z",
    "LOW_ENTROPY_BITS",
    "STAT_NAMES",
    "check_statistics",
    "health_issues",
    "image_statistics",
]

#: Mean brightness (luma in [0, 1]) below which an image is dark ...
DARK_BELOW: Final[float] = 0.12
#: ... and above which it is too bright.
BRIGHT_ABOVE: Final[float] = 0.9
#: Entropy of the 256-bin luma histogram (bits) below which an image holds little: fewer
#: than about four equally used grey levels. An absolute rule: natural photos have 5-8 bits
#: with a long low tail, so a z-score against the dataset flags ordinary photos (2.8 % of
#: the CIFAR-10 test images at z 3.5, none of them below 2 bits but one).
LOW_ENTROPY_BITS: Final[float] = 2.0
#: Colourfulness (mean of max - min channel, in [0, 1]) below which an image is grey: on
#: average under 2.6 of 255 levels between its channels (JPEG noise on a grey photo).
GREY_BELOW: Final[float] = 0.01
#: A set has colour when its median colourfulness is at least this.
COLOUR_SET_ABOVE: Final[float] = 0.02
#: Robust z-score beyond which a statistic is unusual for the dataset.
HEALTH_Z: Final[float] = 3.5
#: The smallest scale of the size z-scores: in a set of one size, x1.5 is odd.
_SIZE_FLOOR: Final[float] = float(np.log(1.5) / HEALTH_Z)

#: The per-image statistics :func:`image_statistics` returns.
STAT_NAMES: Final[tuple[str, ...]] = (
    "brightness",
    "sharpness",
    "entropy",
    "colorfulness",
    "height",
    "width",
    "content_hash",
)
#: The issue types :func:`health_issues` scores.
HEALTH_TYPES: Final[tuple[str, ...]] = (
    "dark",
    "bright",
    "blurry",
    "low_information",
    "odd_size",
    "grayscale",
)


def _luma(batch: np.ndarray) -> np.ndarray:
    """``(m, h, w)`` float32 luma in [0, 255] of ``(m, h, w, c)`` uint8 images."""
    x = batch.astype(np.float32)
    if x.shape[-1] == 1:
        return x[..., 0]
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def _entropy(luma: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each image's 256-bin luma histogram."""
    levels = np.clip(np.rint(luma), 0, 255).astype(np.int64).reshape(len(luma), -1)
    offsets = (np.arange(len(luma)) * 256)[:, None]
    counts = np.bincount((levels + offsets).ravel(), minlength=256 * len(luma))
    p = counts.reshape(len(luma), 256) / levels.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(-np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1), 0.0)


def image_statistics(
    batch_uint8: npt.ArrayLike, original_sizes: npt.ArrayLike | None = None
) -> dict[str, np.ndarray]:
    """A few numbers per image, from decoded pixels (see :data:`STAT_NAMES`).

    Parameters
    ----------
    batch_uint8 : array_like, shape (m, h, w, c) or (m, h, w)
        Decoded images (1 or 3 channels), uint8.
    original_sizes : array_like of int, shape (m, 2), optional
        ``(height, width)`` of each file before it was resized; the batch's own when None.

    Returns
    -------
    dict of str to numpy.ndarray
        ``brightness`` (mean luma in [0, 1]), ``sharpness`` (variance of the 4-neighbour
        Laplacian of the luma over the luma's variance), ``entropy`` (bits),
        ``colorfulness`` (mean of max - min channel, in [0, 1]; 0 for one channel),
        ``height``, ``width`` (int64) and ``content_hash`` (uint64, a BLAKE2b digest of
        the decoded pixels: equal pixels, equal hash).

    Raises
    ------
    IssueInputError
        Not uint8, wrong shape, or sizes that do not fit.
    """
    b = np.asarray(batch_uint8)
    if b.ndim == 3:
        b = b[..., None]
    if b.dtype != np.uint8 or b.ndim != 4 or b.shape[-1] not in (1, 3):
        raise IssueInputError(
            f"batch_uint8 must be uint8 (m, h, w[, 1 or 3]), got {b.dtype} {b.shape}"
        )
    m = len(b)
    sizes = np.tile(b.shape[1:3], (m, 1)) if original_sizes is None else np.asarray(original_sizes)
    if sizes.shape != (m, 2) or (m and sizes.min() < 1):
        raise IssueInputError(f"original_sizes must be ({m}, 2) positive, got {sizes.shape}")
    luma = _luma(b)
    lap = luma[:, 1:-1, :-2] + luma[:, 1:-1, 2:] + luma[:, :-2, 1:-1] + luma[:, 2:, 1:-1]
    lap = lap - 4 * luma[:, 1:-1, 1:-1]
    spread = luma.reshape(m, -1).var(axis=1)
    sharp = lap.reshape(m, -1).var(axis=1) / np.maximum(spread, 1e-6) if lap.size else np.zeros(m)
    colour = np.zeros(m) if b.shape[-1] == 1 else (b.max(axis=3) - b.min(axis=3)).mean(axis=(1, 2))
    digest = [hashlib.blake2b(img.tobytes(), digest_size=8).digest() for img in b]
    return {
        "brightness": luma.reshape(m, -1).mean(axis=1) / 255.0,
        "sharpness": np.asarray(sharp, np.float64),
        "entropy": _entropy(luma),
        "colorfulness": np.asarray(colour, np.float64) / 255.0,
        "height": sizes[:, 0].astype(np.int64),
        "width": sizes[:, 1].astype(np.int64),
        "content_hash": np.frombuffer(b"".join(digest), dtype="<u8").copy(),
    }


def check_statistics(stats: Mapping[str, npt.ArrayLike], n: int | None = None) -> dict:
    """The statistics as arrays of one length, or raise naming the key and row.

    Raises
    ------
    IssueInputError
        A key of :data:`STAT_NAMES` is missing, lengths differ (or differ from ``n``), or a
        value is NaN or infinite.
    """
    missing = [k for k in STAT_NAMES if k not in stats]
    if missing:
        raise IssueInputError(f"image_stats lacks {', '.join(missing)} (see image_statistics)")
    out = {k: np.asarray(stats[k]) for k in STAT_NAMES}
    want = len(out["brightness"]) if n is None else n
    for key, value in out.items():
        if value.shape != (want,):
            raise IssueInputError(
                f"image_stats[{key!r}] must have shape ({want},), got {value.shape}"
            )
        bad = ~np.isfinite(value.astype(np.float64))
        if bad.any():
            raise IssueInputError(
                f"image_stats[{key!r}] row {int(np.flatnonzero(bad)[0])} is not finite"
            )
    return out


def _reasons(flag: np.ndarray, text: Callable[[int], str]) -> np.ndarray:
    """``text(i)`` for each flagged row ``i``, "" for the others."""
    out = np.full(len(flag), "", dtype=object)
    for i in np.flatnonzero(flag):
        out[i] = text(int(i))
    return out


def health_issues(
    stats: Mapping[str, npt.ArrayLike], z: float = HEALTH_Z
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Score every health type of :data:`HEALTH_TYPES` from a dataset's statistics.

    Parameters
    ----------
    stats : mapping of str to array_like
        :func:`image_statistics` of every image (concatenated), :data:`STAT_NAMES` keys.
    z : float
        Robust z-score beyond which a statistic is unusual for the dataset.

    Returns
    -------
    dict
        ``{type: (score, flag, reason)}``: float64 scores (higher is worse), booleans, and
        a short reason for each flagged image ("" otherwise).
    """
    s = check_statistics(stats)
    light, entropy, colour = s["brightness"], s["entropy"], s["colorfulness"]
    h, w = s["height"].astype(np.float64), s["width"].astype(np.float64)
    blurry = -robust_z(np.log(s["sharpness"] + 1e-6))
    low_info = -robust_z(entropy, floor=0.05)
    size_z = np.maximum(
        np.abs(robust_z(np.log(h * w), floor=_SIZE_FLOOR)),
        np.abs(robust_z(np.log(w / h), floor=_SIZE_FLOOR)),
    )
    rgb_set = bool(np.median(colour) >= COLOUR_SET_ABOVE)
    grey = rgb_set & (colour < GREY_BELOW)
    grey_score = np.clip(1 - colour / GREY_BELOW, 0, 1) * rgb_set
    mh, mw = int(np.median(h)), int(np.median(w))
    flags = {
        "dark": (1 - light, light < DARK_BELOW),
        "bright": (light, light > BRIGHT_ABOVE),
        "blurry": (blurry, blurry > z),
        "low_information": (low_info, entropy < LOW_ENTROPY_BITS),
        "odd_size": (size_z, size_z > z),
        "grayscale": (grey_score, grey),
    }
    texts: dict[str, Callable[[int], str]] = {
        "dark": lambda i: f"dark (brightness {light[i]:.2f} < {DARK_BELOW})",
        "bright": lambda i: f"too bright (brightness {light[i]:.2f} > {BRIGHT_ABOVE})",
        "blurry": lambda i: f"blurry (sharpness z {-blurry[i]:.1f})",
        "low_information": lambda i: f"low information (entropy {entropy[i]:.1f} bits)",
        "odd_size": lambda i: f"odd size {int(h[i])}x{int(w[i])} (median {mh}x{mw})",
        "grayscale": lambda i: "grayscale in an RGB set",
    }
    return {
        t: (np.asarray(score, np.float64), flag, _reasons(flag, texts[t]))
        for t, (score, flag) in flags.items()
    }
