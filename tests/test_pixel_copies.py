"""Near copies in pixel space and the thumbnails' outlier residual (:mod:`relabel.findings`)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from relabel.errors import IssueInputError
from relabel.findings import (
    duplicate_sets,
    find_issues,
    holdout_copies,
    image_statistics,
    outlier_scores,
    pixel_copies,
    pixel_residual,
    shift_features,
    shifted_distance,
    thumbnails,
)
from relabel.findings.pixel_copies import (
    JOINT,
    PIXEL_ALONE,
    candidate_pairs,
    copy_rule,
    nearest_pixel_distance,
    pixel_scale,
    thumbnail_neighbours,
)


def _photos(n: int, seed: int = 0) -> np.ndarray:
    """``n`` smooth random RGB images (32 x 32, uint8): blobs of light and dark."""
    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.normal(size=(n, 32, 32, 3)), sigma=(0, 3, 3, 1))
    x = (x - x.min(axis=(1, 2, 3), keepdims=True)) / np.ptp(x, axis=(1, 2, 3), keepdims=True)
    return np.clip(np.rint(30 + 190 * x), 0, 255).astype(np.uint8)


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``img`` moved by ``dy, dx`` pixels, edges repeated (a near copy)."""
    pad = np.pad(img, ((4, 4), (4, 4), (0, 0)), mode="edge")
    return pad[4 + dy : 4 + dy + 32, 4 + dx : 4 + dx + 32].copy()


def _brighter(img: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(np.rint(img * factor), 0, 255).astype(np.uint8)


def test_shifted_distance_forgives_shifts_and_brightness_not_other_images() -> None:
    imgs = _photos(3)
    base = imgs[0]
    copies = np.stack(
        [base, _shifted(base, 2, -4), _shifted(base, 3, 3), _brighter(base, 1.15), *imgs[1:]]
    )
    t = thumbnails(copies)
    d = shifted_distance(t, [0, 0, 0, 0, 0], [1, 2, 3, 4, 5])
    assert d[0] < 0.02  # whole-thumbnail-pixel shift (2 and 4 image pixels): exact
    assert d[1] < 0.2  # half a thumbnail pixel (3 image pixels): bilinear in between
    assert d[2] < 0.05  # brightness and contrast do not count
    assert d[3] > 0.6 and d[4] > 0.6  # other images
    np.testing.assert_allclose(shifted_distance(t, [1], [0]), d[:1], atol=1e-6)  # symmetric
    assert shifted_distance(t, [0], [0])[0] < 0.005  # float32 rounding
    # without shifts allowed, the shifted copy is far
    assert shifted_distance(t, [0], [1], max_shift=0)[0] > 0.3
    flat = np.full((2, 16, 16), 90, np.uint8)
    assert shifted_distance(flat, [0], [1])[0] == pytest.approx(np.sqrt(2))  # matches nothing
    with pytest.raises(IssueInputError, match="one length"):
        shifted_distance(t, [0, 1], [2])
    with pytest.raises(IssueInputError, match="max_shift"):
        shifted_distance(t, [0], [1], max_shift=8)


def test_candidate_pairs_are_distinct_and_ordered() -> None:
    a, b = candidate_pairs(np.array([[1, 2], [0, 2], [1, 0]]), np.array([[2], [2], [2]]))
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2)]
    empty = candidate_pairs(np.zeros((3, 0), np.int64))
    assert empty[0].size == 0 and empty[1].size == 0


def test_shift_features_put_shifted_copies_among_the_nearest() -> None:
    imgs = _photos(120, seed=1)
    imgs[7] = _shifted(imgs[3], -3, 2)
    t = thumbnails(imgs)
    f = shift_features(t, dims=16, chunk=50)
    assert f.shape == (120, 16) and f.dtype == np.float32
    assert 3 in thumbnail_neighbours(f, 3, chunk=40)[7]
    np.testing.assert_array_equal(f, shift_features(t, dims=16))  # chunking changes nothing
    # a query set of other rows: its own index is not left out
    near = thumbnail_neighbours(f, 2, queries=f[[3]])
    assert near[0, 0] == 3


