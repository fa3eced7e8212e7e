"""Predictions of a run's final model: for the held-out manifest and for new images.

The held-out manifest (``dataset.holdout``) holds images outside the training set,
labelled by someone the data lead trusts; a cycle measures its accuracy on them, and gold
tasks draw from them. Predictions go through the project's engine
(:mod:`relabel.project.engine`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relabel import data as dataset_mod
from relabel.config import Config
from relabel.errors import DatasetError, NotTrainedError, Problem
from relabel.project.engine import engine_for
from relabel.project.runs import MODEL_FILE, chosen_run
from relabel.project.train import train_settings
from relabel.store import Store

log = logging.getLogger("relabel.project")


def holdout_records(root: Path, config: Config) -> list[Any]:
    """Every valid row of the held-out manifest (none when there is no ``dataset.holdout``).

    Invalid rows (an empty path or label, a duplicate id) are left out with a warning.

    Raises
    ------
    DatasetError
        A row's label is not one of the project's classes: the held-out images measure
        the model and serve as gold tasks, so each must name a class (every such row is
        listed; nothing was written).
    """
    holdout = config.dataset.holdout
    if not holdout:
        return []
    path = Path(holdout) if Path(holdout).is_absolute() else Path(root) / holdout
    records, problems = dataset_mod.read_manifest(path)
    unlabelled = [r for r in records if not r.labelled]
    if unlabelled:  # a held-out image measures the model: it needs its label
        problems += [Problem(r.where, "empty label", r.path, r.row) for r in unlabelled]
        records = [r for r in records if r.labelled]
    if problems:
        log.warning("held-out manifest %s: %d invalid row(s) ignored", path, len(problems))
    classes = config.dataset.classes
    foreign = [
        Problem(r.where, f"label {r.label!r} is not a class", r.path, r.row)
        for r in records
        if r.label not in classes
    ]
    if foreign:
        raise DatasetError(
            f"dataset.holdout = {holdout!r}: {len(foreign)} row(s) with a label that is not "
            f"one of the project's classes {classes}; fix or remove them",
            foreign,
        )
    return records


def predict(
    root: Path, config: Config, store: Store, paths: Sequence[str], run_id: str | None = None
) -> np.ndarray:
    """The class probabilities of ``paths`` by a run's final model (default: the newest).

    Raises
    ------
    NotTrainedError
        No finished run, or the run has no final model.
    """
    run_id, folder = chosen_run(root, store, run_id)
    model = folder / MODEL_FILE
    if not model.is_file():
        raise NotTrainedError(
            f"{model}: run {run_id} has no final model; retrain with: relabel train {root}"
        )
    probs = engine_for(config).predict(model, list(paths), train_settings(config, root))
    return np.asarray(probs, dtype=float)
