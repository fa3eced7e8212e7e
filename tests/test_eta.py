"""The training run's time estimate and overall ETA (relabel.project.eta), on a fake clock."""

from __future__ import annotations

import pytest

from relabel.project.eta import OVERALL, RunShape, TrainingClock


class Receiver:
    """A progress receiver with bars: keeps every message and count."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.counts: list[tuple[str, int, int]] = []

    def __call__(self, message: str) -> None:
        self.messages.append(message)

    def count(self, task: str, done: int, total: int, message: str | None = None) -> None:
        self.counts.append((task, done, total))
        if message is not None:
            self.messages.append(message)


def test_the_estimate_comes_from_the_second_epoch_and_covers_every_model():
    shape = RunShape(folds=5, epochs=15, n_samples=10_000, final_model=True)
    assert shape.fold_images == 8_000
    assert shape.image_epochs == 15 * (5 * 8_000 + 10_000)
    now = [0.0]
    inner = Receiver()
    clock = TrainingClock(inner, shape, clock=lambda: now[0])
    for epoch, at in ((1, 30.0), (2, 38.0)):  # the first epoch traces; the second takes 8 s
        now[0] = at
        clock.count("fold 1/5", epoch, 15, f"fold 1/5: epoch {epoch}/15")
    # 8 s for 8,000 images: 1 ms per image-epoch, 750,000 image-epochs
    assert clock.estimate_s == pytest.approx(750.0)
    said = [m for m in inner.messages if m.startswith(f"{OVERALL}: about")]
    assert said == [
        "training: about 12 min on this machine (5 folds of 8,000 images and the final model "
        "on 10,000, 15 epochs each; measured from the first epochs, 1.00 s per 1,000 images "
        "per epoch)"
    ]
    assert (OVERALL, 16_000, 750_000) in inner.counts  # the overall bar moves with the epochs
    assert ("fold 1/5", 2, 15) in inner.counts  # the fold's own count is passed on


def test_other_tasks_and_a_first_epoch_alone_give_no_estimate():
    shape = RunShape(folds=2, epochs=3, n_samples=100, final_model=False, members=2)
    assert shape.image_epochs == 3 * 2 * 2 * 50
    assert shape.describe() == "2 folds of 50 images (2 models each), 3 epochs each"
    inner = Receiver()
    clock = TrainingClock(inner, shape, clock=lambda: 1.0)
    clock.count("folds", 1, 2, "fold 1 done")
    clock.count("push", 1, 2)
    clock.count("fold 1/2 model 1/2", 1, 3)
    clock("a message")
    assert clock.estimate_s is None and OVERALL not in [c[0] for c in inner.counts]
    assert inner.messages == ["fold 1 done", "a message"]