def test_copy_rule_pixels_alone_or_joint_evidence() -> None:
    pixel = np.array([0.1, 0.5, 0.5, 0.9]) * 1.0
    emb = np.array([1.0, 0.1, 1.0, 0.01])
    rule = copy_rule(pixel, 1.0, emb, 1.0)
    assert rule.tolist() == [
        PIXEL_ALONE >= 0.1,
        np.sqrt(0.5 * 0.1) <= JOINT,
        np.sqrt(0.5 * 1.0) <= JOINT,
        np.sqrt(0.9 * 0.01) <= JOINT,
    ]
    assert copy_rule(pixel, 1.0).tolist() == (pixel <= PIXEL_ALONE).tolist()
    assert pixel_scale(np.arange(5.0)) == pytest.approx(1.0)
    nearest = nearest_pixel_distance(4, np.array([0, 0]), np.array([1, 2]), np.array([0.3, 0.1]))
    np.testing.assert_allclose(nearest, [0.1, 0.3, 0.1, np.sqrt(2)], rtol=1e-6)


def _planted_set() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """200 images with near copies of a few (shift, brightness, both) appended."""
    imgs = _photos(200, seed=2)
    made = [
        _shifted(imgs[5], 2, 2),
        _brighter(imgs[9], 0.87),
        _shifted(_brighter(imgs[30], 1.1), -3, 0),
    ]
    return np.concatenate([imgs, np.stack(made)]), [(5, 200), (9, 201), (30, 202)]


def test_pixel_copies_find_planted_copies_and_nothing_else() -> None:
    imgs, planted = _planted_set()
    found = pixel_copies(thumbnails(imgs), k=5, chunk=64)
    pairs = set(zip(found.a[found.near].tolist(), found.b[found.near].tolist(), strict=True))
    assert pairs == set(planted)
    assert found.scale > 0.3  # unrelated smooth images are far apart
    assert found.embedding is None
    assert np.all(found.nearest[[5, 9, 30]] < PIXEL_ALONE * found.scale)


def test_pixel_copies_take_embedding_candidates_and_evidence() -> None:
    imgs, planted = _planted_set()
    t = thumbnails(imgs)
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(len(t), 8)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    neighbours = np.argsort(-(unit @ unit.T), axis=1)[:, 1:4]
    found = pixel_copies(t, unit, neighbours, k=5)
    assert found.embedding is not None and len(found.embedding) == len(found.a)
    pairs = set(zip(found.a[found.near].tolist(), found.b[found.near].tolist(), strict=True))
    assert set(planted) <= pairs
    emb_pairs = set(zip(*candidate_pairs(neighbours), strict=True))
    assert emb_pairs <= set(zip(found.a.tolist(), found.b.tolist(), strict=True))
    with pytest.raises(IssueInputError, match="differ in rows"):
        pixel_copies(t, unit[:10], neighbours[:10])


def test_holdout_copies_find_held_out_near_copies() -> None:
    imgs = _photos(150, seed=3)
    held = np.stack([_shifted(imgs[12], 4, -2), _brighter(imgs[40], 1.12), _photos(1, seed=9)[0]])
    found = holdout_copies(thumbnails(imgs), thumbnails(held), k=5)
    pairs = set(zip(found.a[found.near].tolist(), found.b[found.near].tolist(), strict=True))
    assert pairs == {(12, 0), (40, 1)}
    assert found.nearest.shape == (150,)
    again = holdout_copies(thumbnails(imgs), thumbnails(held), k=5, scale=found.scale)
    np.testing.assert_array_equal(again.near, found.near)
    with pytest.raises(IssueInputError, match="differ in size"):
        holdout_copies(thumbnails(imgs), np.zeros((1, 8, 8), np.uint8))


