"""The bundled demo dataset: scikit-learn's handwritten digits, with optional label noise.

:func:`write_digits` writes the 1,797 8x8 digit images of ``sklearn.datasets.load_digits``
(shipped with scikit-learn, nothing is downloaded) as PNG files with a manifest, so that a
whole relabel cycle can be tried without any data of one's own. Noise injected into the
manifest's labels (:mod:`relabel.data.noise_injection`) makes label errors whose true
answer is known, in a separate ``truth.csv`` for measurement only.

Layout written under ``out_dir``::

    images/digit_00001.png ...   8-bit grayscale, named by position only
    manifest.csv                 id,path,label  (label: the given, possibly noisy, label)
    truth.csv                    id,label       (the true label)
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

from relabel.data.noise_injection import NoiseSpec, inject_noise, parse_noise
from relabel.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["DIGIT_CLASSES", "DemoData", "write_digits"]

#: Class names of the digits dataset, in class-index order.
DIGIT_CLASSES: Final[tuple[str, ...]] = tuple(str(d) for d in range(10))
_NATIVE_SIZE: Final[int] = 8
_MAX_SIZE: Final[int] = 1024


@dataclass(frozen=True, eq=False)
class DemoData:
    """What :func:`write_digits` wrote.

    Attributes
    ----------
    root : Path
        The output folder.
    manifest : Path
        ``root/manifest.csv``: ``id,path,label`` with the given (noisy) labels.
    truth : Path
        ``root/truth.csv``: ``id,label`` with the true labels, for measurement only.
    images_dir : Path
        ``root/images``.
    ids : tuple of str
        Sample ids (``digit_00001`` ...), in row order.
    class_names : tuple of str
        ``"0"`` .. ``"9"``; a label's class index is its position here.
    true_labels, given_labels : numpy.ndarray of int64
        True and given class indices, in row order.
    noise : NoiseSpec
        The noise injected (kind ``"none"`` for none).
    size : int
        Width and height of every image, in pixels.
    """

    root: Path
    manifest: Path
    truth: Path
    images_dir: Path
    ids: tuple[str, ...]
    class_names: tuple[str, ...]
    true_labels: np.ndarray
    given_labels: np.ndarray
    noise: NoiseSpec
    size: int

    @property
    def is_error(self) -> np.ndarray:
        """Whether each given label is wrong."""
        return self.given_labels != self.true_labels

    @property
    def n_errors(self) -> int:
        """Number of wrong given labels."""
        return int(np.count_nonzero(self.is_error))


def _digit_images(images: np.ndarray, size: int) -> np.ndarray:
    """Scale 0..16 intensities to 0..255 and upscale 8x8 images to ``size`` x ``size``."""
    pixels = np.rint(images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    if size % _NATIVE_SIZE == 0:
        f = size // _NATIVE_SIZE
        return pixels.repeat(f, axis=1).repeat(f, axis=2)
    return np.stack(
        [
            np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.NEAREST))
            for im in pixels
        ]
    )


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)


def _noise_spec(noise: NoiseSpec | str | None, n_classes: int) -> NoiseSpec:
    if noise is None:
        return NoiseSpec("none")
    if isinstance(noise, str):
        return parse_noise(noise, n_classes)
    return noise


def _check_out_dir(root: Path, outputs: tuple[Path, ...], overwrite: bool) -> None:
    """Refuse a folder that already holds a dataset (unless ``overwrite``), or a file."""
    if not overwrite:
        existing = [p for p in outputs if p.exists()]
        if existing:
            raise ConfigError(
                f"{existing[0]} already exists: choose an empty folder for the demo data, "
                "or pass overwrite=True to replace it"
            )
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} exists and is not a folder")


def write_digits(
    out_dir: str | Path,
    *,
    size: int = 32,
    noise: NoiseSpec | str | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> DemoData:
    """Write the scikit-learn digits as PNG images with a manifest and a truth file.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into; created if missing.
    size : int
        Width and height of the written images, 8 to 1024. The native 8x8 images are
        upscaled with nearest-neighbour, so a multiple of 8 (the default 32) repeats each
        pixel exactly; the model resizes images anyway, and 32x32 is big enough to see in
        Label Studio.
    noise : NoiseSpec or str, optional
        Label noise for the manifest's labels
        (see :func:`relabel.data.noise_injection.parse_noise`); none by default.
    seed : int
        Seed of the noise; the same seed writes the same files.
    overwrite : bool
        Replace a dataset already written in ``out_dir``. Without it, an existing
        ``manifest.csv``, ``truth.csv`` or ``images/`` there is an error.

    Returns
    -------
    DemoData
        Paths, ids, true and given labels.

    Raises
    ------
    ConfigError
        Bad ``size`` or noise spec, or ``out_dir`` already holds a dataset.
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    if isinstance(size, bool) or not isinstance(size, int) or not _NATIVE_SIZE <= size <= _MAX_SIZE:
        raise ConfigError(f"demo image size must be an integer from 8 to {_MAX_SIZE}, got {size!r}")
    n_classes = len(DIGIT_CLASSES)
    spec = _noise_spec(noise, n_classes)
    root = Path(out_dir)
    manifest, truth, images_dir = root / "manifest.csv", root / "truth.csv", root / "images"
    _check_out_dir(root, (manifest, truth, images_dir), overwrite)
    digits = load_digits()
    true = np.asarray(digits.target, dtype=np.int64)
    given = inject_noise(true, spec, n_classes, seed)
    pixels = _digit_images(np.asarray(digits.images), size)

    images_dir.mkdir(parents=True, exist_ok=True)
    ids = tuple(f"digit_{i + 1:05d}" for i in range(true.size))
    for sample_id, image in zip(ids, pixels, strict=True):
        Image.fromarray(image).save(images_dir / f"{sample_id}.png", compress_level=1)
    _write_csv(
        manifest,
        ("id", "path", "label"),
        [(i, f"images/{i}.png", DIGIT_CLASSES[g]) for i, g in zip(ids, given, strict=True)],
    )
    _write_csv(
        truth, ("id", "label"), [(i, DIGIT_CLASSES[t]) for i, t in zip(ids, true, strict=True)]
    )
    data = DemoData(
        root=root,
        manifest=manifest,
        truth=truth,
        images_dir=images_dir,
        ids=ids,
        class_names=DIGIT_CLASSES,
        true_labels=true,
        given_labels=given,
        noise=spec,
        size=size,
    )
    logger.info(
        "wrote %d digit images (%dx%d) to %s, noise %s: %d wrong labels",
        true.size,
        size,
        size,
        images_dir,
        spec,
        data.n_errors,
    )
    return data
