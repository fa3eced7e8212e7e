"""Finished folds on disk, written as each finishes, so a failed run redoes only the rest.

A cross-validation given a checkpoint folder writes ``<folder>/<fingerprint>/fold-<k>.npz``
when fold ``k`` is done: its held-out positions, their probabilities, their embeddings
(float16, when the fold's model gave them) and what happened (as JSON). The fingerprint is
a hash of the image paths with each file's size and modification time, the labels, the
number of classes, every training setting and the weights file's size and modification
time, so a later run reuses a fold only when it would compute the very same thing;
anything else lives under another fingerprint and is never read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relabel.infra.atomic import atomic_path

__all__ = ["FoldCheckpoints", "fingerprint"]


def fingerprint(files: Sequence[str], labels: np.ndarray, n_classes: int, settings: Any) -> str:
    """A hex digest of everything a cross-validation's result depends on.

    Parameters
    ----------
    files : Sequence[str]
        Image paths, in order.
    labels : numpy.ndarray
        Integer labels, in order.
    n_classes : int
        Number of classes.
    settings : dataclass
        The training settings (every field counts).
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(dataclasses.asdict(settings), sort_keys=True, default=str).encode())
    digest.update(f"{n_classes}\n{_stamp(getattr(settings, 'weights', None))}\n".encode())
    digest.update("\n".join(f"{f}\t{_stamp(f)}" for f in files).encode())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()[:24]


def _stamp(path: str | None) -> str:
    """A file's size and modification time ("" for none, or a name that is not a file)."""
    try:
        st = os.stat(path) if path else None
    except OSError:
        return ""
    return "" if st is None else f"{st.st_size}:{st.st_mtime_ns}"


@dataclasses.dataclass(frozen=True)
class FoldCheckpoints:
    """The saved folds of one cross-validation (nothing is saved when ``folder`` is None).

    Attributes
    ----------
    folder : pathlib.Path | None
        The checkpoint folder given to the cross-validation.
    key : str
        The cross-validation's :func:`fingerprint`.
    """

    folder: Path | None
    key: str

    def _file(self, k: int) -> Path | None:
        return None if self.folder is None else self.folder / self.key / f"fold-{k + 1}.npz"

    def load(
        self, k: int, heldout: np.ndarray
    ) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None] | None:
        """Fold ``k``'s (0-based) probabilities, details and embeddings (None when the
        fold was saved without), if saved for these positions."""
        file = self._file(k)
        if file is None or not file.is_file():
            return None
        try:
            with np.load(file) as data:
                if not np.array_equal(data["heldout"], heldout):
                    return None
                embeddings = data["embeddings"] if "embeddings" in data.files else None
                return data["probabilities"], json.loads(str(data["info"])), embeddings
        except (OSError, ValueError, KeyError):
            return None  # a torn or foreign file: the fold is simply done again

    def save(
        self,
        k: int,
        heldout: np.ndarray,
        probs: np.ndarray,
        info: dict[str, Any],
        embeddings: np.ndarray | None = None,
    ) -> None:
        """Write fold ``k``'s result (atomically: aside, then renamed)."""
        file = self._file(k)
        if file is None:
            return
        file.parent.mkdir(parents=True, exist_ok=True)
        arrays = {} if embeddings is None else {"embeddings": embeddings}
        with atomic_path(file) as partial:
            np.savez(partial, heldout=heldout, probabilities=probs, info=json.dumps(info), **arrays)