def test_pixel_residual_ranks_images_unlike_the_rest_first() -> None:
    imgs = _photos(300, seed=4)
    rng = np.random.default_rng(5)
    imgs[:4] = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)  # noise
    res = pixel_residual(thumbnails(imgs), chunk=70)
    assert res.shape == (300,) and res.dtype == np.float32
    assert set(np.argsort(-res)[:4].tolist()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(res, pixel_residual(thumbnails(imgs)))


def test_outlier_score_combines_embedding_distance_and_pixel_residual() -> None:
    rng = np.random.default_rng(0)
    dist = np.sort(rng.uniform(0.5, 0.6, (100, 5)), axis=1)
    residual = rng.uniform(0.2, 0.3, 100)
    residual[7] = 2.0  # unlike the rest in pixels only
    alone = outlier_scores(dist)
    both = outlier_scores(dist, residual=residual)
    assert not alone.flag[7] and both.flag[7]
    assert int(np.argmax(both.score)) == 7
    np.testing.assert_array_equal(alone.distance, both.distance)


def test_duplicate_sets_join_given_pairs() -> None:
    hashes = np.array(["a", "b", "c", "d", "a"], dtype=object)
    sets = duplicate_sets(hashes=hashes, pairs=(np.array([1]), np.array([2])))
    assert sets.set_id.tolist() == [0, 1, 1, -1, 0]
    assert sets.exact.tolist() == [True, False, False, False, True]
    with pytest.raises(IssueInputError, match="pairs"):
        duplicate_sets(hashes=hashes, pairs=(np.array([1]), np.array([5])))


def test_find_issues_uses_thumbnails_when_the_statistics_carry_them() -> None:
    imgs, planted = _planted_set()
    stats = image_statistics(imgs)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(imgs), 16)).astype(np.float32)  # copies far apart here
    without = find_issues(emb, image_stats=stats)
    assert not without["duplicate_flag"].any()
    stats["thumbnail"] = thumbnails(imgs)
    table = find_issues(emb, image_stats=stats)
    for a, b in planted:
        assert (
            table["duplicate_set"][a] >= 0
            and table["duplicate_set"][a] == table["duplicate_set"][b]
        )
    assert int(table["duplicate_flag"].sum()) == 2 * len(planted)
    pixels_only = find_issues(image_stats=stats)  # no embeddings: still the pixel copies
    np.testing.assert_array_equal(pixels_only["duplicate_set"], table["duplicate_set"])
    assert "outlier_score" in table and "outlier_score" not in pixels_only
    stats["thumbnail"] = stats["thumbnail"][:10]
    with pytest.raises(IssueInputError, match="thumbnail"):
        find_issues(emb, image_stats=stats)


def test_class_distance_finds_a_cluster_of_outliers_that_neighbours_hide() -> None:
    from relabel.findings import class_distance

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 4
    labels = np.arange(300) % 3
    emb = centres[labels] + rng.normal(size=(300, 16))
    emb[:12] = rng.normal(size=16) * 4 + rng.normal(size=(12, 16)) * 0.05  # a tight cluster
    unit = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    d = class_distance(unit, labels, dims=8, chunk=64)
    assert d.shape == (300,)
    assert len(set(np.argsort(-d)[:15].tolist()) & set(range(12))) >= 11
    np.testing.assert_allclose(d, class_distance(unit, labels, dims=8))  # chunking
    nn = np.sort(np.linalg.norm(unit[:, None] - unit[None], axis=2), axis=1)[:, 1:6]
    by_neighbours = outlier_scores(nn, labels)
    by_centre = outlier_scores(nn, labels, centre_distance=d)
    assert by_centre.score[:12].min() > np.median(by_centre.score[12:])
    assert by_neighbours.score[:12].max() < np.median(by_neighbours.score[12:])  # hidden
