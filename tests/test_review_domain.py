"""The review domain's decisions, pure (fast tier): the push plan and task outcomes."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from relabel.review.gold import draw_gold, gold_count
from relabel.review.majority import NOT_SURE, NOT_VALID, Vote, resolve
from relabel.review.outcome import decide, review_evidence, stays_open, wants_one_more
from relabel.review.plan import plan_review


def _votes(*choices: str | None) -> list[Vote]:
    return [Vote(i + 1, f"r{i}", c, cancelled=c is None) for i, c in enumerate(choices)]


@pytest.mark.parametrize(
    ("choices", "current", "outcome", "label", "new_status", "correction"),
    [
        (("cat", "cat"), ("cat", "active"), "confirmed", "cat", None, None),
        (("dog", "dog"), ("cat", "active"), "corrected", "dog", "active", "cat>dog"),
        # the same label on an excluded sample brings it back: a new active version
        (("cat",), ("cat", "excluded"), "corrected", "cat", "active", "cat>cat"),
        ((NOT_VALID,), ("cat", "active"), "excluded", "cat", "excluded", None),
        ((NOT_VALID,), ("cat", "excluded"), "excluded", "cat", None, None),
        (("cat", "dog"), ("cat", "active"), "unresolved", None, None, None),
        ((NOT_SURE,), ("cat", "active"), "unresolved", None, None, None),
    ],
)
def test_a_resolution_decides_the_samples_outcome(
    choices: tuple[str, ...],
    current: tuple[str, str],
    outcome: str,
    label: str | None,
    new_status: str | None,
    correction: str | None,
) -> None:
    resolution = resolve(_votes(*choices), classes=["cat", "dog"])
    d = decide(resolution, *current)
    assert (d.outcome, d.new_status, d.correction) == (outcome, new_status, correction)
    if outcome != "unresolved":
        assert d.label == label


def test_one_more_reviewer_once_when_all_answers_are_in() -> None:
    tie = _votes("cat", "dog")
    d = decide(resolve(tie, classes=["cat", "dog"]), "cat", "active")
    assert wants_one_more(d, tie, reviewers_per_task=2, extra=None)
    assert not wants_one_more(d, tie, reviewers_per_task=3, extra=None)  # answers still due
    assert not wants_one_more(d, tie, reviewers_per_task=2, extra=3)  # asked already
    assert stays_open(d, tie, extra=3)  # waiting for the third answer
    assert not stays_open(d, [*tie, Vote(9, "r9", "cat")], extra=3)  # third answer in: closed
    resolved = decide(resolve(_votes("cat", "cat"), classes=["cat"]), "cat", "active")
    assert not wants_one_more(resolved, tie, reviewers_per_task=2, extra=None)
    assert not stays_open(resolved, tie, extra=None)


def test_review_evidence_carries_the_push_scores_and_the_posterior() -> None:
    votes = _votes("dog", None, "dog")
    resolution = resolve(votes, classes=["cat", "dog"])
    pushed = {"p_given": 0.1, "run_id": "r1", "rank": 3, "lane": "label_issue"}
    ev = review_evidence((7, 42), votes, resolution, pushed, "dawid_skene")
    assert ev["studio_project_id"] == 7 and ev["task_id"] == 42
    assert ev["annotation_ids"] == [1, 3]  # the skip is no answer
    assert ev["p_given"] == 0.1 and ev["run_id"] == "r1" and "rank" not in ev
    assert ev["consensus"] == "dawid_skene" and ev["posterior"] == ev["agreement"]
    assert "posterior" not in review_evidence((7, 42), votes, resolution, pushed, "majority")


@dataclass(frozen=True)
class _Rules:
    uncertain_share: float = 0.0
    per_class_balance: bool = False
    fill_budget: bool = True
    min_suspicion: float = 0.0
    gold_fraction: float = 0.0


def _ranking(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "given_label": ["a", "b"] * (n // 2),
            "predicted_label": ["b", "a"] * (n // 2),
            "p_given": [0.05 * i for i in range(n)],
            "p_predicted": [1 - 0.05 * i for i in range(n)],
            "p_error": [1 - 0.05 * i for i in range(n)],
            "suspicion": [1 - 0.05 * i for i in range(n)],
            "max_confidence": [0.9] * n,
            "rank": list(range(1, n + 1)),
            "lane": ["label_issue"] * 4 + ["ok"] * (n - 4),
        }
    )


def test_the_plan_skips_busy_and_reviewed_samples_and_fills_the_budget() -> None:
    plan = plan_review(
        _ranking(),
        "run-1",
        5,
        lane="label_issue",
        busy={"s0"},
        reviewed={"s1", "s0"},
        rules=_Rules(),
        gold_source=lambda exclude, want: [],
        seed=0,
    )
    assert [sid for sid, _ in plan.items] == ["s2", "s3", "s4", "s5", "s6"]
    assert all(ev["run_id"] == "run-1" for _, ev in plan.items)
    s = plan.summary
    assert (s.planned, s.gold, s.excluded_busy, s.excluded_reviewed) == (5, 0, 1, 1)


def test_the_plan_stops_at_the_floor_and_says_why() -> None:
    plan = plan_review(
        _ranking(),
        "run-1",
        8,
        lane="label_issue",
        busy=set(),
        reviewed={"s0", "s1", "s2", "s3"},
        rules=_Rules(min_suspicion=0.75),
        gold_source=lambda exclude, want: [],
        seed=0,
    )
    # fill candidates s4..s9 have p_error 0.80, 0.75, 0.70, ...: two are at the floor
    assert [sid for sid, _ in plan.items] == ["s4", "s5"]
    assert plan.summary.below_floor == 4
    assert plan.summary.top_fill_suspicion == pytest.approx(0.70)
    assert "min_suspicion" in plan.summary.reason


def test_gold_joins_the_plan_in_its_share_and_is_seeded() -> None:
    asked: list[tuple[set[str], int]] = []

    def gold_source(exclude: set[str], want: int) -> list[tuple[str, dict]]:
        asked.append((set(exclude), want))
        return [
            (f"g{i}", {"given_label": "a", "rank": 0, "lane": "ok", "suspicion": 0.0})
            for i in range(want)
        ]

    def plan(seed: int) -> list[str]:
        p = plan_review(
            _ranking(),
            "r",
            4,
            lane="label_issue",
            busy={"s9"},
            reviewed=set(),
            rules=_Rules(gold_fraction=0.2),
            gold_source=gold_source,
            seed=seed,
        )
        assert p.summary.gold == 1 and p.summary.planned == 5
        return [sid for sid, _ in p.items]

    assert plan(3) == plan(3)
    assert asked[0] == ({"s9", "s0", "s1", "s2", "s3"}, gold_count(4, 0.2))
    assert sorted(plan(3)) == ["g0", "s0", "s1", "s2", "s3"]


def test_gold_draw_is_seeded_and_keeps_pool_order() -> None:
    pool = list(range(20))
    assert draw_gold(pool, 5, seed=1) == draw_gold(pool, 5, seed=1)
    drawn = draw_gold(pool, 5, seed=1)
    assert drawn == sorted(drawn) and len(set(drawn)) == 5
    assert gold_count(0, 0.5) == 0 and gold_count(10, 0.0) == 0 and gold_count(9, 0.25) == 3
