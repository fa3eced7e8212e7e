"""Datasets at the edge: image folders and manifests, read and validated up front.

Two sources are supported:

* an images folder with one sub-folder per class (the Keras convention), and
* a manifest, CSV or Parquet, with columns ``path,label`` and an optional ``id``
  (relative paths are resolved against the manifest's folder).

:func:`load_records` reads either; :func:`validate_records` checks every row (missing
file, unreadable or corrupt image, empty or unknown label, duplicate id) and the dataset
as a whole (fewer than 2 classes, a class with too few samples for the folds). Problems
are collected, never raised one at a time, so a user sees all of them in one go.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel.errors import DatasetError, Problem
from relabel.infra.progress import Progress, count

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
#: Formats that both Pillow (validation) and TensorFlow (training) decode.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF")
#: Images of more pixels than this are invalid rows (``dataset.max_pixels``).
DEFAULT_MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class Record:
    """One sample as read from a folder or manifest.

    Attributes
    ----------
    sample_id : str
        Stable id: the manifest's ``id``, else the path relative to the folder or manifest.
    path : str
        Absolute path of the image file.
    label : str
        The given label (a class name).
    where : str
        Where the record came from, for messages (``manifest.csv line 12`` or the file path).
    row : int
        Position in the input (0-based).
    """

    sample_id: str
    path: str
    label: str
    where: str
    row: int = 0


@dataclass(frozen=True)
class Validated:
    """The result of :func:`validate_records`.

    Attributes
    ----------
    records : list of Record
        The valid records, in input order.
    classes : list of str
        The class names, in model-output order.
    problems : list of Problem
        Row-level problems (the rows are not in ``records``).
    """

    records: list[Record]
    classes: list[str]
    problems: list[Problem]


def read_folder(images_dir: Path) -> tuple[list[Record], list[Problem]]:
    """Read an images folder with one sub-folder per class.

    Parameters
    ----------
    images_dir : Path
        The folder. Each sub-folder's name is a class; image files inside it (any depth)
        are its samples. Files directly in the folder and hidden files are ignored.

    Returns
    -------
    records, problems
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    records: list[Record] = []
    problems: list[Problem] = []
    ignored = 0
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if class_dir.name.startswith("."):
            continue
        for file in sorted(class_dir.rglob("*")):
            if not file.is_file() or file.name.startswith("."):
                continue
            if file.suffix.lower() not in IMAGE_EXTENSIONS:
                ignored += 1
                continue
            rel = file.relative_to(root).as_posix()
            records.append(
                Record(rel, str(file.resolve()), class_dir.name, str(file), len(records))
            )
    if ignored:
        log.warning(
            "%s: ignored %d files that are not images (%s)",
            root,
            ignored,
            ", ".join(IMAGE_EXTENSIONS),
        )
    if not records:
        problems.append(Problem(str(root), "no images found in class sub-folders"))
    return records, problems


