"""Datasets of the benchmark: the bundled digits, MNIST and CIFAR-10 test sets.

The digits come with scikit-learn (always available). MNIST and CIFAR-10 are read from a
data folder laid out as ``../shared/data`` (see its README): the IDX files of MNIST, the
JPEG tarball of CIFAR-10, cleanlab's out-of-fold probabilities of both ("reference pyx")
and the human-confirmed label errors of Northcutt et al. (2021). When the folder or a file
is missing, :class:`DataUnavailableError` says which, and the harness skips that dataset.

Images are written ONCE as files with a manifest into a cache folder
(``benchmarks/.cache`` by default), so that training streams them from disk like any
relabel project does.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from relabel.errors import DatasetError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Default data folder: ``../shared/data`` next to the checkout.
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
#: Default cache folder for the image files and manifests written from the data.
DEFAULT_CACHE = REPO_ROOT / "benchmarks" / ".cache"

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

#: Class-pair noise per dataset: pairs of visually close classes, 30% of the source class.
PAIR_NOISE = {
    "digits": "1>7:0.3,3>8:0.3,5>6:0.3",
    "mnist": "1>7:0.3,3>8:0.3,5>6:0.3",
    "cifar10": "3>5:0.3,1>9:0.3,4>7:0.3",  # cat>dog, automobile>truck, deer>horse
}
#: Other visually close class pairs, NOT used when relabel's default score was chosen:
#: the held-out class-pair settings of the detection benchmark.
HELDOUT_PAIR_NOISE = {
    "digits": "4>9:0.3,2>7:0.3,0>6:0.3",
    "mnist": "4>9:0.3,2>7:0.3,0>6:0.3",
    "cifar10": "2>0:0.3,9>1:0.3,6>3:0.3",  # bird>airplane, truck>automobile, frog>cat
}

_DONE = ".complete"


class DataUnavailableError(DatasetError):
    """A benchmark dataset's source files are not in the data folder."""


@dataclass
class BenchDataset:
    """One benchmark dataset, written as image files with a manifest.

    Attributes
    ----------
    name : str
        ``digits``, ``mnist`` or ``cifar10``.
    root : Path
        Cache folder of its files.
    ids : list of str
        Sample ids, in the dataset's canonical order.
    paths : list of str
        Absolute image paths, same order.
    labels : numpy.ndarray of int64
        The dataset's own labels (for MNIST and CIFAR-10: the original test labels, which
        hold a few real errors; for the digits: taken as the truth).
    classes : tuple of str
        Class names in label-index order.
    image_size, channels : list of int, int
        What the model is trained on.
    reference_probs : numpy.ndarray or None
        cleanlab's out-of-fold probabilities of the original labels (Northcutt et al.).
    confirmed : numpy.ndarray of int
        Indices of the human-confirmed label errors of the original labels (empty: none known).
    correctable : dict of int to int
        Confirmed errors whose reviewers agreed on a label: index -> corrected label.
    """

    name: str
    root: Path
    ids: list[str]
    paths: list[str]
    labels: np.ndarray
    classes: tuple[str, ...]
    image_size: list[int]
    channels: int
    reference_probs: np.ndarray | None = None
    confirmed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    correctable: dict[int, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.ids)

    @property
    def pair_noise(self) -> str:
        """This dataset's class-pair noise spec."""
        return PAIR_NOISE[self.name]

    @property
    def heldout_pair_noise(self) -> str:
        """This dataset's held-out class-pair noise spec (not used to choose the default)."""
        return HELDOUT_PAIR_NOISE[self.name]

    def write_manifest(self, labels: Sequence[int] | np.ndarray, out: Path) -> Path:
        """Write ``id,path,label`` with the given label indices (class names) to ``out``."""
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["id", "path", "label"])
            for sample_id, path, label in zip(self.ids, self.paths, labels, strict=True):
                w.writerow([sample_id, path, self.classes[int(label)]])
        tmp.replace(out)
        return out

    def repeated_manifest(self, n: int, out: Path) -> Path:
        """A manifest of ``n`` rows cycling through the images, each row with its own id."""
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["id", "path", "label"])
            for i in range(n):
                j = i % self.n
                w.writerow([f"r{i:07d}", self.paths[j], self.classes[int(self.labels[j])]])
        return out


def _need(path: Path) -> Path:
    if not path.exists():
        raise DataUnavailableError(f"{path}: not found (the benchmark data folder is incomplete)")
    return path


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def _read_manifest_ids(manifest: Path) -> tuple[list[str], list[str]]:
    with manifest.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["id"] for r in rows], [r["path"] for r in rows]


