"""Real human label noise on the CIFAR-10 test images, built from CIFAR-10H votes.

CIFAR-10H (Peterson et al., ICCV 2019) holds about 51 human votes per CIFAR-10 test image,
in the canonical test order (the order of :func:`benchmarks.datasets.load_cifar10`). Two
label settings are built from the vote counts; in both, a label is an error when it differs
from the original CIFAR-10 test label:

* **human-sampled** (:func:`sampled_labels`): each image gets the label of one annotator,
  drawn (seeded) in proportion to its vote counts -- what a single careful annotator would
  have given (about 5% of the labels differ from the original);
* **human-worst** (:func:`worst_labels`): the most-voted WRONG class where at least
  ``min_votes`` annotators chose it, else the original label -- the most plausible human
  confusion of each image (about 25% of the labels differ).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.datasets import DataUnavailableError
from relabel.errors import DatasetError

#: The CIFAR-10H vote counts inside the data folder.
COUNTS_FILE = Path("cifar10h") / "cifar10h-counts.npy"
#: Votes a wrong class needs before :func:`worst_labels` gives it.
MIN_VOTES = 2
#: Setting name -> what it is, for the report.
SETTINGS = {
    "human-sampled": "one annotator's label per image, drawn from its CIFAR-10H votes",
    "human-worst": f"the most-voted wrong class where at least {MIN_VOTES} annotators chose "
    "it, else the original label",
}


def load_counts(data: Path, n: int = 10_000, n_classes: int = 10) -> np.ndarray:
    """The CIFAR-10H vote counts of the data folder, checked.

    Parameters
    ----------
    data : Path
        The benchmark data folder (laid out as ``../shared/data``).
    n, n_classes : int
        The expected shape: the CIFAR-10 test set's size and class count.

    Returns
    -------
    numpy.ndarray of int64, shape (n, n_classes)
        Votes per image (canonical CIFAR-10 test order) and class.

    Raises
    ------
    DataUnavailableError
        The counts file is not in ``data``.
    DatasetError
        Its shape or values are wrong.
    """
    path = Path(data) / COUNTS_FILE
    if not path.is_file():
        raise DataUnavailableError(f"{path}: not found (CIFAR-10H human votes)")
    counts = np.load(path)
    if counts.shape != (n, n_classes):
        raise DatasetError(f"{path}: shape {counts.shape}, expected {(n, n_classes)}")
    return _check_counts(counts)


def _check_counts(counts: npt.ArrayLike) -> np.ndarray:
    c = np.asarray(counts)
    if c.ndim != 2 or not np.issubdtype(c.dtype, np.integer) or (c.size and c.min() < 0):
        raise DatasetError("vote counts must be a 2-D array of non-negative integers")
    return c.astype(np.int64)


def _check_original(original: npt.ArrayLike, counts: np.ndarray) -> np.ndarray:
    y = np.asarray(original, dtype=np.int64)
    if y.shape != (counts.shape[0],):
        raise DatasetError(f"{y.shape[0]} original labels for {counts.shape[0]} rows of votes")
    if y.size and (y.min() < 0 or y.max() >= counts.shape[1]):
        raise DatasetError(f"an original label is outside 0..{counts.shape[1] - 1}")
    return y


def sampled_labels(counts: npt.ArrayLike, original: npt.ArrayLike, seed: int = 0) -> np.ndarray:
    """One annotator's label per image, drawn in proportion to its vote counts.

    For image ``i`` with ``T_i`` votes, one vote ``d`` is drawn uniformly from
    ``0 .. T_i - 1`` (one seeded ``numpy.random.default_rng(seed).integers`` call over all
    images) and the label is the class whose block of votes holds it (votes laid out class
    by class, in class order). An image without votes keeps its original label.

    Parameters
    ----------
    counts : array_like of int, shape (n, K)
        Votes per image and class.
    original : array_like of int, shape (n,)
        The original labels (kept where an image has no votes).
    seed : int
        Seed of the draw; the same seed gives the same labels.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
    """
    c = _check_counts(counts)
    y = _check_original(original, c)
    totals = c.sum(axis=1)
    draw = np.random.default_rng(seed).integers(0, np.maximum(totals, 1))
    cumulative = np.cumsum(c, axis=1)
    label = np.count_nonzero(cumulative <= draw[:, None], axis=1)
    return np.where(totals > 0, label, y).astype(np.int64)


def worst_labels(
    counts: npt.ArrayLike, original: npt.ArrayLike, min_votes: int = MIN_VOTES
) -> np.ndarray:
    """The most-voted wrong class of each image, where it got at least ``min_votes`` votes.

    Parameters
    ----------
    counts : array_like of int, shape (n, K)
        Votes per image and class.
    original : array_like of int, shape (n,)
        The original labels: never a candidate, and kept where no wrong class reaches
        ``min_votes``.
    min_votes : int
        Votes a wrong class needs (at least 1).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Ties between wrong classes go to the lowest class index.
    """
    if min_votes < 1:
        raise DatasetError(f"min_votes must be at least 1, got {min_votes}")
    c = _check_counts(counts)
    y = _check_original(original, c)
    wrong = c.copy()
    wrong[np.arange(y.size), y] = -1
    best = wrong.argmax(axis=1)
    votes = wrong[np.arange(y.size), best]
    return np.where(votes >= min_votes, best, y).astype(np.int64)


def human_labels(
    name: str, counts: npt.ArrayLike, original: npt.ArrayLike, seed: int = 0
) -> np.ndarray:
    """The labels of the human-noise setting ``name`` (a key of :data:`SETTINGS`).

    ``seed`` only matters for ``human-sampled``.
    """
    if name == "human-sampled":
        return sampled_labels(counts, original, seed)
    if name == "human-worst":
        return worst_labels(counts, original)
    raise DatasetError(f"unknown human-noise setting {name!r} ({', '.join(SETTINGS)})")
