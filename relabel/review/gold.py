"""Gold tasks, the pure part: how many, which, and where they go in a push.

A gold task is a sample with a trusted label, mixed into a push to measure the reviewers.
It looks like any other task: the same image view, the same header (its label and the
model's suggestion), the same ranking fields. Its answers go into the crowd model
(:mod:`relabel.review.annotators`), where the trusted label anchors each reviewer's
confusion matrix; they never change a label. The loop finds the trusted samples
(:mod:`relabel.loop.gold`); this module draws and places them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: The ranking fields a Label Studio Data Manager column shows for every task.
SHOWN_FIELDS = ("rank", "lane", "suspicion")

#: One task of a push: the sample id and the evidence that travels with it.
Item = tuple[str, dict[str, Any]]


def evidence_of(row: Any, run_id: str) -> dict[str, Any]:
    """The scores of a ranking row that travel into the task (and the label store).

    Parameters
    ----------
    row : namedtuple or mapping-like
        A row of the ranking table (``given_label``, ``predicted_label``, ``p_given``,
        ``p_predicted``, ``suspicion``, ``rank``, ``lane``, and ``p_error`` when it has it,
        else ``1 - p_given``).
    run_id : str
        The training run whose probabilities ranked it.
    """
    return {
        "given_label": row.given_label,
        "predicted_label": row.predicted_label,
        "p_given": float(row.p_given),
        "p_predicted": float(row.p_predicted),
        "suspicion": float(row.suspicion),
        "p_error": float(getattr(row, "p_error", 1.0 - float(row.p_given))),
        "rank": int(row.rank),
        "lane": row.lane,
        "run_id": run_id,
    }


def gold_count(n_regular: int, fraction: float) -> int:
    """Gold tasks to add to ``n_regular`` tasks so that they are ``fraction`` of the push."""
    if fraction <= 0 or n_regular == 0:
        return 0
    return round(n_regular * fraction / (1.0 - fraction))


def draw_gold(pool: Sequence[Any], want: int, seed: int) -> list[Any]:
    """A seeded draw of ``want`` entries of ``pool``, kept in pool order.

    The pool should be in a stable order (sorted by id), so that the same inputs and seed
    draw the same entries.
    """
    order = np.random.default_rng(seed).permutation(len(pool))[:want]
    return [pool[i] for i in sorted(order)]


def mix_gold(items: list[Item], gold: list[Item], seed: int) -> list[Item]:
    """Insert gold tasks at seeded random places among ``items`` (push order).

    A gold task's header is its own; its ranking fields (:data:`SHOWN_FIELDS`) are those of
    the task placed before it, so no column tells a reviewer which tasks are gold. Its
    evidence records ``gold_label``.
    """
    rng = np.random.default_rng(seed)
    mixed = list(items)
    for sample_id, evidence in gold:
        at = int(rng.integers(0, len(mixed) + 1))
        near = mixed[max(at - 1, 0)][1] if mixed else evidence
        shown = {k: near[k] for k in SHOWN_FIELDS}
        gold_evidence = {**evidence, **shown, "gold_label": evidence["given_label"]}
        mixed.insert(at, (sample_id, gold_evidence))
    return mixed


def predicted_evidence(
    label: str, probs: np.ndarray, classes: Sequence[str], run_id: str, path: str
) -> dict[str, Any]:
    """The evidence of a held-out gold image, from the model's probabilities for it."""
    given = list(classes).index(label)
    best = int(np.argmax(probs))
    return {
        "given_label": label,
        "predicted_label": classes[best],
        "p_given": float(probs[given]),
        "p_predicted": float(probs[best]),
        "suspicion": float(1.0 - probs[given]),
        "rank": 0,
        "lane": "ok",
        "run_id": run_id,
        "path": path,
    }