def _confirmed(data: Path, name: str, n: int) -> tuple[np.ndarray, dict[int, int]]:
    """Confirmed error indices and the correctable ones' corrected labels."""
    path = _need(data / "known_errors" / f"{name}_test_confirmed.csv")
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["confirmed_error"] == "1"]
    idx = np.array(sorted(int(r["index"]) for r in rows), dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise DatasetError(f"{path}: an index is outside 0..{n - 1}")
    fixed = {
        int(r["index"]): int(r["corrected_label"])
        for r in rows
        if r["category"] == "correctable" and r["corrected_label"] != ""
    }
    return idx, fixed


def _reference(data: Path, name: str, labels: np.ndarray) -> np.ndarray:
    probs = np.load(
        _need(
            data
            / "label_errors"
            / "cross_validated_predicted_probabilities"
            / f"{name}_test_set_pyx.npy"
        )
    )
    original = np.load(
        _need(
            data / "label_errors" / "original_test_labels" / f"{name}_test_set_original_labels.npy"
        )
    ).astype(np.int64)
    if probs.shape != (labels.size, 10) or not np.array_equal(original, labels):
        raise DatasetError(
            f"{data / 'label_errors'}: the {name} reference probabilities or original labels do "
            "not match the test set's labels"
        )
    return probs.astype(np.float64)


def load_digits(cache: Path = DEFAULT_CACHE) -> BenchDataset:
    """scikit-learn's 1,797 digits as 32x32 PNG files (trained at 16x16, as the demo)."""
    from relabel.demo import digits as demo

    root = cache / "digits"
    manifest = root / "manifest.csv"
    if not (root / _DONE).is_file():
        demo.write_digits(root, noise=None, seed=0, overwrite=True)
        (root / _DONE).write_text("ok\n")
    ids, paths = _read_manifest_ids(manifest)
    with (root / "truth.csv").open(newline="", encoding="utf-8") as f:
        labels = np.array([int(r["label"]) for r in csv.DictReader(f)], dtype=np.int64)
    paths = [str((root / p).resolve()) if not os.path.isabs(p) else p for p in paths]
    return BenchDataset("digits", root, ids, paths, labels, demo.DIGIT_CLASSES, [16, 16], 1)


def load_mnist(data: Path = DEFAULT_DATA, cache: Path = DEFAULT_CACHE) -> BenchDataset:
    """The 10,000 MNIST test images as 28x28 PNG files, with the confirmed errors."""
    from PIL import Image

    images_gz = _need(data / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels_gz = _need(data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    with gzip.open(labels_gz) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    root = cache / "mnist"
    ids = [f"mnist_{i:05d}" for i in range(labels.size)]
    paths = [str((root / "images" / f"{i}.png").resolve()) for i in ids]
    stamp = _fingerprint(images_gz.stat().st_size, labels.size)
    if not (root / _DONE).is_file() or (root / _DONE).read_text().strip() != stamp:
        log.info("writing the MNIST test images to %s (once)", root)
        with gzip.open(images_gz) as f:
            pixels = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        (root / "images").mkdir(parents=True, exist_ok=True)
        for image, path in zip(pixels, paths, strict=True):
            Image.fromarray(image).save(path, compress_level=1)
        (root / _DONE).write_text(stamp + "\n")
    ds = BenchDataset(
        "mnist", root, ids, paths, labels, tuple(str(d) for d in range(10)), [28, 28], 1
    )
    ds.reference_probs = _reference(data, "mnist", labels)
    ds.confirmed, ds.correctable = _confirmed(data, "mnist", labels.size)
    return ds


def load_cifar10(data: Path = DEFAULT_DATA, cache: Path = DEFAULT_CACHE) -> BenchDataset:
    """The 10,000 CIFAR-10 test images (the JPEGs of the data folder), with confirmed errors."""
    tarball = _need(data / "cifar10" / "cifar10_test_jpg.tar.gz")
    index_csv = _need(data / "cifar10" / "cifar10_test_index_to_jpg.csv")
    with index_csv.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["index"]))
    labels = np.array([int(r["label"]) for r in rows], dtype=np.int64)
    root = cache / "cifar10"
    ids = [f"cifar10_{int(r['index']):05d}" for r in rows]
    paths = [str((root / r["jpg_path"]).resolve()) for r in rows]
    stamp = _fingerprint(tarball.stat().st_size, labels.size)
    if not (root / _DONE).is_file() or (root / _DONE).read_text().strip() != stamp:
        log.info("extracting the CIFAR-10 test images to %s (once)", root)
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            tar.extractall(root, filter="data")
        (root / _DONE).write_text(stamp + "\n")
    missing = [p for p in paths[:: max(1, len(paths) // 50)] if not os.path.isfile(p)]
    if missing:
        raise DataUnavailableError(f"{missing[0]}: not in {tarball}")
    ds = BenchDataset("cifar10", root, ids, paths, labels, CIFAR10_CLASSES, [32, 32], 3)
    ds.reference_probs = _reference(data, "cifar10", labels)
    ds.confirmed, ds.correctable = _confirmed(data, "cifar10", labels.size)
    return ds


def load(name: str, data: Path = DEFAULT_DATA, cache: Path = DEFAULT_CACHE) -> BenchDataset:
    """Load a benchmark dataset by name (``digits``, ``mnist`` or ``cifar10``).

    Raises
    ------
    DataUnavailableError
        Its files are not in ``data``.
    """
    if name == "digits":
        return load_digits(cache)
    if name == "mnist":
        return load_mnist(data, cache)
    if name == "cifar10":
        return load_cifar10(data, cache)
    raise DatasetError(f"unknown benchmark dataset {name!r} (digits, mnist, cifar10)")
