"""Images side by side in one PNG: how a duplicate set is shown to a reviewer.

Label Studio allows one named object tag per labeling config (see
:mod:`relabel.studio.labeling`), so a task cannot hold one ``<Image>`` per member of a set.
Instead the members are drawn side by side into one image, each tile numbered under its
picture with its label, and the task shows that one image. Images are read by the one
decoder (:func:`relabel.data.images.read_image`), reduced on the way when large.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

from relabel.data.images import DEFAULT_MAX_PIXELS, read_image

#: The longest side of one tile, in pixels.
TILE = 192
_CAPTION = 28
_GAP = 8


def side_by_side(
    paths: Sequence[str],
    captions: Sequence[str],
    *,
    tile: int = TILE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> bytes:
    """Draw images side by side, each with its caption under it; return a PNG.

    Parameters
    ----------
    paths : sequence of str
        The image files, left to right.
    captions : sequence of str
        One line under each image (``"1: dog"``).
    tile : int
        Each image is scaled to fit a ``tile`` x ``tile`` square (small ones are enlarged,
        without smoothing, so that a 32-pixel image stays legible).
    max_pixels : int
        The largest image accepted (``dataset.max_pixels``).

    Returns
    -------
    bytes
        The PNG file.

    Raises
    ------
    ValueError
        ``paths`` and ``captions`` differ in length, or no path; an image over
        ``max_pixels``.
    OSError
        An image cannot be read.
    """
    if len(paths) != len(captions) or not paths:
        raise ValueError(f"{len(paths)} images for {len(captions)} captions")
    width = len(paths) * tile + (len(paths) + 1) * _GAP
    canvas = Image.new("RGB", (width, tile + _CAPTION + 2 * _GAP), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (path, caption) in enumerate(zip(paths, captions, strict=True)):
        img = Image.fromarray(read_image(str(path), (tile, tile), max_pixels))
        scale = tile / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        small = img.width * scale > img.width
        img = img.resize(size, Image.Resampling.NEAREST if small else Image.Resampling.LANCZOS)
        left = _GAP + i * (tile + _GAP)
        canvas.paste(img, (left + (tile - img.width) // 2, _GAP + (tile - img.height) // 2))
        draw.text((left, _GAP + tile + 6), caption[:40], fill="black")
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def png_data_uri(png: bytes) -> str:
    """A ``data:`` URI of PNG bytes (Label Studio stores and shows it as given)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
