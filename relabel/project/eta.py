"""How long a training run will take, measured from its first epochs, and its overall ETA.

:class:`TrainingClock` wraps the progress receiver of ``relabel train``. Every fold's and
the final model's epochs are counted through it (the tasks ``fold k/K`` and ``final`` of
:mod:`relabel.training.fit`). When the first model has finished its second epoch (the
first one includes tracing the graph), the clock knows the seconds per image per epoch on
this machine and says once how long the whole run will take::

    training: about 14 min on this machine (5 folds of 8,000 images and the final model
    on 10,000, 15 epochs each; measured from the first epochs)

From then on it also counts one overall task, ``training``, in image-epochs: a terminal
shows it as a bar with the ETA of the whole run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from relabel.infra.progress import Progress, count

#: The overall task's name (one bar with the ETA of the whole run).
OVERALL = "training"
_FOLD_TASK = re.compile(r"^fold \d+/\d+( model \d+/\d+)?$")


@dataclass(frozen=True)
class RunShape:
    """What a training run will fit: folds, members per fold, epochs, samples."""

    folds: int
    epochs: int
    n_samples: int
    final_model: bool
    members: int = 1

    @property
    def fold_images(self) -> int:
        """Images a fold's model trains on."""
        return self.n_samples - self.n_samples // self.folds

    @property
    def image_epochs(self) -> int:
        """Every image-epoch of the run: the folds' models and the final model."""
        final = self.n_samples if self.final_model else 0
        return self.epochs * (self.folds * self.members * self.fold_images + final)

    def describe(self) -> str:
        """``5 folds of 8,000 images and the final model on 10,000, 15 epochs each``."""
        models = f" ({self.members} models each)" if self.members > 1 else ""
        final = f" and the final model on {self.n_samples:,}" if self.final_model else ""
        return (
            f"{self.folds} folds of {self.fold_images:,} images{models}{final}, "
            f"{self.epochs} epochs each"
        )


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    return f"{seconds / 60:.0f} min"


@dataclass
class TrainingClock:
    """A progress receiver that estimates the whole run from its first epochs.

    Parameters
    ----------
    progress : Progress
        The receiver wrapped: every message and count is passed on unchanged.
    shape : RunShape
        What the run will fit.
    clock : callable
        Seconds (``time.perf_counter``; tests pass their own).
    """

    progress: Progress
    shape: RunShape
    clock: Callable[[], float] = time.perf_counter
    estimate_s: float | None = None
    _seen: dict[str, tuple[int, float]] = field(default_factory=dict)
    _done: dict[str, int] = field(default_factory=dict)

    def __call__(self, message: str) -> None:
        self.progress(message)

    def count(self, task: str, done: int, total: int, message: str | None = None) -> None:
        """Pass the count on; for a model's epochs, also time them and move the ETA."""
        count(self.progress, task, done, total, message)
        if task != "final" and not _FOLD_TASK.match(task):
            return
        now = self.clock()
        images = self.shape.n_samples if task == "final" else self.shape.fold_images
        last = self._seen.get(task)
        if self.estimate_s is None and last is not None and done == last[0] + 1 and done >= 2:
            self._estimate((now - last[1]) / images)
        self._seen[task] = (done, now)
        self._done[task] = done * images
        if self.estimate_s is not None:
            done_all = min(sum(self._done.values()), self.shape.image_epochs)
            count(self.progress, OVERALL, done_all, self.shape.image_epochs)

    def _estimate(self, seconds_per_image_epoch: float) -> None:
        self.estimate_s = seconds_per_image_epoch * self.shape.image_epochs
        self.progress(
            f"{OVERALL}: about {_minutes(self.estimate_s)} on this machine "
            f"({self.shape.describe()}; measured from the first epochs, "
            f"{1000 * seconds_per_image_epoch:.2f} s per 1,000 images per epoch)"
        )
