"""Per-image statistics collected while images are decoded, and their file.

:class:`ImageStatistics` is an ``on_chunk`` hook for :func:`relabel.data.images.decode_many`:
it computes :func:`relabel.findings.image_statistics` and the grey thumbnails
(:func:`relabel.findings.thumbnails`, key ``thumbnail``) of each decoded chunk in the same
pass over the files (no file is read twice). :func:`save_image_stats` and
:func:`load_image_stats` keep them beside a run (``runs/<id>/image_stats.npz``, with the
sample ids of its rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relabel.findings import STAT_NAMES, image_statistics, thumbnails

__all__ = [
    "IMAGE_STATS_FILE",
    "THUMBNAIL_KEY",
    "ImageStatistics",
    "load_image_stats",
    "save_image_stats",
]

#: A run's image statistics (:func:`save_image_stats`).
IMAGE_STATS_FILE = "image_stats.npz"
#: The key of the ``(n, side, side)`` uint8 thumbnails beside the statistics.
THUMBNAIL_KEY = "thumbnail"


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
        batch = np.asarray(pixels)
        found = image_statistics(batch, sizes)
        found[THUMBNAIL_KEY] = thumbnails(batch)
        for key, values in found.items():
            if key not in self._stats:
                self._stats[key] = np.zeros((self.n, *values.shape[1:]), values.dtype)
            self._stats[key][start : start + len(values)] = values
        self.filled[start : start + len(pixels)] = True

    def result(self) -> dict[str, np.ndarray]:
        """The statistics of every image (:data:`relabel.findings.STAT_NAMES` keys and
        :data:`THUMBNAIL_KEY`).

        Raises
        ------
        ValueError
            Some images were not decoded through this hook.
        """
        if not self.filled.all():
            raise ValueError(f"{int((~self.filled).sum())} of {self.n} images have no statistics")
        return {k: self._stats[k] for k in (*STAT_NAMES, THUMBNAIL_KEY)} if self.n else {}


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
        The statistics' keys, with :data:`THUMBNAIL_KEY` where the file has thumbnails
        (files written before thumbnails were kept have none).
    """
    keys = (*STAT_NAMES, THUMBNAIL_KEY)
    with np.load(path) as data:
        return data["sample_ids"].astype(str), {k: data[k] for k in keys if k in data}
