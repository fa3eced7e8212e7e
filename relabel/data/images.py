"""Image files: THE decoder of relabel, and the checks made before training on them.

:func:`decode_image` is the only way relabel turns an image file into pixels: the decode
cache, the streaming datasets, prediction, embedding and the Ray workers all call it, so
they all see the same pixels. It decodes with Pillow (the first frame of an animation, as
RGB: grey and palette images expanded, alpha dropped, 16-bit grey scaled to 8 bits),
converts to one luma channel when asked, and resizes with one antialiased bilinear filter
(:mod:`relabel.data.resample`). An image of more than :data:`LARGE_IMAGE_PIXELS` is first
decoded at reduced size (:func:`read_image`: a JPEG at a reduced DCT scale, every format
box-reduced by a whole factor), one at a time per process, so that memory does not follow
the source resolution.

:func:`check_image` (and :func:`check_image_files`, in threads) says whether a file is an
image relabel can train on; :func:`image_pixels` reads an image's size from its header.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from relabel.data.resample import grey, resize
from relabel.errors import DatasetError
from relabel.infra.progress import Progress, count

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "IMAGE_FORMATS",
    "LARGE_IMAGE_PIXELS",
    "OnChunk",
    "UnreadableImageError",
    "check_image",
    "check_image_files",
    "decode_image",
    "decode_many",
    "image_pixels",
    "read_image",
    "read_pixels",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
#: The formats relabel reads (:func:`check_image` refuses the others).
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF")
#: Images of more pixels than this are invalid rows (``dataset.max_pixels``).
DEFAULT_MAX_PIXELS = 100_000_000
#: Images of more pixels are decoded at reduced size (:func:`read_image`).
LARGE_IMAGE_PIXELS = 4_000_000

#: Modes :meth:`PIL.Image.Image.reduce` works on directly.
_REDUCIBLE = ("L", "LA", "RGB", "RGBA")
#: Held while a large image is decoded: one at a time per process.
_LARGE = threading.Lock()
#: Threads of :func:`decode_many` by default.
DECODE_THREADS = min(8, os.cpu_count() or 1)
#: Files :func:`decode_many` reads at a time (the decoded images in flight).
DECODE_CHUNK = 256
#: The ``on_chunk`` hook of :func:`decode_many`: ``(start, pixels, original_sizes)``.
OnChunk = Callable[[int, np.ndarray, np.ndarray], None]
#: Images of at most this many pixels are resized together by :func:`decode_many`.
BATCH_RESIZE_PIXELS = 256 * 256


class UnreadableImageError(DatasetError):
    """An image file cannot be decoded; the message names the file and says why.

    Attributes
    ----------
    path : str
        The file.
    reason : str
        Why it cannot be decoded.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read image {path}: {reason}")
        self.path = path
        self.reason = reason


def _raise_pil_limit(max_pixels: int) -> None:
    """Lift Pillow's decompression-bomb guard to at least ``max_pixels``.

    relabel applies its own limit (``dataset.max_pixels``) and reports an image over it as
    an invalid row; Pillow's guard (about 89 million pixels) must not refuse an image the
    configured limit allows. It is never lowered.
    """
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"image too large: {width} x {height} = {width * height:,} pixels, over "
        f"dataset.max_pixels = {max_pixels:,}"
    )


def _failure(exc: BaseException, max_pixels: int) -> str:
    """What a Pillow exception says about an image file, for a person."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(exc, Image.DecompressionBombError):  # so large that Pillow refuses it
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow opens"
        return f"image too large: {pixels}, over dataset.max_pixels = {max_pixels:,}"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image (unreadable)"
    return f"corrupt image ({exc})"


def check_image(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Return None if ``path`` is a readable image relabel can train on, else the reason.

    The whole file is decoded (a truncated or corrupt file is caught), JPEGs at a reduced
    scale so that checking a large photo stays cheap. An image of more than
    ``max_pixels`` pixels is refused before it is decoded.
    """
    from PIL import Image

    if not os.path.isfile(path):
        return "file not found" if not os.path.exists(path) else "not a regular file"
    try:
        _raise_pil_limit(max_pixels)
        with Image.open(path) as img:
            fmt = img.format
            width, height = img.size
            if width * height > max_pixels:
                return _too_large(width, height, max_pixels)
            if fmt == "JPEG":
                img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
            img.load()
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        return _failure(exc, max_pixels)
    if fmt not in IMAGE_FORMATS:
        return f"unsupported image format {fmt} (use {', '.join(IMAGE_FORMATS)})"
    return None


