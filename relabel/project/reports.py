"""What a project reports: its status, the exported manifest, a sample's label history and
the reviewers' quality."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from relabel.config import Config
from relabel.project.gains import errors_left_of, learning_curve_of
from relabel.project.ranking import RankedSamples, rank
from relabel.project.samples import is_member
from relabel.project.tables import write_table
from relabel.review.cycles import cycle_history
from relabel.store import Store

EXPORT_COLUMNS = ["id", "path", "label", "original_label", "changed_in_cycle", "status", "drop"]
LANES = ("label_issue", "uncertain", "ok")
#: The export's ``status`` of a sample of the unlabelled pool.
UNLABELLED_STATUS = "unlabelled"
#: The label columns ``status`` reads: its counts' and the ranking's.
STATUS_COLUMNS = ("sample_id", "path", "label", "status", "original_label")


def _label_counts(labels: pd.DataFrame, classes: list[str]) -> dict[str, Any]:
    """Samples, active, excluded and changed counts, and the class balances."""
    active = labels[labels["status"] == "active"]
    balance = active["label"].value_counts()
    original = labels["original_label"].value_counts()
    return {
        "samples": len(labels),
        "active": len(active),
        "excluded": int((labels["status"] == "excluded").sum()),
        "changed": int(
            (labels["original_label"].notna() & (labels["label"] != labels["original_label"])).sum()
        ),
        "classes": classes,
        "class_balance": {c: int(balance.get(c, 0)) for c in classes},
        "original_balance": {c: int(original.get(c, 0)) for c in classes},
    }


def _estimates(run: dict[str, Any], ranked: RankedSamples, classes: list[str]) -> dict[str, Any]:
    """The newest run, the estimated label errors (per class, per confused pair), lanes."""
    joint = ranked.scores.joint
    pairs = [
        {"given": classes[i], "likely": classes[j], "estimated": int(joint.errors_per_pair[i, j])}
        for i in range(len(classes))
        for j in range(len(classes))
        if i != j and joint.errors_per_pair[i, j] > 0
    ]
    pairs.sort(key=lambda p: (-p["estimated"], p["given"], p["likely"]))
    return {
        "run": {
            "run_id": run["run_id"],
            "oof_accuracy": run["metrics"].get("oof_accuracy"),
            "stale": ranked.stale,
            "source": (run.get("settings") or {}).get("source", "trained"),
            "model_name": (run.get("settings") or {}).get("model_name", ""),
        },
        "estimated_errors": int(joint.n_label_errors),
        "estimated_errors_per_class": {
            c: int(joint.errors_per_class[i]) for i, c in enumerate(classes)
        },
        "confused_pairs": pairs[:10],
        "lanes": {k: int((ranked.table["lane"] == k).sum()) for k in LANES},
    }


def status(root: Path, config: Config, store: Store) -> dict[str, Any]:
    """Samples, classes, class balance, estimated errors, confused pairs and cycles.

    Parameters
    ----------
    root : Path
        The project folder.
    config : Config
        Its config.
    store : Store
        Its label store.

    Returns
    -------
    dict
        JSON-serialisable; the estimates (and ``errors_left``,
        :class:`relabel.review.stopping.ErrorsLeft` as a dict) are present only after a
        training run; ``learning_curve`` is :class:`relabel.review.stopping.LearningCurve`
        as a dict; ``cycles`` is :func:`relabel.review.cycles.cycle_history`. ``samples``
        and the counts are of the labelled samples; ``labelled`` and ``unlabelled`` size
        the pool (samples without a label yet).
    """
    classes = config.dataset.classes
    labels = store.labels(STATUS_COLUMNS)  # read once, for the counts and the ranking
    out: dict[str, Any] = {"project": config.name, **_label_counts(labels, classes)}
    out["labelled"], out["unlabelled"] = len(labels), store.n_unlabelled()  # the pool
    run = store.latest_run("train")
    if run is not None:
        ranked = rank(root, config, store, labels)
        out.update(_estimates(run, ranked, classes))
        out["errors_left"] = errors_left_of(root, config, store, ranked).as_dict()
    out["learning_curve"] = learning_curve_of(config, store).as_dict()
    out["cycles"] = cycle_history(store.cycles(), store.n_samples(), config.review)
    return out


def export(store: Store, out: Path) -> int:
    """Write the current manifest: ``id,path,label,original_label,changed_in_cycle,status,drop``.

    A sample of the unlabelled pool has an empty ``label`` and ``original_label`` and the
    status ``unlabelled``; a sample labelled out of the pool an empty ``original_label``.
    ``drop`` is True for a sample an issue review dropped (a duplicate not kept, an outlier
    removed): it stays in the store and in the export, and is left out of training.

    Parameters
    ----------
    store : Store
        The project's label store.
    out : Path
        ``.csv`` or ``.parquet`` file to write.

    Returns
    -------
    int
        Rows written.
    """
    labels = store.labels()
    pool = store.pool()
    if len(pool):  # unlabelled: an empty label, as in the manifest they came from
        empty = pd.Series([""] * len(pool), dtype=labels["label"].dtype)
        pool = pool.assign(label=empty, original_label=empty, status=UNLABELLED_STATUS)
        labels = pd.concat([labels, pool], ignore_index=True).sort_values("ord", kind="stable")
    labels["drop"] = is_member(labels["sample_id"], store.dropped_sample_ids())
    table = labels.rename(columns={"sample_id": "id"})[EXPORT_COLUMNS]
    write_table(table, Path(out))
    return len(table)


def history(store: Store, sample_id: str) -> list[dict[str, Any]]:
    """One sample's label history, oldest first, as dicts.

    Parameters
    ----------
    store : Store
        The project's label store.
    sample_id : str
        The sample.

    Returns
    -------
    list of dict
        The fields of :class:`relabel.store.LabelVersion`.
    """
    return [v.__dict__ for v in store.history(sample_id)]


def task_history(store: Store, sample_id: str) -> list[dict[str, Any]]:
    """One sample's Label Studio tasks, oldest first, and how each ended
    (:meth:`relabel.store.Store.task_history`)."""
    return store.task_history(sample_id)


def annotators(store: Store, classes: list[str]) -> pd.DataFrame:
    """Each reviewer's quality, from every answer pulled (see :mod:`relabel.review.annotators`).

    Parameters
    ----------
    store : Store
        The project's label store.
    classes : list of str
        The project's classes.

    Returns
    -------
    pandas.DataFrame
    """
    from relabel.review.annotators import annotator_table

    return annotator_table(store.crowd_answers(), store.gold_task_labels(), classes)
