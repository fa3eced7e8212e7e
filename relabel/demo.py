"""The bundled demo dataset: scikit-learn's handwritten digits, with optional label noise.

:func:`write_digits` writes the 1,797 8x8 digit images of ``sklearn.datasets.load_digits``
(shipped with scikit-learn, nothing is downloaded) as PNG files with a manifest, so that a
whole relabel cycle can be tried without any data of one's own. Noise injected into the
manifest's labels (:func:`parse_noise`, :func:`inject_noise`) makes label errors whose true
answer is known, in a separate ``truth.csv`` for measurement only.

Layout written under ``out_dir``::

    images/digit_00001.png ...   8-bit grayscale, named by position only
    manifest.csv                 id,path,label  (label: the given, possibly noisy, label)
    truth.csv                    id,label       (the true label)

Noise specs:

``"none"``
    No noise.
``"sym:0.1"``
    Symmetric: in every class, exactly ``round(0.1 * count)`` samples, chosen at random,
    get a uniformly random *other* class.
``"1>7:0.3,3>8:0.3"``
    Class pairs: exactly ``round(0.3 * count)`` of the samples of true class 1, chosen at
    random, are labelled 7, and so on. Several pairs may share a source class (their
    samples are disjoint); their rates must add up to at most 1.

Counts are exact rather than drawn per sample, so a given seed always produces the same
number of errors; ``round`` rounds halves up.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

from relabel.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "DIGIT_CLASSES",
    "DemoData",
    "NoiseSpec",
    "inject_noise",
    "parse_noise",
    "write_digits",
]

#: Class names of the digits dataset, in class-index order.
DIGIT_CLASSES: Final[tuple[str, ...]] = tuple(str(d) for d in range(10))
_NATIVE_SIZE: Final[int] = 8
_MAX_SIZE: Final[int] = 1024


# --------------------------------------------------------------------------------------
# noise


@dataclass(frozen=True)
class NoiseSpec:
    """A parsed noise spec (see the module docstring for the syntax).

    Attributes
    ----------
    kind : {"none", "symmetric", "pairs"}
        Which kind of noise.
    rate : float
        Flip rate of symmetric noise (0 otherwise).
    pairs : tuple of (int, int, float)
        ``(source, target, rate)`` of class-pair noise, in spec order.
    """

    kind: Literal["none", "symmetric", "pairs"]
    rate: float = 0.0
    pairs: tuple[tuple[int, int, float], ...] = ()

    def __str__(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "symmetric":
            return f"sym:{self.rate:g}"
        return ",".join(f"{a}>{b}:{r:g}" for a, b, r in self.pairs)

    def classes(self) -> set[int]:
        """Class indices the spec names."""
        return {c for a, b, _ in self.pairs for c in (a, b)}


def _bad(spec: str, part: str, why: str) -> ConfigError:
    where = f"noise spec {spec!r}" + (f", part {part!r}" if part != spec else "")
    return ConfigError(
        f"{where}: {why}. Write 'none', 'sym:RATE' (e.g. 'sym:0.1') or comma-separated "
        "class pairs 'SRC>DST:RATE' (e.g. '1>7:0.3,3>8:0.3')"
    )


def _parse_rate(spec: str, part: str, text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise _bad(spec, part, f"rate {text.strip()!r} is not a number") from None
    if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
        raise _bad(spec, part, f"rate {text.strip()} is not between 0 and 1")
    return rate


def _parse_class(spec: str, part: str, text: str, n_classes: int | None) -> int:
    t = text.strip()
    if not t.isdigit():
        raise _bad(spec, part, f"class {t!r} is not a class index (0, 1, 2, ...)")
    c = int(t)
    if n_classes is not None and c >= n_classes:
        raise _bad(spec, part, f"class {c} does not exist (classes are 0..{n_classes - 1})")
    return c


def parse_noise(spec: str, n_classes: int | None = None) -> NoiseSpec:
    """Parse a noise spec such as ``"sym:0.1"`` or ``"1>7:0.3,3>8:0.3"``.

    Parameters
    ----------
    spec : str
        ``"none"``, ``"sym:RATE"`` or comma-separated ``"SRC>DST:RATE"`` pairs, with class
        indices and rates in ``[0, 1]``.
    n_classes : int, optional
        When given, class indices must be below it.

    Returns
    -------
    NoiseSpec
        The parsed spec.

    Raises
    ------
    ConfigError
        The spec is malformed; the message quotes the offending part.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"noise spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise _bad(spec, spec, "it is empty")
    if text.lower() == "none":
        return NoiseSpec("none")
    head, sep, tail = text.partition(":")
    if head.strip().lower() in ("sym", "symmetric"):
        if not sep or "," in tail:
            raise _bad(spec, spec, "symmetric noise takes exactly one rate, as in 'sym:0.1'")
        return NoiseSpec("symmetric", rate=_parse_rate(spec, spec, tail))
    pairs: list[tuple[int, int, float]] = []
    per_source: dict[int, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise _bad(spec, spec, "it has an empty part (two commas, or a trailing comma)")
        classes, sep, rate_text = part.partition(":")
        if not sep:
            raise _bad(spec, part, "missing ':RATE'")
        src_text, arrow, dst_text = classes.partition(">")
        if not arrow:
            raise _bad(spec, part, "missing '>' between source and target class")
        src = _parse_class(spec, part, src_text, n_classes)
        dst = _parse_class(spec, part, dst_text, n_classes)
        if src == dst:
            raise _bad(spec, part, "source and target class are the same")
        if any(a == src and b == dst for a, b, _ in pairs):
            raise _bad(spec, part, f"pair {src}>{dst} is given twice")
        rate = _parse_rate(spec, part, rate_text)
        per_source[src] = per_source.get(src, 0.0) + rate
        if per_source[src] > 1.0 + 1e-9:
            raise _bad(spec, part, f"rates from class {src} add up to more than 1")
        pairs.append((src, dst, rate))
    return NoiseSpec("pairs", pairs=tuple(pairs))


def _exact(rate: float, count: int) -> int:
    """``round(rate * count)`` with halves rounded up."""
    return min(count, math.floor(rate * count + 0.5))


def inject_noise(
    labels: npt.ArrayLike, spec: NoiseSpec | str, n_classes: int, seed: int = 0
) -> np.ndarray:
    """Return a copy of ``labels`` with label noise injected as ``spec`` says.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        True class indices in ``0 .. n_classes - 1``.
    spec : NoiseSpec or str
        The noise, parsed or as text (see :func:`parse_noise`).
    n_classes : int
        Number of classes (at least 2).
    seed : int
        Seed of the random choice; the same seed gives the same labels.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        The noisy labels. Exactly ``round(rate * count)`` samples of each affected class
        change label; every changed label differs from the true one.

    Raises
    ------
    ConfigError
        The spec is malformed or names a class outside ``0 .. n_classes - 1``.
    """
    if n_classes < 2:
        raise ConfigError(f"noise needs at least 2 classes, got {n_classes}")
    if isinstance(spec, str):
        spec = parse_noise(spec, n_classes)
    else:
        bad = sorted(c for c in spec.classes() if not 0 <= c < n_classes)
        if bad:
            raise ConfigError(
                f"noise spec {str(spec)!r}: class {bad[0]} does not exist "
                f"(classes are 0..{n_classes - 1})"
            )
    true = np.asarray(labels)
    if true.ndim != 1 or (true.size and not np.issubdtype(true.dtype, np.integer)):
        raise ConfigError("labels to inject noise into must be a 1-D array of class indices")
    true = true.astype(np.int64)
    if true.size and (true.min() < 0 or true.max() >= n_classes):
        raise ConfigError(f"labels must be class indices 0..{n_classes - 1}")
    noisy = true.copy()
    rng = np.random.default_rng(seed)
    if spec.kind == "symmetric":
        for c in range(n_classes):
            members = np.flatnonzero(true == c)
            chosen = rng.permutation(members)[: _exact(spec.rate, members.size)]
            noisy[chosen] = (c + rng.integers(1, n_classes, chosen.size)) % n_classes
    elif spec.kind == "pairs":
        shuffled: dict[int, np.ndarray] = {}
        taken: dict[int, int] = {}
        for src, dst, rate in spec.pairs:
            if src not in shuffled:
                shuffled[src] = rng.permutation(np.flatnonzero(true == src))
                taken[src] = 0
            members = shuffled[src]
            m = min(_exact(rate, members.size), members.size - taken[src])
            noisy[members[taken[src] : taken[src] + m]] = dst
            taken[src] += m
    return noisy


# --------------------------------------------------------------------------------------
# the dataset


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
        Label noise for the manifest's labels (see :func:`parse_noise`); none by default.
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
    if noise is None:
        spec = NoiseSpec("none")
    elif isinstance(noise, str):
        spec = parse_noise(noise, n_classes)
    else:
        spec = noise

    root = Path(out_dir)
    manifest, truth, images_dir = root / "manifest.csv", root / "truth.csv", root / "images"
    if not overwrite:
        existing = [p for p in (manifest, truth, images_dir) if p.exists()]
        if existing:
            raise ConfigError(
                f"{existing[0]} already exists: choose an empty folder for the demo data, "
                "or pass overwrite=True to replace it"
            )
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} exists and is not a folder")

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
