"""relabel.ranking.acquisition: which unlabelled samples to label next."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from relabel.errors import AcquisitionInputError, ExitCode
from relabel.ranking import DEFAULT_STRATEGY, STRATEGIES, select_batch
from relabel.ranking.acquisition import NEEDS_EMBEDDINGS, k_center_greedy


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _pool(n: int = 200, k: int = 4, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, d)).astype(np.float32)
    probs = _softmax(rng.normal(scale=3.0, size=(n, k)))
    return probs, emb


def test_default_is_a_strategy() -> None:
    assert DEFAULT_STRATEGY in STRATEGIES
    assert set(NEEDS_EMBEDDINGS) <= set(STRATEGIES)


def test_entropy_picks_the_flattest_rows() -> None:
    probs = np.array(
        [
            [0.98, 0.01, 0.01],
            [1 / 3, 1 / 3, 1 / 3],  # flattest
            [0.90, 0.05, 0.05],
            [0.50, 0.49, 0.01],
            [0.40, 0.30, 0.30],  # second flattest
        ]
    )
    assert select_batch("entropy", probs, 2).tolist() == [1, 4]
    assert select_batch("entropy", probs, 5).tolist() == [1, 4, 3, 2, 0]


def test_margin_picks_the_closest_top_two() -> None:
    probs = np.array([[0.5, 0.3, 0.2], [0.45, 0.44, 0.11], [0.9, 0.05, 0.05]])
    # margins 0.2, 0.01, 0.85: row 1 is the most uncertain by margin, row 0 by entropy
    assert select_batch("margin", probs, 3).tolist() == [1, 0, 2]


def test_equal_scores_are_ordered_by_index() -> None:
    probs = np.full((6, 2), 0.5)
    probs[2] = [0.9, 0.1]
    assert select_batch("entropy", probs, 6).tolist() == [0, 1, 3, 4, 5, 2]
    assert select_batch("margin", probs, 3).tolist() == [0, 1, 3]


def test_random_is_a_seeded_permutation() -> None:
    probs, _ = _pool(50)
    a = select_batch("random", probs, 50, seed=3)
    assert sorted(a.tolist()) == list(range(50))
    assert np.array_equal(a, select_batch("random", probs, 50, seed=3))
    assert not np.array_equal(a, select_batch("random", probs, 50, seed=4))


def _two_clusters(n_a: int = 150, n_b: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A big cluster around +x and a small one around +y (the latter rows n_a..)."""
    rng = np.random.default_rng(1)
    a = np.array([1.0, 0.0, 0.0]) + 0.05 * rng.normal(size=(n_a, 3))
    b = np.array([0.0, 1.0, 0.0]) + 0.05 * rng.normal(size=(n_b, 3))
    emb = np.vstack([a, b]).astype(np.float32)
    probs = np.full((n_a + n_b, 2), 0.5)
    return probs, emb


def test_coreset_covers_both_clusters() -> None:
    probs, emb = _two_clusters()
    for seed in range(5):
        picks = select_batch("coreset", probs, 2, embeddings=emb, seed=seed)
        assert {int(i) >= 150 for i in picks} == {True, False}


def test_coreset_starts_from_the_labelled_samples() -> None:
    probs, emb = _two_clusters()
    labelled = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)  # the big cluster is covered
    first = select_batch("coreset", probs, 1, embeddings=emb, labelled_embeddings=labelled)
    assert int(first[0]) >= 150


def test_k_center_greedy_never_repeats_duplicates() -> None:
    x = np.ones((5, 2), dtype=np.float32) / np.sqrt(2)
    assert sorted(k_center_greedy(x, 5).tolist()) == [0, 1, 2, 3, 4]


def test_badge_starts_from_the_largest_gradient() -> None:
    probs, emb = _two_clusters()
    probs = np.tile([0.99, 0.01], (160, 1))
    probs[155] = [0.5, 0.5]  # the one uncertain sample
    assert select_batch("badge", probs, 1, embeddings=emb).tolist() == [155]


def test_badge_spreads_over_clusters() -> None:
    rng = np.random.default_rng(2)
    a = np.array([1.0, 0.0, 0.0]) + 0.01 * rng.normal(size=(150, 3))
    b = np.array([0.0, 1.0, 0.0]) + 0.01 * rng.normal(size=(10, 3))
    emb = np.vstack([a, b]).astype(np.float32)
    probs = np.tile([0.6, 0.4], (160, 1))  # equal uncertainty: only the embeddings differ
    for seed in range(5):
        picks = select_batch("badge", probs, 2, embeddings=emb, seed=seed)
        assert {int(i) >= 150 for i in picks} == {True, False}