def check_image_files(
    paths: list[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    threads: int = 8,
    progress: Progress | None = None,
) -> list[str | None]:
    """:func:`check_image` for every path (in threads), in order.

    Pillow's own large-image warning is silenced: an image over ``max_pixels`` is reported
    in the returned reasons instead. ``progress`` gets a count (task ``"check images"``)
    every 512 images.
    """
    from PIL import Image

    reasons: list[str | None] = []
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=threads) as pool:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for start in range(0, len(paths), 512):
            chunk = paths[start : start + 512]
            reasons += pool.map(lambda p: check_image(p, max_pixels), chunk, chunksize=64)
            count(progress, "check images", len(reasons), len(paths))
    return reasons


def image_pixels(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Width x height of an image, read from its header (nothing is decoded)."""
    from PIL import Image

    _raise_pil_limit(max_pixels)
    with Image.open(path) as img:
        width, height = img.size
    return width * height


def read_image(
    path: str, size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode an image as RGB uint8; one over :data:`LARGE_IMAGE_PIXELS` reduced on the way.

    A large JPEG is decoded at a reduced DCT scale (Pillow's ``draft``) and every large
    image is then box-reduced by a whole factor (``Image.reduce``), to no less than twice
    ``size``, so that a large photo never lives in memory at more than its reduced size
    beyond the decoder's own buffer. Other images are decoded whole.

    Parameters
    ----------
    path : str
        The image file.
    size : tuple of int
        ``(height, width)`` the image will be resized to.
    max_pixels : int
        The largest image accepted (``dataset.max_pixels``).

    Returns
    -------
    numpy.ndarray
        ``(h, w, 3)`` uint8; for a large image ``h >= min(2 * size[0], height)``, likewise
        ``w``.

    Raises
    ------
    OSError, SyntaxError, ValueError, PIL.Image.DecompressionBombError
        Pillow cannot decode the file; ``ValueError`` also for an image over
        ``max_pixels``.
    """
    return _read(path, size, max_pixels, keep_grey=False)


def _read(path: str, size: tuple[int, int], max_pixels: int, *, keep_grey: bool) -> np.ndarray:
    """:func:`read_image`; with ``keep_grey`` an 8-bit grey image that is not large comes
    back as its one channel (``(h, w, 1)``), which is its luma."""
    return _read_sized(path, size, max_pixels, keep_grey=keep_grey)[0]


def _read_sized(
    path: str, size: tuple[int, int], max_pixels: int, *, keep_grey: bool
) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`_read` and the file's own ``(height, width)``."""
    from PIL import Image

    _raise_pil_limit(max_pixels)
    with Image.open(path) as img:
        width, height = img.size
        if width * height > max_pixels:
            raise ValueError(_too_large(width, height, max_pixels))
        if width * height > LARGE_IMAGE_PIXELS:
            with _LARGE:
                return np.asarray(_reduced_rgb(img, size), dtype=np.uint8), (height, width)
        img.seek(0)
        if keep_grey and img.mode == "L":
            return np.asarray(img, dtype=np.uint8)[..., None], (height, width)
        return np.asarray(_as_rgb(img), dtype=np.uint8), (height, width)


def _reduced_rgb(img: Any, size: tuple[int, int]) -> Any:
    """A large image as RGB, reduced to no less than twice ``size`` (loaded)."""
    want_h, want_w = 2 * size[0], 2 * size[1]
    if img.format == "JPEG":
        img.draft("RGB", (want_w, want_h))
    img.seek(0)
    factor = min(img.width // want_w, img.height // want_h)
    if factor >= 2 and img.mode in _REDUCIBLE:
        return _as_rgb(img.reduce(factor))  # reduce first: no full-size copy
    frame = _as_rgb(img)
    factor = min(frame.width // want_w, frame.height // want_h)
    frame = frame.reduce(factor) if factor >= 2 else frame
    frame.load()
    return frame


def _as_rgb(img: Any) -> Any:
    """An RGB copy of an image; 16-bit and 32-bit grey scaled to 8 bits, alpha dropped."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(img, dtype=np.int64)
        grey_8 = np.clip(wide >> 8 if wide.max() > 255 else wide, 0, 255).astype(np.uint8)
        return Image.fromarray(grey_8, "L").convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def read_pixels(
    path: str | os.PathLike[str],
    size: tuple[int, int],
    channels: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """The first half of :func:`decode_image`: the pixels of ``channels``, not yet resized.

    Returns
    -------
    numpy.ndarray
        ``(h, w, channels)`` uint8 (a large image at reduced size, see :func:`read_image`).

    Raises
    ------
    UnreadableImageError
        The file is missing, not an image, corrupt or over ``max_pixels``; the message
        names it.
    """
    return _pixels_sized(path, size, channels, max_pixels)[0]


def _pixels_sized(
    path: str | os.PathLike[str], size: tuple[int, int], channels: int, max_pixels: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`read_pixels` and the file's own ``(height, width)``."""
    from PIL import Image

    file = os.fspath(path)
    try:
        pixels, original = _read_sized(file, size, max_pixels, keep_grey=channels == 1)
    except FileNotFoundError as exc:
        raise UnreadableImageError(file, "file not found") from exc
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        reason = str(exc) if str(exc).startswith("image too large") else None
        raise UnreadableImageError(file, reason or _failure(exc, max_pixels)) from exc
    return (grey(pixels) if channels == 1 and pixels.shape[-1] == 3 else pixels), original


def decode_image(
    path: str | os.PathLike[str],
    size: tuple[int, int],
    channels: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """THE decoder: an image file as uint8 pixels of ``size`` and ``channels``.

    Decoded as RGB by :func:`read_image` (large images at reduced size; an 8-bit grey
    image read as its one channel when one is asked, which is the same), converted to
    luma for one channel (:func:`relabel.data.resample.grey`), then resized with the
    antialiased bilinear filter of :func:`relabel.data.resample.resize`; the aspect ratio
    is not kept.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG, BMP or GIF file (the first frame of an animated GIF).
    size : tuple of int
        ``(height, width)`` of the result.
    channels : int
        1 (grey) or 3 (RGB).
    max_pixels : int
        The largest image accepted (``dataset.max_pixels``).

    Returns
    -------
    numpy.ndarray
        ``(height, width, channels)`` uint8.

    Raises
    ------
    UnreadableImageError
        The file is missing, not an image, corrupt or over ``max_pixels``; the message
        names it.
    """
    return resize(read_pixels(path, size, channels, max_pixels), size)


def decode_many(
    paths: Sequence[str | os.PathLike[str]],
    size: tuple[int, int],
    channels: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    into: np.ndarray | None = None,
    threads: int = DECODE_THREADS,
    on_chunk: OnChunk | None = None,
) -> np.ndarray:
    """:func:`decode_image` of every path, in threads: the same pixels, stacked in order.

    Files are read :data:`DECODE_CHUNK` at a time; small images of one size are resized
    together (the same arithmetic as one by one, faster), larger ones as they are read.

    Parameters
    ----------
    paths : Sequence of str or os.PathLike
        Image files.
    size, channels, max_pixels
        As for :func:`decode_image`.
    into : numpy.ndarray, optional
        The ``(n, height, width, channels)`` uint8 array to fill (a memory-mapped file);
        a new one when None.
    threads : int
        Threads that read files at once (Pillow releases the GIL while it decodes).
    on_chunk : callable, optional
        Called after each chunk as ``on_chunk(start, pixels, sizes)``: the chunk's first
        row, its decoded images ``(m, height, width, channels)`` and each file's own
        ``(height, width)`` ``(m, 2)``; e.g. an
        :class:`relabel.data.image_stats.ImageStatistics` collecting
        :func:`relabel.findings.image_statistics` in the same pass over the files.

    Returns
    -------
    numpy.ndarray
        ``(n, height, width, channels)`` uint8.

    Raises
    ------
    UnreadableImageError
        A file cannot be decoded (the first such in order is named).
    """
    files = [os.fspath(p) for p in paths]
    out = np.empty((len(files), *size, channels), np.uint8) if into is None else into

    originals: dict[str, tuple[int, int]] = {}

    def read(file: str) -> np.ndarray:
        pixels, originals[file] = _pixels_sized(file, size, channels, max_pixels)
        small = pixels.shape[0] * pixels.shape[1] <= BATCH_RESIZE_PIXELS
        return pixels if small else resize(pixels, size)

    with contextlib.ExitStack() as stack:
        mapper: Any = map
        if threads > 1 and len(files) > 1:
            mapper = stack.enter_context(ThreadPoolExecutor(max_workers=threads)).map
        for start in range(0, len(files), DECODE_CHUNK):
            chunk = list(mapper(read, files[start : start + DECODE_CHUNK]))
            by_shape: dict[tuple[int, ...], list[int]] = {}
            for i, pixels in enumerate(chunk):
                by_shape.setdefault(pixels.shape, []).append(i)
            for rows in by_shape.values():
                at = [start + i for i in rows]
                out[at] = resize(np.stack([chunk[i] for i in rows]), size)
            if on_chunk is not None:
                files_in = files[start : start + len(chunk)]
                sizes = np.array([originals[f] for f in files_in], np.int64).reshape(-1, 2)
                on_chunk(start, out[start : start + len(chunk)], sizes)
            originals.clear()
    return out
