"""The fill floor (``review.min_suspicion``) on settings it was not chosen on.

One push of 5 % of the samples (the label-issue lane filled up to the budget) on the
paper's reference probabilities: CIFAR-10 and MNIST with human noise (CIFAR-10H votes) and
injected class-pair noise. For floors 0, 0.05, 0.1 and 0.2 on the noise posterior: the
filled slots kept and how many of them hold a wrong label.

The original labels of both test sets, whose only errors are the human-confirmed ones, stand
for a late cycle: the lane is small and most of the budget is filled.

Usage: ``python -m benchmarks.floor_probe`` (prints a table; not part of BENCHMARKS.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import datasets, human_noise
from relabel import ranking as scoring
from relabel.data.noise_injection import inject_noise
from relabel.review.selection import select_for_review

FLOORS = (0.0, 0.05, 0.1, 0.2)


def _table(given: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    s = scoring.score_samples(given, probs)
    return pd.DataFrame(
        {
            "sample_id": np.arange(len(given)).astype(str),
            "given_label": given.astype(str),
            "p_given": s.p_given,
            "p_error": scoring.noise_posterior(given, probs),
            "max_confidence": s.max_confidence,
            "rank": s.rank,
            "lane": s.lane,
        }
    )


def probe(
    name: str, given: np.ndarray, wrong_mask: np.ndarray, probs: np.ndarray
) -> list[dict[str, object]]:
    """One setting's rows: floor, filled slots, wrong labels among them, in the lane."""
    table = _table(given, probs)
    budget = int(np.ceil(0.05 * len(given)))
    lane = int((table["lane"] == "label_issue").sum())
    rows = []
    for floor in FLOORS:
        picked = select_for_review(table, budget, min_suspicion=floor)
        ids = picked["sample_id"].astype(int).to_numpy()
        fill = picked[picked["lane"] != "label_issue"]["sample_id"].astype(int).to_numpy()
        wrong = int(wrong_mask[ids].sum())
        fill_wrong = int(wrong_mask[fill].sum())
        rows.append(
            {
                "setting": name,
                "lane": min(lane, budget),
                "floor": floor,
                "filled": len(fill),
                "filled_wrong": fill_wrong,
                "sent": len(ids),
                "sent_wrong": wrong,
            }
        )
    return rows


def run(
    data: Path = datasets.DEFAULT_DATA, cache: Path = datasets.DEFAULT_CACHE
) -> list[dict[str, object]]:
    """Every setting's rows (the datasets that are there)."""
    rows: list[dict[str, object]] = []
    for name in ("cifar10", "mnist"):
        try:
            ds = datasets.load(name, data, cache)
        except Exception:  # the data folder is optional
            continue
        probs, truth = ds.reference_probs, ds.labels
        settings = {f"{name} pairs": inject_noise(truth, datasets.PAIR_NOISE[name], 10, seed=1)}
        if name == "cifar10":
            counts = human_noise.load_counts(data)
            settings["cifar10 human-sampled"] = human_noise.human_labels(
                "human-sampled", counts, truth, seed=0
            )
        for label, given in settings.items():
            given = np.asarray(given)
            rows += probe(label, given, given != truth, probs)
        # a late cycle: the original labels, whose only errors are the real ones that
        # reviewers confirmed (the lane is small, so the budget is filled)
        confirmed = np.zeros(len(truth), dtype=bool)
        confirmed[ds.confirmed] = True
        rows += probe(f"{name} original (real errors)", truth, confirmed, probs)
    return rows


def main() -> None:
    """Print the table."""
    rows = run()
    print("| " + " | ".join(rows[0]) + " |")
    for r in rows:
        print("| " + " | ".join(str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
