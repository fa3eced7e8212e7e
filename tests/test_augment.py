"""Flips and shifts of decoded batches (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from relabel.training.augment import flip_and_shift, max_shift


def batch(n: int = 64, h: int = 8, w: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_nothing_asked_returns_an_equal_copy() -> None:
    images = batch()
    out = flip_and_shift(images, np.random.default_rng(1), "none", 0.0)
    assert out is not images and np.array_equal(out, images)


def test_horizontal_flips_mirror_about_half_the_images_exactly() -> None:
    images = batch(400)
    out = flip_and_shift(images, np.random.default_rng(1), "horizontal", 0.0)
    mirrored = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images, strict=True)])
    same = np.array([np.array_equal(o, i) for o, i in zip(out, images, strict=True)])
    assert np.all(mirrored | same) and 150 < mirrored.sum() < 250


def test_shifts_are_crops_of_the_reflect_padded_image() -> None:
    images = batch(50)
    out = flip_and_shift(images, np.random.default_rng(2), "none", 0.25)
    dy, dx = max_shift(8, 0.25), max_shift(6, 0.25)
    assert (dy, dx) == (2, 2) and out.shape == images.shape and out.dtype == np.uint8
    shifted = 0
    for o, i in zip(out, images, strict=True):
        padded = np.pad(i, ((dy, dy), (dx, dx), (0, 0)), "reflect")
        found = [
            (a, b)
            for a in range(2 * dy + 1)
            for b in range(2 * dx + 1)
            if np.array_equal(padded[a : a + 8, b : b + 6], o)
        ]
        assert found, "not a crop of the padded image"
        shifted += found[0] != (dy, dx)
    assert shifted > 25


@pytest.mark.parametrize("flip", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_the_same_seed_gives_the_same_batch(flip: str) -> None:
    images = batch()
    a = flip_and_shift(images, np.random.default_rng(5), flip, 0.125)
    b = flip_and_shift(images, np.random.default_rng(5), flip, 0.125)
    c = flip_and_shift(images, np.random.default_rng(6), flip, 0.125)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