def test_mix_picks_uncertain_and_diverse() -> None:
    probs, emb = _two_clusters()
    probs = np.tile([0.99, 0.01], (160, 1))
    uncertain = [0, 1, 2, 150, 151]  # three near-duplicates in the big cluster, two in the small
    probs[uncertain] = [0.5, 0.5]
    probs[[0, 150]] = [0.49, 0.51]  # the two most uncertain still (margin 0.02 vs 0)
    picks = select_batch("mix", probs, 2, embeddings=emb, seed=0)
    assert len(picks) == 2
    assert set(picks.tolist()) <= set(uncertain)
    assert {int(i) >= 150 for i in picks} == {True, False}


def test_class_balance_spreads_the_budget_over_predicted_classes() -> None:
    rng = np.random.default_rng(0)
    probs = np.zeros((100, 3))
    probs[:90] = [0.5, 0.3, 0.2]  # class 0 predicted, and the most uncertain
    probs[90:97] = [0.1, 0.85, 0.05]
    probs[97:] = [0.05, 0.05, 0.9]  # 3 samples of class 2
    emb = rng.normal(size=(100, 4)).astype(np.float32)
    for strategy in STRATEGIES:
        picks = select_batch(strategy, probs, 12, embeddings=emb, class_balance=True, seed=1)
        assert len(set(picks.tolist())) == 12, strategy
        predicted = probs[picks].argmax(axis=1)
        assert np.bincount(predicted, minlength=3).tolist() == [5, 4, 3], strategy
        assert predicted[:3].tolist() == [0, 1, 2], strategy  # round-robin
    unbalanced = select_batch("entropy", probs, 12)
    assert set(probs[unbalanced].argmax(axis=1).tolist()) == {0}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_is_deterministic_and_distinct(strategy: str) -> None:
    probs, emb = _pool(300, d=16)
    lab = np.random.default_rng(9).normal(size=(20, 16)).astype(np.float16)
    kwargs = {"embeddings": emb.astype(np.float16), "labelled_embeddings": lab, "seed": 5}
    a = select_batch(strategy, probs, 30, **kwargs)
    b = select_batch(strategy, probs, 30, **kwargs)
    assert a.dtype == np.int64 and a.shape == (30,)
    assert np.array_equal(a, b)
    assert len(set(a.tolist())) == 30 and a.min() >= 0 and a.max() < 300


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_budget_over_the_pool_returns_the_whole_pool(strategy: str) -> None:
    probs, emb = _pool(12)
    picks = select_batch(strategy, probs, 50, embeddings=emb)
    assert sorted(picks.tolist()) == list(range(12))


def test_a_memmap_of_embeddings_is_read(tmp_path: Path) -> None:
    probs, emb = _pool(100)
    path = tmp_path / "emb.npy"
    np.save(path, emb)
    mapped = np.load(path, mmap_mode="r")
    a = select_batch("coreset", probs, 10, embeddings=mapped)
    assert np.array_equal(a, select_batch("coreset", probs, 10, embeddings=emb))


@pytest.mark.parametrize("strategy", sorted(NEEDS_EMBEDDINGS))
def test_missing_embeddings_are_a_clear_error(strategy: str) -> None:
    probs, _ = _pool(10)
    with pytest.raises(AcquisitionInputError, match="needs the pool's embeddings") as info:
        select_batch(strategy, probs, 2)
    assert info.value.exit_code == ExitCode.INVALID_INPUT


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "bald"}, "unknown strategy 'bald'"),
        ({"budget": 0}, "budget must be a positive integer"),
        ({"budget": -3}, "budget must be a positive integer"),
        ({"budget": 2.5}, "budget must be a positive integer"),
        ({"probs": np.ones(10)}, "probs must be 2-D"),
        ({"probs": np.full((10, 3), 0.5)}, "sum"),
        ({"embeddings": np.zeros((9, 4), np.float32)}, "embeddings has 9 rows but probs has 10"),
        ({"embeddings": np.zeros((10, 4, 1), np.float32)}, "embeddings must be a 2-D float"),
        ({"embeddings": np.zeros((10, 4), np.int64)}, "embeddings must be a 2-D float"),
        ({"labelled_embeddings": np.zeros((3, 5), np.float32)}, "has 5 columns but"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, message: str) -> None:
    probs, emb = _pool(10)
    args = {"strategy": "coreset", "probs": probs, "budget": 2, "embeddings": emb[:, :4]}
    args.update(kwargs)
    with pytest.raises(AcquisitionInputError, match=message):
        select_batch(
            args.pop("strategy"),
            args.pop("probs"),
            args.pop("budget"),
            **args,
        )


def test_nan_embeddings_name_the_row() -> None:
    probs, emb = _pool(10)
    emb[7, 2] = np.nan
    with pytest.raises(AcquisitionInputError, match="embeddings row 7 holds NaN"):
        select_batch("badge", probs, 2, embeddings=emb)
