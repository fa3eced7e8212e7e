"""The pure issue types of :mod:`relabel.findings` on planted cases (fast tier)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relabel
from relabel.errors import IssueInputError, ScoringInputError
from relabel.findings import (
    calibrate_duplicate_threshold,
    duplicate_sets,
    find_issues,
    image_statistics,
    issue_summary,
)


def _clusters(n: int = 300, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of embeddings around three centres, with their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 3
    labels = np.arange(n) % 3
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def test_planted_near_duplicates_form_sets_with_conflicts_and_leaks() -> None:
    emb, labels = _clusters()
    rng = np.random.default_rng(1)
    emb[10] = emb[11] + rng.normal(size=32) * 0.01  # a pair, same label: 10 ~ 11
    emb[20] = emb[22] + rng.normal(size=32) * 0.01
    emb[21] = emb[22] + rng.normal(size=32) * 0.01  # a triple: 20, 21, 22 (labels 2, 0, 1)
    emb[40] = emb[43] + rng.normal(size=32) * 0.01  # a pair across the split
    labels[10] = labels[11]
    holdout = np.zeros(300, bool)
    holdout[43] = True
    table = find_issues(emb, labels=labels, holdout=holdout)
    sets = table["duplicate_set"]
    assert sets[10] == sets[11] >= 0
    assert sets[20] == sets[21] == sets[22] >= 0
    assert sets[40] == sets[43] >= 0
    assert set(np.flatnonzero(table["duplicate_flag"])) == {10, 11, 20, 21, 22, 40, 43}
    assert table["duplicate_conflict"][[20, 21, 22]].all()
    assert not table["duplicate_conflict"][[10, 11]].any()
    assert table["duplicate_crosses_holdout"][[40, 43]].all()
    assert not table["duplicate_crosses_holdout"][[10, 20]].any()
    assert "crosses the holdout split" in table["reasons"][43]
    summary = issue_summary(table)
    assert summary["duplicate_sets"] == 3
    assert summary["conflicting_sets"] == 1
    assert summary["sets_crossing_holdout"] == 1


def test_exact_duplicates_by_hash_alone() -> None:
    hashes = np.array(["a", "b", "a", "", "c", "b", "a"], dtype=object)
    d = duplicate_sets(hashes=hashes, labels=np.array([0, 0, 1, 0, 0, 0, 0]))
    assert d.set_id.tolist() == [0, 1, 0, -1, -1, 1, 0]
    assert d.exact.tolist() == [True, True, True, False, False, True, True]
    assert d.conflicting.tolist() == [True, False, True, False, False, False, True]


def test_calibrated_threshold_covers_augmented_copies() -> None:
    emb, _ = _clusters()
    rng = np.random.default_rng(2)
    augmented = emb + rng.normal(size=emb.shape).astype(np.float32) * 0.05
    t = calibrate_duplicate_threshold(emb, augmented, quantile=1.0)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    aug = augmented / np.linalg.norm(augmented, axis=1, keepdims=True)
    assert t == pytest.approx(np.linalg.norm(unit - aug, axis=1).max(), rel=1e-5)
    emb[5] = augmented[6]
    table = find_issues(emb, duplicate_threshold=t)
    assert table["duplicate_set"][5] == table["duplicate_set"][6] >= 0


def test_outliers_planted_far_away_are_flagged() -> None:
    emb, labels = _clusters()
    rng = np.random.default_rng(3)
    far = [7, 100, 250]
    emb[far] = rng.normal(size=(3, 32)).astype(np.float32) * 30  # random directions
    table = find_issues(emb, labels=labels)
    assert set(far) <= set(np.flatnonzero(table["outlier_flag"]))
    assert table["outlier_flag"].sum() <= 10
    top = np.argsort(-table["outlier_score"].to_numpy())[:3]
    assert set(top) == set(far)


def _images(n: int = 40, seed: int = 4) -> np.ndarray:
    """Colour images with texture (smooth gradients plus noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32]
    base = (xx * 4 + yy * 2)[None, :, :, None] + rng.normal(0, 25, size=(n, 32, 32, 3))
    base += rng.uniform(40, 120, size=(n, 1, 1, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def test_health_flags_on_planted_images() -> None:
    imgs = _images()
    imgs[0] = imgs[0] // 12  # dark
    imgs[1] = 255 - imgs[1] // 20  # bright
    smooth = imgs[2].astype(np.float32)
    for _ in range(6):  # a box blur
        near = [np.roll(smooth, s, axis) for s in (1, -1) for axis in (0, 1)]
        smooth = (smooth + sum(near)) / 5
    imgs[2] = smooth.astype(np.uint8)
    imgs[3] = 128  # constant: no information
    imgs[4] = imgs[4].mean(axis=2, keepdims=True).astype(np.uint8)  # grey in an RGB set
    sizes = np.tile([32, 32], (len(imgs), 1))
    sizes[5] = [32, 300]  # odd aspect ratio
    table = find_issues(image_stats=image_statistics(imgs, sizes))
    flagged = {t: set(np.flatnonzero(table[f"{t}_flag"])) for t in ("dark", "bright")}
    assert flagged == {"dark": {0}, "bright": {1}}
    assert 2 in set(np.flatnonzero(table["blurry_flag"]))
    low = set(np.flatnonzero(table["low_information_flag"]))
    assert 3 in low and low <= {0, 1, 3}  # darkening and brightening squeeze the histogram
    assert 4 in set(np.flatnonzero(table["grayscale_flag"]))
    assert set(np.flatnonzero(table["odd_size_flag"])) == {5}
    assert "odd size 32x300" in table["reasons"][5]
    assert table["issue_types"][0].split(",")[0] == "dark"
    assert not table.loc[6:, [c for c in table if c.endswith("_flag")]].to_numpy().any()


def test_image_statistics_of_a_grey_set_flag_no_grayscale() -> None:
    imgs = _images()[..., :1]
    stats = image_statistics(imgs)
    assert (stats["colorfulness"] == 0).all()
    assert not find_issues(image_stats=stats)["grayscale_flag"].any()


def test_exact_pixel_copies_are_found_through_the_content_hash() -> None:
    imgs = _images(10)
    imgs[7] = imgs[2]
    table = find_issues(image_stats=image_statistics(imgs))
    assert set(np.flatnonzero(table["duplicate_flag"])) == {2, 7}
    assert "exact copy" in table["reasons"][7]


def test_label_issue_columns_are_the_ranking_s() -> None:
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(3), size=60)
    labels = rng.integers(0, 3, 60)
    table = find_issues(probs=probs, labels=labels)
    ranked = relabel.find_label_issues(labels, probs)
    np.testing.assert_allclose(table["label_issue_score"], ranked["suspicion"])
    assert (table["label_issue_flag"] == ranked["is_label_issue"]).all()


def test_same_inputs_give_the_same_table() -> None:
    emb, labels = _clusters(seed=6)
    emb[3] = emb[4]
    a = find_issues(emb, labels=labels, image_stats=image_statistics(_images(300)))
    b = find_issues(emb.copy(), labels=labels.copy(), image_stats=image_statistics(_images(300)))
    pd.testing.assert_frame_equal(a, b)


def test_chunked_search_equals_unchunked_on_a_memmap(tmp_path: Path) -> None:
    emb, labels = _clusters(seed=7)
    emb[30] = emb[31] * 1.001
    np.save(tmp_path / "e.npy", emb.astype(np.float16))
    mapped = np.load(tmp_path / "e.npy", mmap_mode="r")
    whole = find_issues(mapped, labels=labels, chunk=10_000)
    chunked = find_issues(mapped, labels=labels, chunk=7)
    pd.testing.assert_frame_equal(whole, chunked)
    assert whole["duplicate_set"][30] == whole["duplicate_set"][31] >= 0


def test_bad_input_raises_naming_the_argument_and_row() -> None:
    emb, labels = _clusters(50)
    nan = emb.copy()
    nan[17, 3] = np.nan
    with pytest.raises(IssueInputError, match="embeddings row 17"):
        find_issues(nan)
    with pytest.raises(IssueInputError, match="embeddings must be 2-D"):
        find_issues(emb[0])
    with pytest.raises(IssueInputError, match=r"labels must have shape \(50,\)"):
        find_issues(emb, labels=labels[:-1])
    with pytest.raises(IssueInputError, match="labels row 2 is missing"):
        find_issues(emb, labels=np.where(np.arange(50) == 2, np.nan, 1.0))
    with pytest.raises(IssueInputError, match="holdout row 4"):
        find_issues(emb, holdout=np.where(np.arange(50) == 4, 2, 0))
    with pytest.raises(IssueInputError, match="original_emb"):
        calibrate_duplicate_threshold(emb, emb[:10])
    stats = image_statistics(_images(50))
    stats["brightness"] = stats["brightness"].copy()
    stats["brightness"][9] = np.inf
    with pytest.raises(IssueInputError, match=r"image_stats\['brightness'\] row 9"):
        find_issues(image_stats=stats)
    with pytest.raises(IssueInputError, match="probs need labels"):
        find_issues(probs=np.full((50, 2), 0.5))
    with pytest.raises(IssueInputError, match="needs embeddings"):
        find_issues()
    assert issubclass(IssueInputError, ScoringInputError)


def test_thumbnails_average_boxes_and_features_ignore_brightness():
    from relabel.findings import thumbnail_features, thumbnails

    rng = np.random.default_rng(0)
    img = rng.integers(0, 200, (2, 32, 32, 3), dtype=np.uint8)
    thumbs = thumbnails(img)
    assert thumbs.shape == (2, 16, 16) and thumbs.dtype == np.uint8
    luma = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    block = luma[0, 4:6, 10:12].mean()
    assert abs(int(thumbs[0, 2, 5]) - block) <= 0.51
    brighter = np.clip(img.astype(np.int16) + 40, 0, 255).astype(np.uint8)
    a, b = thumbnail_features(thumbnails(img)), thumbnail_features(thumbnails(brighter))
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.linalg.norm(a[0] - b[0])) < 0.02
    assert float(np.linalg.norm(a[0] - a[1])) > 0.5
    small = thumbnails(rng.integers(0, 255, (1, 8, 8), dtype=np.uint8))
    assert small.shape == (1, 16, 16)
    assert not thumbnail_features(np.full((1, 16, 16), 7, np.uint8)).any()
