"""Resolve reviewers' answers for one task (pure; no I/O).

Rules (documented in ``docs/concepts.md``):

* Skipped (cancelled) annotations are not votes.
* One non-skipped vote: that answer wins (unless it is "Not sure").
* Several: the answer with the most votes wins when its share of the non-skipped votes is
  strictly more than ``min_agreement`` (default 0.5: a strict majority).
* A tie, too little agreement, or a winning "Not sure" leaves the task ``unresolved``: it
  stays open for another reviewer. "Not sure" votes count in the denominator.
* A winning "Not a valid image / none of these" makes the outcome ``excluded``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

NOT_SURE = "Not sure"
NOT_VALID = "Not a valid image / none of these"


@dataclass(frozen=True)
class Vote:
    """One reviewer's annotation of a task."""

    annotation_id: int
    reviewer: str
    choice: str | None
    cancelled: bool = False


@dataclass(frozen=True)
class Resolution:
    """The outcome of a task's votes.

    Attributes
    ----------
    outcome : str
        ``label`` (a class won), ``excluded`` (not a valid image) or ``unresolved``.
    label : str or None
        The winning class when ``outcome == "label"``.
    votes : dict
        Non-skipped votes per answer.
    agreement : float
        The winner's share of the non-skipped votes (0 when there are none).
    reason : str
        Why, for people (``"2/2 agree"``, ``"tie 1-1"``, ``"no votes"``...).
    """

    outcome: str
    label: str | None
    votes: dict[str, int]
    agreement: float
    reason: str


def resolve(
    votes: Sequence[Vote], *, classes: Sequence[str], min_agreement: float = 0.5
) -> Resolution:
    """Resolve the votes of one task.

    Parameters
    ----------
    votes : sequence of Vote
        Every annotation of the task, skipped ones included.
    classes : sequence of str
        The valid class names; any other answer (other than the two special ones) is
        ignored as a vote.
    min_agreement : float
        The winner needs a share of the non-skipped votes strictly above this.

    Returns
    -------
    Resolution
    """
    valid = set(classes) | {NOT_SURE, NOT_VALID}
    counted = [v.choice for v in votes if not v.cancelled and v.choice in valid]
    tally = Counter(counted)
    total = sum(tally.values())
    votes_dict = dict(sorted(tally.items()))
    if total == 0:
        return Resolution("unresolved", None, votes_dict, 0.0, "no votes")
    ranked = tally.most_common()
    top, top_n = ranked[0]
    if len(ranked) > 1 and ranked[1][1] == top_n:
        tied = sorted(c for c, n in ranked if n == top_n)
        return Resolution("unresolved", None, votes_dict, top_n / total, "tie " + " / ".join(tied))
    share = top_n / total
    if share <= min_agreement:
        return Resolution(
            "unresolved",
            None,
            votes_dict,
            share,
            f"{top_n}/{total} agree, need more than {min_agreement:.0%}",
        )
    if top == NOT_SURE:
        return Resolution("unresolved", None, votes_dict, share, "not sure")
    if top == NOT_VALID:
        return Resolution("excluded", None, votes_dict, share, f"{top_n}/{total} say not valid")
    return Resolution("label", top, votes_dict, share, f"{top_n}/{total} agree")
