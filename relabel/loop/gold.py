"""Gold tasks: samples with a trusted label, mixed into a push to measure the reviewers.

A gold task looks like any other task: the same image view, the same header (its label
and the model's suggestion), the same ranking fields. Its answers go into the crowd model
(:mod:`relabel.review.annotators`), where the trusted label anchors each reviewer's confusion
matrix; they never change a label.

Trusted labels come from two places:

* the held-out manifest (``dataset.holdout``): images outside the training set, labelled
  by someone the data lead trusts; the model of the newest run predicts them, for the
  header;
* samples whose label was confirmed by at least two reviewers who all agreed
  (:meth:`relabel.store.Store.gold_labels`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from relabel.project import Project, RankedSamples

log = logging.getLogger(__name__)

#: The ranking fields a Label Studio Data Manager column shows for every task.
SHOWN_FIELDS = ("rank", "lane", "suspicion")


def evidence_of(r: Any, run_id: str) -> dict[str, Any]:
    """The scores of a ranking row that travel into the task (and the label store)."""
    return {
        "given_label": r.given_label,
        "predicted_label": r.predicted_label,
        "p_given": float(r.p_given),
        "p_predicted": float(r.p_predicted),
        "suspicion": float(r.suspicion),
        "rank": int(r.rank),
        "lane": r.lane,
        "run_id": run_id,
    }


def mix_gold(
    items: list[tuple[str, dict[str, Any]]],
    gold: list[tuple[str, dict[str, Any]]],
    seed: int,
) -> list[tuple[str, dict[str, Any]]]:
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


def gold_items(
    project: Project, ranked: RankedSamples, exclude: set[str], n_regular: int, seed: int
) -> list[tuple[str, dict[str, Any]]]:
    """Gold tasks for a push of ``n_regular`` tasks: ``review.gold_fraction`` of the push.

    Drawn (seeded) from the held-out manifest and the confirmed samples not in
    ``exclude``, sorted by id first so the same inputs give the same draw.

    Returns
    -------
    list of (sample_id, evidence)
        Evidence as :func:`evidence_of`, with ``path`` for held-out images.
    """
    fraction = project.config.review.gold_fraction
    if fraction <= 0 or n_regular == 0:
        return []
    want = round(n_regular * fraction / (1.0 - fraction))
    trusted = project.store.gold_labels()
    confirmed = sorted(set(trusted) - exclude)
    held_out = [r for r in holdout_records(project) if r.sample_id not in exclude]
    pool = [("store", sid) for sid in confirmed] + [("holdout", r.sample_id) for r in held_out]
    if len(pool) < want:
        log.info("gold tasks: %d wanted, %d trusted sample(s) available", want, len(pool))
    order = np.random.default_rng(seed).permutation(len(pool))[:want]
    picked = [pool[i] for i in sorted(order)]
    chosen = {sid for kind, sid in picked if kind == "store"}
    rows = ranked.table[ranked.table["sample_id"].isin(chosen)].sort_values("sample_id")
    out = [(r.sample_id, evidence_of(r, ranked.run_id)) for r in rows.itertuples(index=False)]
    records = {r.sample_id: r for r in held_out}
    out += _holdout_evidence(project, [records[s] for k, s in picked if k == "holdout"], ranked)
    return out


def holdout_records(project: Project) -> list[Any]:
    """The held-out manifest's records with a class label and an id that is not a sample
    id of the store (an id the store knows would mix two images in one answer record)."""
    holdout = project.config.dataset.holdout
    if not holdout:
        return []
    from relabel import data as dataset_mod

    path = Path(holdout) if Path(holdout).is_absolute() else project.root / holdout
    records, _ = dataset_mod.read_manifest(path)
    known = set(project.store.labels()["sample_id"])
    classes = set(project.config.dataset.classes)
    usable = (r for r in records if r.sample_id not in known and r.label in classes)
    return sorted(usable, key=lambda r: r.sample_id)


def _holdout_evidence(
    project: Project, records: list[Any], ranked: RankedSamples
) -> list[tuple[str, dict[str, Any]]]:
    """Evidence for held-out gold images: the newest run's model predicts them."""
    if not records:
        return []
    from relabel import training

    model = project.root / "runs" / ranked.run_id / "model.keras"
    if not model.is_file():
        log.warning("gold tasks: run %s has no final model; held-out images left out", model)
        return []
    probs = training.predict_probabilities(
        model, [r.path for r in records], project.train_settings()
    )
    classes = project.config.dataset.classes
    out = []
    for r, p in zip(records, np.asarray(probs, dtype=float), strict=True):
        given = classes.index(r.label)
        best = int(p.argmax())
        out.append(
            (
                r.sample_id,
                {
                    "given_label": r.label,
                    "predicted_label": classes[best],
                    "p_given": float(p[given]),
                    "p_predicted": float(p[best]),
                    "suspicion": float(1.0 - p[given]),
                    "rank": 0,
                    "lane": "ok",
                    "run_id": ranked.run_id,
                    "path": r.path,
                },
            )
        )
    return out
