"""Gold tasks, the loop's part: where trusted labels come from.

Trusted labels come from two places:

* the held-out manifest (``dataset.holdout``): images outside the training set, labelled
  by someone the data lead trusts; the model of the newest run predicts them, for the
  header;
* samples whose label was confirmed by at least two reviewers who all agreed
  (:meth:`relabel.store.Store.gold_labels`).

How many gold tasks a push gets, which ones and where they go is decided by
:mod:`relabel.review.gold` and :mod:`relabel.review.plan`.
"""

from __future__ import annotations

import logging
from collections.abc import Set
from typing import Any

import numpy as np

from relabel.errors import NotTrainedError
from relabel.project import Project, RankedSamples
from relabel.review.gold import Item, draw_gold, evidence_of, predicted_evidence

log = logging.getLogger(__name__)


def gold_items(
    project: Project, ranked: RankedSamples, exclude: Set[str], want: int, seed: int
) -> list[Item]:
    """Up to ``want`` gold tasks from the trusted samples not in ``exclude``.

    Drawn (seeded) from the confirmed samples and the held-out manifest, sorted by id
    first so the same inputs give the same draw.

    Returns
    -------
    list of (sample_id, evidence)
        Evidence as :func:`relabel.review.gold.evidence_of`, with ``path`` for held-out
        images.
    """
    confirmed = sorted(set(project.store.gold_labels()) - set(exclude))
    held_out = [r for r in holdout_records(project) if r.sample_id not in exclude]
    pool = [("store", sid) for sid in confirmed] + [("holdout", r.sample_id) for r in held_out]
    if len(pool) < want:
        log.info("gold tasks: %d wanted, %d trusted sample(s) available", want, len(pool))
    picked = draw_gold(pool, want, seed)
    chosen = {sid for kind, sid in picked if kind == "store"}
    rows = ranked.table[ranked.table["sample_id"].isin(chosen)].sort_values("sample_id")
    out = [(r.sample_id, evidence_of(r, ranked.run_id)) for r in rows.itertuples(index=False)]
    records = {r.sample_id: r for r in held_out}
    out += _holdout_evidence(project, [records[s] for k, s in picked if k == "holdout"], ranked)
    return out


def holdout_records(project: Project) -> list[Any]:
    """The held-out manifest's records with a class label and an id that is not a sample
    id of the store (an id the store knows would mix two images in one answer record)."""
    known = set(project.store.labels()["sample_id"])
    classes = set(project.config.dataset.classes)
    usable = (r for r in project.holdout() if r.sample_id not in known and r.label in classes)
    return sorted(usable, key=lambda r: r.sample_id)


def _holdout_evidence(project: Project, records: list[Any], ranked: RankedSamples) -> list[Item]:
    """Evidence for held-out gold images: the newest run's model predicts them."""
    if not records:
        return []
    try:
        probs = project.predict([r.path for r in records], ranked.run_id)
    except NotTrainedError as exc:
        log.warning("gold tasks: held-out images left out (%s)", exc)
        return []
    classes = project.config.dataset.classes
    return [
        (r.sample_id, predicted_evidence(r.label, p, classes, ranked.run_id, r.path))
        for r, p in zip(records, np.asarray(probs, dtype=float), strict=True)
    ]
