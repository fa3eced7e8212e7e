"""What to send to reviewers next: the review plan of one push (pure).

The loop supplies the data (the ranking, the samples that are busy or already reviewed,
and the trusted samples gold tasks may be drawn from); this module decides: which samples
fill the budget (:func:`relabel.review.selection.select_for_review`), how many gold tasks
join them and where they go (:mod:`relabel.review.gold`), and why a plan is empty.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from relabel.review.gold import Item, evidence_of, gold_count, mix_gold
from relabel.review.selection import below_floor, select_for_review


class ReviewRules(Protocol):
    """The review settings a plan follows (``relabel.config.ReviewConfig`` has them).

    ``uncertain_share``, ``per_class_balance``, ``fill_budget`` (``fill``) and
    ``min_suspicion`` are as :func:`relabel.review.selection.select_for_review`;
    ``gold_fraction`` is the share of the push that is gold tasks, in [0, 1).
    """

    uncertain_share: float
    per_class_balance: bool
    fill_budget: bool
    min_suspicion: float
    gold_fraction: float


#: Gold candidates: ``(exclude, want)`` -> up to ``want`` trusted items not in ``exclude``.
GoldSource = Callable[[Set[str], int], list[Item]]


@dataclass(frozen=True)
class PlanSummary:
    """What a plan fixed for the next push.

    Attributes
    ----------
    planned : int
        Task rows planned, gold tasks included.
    gold : int
        Of those, gold tasks (trusted labels that measure the reviewers).
    excluded_busy, excluded_reviewed : int
        Samples left out: with an open task; reviewed since their label last changed.
    below_floor : int
        Fill candidates left out for an estimated error probability under
        ``review.min_suspicion``.
    top_fill_suspicion : float or None
        The highest estimated error probability among those, None when there are none.
    """

    planned: int
    gold: int
    excluded_busy: int
    excluded_reviewed: int
    below_floor: int = 0
    top_fill_suspicion: float | None = None

    @property
    def reason(self) -> str:
        """Why nothing was planned, for people."""
        if self.below_floor:
            return (
                f"all {self.below_floor} remaining candidate(s) have an estimated error "
                f"probability under review.min_suspicion (the highest is "
                f"{self.top_fill_suspicion:.3f})"
            )
        return "no eligible sample in the budget's lane"


@dataclass(frozen=True)
class ReviewPlan:
    """The tasks of one push, in push order, and the summary of how they were chosen."""

    items: list[Item]
    summary: PlanSummary


def plan_review(
    ranking: pd.DataFrame,
    run_id: str,
    budget: int,
    *,
    lane: str,
    busy: Set[str],
    reviewed: Set[str],
    rules: ReviewRules,
    gold_source: GoldSource,
    seed: int,
) -> ReviewPlan:
    """Choose the samples of the next push and mix gold tasks among them.

    Parameters
    ----------
    ranking : pandas.DataFrame
        The ranking table (:meth:`relabel.project.Project.rank`).
    run_id : str
        The run whose probabilities ranked the samples (recorded in each task's evidence).
    budget : int
        The most samples to review (gold tasks come on top).
    lane : str
        ``label_issue``, ``uncertain`` or ``all``.
    busy, reviewed : set of str
        Sample ids with an open task, and those reviewed since their label last changed.
    rules : ReviewRules
        The review settings.
    gold_source : callable
        Supplies trusted items (:data:`GoldSource`).
    seed : int
        Seeds the gold draw and placement: the same inputs give the same plan.
    """
    reviewed = set(reviewed) - set(busy)
    exclude = set(busy) | reviewed
    chosen = select_for_review(
        ranking,
        budget,
        lane=lane,
        exclude=exclude,
        uncertain_share=rules.uncertain_share,
        per_class_balance=rules.per_class_balance,
        fill=rules.fill_budget,
        min_suspicion=rules.min_suspicion,
    )
    items = [(r.sample_id, evidence_of(r, run_id)) for r in chosen.itertuples(index=False)]
    want = gold_count(len(items), rules.gold_fraction)
    gold = gold_source(set(busy) | set(chosen["sample_id"]), want) if want else []
    below, top = below_floor(ranking, exclude, chosen, rules.min_suspicion)
    summary = PlanSummary(len(items) + len(gold), len(gold), len(busy), len(reviewed), below, top)
    return ReviewPlan(mix_gold(items, gold, seed), summary)
