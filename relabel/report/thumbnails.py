"""Thumbnails of sample images for the report galleries (PIL)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

#: Images smaller than this (longest side, pixels) are upscaled by an integer factor.
UPSCALE_BELOW = 96
#: Images larger than this (longest side) are shrunk to it.
MAX_SIDE = 128


def make_thumbnail(src: str | Path, dest: Path | BinaryIO) -> bool:
    """Write a PNG thumbnail of an image.

    Tiny images (such as 28 x 28 digits) are upscaled by an integer factor with
    nearest-neighbour so their pixels stay sharp; large images are shrunk to
    ``MAX_SIDE`` pixels (Lanczos). Alpha is composited on white; 16-bit and float
    images are stretched to 8 bits.

    Parameters
    ----------
    src : str or Path
        The image file.
    dest : Path or binary file
        Where to write the PNG.

    Returns
    -------
    bool
        False (and a warning in the log) when the image cannot be read.
    """
    try:
        with Image.open(src) as im:
            im.load()
            rgb = to_rgb(im)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        logger.warning("report: cannot make a thumbnail of %s: %s", src, exc)
        return False
    side = max(rgb.size)
    if side > MAX_SIDE:
        rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    elif side < UPSCALE_BELOW:
        f = math.ceil(UPSCALE_BELOW / side)
        rgb = rgb.resize((rgb.width * f, rgb.height * f), Image.Resampling.NEAREST)
    if isinstance(dest, Path):
        dest.parent.mkdir(parents=True, exist_ok=True)
    rgb.save(dest, format="PNG", optimize=False)
    return True


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB (alpha on white, 16-bit/float stretched).

    Parameters
    ----------
    im : PIL.Image.Image
        An image of any mode.

    Returns
    -------
    PIL.Image.Image
        An RGB image of the same size.
    """
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.astype(np.uint8), mode="L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        back = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(back, rgba).convert("RGB")
    return im.convert("RGB")
