"""Weighted consensus (Dawid-Skene) and reviewer quality on simulated crowds (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from relabel.review.dawid_skene import (
    DIAGONAL_PSEUDO_COUNT,
    OFF_DIAGONAL_PSEUDO_MASS,
    Answer,
    CrowdEstimate,
    annotator_stats,
    dawid_skene,
    resolve_posterior,
)
from relabel.review.majority import NOT_SURE, NOT_VALID, Vote

CLASSES = [f"c{k}" for k in range(10)]


@dataclass(frozen=True)
class Crowd:
    """A simulated crowd with known truth."""

    truth: dict[str, str]
    answers: list[Answer]
    accuracy: dict[str, float]  # realized share of correct answers per reviewer


def simulate(seed: int, n_items: int, accuracies: list[float], partner_share: float = 0.7) -> Crowd:
    """Independent reviewers; a mistake goes to the confusable partner class (c0<->c1,
    c2<->c3, ...) with probability ``partner_share``, else to a uniformly random other."""
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    truth = rng.integers(0, k, n_items)
    items = [f"i{i:05d}" for i in range(n_items)]
    answers, accuracy = [], {}
    for r, acc in enumerate(accuracies):
        correct = rng.random(n_items) < acc
        partner = rng.random(n_items) < partner_share
        other = (truth + rng.integers(1, k, n_items)) % k
        answered = np.where(correct, truth, np.where(partner, truth ^ 1, other))
        accuracy[f"r{r}"] = float(np.mean(answered == truth))
        answers += [Answer(i, f"r{r}", CLASSES[a]) for i, a in zip(items, answered, strict=True)]
    return Crowd(dict(zip(items, (CLASSES[t] for t in truth), strict=True)), answers, accuracy)


def ds_accuracy(estimate: CrowdEstimate, truth: dict[str, str], items=None) -> float:
    best = [estimate.labels[k] for k in estimate.posterior.argmax(axis=1)]
    picked = dict(zip(estimate.items, best, strict=True))
    items = estimate.items if items is None else items
    return float(np.mean([picked[i] == truth[i] for i in items]))


def majority(answers: list[Answer], seed: int = 0) -> dict[str, str]:
    """Plurality vote per item, ties broken at random (seeded)."""
    rng = np.random.default_rng(seed)
    by_item: dict[str, list[str]] = {}
    for a in answers:
        by_item.setdefault(a.item, []).append(a.choice)
    picked = {}
    for item, choices in sorted(by_item.items()):
        ranked = Counter(choices).most_common()
        tied = sorted(c for c, n in ranked if n == ranked[0][1])
        picked[item] = tied[int(rng.integers(len(tied)))]
    return picked


@pytest.fixture(scope="module")
def crowd3() -> Crowd:
    return simulate(0, 2000, [0.95, 0.85, 0.60])


@pytest.fixture(scope="module")
def estimate3(crowd3: Crowd) -> CrowdEstimate:
    return dawid_skene(crowd3.answers, CLASSES)


def test_beats_majority_vote(crowd3: Crowd, estimate3: CrowdEstimate) -> None:
    voted = majority(crowd3.answers)
    majority_accuracy = np.mean([voted[i] == crowd3.truth[i] for i in voted])
    assert ds_accuracy(estimate3, crowd3.truth) >= majority_accuracy


def test_estimated_accuracies_near_truth_and_ordered(
    crowd3: Crowd, estimate3: CrowdEstimate
) -> None:
    stats = annotator_stats(crowd3.answers, estimate3)
    assert [s.reviewer for s in stats] == ["r0", "r1", "r2"]
    for s in stats:
        assert s.estimated_accuracy == pytest.approx(crowd3.accuracy[s.reviewer], abs=0.05)
        assert s.interval[0] <= s.estimated_accuracy <= s.interval[1]
    estimated = [s.estimated_accuracy for s in stats]
    assert estimated == sorted(estimated, reverse=True)


def test_estimate_shapes_and_normalisation(estimate3: CrowdEstimate) -> None:
    k = len(CLASSES) + 1
    assert estimate3.labels == [*CLASSES, NOT_VALID]
    assert estimate3.items == sorted(estimate3.items)
    assert estimate3.posterior.shape == (2000, k)
    assert estimate3.confusion.shape == (3, k, k)
    np.testing.assert_allclose(estimate3.posterior.sum(axis=1), 1.0)
    np.testing.assert_allclose(estimate3.confusion.sum(axis=2), 1.0)
    assert estimate3.prior.sum() == pytest.approx(1.0)
    assert (estimate3.confusion > 0).all(), "smoothing must keep every probability above 0"
    assert 0 < estimate3.iterations <= 100


def test_confusions_find_the_partner_classes(crowd3: Crowd, estimate3: CrowdEstimate) -> None:
    weakest = annotator_stats(crowd3.answers, estimate3)[-1]
    assert len(weakest.confusions) == 3
    counts = [n for _, _, n in weakest.confusions]
    assert counts == sorted(counts, reverse=True)
    for true, answered, _ in weakest.confusions:
        assert CLASSES.index(answered) == CLASSES.index(true) ^ 1


def test_interval_covers_true_accuracy() -> None:
    crowd = simulate(1, 1000, [0.95, 0.85, 0.60, 0.80, 0.70])
    for s in annotator_stats(crowd.answers, dawid_skene(crowd.answers, CLASSES)):
        low, high = s.interval
        assert low <= crowd.accuracy[s.reviewer] <= high
        assert low <= s.estimated_accuracy <= high
        assert high - low < 0.1


def test_colluders_outvoting_a_strong_reviewer_lose_once_known_weak() -> None:
    """r3 and r4 are weak on 1,000 items shared with good reviewers; on 20 more items only
    r0 (strong), r3 and r4 answer, and r3 and r4 give the same wrong answer."""
    crowd = simulate(2, 1000, [0.95, 0.9, 0.9, 0.4, 0.4], partner_share=0.0)
    rng = np.random.default_rng(2)
    truth = rng.integers(0, len(CLASSES), 20)
    wrong = (truth + rng.integers(1, len(CLASSES), 20)) % len(CLASSES)
    targets = [f"t{i:03d}" for i in range(20)]
    answers = list(crowd.answers)
    for item, t, w in zip(targets, truth, wrong, strict=True):
        answers += [Answer(item, "r0", CLASSES[t])]
        answers += [Answer(item, r, CLASSES[w]) for r in ("r3", "r4")]
    voted = majority(answers)
    assert all(voted[i] == CLASSES[w] for i, w in zip(targets, wrong, strict=True))
    estimate = dawid_skene(answers, CLASSES)
    stats = annotator_stats(answers, estimate)
    assert max(s.estimated_accuracy for s in stats if s.reviewer in ("r3", "r4")) < 0.6
    target_truth = {i: CLASSES[t] for i, t in zip(targets, truth, strict=True)}
    # Not all: where r0 really made the same mistake a few times on the 1,000 items, the
    # model believes r0 erred again.
    assert ds_accuracy(estimate, target_truth, targets) >= 0.8


def test_gold_items_are_one_hot_even_against_every_answer() -> None:
    answers = [Answer("a", r, "c1") for r in ("r0", "r1", "r2")] + [Answer("b", "r0", "c2")]
    estimate = dawid_skene(answers, CLASSES, gold={"a": "c3", "unanswered": "c4"})
    posterior = estimate.posterior_of("a")
    assert posterior is not None and posterior["c3"] == 1.0
    assert sum(posterior.values()) == 1.0
    assert estimate.items == ["a", "b"], "a gold item without answers is not estimated"


def test_gold_label_must_be_known() -> None:
    with pytest.raises(ValueError, match="gold labels"):
        dawid_skene([Answer("a", "r0", "c1")], CLASSES, gold={"a": "dog"})


@pytest.mark.parametrize("classes", [["c1", "c1"], ["c1", NOT_VALID], ["c1", NOT_SURE]])
def test_classes_must_be_distinct_and_not_special(classes: list[str]) -> None:
    with pytest.raises(ValueError, match="classes must be distinct"):
        dawid_skene([Answer("a", "r0", "c1")], classes)


def test_gold_helps_on_few_items() -> None:
    """Two reviewers (0.95 and 0.55), 120 items: without gold their disagreements cannot be
    attributed (DS is right only when symmetry breaks its way); 30 gold items can."""
    without, with_gold, error_without, error_with = [], [], [], []
    for seed in range(5):
        crowd = simulate(seed, 120, [0.95, 0.55])
        items = sorted(crowd.truth)
        gold = {i: crowd.truth[i] for i in items[:30]}
        for estimate, accuracies, errors in (
            (dawid_skene(crowd.answers, CLASSES), without, error_without),
            (dawid_skene(crowd.answers, CLASSES, gold=gold), with_gold, error_with),
        ):
            accuracies.append(ds_accuracy(estimate, crowd.truth, items[30:]))
            stats = annotator_stats(crowd.answers, estimate, gold=gold)
            errors.append(
                max(abs(s.estimated_accuracy - crowd.accuracy[s.reviewer]) for s in stats)
            )
    assert min(with_gold) >= 0.85
    assert np.mean(with_gold) > np.mean(without) + 0.05
    assert max(error_with) < 0.1 < max(error_without)


def test_deterministic_and_independent_of_answer_order(crowd3: Crowd) -> None:
    answers = crowd3.answers[:3000]
    first, second = dawid_skene(answers, CLASSES), dawid_skene(answers, CLASSES)
    np.testing.assert_array_equal(first.posterior, second.posterior)
    np.testing.assert_array_equal(first.confusion, second.confusion)
    order = np.random.default_rng(5).permutation(len(answers))
    shuffled = dawid_skene([answers[k] for k in order], CLASSES)
    assert shuffled.items == first.items and shuffled.reviewers == first.reviewers
    np.testing.assert_allclose(shuffled.posterior, first.posterior, atol=1e-9)


def test_not_sure_skips_and_unknown_answers_are_ignored(crowd3: Crowd) -> None:
    answers = [a for a in crowd3.answers if a.item < "i00200"]
    noise = [
        Answer("i00000", "r9", NOT_SURE),
        Answer("i00001", "r9", "c3", cancelled=True),
        Answer("i00002", "r9", "dog"),
        Answer("i00003", "r9", None),
        Answer("only-not-sure", "r0", NOT_SURE),
        Answer("only-skipped", "r1", "c2", cancelled=True),
    ]
    plain, noisy = dawid_skene(answers, CLASSES), dawid_skene(answers + noise, CLASSES)
    assert noisy.items == plain.items
    np.testing.assert_allclose(noisy.posterior, plain.posterior)
    assert noisy.posterior_of("only-not-sure") is None
    assert noisy.posterior_of("only-skipped") is None
    assert noisy.reviewers == [*plain.reviewers, "r9"]
    default = noisy.confusion[noisy.reviewers.index("r9")]
    assert np.diag(default) == pytest.approx(
        DIAGONAL_PSEUDO_COUNT / (DIAGONAL_PSEUDO_COUNT + OFF_DIAGONAL_PSEUDO_MASS)
    )


def test_latest_answer_of_a_reviewer_counts() -> None:
    base = [Answer("a", "r0", "c1"), Answer("a", "r1", "c1"), Answer("b", "r1", "c2")]
    changed = dawid_skene([Answer("a", "r0", "c5"), *base], CLASSES)
    np.testing.assert_array_equal(changed.posterior, dawid_skene(base, CLASSES).posterior)
    withdrawn = dawid_skene([*base, Answer("b", "r1", NOT_SURE)], CLASSES)
    assert withdrawn.posterior_of("b") is None


def test_reviewer_seen_on_one_item_stays_near_the_default() -> None:
    estimate = dawid_skene([Answer("a", "new", "c1")], CLASSES)
    diagonal = np.diag(estimate.confusion[0])
    default = DIAGONAL_PSEUDO_COUNT / (DIAGONAL_PSEUDO_COUNT + OFF_DIAGONAL_PSEUDO_MASS)
    assert diagonal.min() == pytest.approx(default, abs=0.05)
    assert default < diagonal.max() < 1.0


def test_no_answers() -> None:
    estimate = dawid_skene([Answer("a", "r0", NOT_SURE)], CLASSES)
    assert estimate.items == [] and estimate.posterior.shape == (0, len(CLASSES) + 1)
    assert estimate.converged and estimate.iterations == 0
    assert estimate.posterior_of("a") is None


def votes(*choices: str | None, cancelled: tuple[int, ...] = ()) -> list[Vote]:
    return [Vote(i, f"r{i}", c, i in cancelled) for i, c in enumerate(choices)]


def spread(top: str, p: float) -> dict[str, float]:
    labels = [*CLASSES, NOT_VALID]
    rest = (1.0 - p) / (len(labels) - 1)
    return {label: p if label == top else rest for label in labels}


@pytest.mark.parametrize(
    ("choices", "cancelled", "posterior", "outcome", "label", "reason"),
    [
        (("c7", "c7", "c1"), (), spread("c7", 0.97), "label", "c7", "posterior 0.97 (2/3 votes)"),
        (("c1", "c7", "c7"), (), spread("c1", 0.9), "label", "c1", "posterior 0.90 (1/3 votes)"),
        ((NOT_VALID, "c2"), (), spread(NOT_VALID, 0.8), "excluded", None, "not valid (1/2"),
        (("c7", "c1"), (), spread("c7", 0.48), "unresolved", None, "posterior 0.48 for c7, need"),
        (("c7", "c1"), (), spread("c7", 0.5), "unresolved", None, "need more than 50%"),
        (("c7",), (0,), None, "unresolved", None, "no votes"),
        ((), (), None, "unresolved", None, "no votes"),
        (("dog",), (), None, "unresolved", None, "no votes"),
        ((NOT_SURE, NOT_SURE), (), None, "unresolved", None, "not sure"),
        (("c7",), (), None, "unresolved", None, "no posterior"),
    ],
)
def test_resolve_posterior(choices, cancelled, posterior, outcome, label, reason) -> None:
    result = resolve_posterior(votes(*choices, cancelled=cancelled), posterior, classes=CLASSES)
    assert (result.outcome, result.label) == (outcome, label)
    assert reason in result.reason
    if posterior is not None:
        assert result.agreement == pytest.approx(max(posterior.values()), abs=1e-4)


def test_resolve_posterior_tally_and_threshold() -> None:
    ballot = votes("c7", "c7", NOT_SURE, "c1", cancelled=(3,))
    result = resolve_posterior(ballot, spread("c7", 0.7), classes=CLASSES, min_posterior=0.8)
    assert result.votes == {NOT_SURE: 1, "c7": 2}
    assert result.outcome == "unresolved" and "need more than 80%" in result.reason
    assert resolve_posterior(ballot, spread("c7", 0.7), classes=CLASSES).outcome == "label"


def test_annotator_stats_counts_gold_and_agreement() -> None:
    answers = [
        Answer("a", "r1", "c1"),
        Answer("a", "r2", "c1"),
        Answer("a", "r3", "c2"),
        Answer("b", "r1", "c1"),
        Answer("b", "r2", "c1"),
        Answer("c", "r1", "c3"),
        Answer("c", "r2", "c4", cancelled=True),
        Answer("d", "r2", NOT_SURE),
        Answer("e", "r4", "c5"),
        Answer("f", "r5", "c5", cancelled=True),
    ]
    gold = {"a": "c1", "b": "c2"}
    estimate = dawid_skene(answers, CLASSES, gold=gold)
    stats = {s.reviewer: s for s in annotator_stats(answers, estimate, gold=gold)}
    assert list(stats) == ["r1", "r2", "r3", "r4", "r5"]
    r1, r2, r3, r4, r5 = (stats[r] for r in stats)
    assert (r1.tasks, r1.skips, r1.not_sure) == (3, 0, 0)
    assert (r2.tasks, r2.skips, r2.not_sure) == (2, 1, 1)
    assert (r1.gold_tasks, r1.gold_correct, r1.gold_accuracy) == (2, 1, 0.5)
    assert (r3.gold_tasks, r3.gold_correct, r3.gold_accuracy) == (1, 0, 0.0)
    assert r4.gold_accuracy is None
    # r1 on a: others r2 c1, r3 c2 tie -> left out; on b: r2 c1 agrees; c: nobody else.
    assert (r1.agreement, r2.agreement, r3.agreement, r4.agreement) == (1.0, 1.0, 0.0, None)
    assert r3.estimated_accuracy == 0.0, "r3's only answer is wrong on a gold item"
    assert (r5.tasks, r5.skips, r5.agreement, r5.confusions) == (0, 1, None, [])
    assert r5.interval[0] <= r5.estimated_accuracy <= r5.interval[1]


def test_speed_sanity_100k_answers() -> None:
    crowd = simulate(4, 10_000, [0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.9, 0.8, 0.7])
    assert len(crowd.answers) == 100_000
    estimate = dawid_skene(crowd.answers, CLASSES, max_iter=20)
    assert estimate.posterior.shape == (10_000, len(CLASSES) + 1)
    assert len(annotator_stats(crowd.answers, estimate)) == 10
