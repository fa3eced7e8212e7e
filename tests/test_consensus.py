"""Resolving reviewers' votes (pure)."""

from __future__ import annotations

import pytest

from relabel.review.majority import NOT_SURE, NOT_VALID, Vote, resolve

CLASSES = ["1", "7", "9"]


def votes(*choices: str | None, cancelled: tuple[int, ...] = ()) -> list[Vote]:
    return [Vote(i, f"r{i}", c, i in cancelled) for i, c in enumerate(choices)]


@pytest.mark.parametrize(
    ("choices", "cancelled", "outcome", "label", "reason"),
    [
        (("7",), (), "label", "7", "1/1 agree"),
        (("7", "7"), (), "label", "7", "2/2 agree"),
        (("7", "1"), (), "unresolved", None, "tie 1 / 7"),
        (("7", "7", "1"), (), "label", "7", "2/3 agree"),
        (("7", "1"), (1,), "label", "7", "1/1 agree"),
        (("7", None), (1,), "label", "7", "1/1 agree"),
        ((None,), (0,), "unresolved", None, "no votes"),
        ((), (), "unresolved", None, "no votes"),
        ((NOT_SURE,), (), "unresolved", None, "not sure"),
        (("7", NOT_SURE), (), "unresolved", None, f"tie 7 / {NOT_SURE}"),
        ((NOT_VALID, NOT_VALID), (), "excluded", None, "2/2 say not valid"),
        (("7", "7", NOT_SURE), (), "label", "7", "2/3 agree"),
        (("cow",), (), "unresolved", None, "no votes"),
    ],
)
def test_resolve(choices, cancelled, outcome, label, reason) -> None:
    r = resolve(votes(*choices, cancelled=cancelled), classes=CLASSES)
    assert (r.outcome, r.label, r.reason) == (outcome, label, reason)


def test_min_agreement_is_strict() -> None:
    v = votes("7", "7", "1", "9")  # 2 of 4 = 0.5: not more than half
    assert resolve(v, classes=CLASSES).outcome == "unresolved"
    v = votes("7", "7", "7", "1")
    assert resolve(v, classes=CLASSES, min_agreement=0.75).outcome == "unresolved"
    assert resolve(v, classes=CLASSES, min_agreement=0.7).label == "7"


def test_votes_are_counted_without_skips() -> None:
    r = resolve(votes("7", "1", "7", cancelled=(1,)), classes=CLASSES)
    assert r.votes == {"7": 2} and r.agreement == 1.0
