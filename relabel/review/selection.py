"""Choose which samples go to reviewers, within a budget (pure; no I/O).

Input is the ranking table of :meth:`relabel.project.Project.rank` (one row per sample,
with ``sample_id, given_label, suspicion, rank, lane, max_confidence``).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from relabel.errors import ConfigError


def _by_rank(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("rank", kind="stable")


def _by_uncertainty(frame: pd.DataFrame) -> pd.DataFrame:
    return (
        frame.assign(_order=frame["rank"])
        .sort_values(["max_confidence", "_order"], kind="stable")
        .drop(columns="_order")
    )


def _balanced(frame: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Spread ``budget`` over given classes in proportion to their candidates."""
    counts = frame["given_label"].value_counts().sort_index()
    if counts.empty:
        return frame.iloc[:0]
    quota = counts / counts.sum() * budget
    alloc = np.minimum(np.floor(quota).astype(int), counts)
    leftover = budget - int(alloc.sum())
    order = (quota - np.floor(quota)).sort_values(ascending=False, kind="stable").index
    for label in order:
        if leftover <= 0:
            break
        if alloc[label] < counts[label]:
            alloc[label] += 1
            leftover -= 1
    parts = [frame[frame["given_label"] == label].head(int(n)) for label, n in alloc.items()]
    chosen = pd.concat(parts) if parts else frame.iloc[:0]
    if len(chosen) < budget:
        rest = frame[~frame.index.isin(chosen.index)]
        chosen = pd.concat([chosen, rest.head(budget - len(chosen))])
    return _by_rank(chosen)


def select_for_review(
    table: pd.DataFrame,
    budget: int,
    *,
    lane: str = "label_issue",
    exclude: Collection[str] = (),
    uncertain_share: float = 0.0,
    per_class_balance: bool = False,
    fill: bool = True,
    min_suspicion: float = 0.0,
) -> pd.DataFrame:
    """Pick up to ``budget`` samples for review.

    Parameters
    ----------
    table : pandas.DataFrame
        The ranking (any row order).
    budget : int
        The most samples to pick.
    lane : {"label_issue", "uncertain", "all"}
        ``label_issue``: samples whose label looks wrong, most suspicious first;
        ``uncertain``: samples the model is unsure about, least confident first;
        ``all``: every sample by suspicion.
    exclude : collection of str
        Sample ids never to pick (open tasks, reviewed since their label last changed).
    uncertain_share : float
        With ``lane="label_issue"``: this share of the budget goes to the uncertain lane.
    per_class_balance : bool
        Spread the label-issue budget over given classes in proportion to their
        candidates, instead of taking the global top.
    fill : bool
        With ``lane="label_issue"``: when the lane has fewer eligible samples than its
        share of the budget, fill the rest with the next most suspicious samples of the
        ``ok`` lane (never the ``uncertain`` lane, which has its own share). The lane's
        size is an estimate of the errors left, and an underestimate after the first
        cycle; filling spends the budget the data lead set on the most likely errors.
    min_suspicion : float
        The floor of a filled slot: a fill sample needs an estimated error probability
        (:func:`error_probability`) of at least this. 0: no floor.

    Returns
    -------
    pandas.DataFrame
        The chosen rows: label-issue picks in rank order, then the fill in rank order,
        then uncertain picks.
    """
    if budget < 0:
        raise ConfigError(f"review budget must be >= 0, got {budget}")
    if lane not in ("label_issue", "uncertain", "all"):
        raise ConfigError(f"unknown lane {lane!r}: use label_issue, uncertain or all")
    pool = table[~table["sample_id"].isin(set(exclude))]
    if lane == "uncertain":
        return _by_uncertainty(pool[pool["lane"] == "uncertain"]).head(budget)
    if lane == "all":
        main = _by_rank(pool)
        return _balanced(main, budget) if per_class_balance else main.head(budget)
    n_uncertain = round(budget * uncertain_share)
    uncertain = _by_uncertainty(pool[pool["lane"] == "uncertain"]).head(n_uncertain)
    issues = _by_rank(pool[pool["lane"] == "label_issue"])
    n_issues = budget - len(uncertain)
    picked = _balanced(issues, n_issues) if per_class_balance else issues.head(n_issues)
    if fill and len(picked) < n_issues:
        rest = _by_rank(fill_pool(pool, min_suspicion)).head(n_issues - len(picked))
        picked = pd.concat([picked, rest])
    return pd.concat([picked, uncertain])


def fill_pool(pool: pd.DataFrame, min_suspicion: float = 0.0) -> pd.DataFrame:
    """The samples a filled slot may take: the ``ok`` lane at or above the floor.

    Parameters
    ----------
    pool : pandas.DataFrame
        Ranking rows still eligible (not busy, not reviewed).
    min_suspicion : float
        The least estimated error probability (:func:`error_probability`).
    """
    ok = pool[pool["lane"] == "ok"]
    if min_suspicion <= 0:
        return ok
    return ok[error_probability(ok) >= min_suspicion]


def error_probability(table: pd.DataFrame) -> pd.Series:
    """Each row's estimated probability that its label is wrong: the ``p_error`` column
    (the noise posterior, :func:`relabel.ranking.noise_posterior`), else ``1 - p_given``."""
    if "p_error" in table:
        return table["p_error"]
    return 1.0 - table["p_given"]


def below_floor(
    table: pd.DataFrame, exclude: Collection[str], chosen: pd.DataFrame, min_suspicion: float
) -> tuple[int, float | None]:
    """Fill candidates (``ok`` lane, eligible, not chosen) under the suspicion floor.

    Returns
    -------
    count, highest
        How many there are, and the highest estimated error probability among them
        (None when there are none, or when there is no floor).
    """
    if min_suspicion <= 0:
        return 0, None
    pool = table[~table["sample_id"].isin(set(exclude) | set(chosen["sample_id"]))]
    ok = pool[pool["lane"] == "ok"]
    error = error_probability(ok)
    under = error[error < min_suspicion]
    return len(under), (float(under.max()) if len(under) else None)
