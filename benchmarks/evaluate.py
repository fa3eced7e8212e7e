"""Detection figures of every ranking on one half of one label setting, over its seeds.

For a half of ``n`` samples: precision in the top 5 % (what a review budget consumes),
precision at ``k`` = the number of true errors in the half (a cutoff only an oracle knows),
the hits among the paper's checked count scaled to the half (original labels: the 275
CIFAR-10 / 100 MNIST samples the paper's reviewers checked), and the AUROC; each a mean
over seeds with a paired bootstrap interval (:mod:`benchmarks.stats`), and the paired
difference of the default ranking against every other. cleanlab's ``find_label_issues``
flags a set, not a ranking: its size, precision and recall are given beside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks import stats

#: The samples the paper's reviewers checked on the original labels, per dataset.
CHECKED = {"cifar10": 275, "mnist": 100}


def figures(checked: int | None, top_fraction: float) -> dict[str, stats.Figure]:
    """The figures of a half, by name (``hits_checked`` only where the paper checked)."""
    out: dict[str, stats.Figure] = {
        "p_top": stats.precision_at_fraction(top_fraction),
        "p_at_k": stats.precision_at_errors,
        "auroc": stats.auroc,
    }
    if checked:
        out["hits_checked"] = stats.hits_at(checked)
    return out


def checked_in_half(dataset: str, labels: str, n_half: int, n_total: int) -> int | None:
    """The paper's checked count scaled to the half (original labels only)."""
    if labels != "original" or dataset not in CHECKED:
        return None
    return int(np.ceil(CHECKED[dataset] * n_half / n_total))


def evaluate_half(
    seeds: Sequence[stats.SeedRankings], default: str, checked: int | None, top_fraction: float
) -> dict[str, Any]:
    """Every figure of every ranking, and the default's paired differences.

    Returns
    -------
    dict
        ``rankings``: ``{ranking: {figure: Estimate.as_dict()}}``; ``vs_default``:
        ``{ranking: {figure: difference (default - ranking) with its verdict}}``.
    """
    names = list(seeds[0].scores)
    pairs = [(default, name) for name in names if name != default]
    rankings: dict[str, dict[str, Any]] = {name: {} for name in names}
    versus: dict[str, dict[str, Any]] = {b: {} for _, b in pairs}
    compared = stats.compare(figures(checked, top_fraction), seeds, pairs)
    for fig_name, (single, diffs) in compared.items():
        for name in names:
            rankings[name][fig_name] = single[name].as_dict()
        for (_, b), est in diffs.items():
            versus[b][fig_name] = {**est.as_dict(), "verdict": stats.verdict(est)}
    return {"rankings": rankings, "vs_default": versus}


def flagged_figures(
    is_error: Sequence[np.ndarray],
    flagged: Sequence[np.ndarray],
    default: Sequence[np.ndarray] | None = None,
) -> dict:
    """cleanlab's flagged set: mean size, precision and recall over the seeds.

    With ``default`` (the default ranking's scores per seed, higher: worse), also the
    default ranking cut at the same count as cleanlab's set in each seed (like with like:
    the same probabilities, the same cutoff): ``default_precision``, ``default_recall``.
    """
    size, precision, recall, d_precision, d_recall = [], [], [], [], []
    for i, (err, flag) in enumerate(zip(is_error, flagged, strict=True)):
        n_flag, n_err = int(flag.sum()), max(1, int(err.sum()))
        hits = int((flag & err).sum())
        size.append(n_flag)
        precision.append(hits / max(1, n_flag))
        recall.append(hits / n_err)
        if default is not None:
            top = np.argsort(-np.asarray(default[i]), kind="stable")[:n_flag]
            d_hits = int(err[top].sum())
            d_precision.append(d_hits / max(1, n_flag))
            d_recall.append(d_hits / n_err)
    out = {
        "flagged": float(np.mean(size)),
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
    }
    if default is not None:
        out["default_precision"] = float(np.mean(d_precision))
        out["default_recall"] = float(np.mean(d_recall))
    return out