def read_manifest(manifest: Path) -> tuple[list[Record], list[Problem]]:
    """Read a CSV or Parquet manifest with columns ``path,label`` and optional ``id``.

    Parameters
    ----------
    manifest : Path
        A ``.csv`` or ``.parquet`` file. Relative paths resolve against its folder.

    Returns
    -------
    records, problems
        Rows with an empty path or label, or a duplicate id, are problems, not records.
        CSV rows are named by their line number (the header is line 1).
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise DatasetError(f"{manifest}: manifest not found")
    suffix = manifest.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
            first_line = 2
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(manifest).fillna("").astype(str)
            first_line = 1
        else:
            raise DatasetError(f"{manifest}: manifest must be .csv or .parquet")
    except DatasetError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"{manifest}: the manifest is empty (no header, no rows)") from exc
    except Exception as exc:
        raise DatasetError(f"{manifest}: cannot read manifest: {exc}") from exc
    missing = [c for c in ("path", "label") if c not in frame.columns]
    if not missing and frame.empty:
        raise DatasetError(f"{manifest}: the manifest has no rows (only its header)")
    if missing:
        raise DatasetError(
            f"{manifest}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, frame.columns))}; need path,label and optional id)"
        )
    base = manifest.resolve().parent
    has_id = "id" in frame.columns
    records: list[Record] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    row_word = "line" if suffix == ".csv" else "row"
    for offset, (path, label, sid) in enumerate(
        zip(
            frame["path"].str.strip(),
            frame["label"].str.strip(),
            frame["id"].str.strip() if has_id else frame["path"].str.strip(),
            strict=True,
        )
    ):
        where = f"{manifest.name} {row_word} {offset + first_line}"
        if not path:
            problems.append(Problem(where, "empty path", row=offset))
            continue
        resolved = Path(path) if os.path.isabs(path) else base / path
        if not label:
            problems.append(Problem(where, "empty label", path, offset))
            continue
        if not sid:
            problems.append(Problem(where, "empty id", path, offset))
            continue
        if not has_id:
            sid = Path(path).as_posix()
        if sid in seen:
            problems.append(
                Problem(where, f"duplicate id {sid!r} (first at {seen[sid]})", path, offset)
            )
            continue
        seen[sid] = where
        records.append(Record(sid, str(resolved.resolve()), label, where, offset))
    return records, problems


def _raise_pil_limit(max_pixels: int) -> None:
    """Lift Pillow's decompression-bomb guard to at least ``max_pixels``.

    relabel applies its own limit (``dataset.max_pixels``) and reports an image over it as
    an invalid row; Pillow's guard (about 89 million pixels) must not refuse an image the
    configured limit allows. It is never lowered.
    """
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels


def check_image(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Return None if ``path`` is a readable image relabel can train on, else the reason.

    The whole file is decoded (a truncated or corrupt file is caught), JPEGs at a reduced
    scale so that checking a large photo stays cheap. An image of more than
    ``max_pixels`` pixels is refused before it is decoded.
    """
    from PIL import Image, UnidentifiedImageError

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
    except Image.DecompressionBombError as exc:  # so large that Pillow refuses to open it
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow opens"
        return f"image too large: {pixels}, over dataset.max_pixels = {max_pixels:,}"
    except UnidentifiedImageError:
        return "not an image (unreadable)"
    except (OSError, SyntaxError, ValueError) as exc:
        return f"corrupt image ({exc})"
    if fmt not in IMAGE_FORMATS:
        return f"unsupported image format {fmt} (use {', '.join(IMAGE_FORMATS)})"
    return None


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"image too large: {width} x {height} = {width * height:,} pixels, over "
        f"dataset.max_pixels = {max_pixels:,}"
    )


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
    """Decode an image as RGB uint8, reduced on the way to no less than twice ``size``.

    JPEGs are decoded at a reduced DCT scale (Pillow's ``draft``) and every format is then
    box-reduced by a whole factor (``Image.reduce``), so that a large photo never lives in
    memory at more than its reduced size beyond the decoder's own buffer.

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
        ``(h, w, 3)`` uint8 with ``h >= min(2 * size[0], height)``, likewise ``w``.
    """
    from PIL import Image

    want_h, want_w = 2 * size[0], 2 * size[1]
    _raise_pil_limit(max_pixels)
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", (want_w, want_h))
        img.seek(0)
        factor = min(img.width // want_w, img.height // want_h)
        if factor >= 2 and img.mode in _REDUCIBLE:
            frame = _as_rgb(img.reduce(factor))  # reduce first: no full-size copy
        else:
            frame = _as_rgb(img)
            factor = min(frame.width // want_w, frame.height // want_h)
            frame = frame.reduce(factor) if factor >= 2 else frame
    return np.asarray(frame, dtype=np.uint8)


#: Modes :meth:`PIL.Image.Image.reduce` works on directly.
_REDUCIBLE = ("L", "LA", "RGB", "RGBA")


def _as_rgb(img: Any) -> Any:
    """An RGB copy of an image; 16-bit and 32-bit grey scaled to 8 bits, alpha dropped."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(img, dtype=np.int64)
        grey = np.clip(wide >> 8 if wide.max() > 255 else wide, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def validate_records(
    records: list[Record],
    *,
    folds: int,
    classes: list[str] | None = None,
    check_images: bool = True,
    threads: int = 8,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Validated:
    """Validate every record and the dataset as a whole.

    Parameters
    ----------
    records : list of Record
        As read by :func:`read_folder` or :func:`read_manifest`.
    folds : int
        Cross-validation folds: each class needs at least this many samples.
    classes : list of str, optional
        The declared class list; a label outside it is a problem. Default: the sorted
        set of labels found.
    check_images : bool
        Open and fully decode every image (catches truncated and corrupt files).
    threads : int
        Threads used to check images.
    max_pixels : int
        An image of more pixels is an invalid row (``dataset.max_pixels``).

    Returns
    -------
    Validated
        Valid records and row-level problems.

    Raises
    ------
    DatasetError
        Dataset-level problems no row can be skipped past: fewer than 2 classes, a class
        with fewer samples than folds.
    """
    problems: list[Problem] = []
    declared = list(classes) if classes else None
    kept: list[Record] = []
    for rec in records:
        if declared is not None and rec.label not in declared:
            problems.append(Problem(rec.where, f"unknown label {rec.label!r}", rec.path, rec.row))
        else:
            kept.append(rec)
    if check_images and kept:
        reasons = check_image_files([r.path for r in kept], max_pixels=max_pixels, threads=threads)
        bad = {i: why for i, why in enumerate(reasons) if why}
        problems += [
            Problem(kept[i].where, f"{why}: {kept[i].path}", kept[i].path, kept[i].row)
            for i, why in bad.items()
        ]
        kept = [r for i, r in enumerate(kept) if i not in bad]
    final_classes = declared or sorted({r.label for r in kept})
    counts = Counter(r.label for r in kept)
    dataset_problems: list[Problem] = []
    present = [c for c in final_classes if counts[c] > 0]
    if len(present) < 2:
        dataset_problems.append(
            Problem(
                "dataset",
                f"needs at least 2 classes with samples, found {len(present)}: {present!r}",
            )
        )
    for c in final_classes:
        if counts[c] < folds:
            dataset_problems.append(
                Problem(
                    "dataset",
                    f"class {c!r} has {counts[c]} valid sample(s), fewer than "
                    f"the {folds} cross-validation folds need",
                )
            )
    if dataset_problems:
        raise DatasetError("the dataset cannot be used:", dataset_problems + problems)
    return Validated(kept, final_classes, problems)


def load_records(
    *, images: Path | None = None, manifest: Path | None = None
) -> tuple[list[Record], list[Problem]]:
    """Read records from exactly one of an images folder or a manifest."""
    if (images is None) == (manifest is None):
        raise DatasetError("give exactly one of an images folder or a manifest")
    return read_folder(images) if images is not None else read_manifest(manifest)  # type: ignore[arg-type]


def write_problems(problems: list[Problem], path: Path) -> Path:
    """Write problems as CSV (``where,path,problem``) to ``path``; return it."""
    frame = pd.DataFrame(
        {
            "where": [p.where for p in problems],
            "path": [p.path or "" for p in problems],
            "problem": [p.message for p in problems],
        }
    )
    frame.to_csv(path, index=False)
    return path
