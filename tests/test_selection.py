"""Choosing samples for review within a budget (pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from relabel.errors import ConfigError
from relabel.review.selection import select_for_review


@pytest.fixture
def table() -> pd.DataFrame:
    rows = [
        # sample, given, rank, lane, max_conf
        ("a", "1", 1, "label_issue", 0.9),
        ("b", "1", 2, "label_issue", 0.8),
        ("c", "3", 3, "label_issue", 0.95),
        ("d", "1", 4, "label_issue", 0.7),
        ("e", "3", 5, "label_issue", 0.6),
        ("f", "5", 6, "uncertain", 0.40),
        ("g", "5", 7, "uncertain", 0.30),
        ("h", "5", 8, "ok", 0.99),
    ]
    frame = pd.DataFrame(
        rows, columns=["sample_id", "given_label", "rank", "lane", "max_confidence"]
    )
    return frame.sample(frac=1.0, random_state=3)  # order must not matter


def ids(frame: pd.DataFrame) -> list[str]:
    return frame["sample_id"].tolist()


def test_top_of_label_issue_lane(table: pd.DataFrame) -> None:
    assert ids(select_for_review(table, 3)) == ["a", "b", "c"]


def test_budget_larger_than_lane_takes_only_the_lane(table: pd.DataFrame) -> None:
    assert ids(select_for_review(table, 50, fill=False)) == ["a", "b", "c", "d", "e"]


def test_budget_larger_than_lane_is_filled_from_ok_lane(table: pd.DataFrame) -> None:
    # the lane's 5, then the ok lane by rank; never the uncertain lane (f, g)
    assert ids(select_for_review(table, 50)) == ["a", "b", "c", "d", "e", "h"]
    assert ids(select_for_review(table, 6, exclude={"b"})) == ["a", "c", "d", "e", "h"]
    # the uncertain share still comes from the uncertain lane
    assert ids(select_for_review(table, 8, uncertain_share=0.25)) == [*"abcdeh", "g", "f"]


def test_exclusions_are_skipped(table: pd.DataFrame) -> None:
    assert ids(select_for_review(table, 3, exclude={"a", "c"})) == ["b", "d", "e"]


def test_uncertain_lane_least_confident_first(table: pd.DataFrame) -> None:
    assert ids(select_for_review(table, 5, lane="uncertain")) == ["g", "f"]


def test_all_lane(table: pd.DataFrame) -> None:
    assert ids(select_for_review(table, 7, lane="all")) == list("abcdefg")


def test_uncertain_share(table: pd.DataFrame) -> None:
    assert ids(select_for_review(table, 4, uncertain_share=0.5)) == ["a", "b", "g", "f"]


def test_per_class_balance(table: pd.DataFrame) -> None:
    # label_issue candidates: three given "1", two given "3"; budget 2 -> one each
    assert ids(select_for_review(table, 2, per_class_balance=True)) == ["a", "c"]
    assert ids(select_for_review(table, 4, per_class_balance=True)) == ["a", "b", "c", "e"]


def test_bad_arguments(table: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown lane"):
        select_for_review(table, 3, lane="maybe")
    with pytest.raises(ConfigError, match="budget"):
        select_for_review(table, -1)
