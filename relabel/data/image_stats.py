"""Per-image statistics collected while images are decoded, and their file.

:class:`ImageStatistics` is an ``on_chunk`` hook for :func:`relabel.data.images.decode_many`:
it computes :func:`relabel.findings.image_statistics` of each decoded chunk in the same
pass over the files (no file is read twice). :func:`save_image_stats` and
:func:`load_image_stats` keep them beside a run (``runs/<id>/image_stats.npz``, with the
sample ids of its rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relabel.findings import STAT_NAMES, image_statistics

__all__ = ["IMAGE_STATS_FILE", "ImageStatistics", "load_image_stats", "save_image_stats"]

#: A run's image statistics (:func:`save_image_stats`).
IMAGE_STATS_FILE = "image_stats.npz"


class ImageStatistics:
    """Collects :func:`relabel.findings.image_statistics` of ``n`` images, chunk by chunk.

    Parameters
    ----------
    n : int
        The number of images that will be decoded.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.filled = np.zeros(n, bool)
        self._stats: dict[str, np.ndarray] = {}

    def __call__(self, start: int, pixels: np.ndarray, sizes: np.ndarray) -> None:
        """Add the statistics of rows ``start .. start + len(pixels)``."""
        found = image_statistics(np.asarray(pixels), sizes)
        for key, values in found.items():
            if key not in self._stats:
                self._stats[key] = np.zeros(self.n, values.dtype)
            self._stats[key][start : start + len(values)] = values
        self.filled[start : start + len(pixels)] = True

    def result(self) -> dict[str, np.ndarray]:
        """The statistics of every image (:data:`relabel.findings.STAT_NAMES` keys).

        Raises
        ------
        ValueError
            Some images were not decoded through this hook.
        """
        if not self.filled.all():
            raise ValueError(f"{int((~self.filled).sum())} of {self.n} images have no statistics")
        return {k: self._stats[k] for k in STAT_NAMES} if self.n else {}


def save_image_stats(path: Path, sample_ids: np.ndarray, stats: dict[str, np.ndarray]) -> None:
    """Write statistics with the sample id of each row (``.npz``).

    Parameters
    ----------
    path : Path
        The file to write.
    sample_ids : numpy.ndarray
        The sample of each row.
    stats : dict
        :meth:`ImageStatistics.result`.
    """
    np.savez(path, sample_ids=np.asarray(sample_ids, dtype=str), **stats)


def load_image_stats(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The sample ids and statistics of a file :func:`save_image_stats` wrote.

    Returns
    -------
    sample_ids, stats : numpy.ndarray, dict
    """
    with np.load(path) as data:
        return data["sample_ids"].astype(str), {k: data[k] for k in STAT_NAMES if k in data}
