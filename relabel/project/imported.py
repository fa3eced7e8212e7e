"""Bring your own outputs: a model's out-of-fold probabilities recorded as a run
(``relabel import-run``, :meth:`relabel.project.Project.add_run`).

Teams that train elsewhere hand relabel the out-of-fold probabilities (or logits) of their
model, and optionally its embeddings. :func:`import_run` checks them
(:mod:`relabel.project.outputs`: shapes, class order, ids, values) before anything is
written, then writes the same run folder a training run writes: ``oof.npz`` (sample ids,
labels, float32 probabilities, classes) in the order of the active samples,
``metrics.json`` and, with embeddings, ``embeddings.npy`` (float16, memory-mappable, rows
aligned with ``oof.npz``). The store records the run like a trained one, its settings
saying ``source = "imported"`` and the model's name, so that ``score``, ``status``,
``push``, ``report`` and the cycle history use it as they use a trained run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from relabel.config import Config
from relabel.infra.atomic import atomic_path, partial_path
from relabel.project import outputs
from relabel.project.runs import (
    EMBEDDINGS_FILE,
    IMPORTED,
    METRICS_FILE,
    OOF_FILE,
    new_run_id,
    run_dir,
)
from relabel.project.samples import active_samples, label_indices
from relabel.project.train import clean_stale_runs
from relabel.store import Store

log = logging.getLogger("relabel.project")  # one logger for the facade


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_run` recorded."""

    run_id: str
    run_dir: Path
    n_samples: int
    oof_accuracy: float
    oof_macro_f1: float


@dataclass(frozen=True)
class _Checked:
    """Outputs that passed every check, ready to be written."""

    sample_ids: np.ndarray
    y: np.ndarray
    probs: np.ndarray
    rows: outputs.RowIds
    embeddings: np.ndarray | None
    settings: dict[str, Any]


def _name(value: Any, default: str) -> str | None:
    """A file argument as the store records it (an array given in Python: ``default``)."""
    if value is None:
        return None
    return str(Path(value).resolve()) if isinstance(value, str | os.PathLike) else default


def _check(
    config: Config,
    store: Store,
    probs: outputs.ArrayInput,
    embeddings: np.ndarray | str | os.PathLike[str] | None,
    ids: Sequence[str] | str | os.PathLike[str] | None,
    model_name: str | None,
    logits: bool,
) -> _Checked:
    """Read and check every input (nothing is written here)."""
    classes = config.dataset.classes
    given = outputs.read_probs(probs, classes)
    samples = active_samples(store)
    rows = outputs.row_ids(given, ids, samples["sample_id"], store.labels()["sample_id"])
    values = outputs.checked_probs(given, rows, classes, logits=logits)
    features = None
    if embeddings is not None:
        features, _ = outputs.read_embeddings(embeddings, rows)
    settings = {
        "source": IMPORTED,
        "model_name": model_name or "",
        "probs": _name(probs, "array"),
        "ids": _name(ids, "sequence"),
        "embeddings": _name(embeddings, "array"),
        "logits": bool(logits),
        "classes": list(classes),
    }
    y = label_indices(classes, samples["label"])
    return _Checked(samples["sample_id"].to_numpy(dtype=str), y, values, rows, features, settings)


def _metrics(checked: _Checked, seconds: float) -> dict[str, Any]:
    """The run's ``metrics.json``: the keys of a trained run's, and where it came from."""
    from sklearn.metrics import f1_score

    pred = checked.probs.argmax(axis=1)
    return {
        "n_samples": len(checked.y),
        "oof_accuracy": float((pred == checked.y).mean()),
        "oof_macro_f1": float(f1_score(checked.y, pred, average="macro")),
        "seconds": seconds,
        "folds": [],
        "final_model": None,
        "source": IMPORTED,
        "model_name": checked.settings["model_name"],
    }


def _write_files(
    folder: Path, checked: _Checked, classes: list[str], started: float
) -> dict[str, Any]:
    """Write the run's files into its (partial) folder; return the metrics.

    ``oof.npz`` is stored, not deflated: probabilities hardly compress, and deflating
    100,000 x 1,000 of them took 40 of the import's 56 s (every later read inflated them
    again). ``np.load`` reads either.
    """
    np.savez(
        folder / OOF_FILE,
        sample_ids=checked.sample_ids,
        labels=checked.y,
        probs=checked.probs,
        classes=np.asarray(classes, dtype=str),
    )
    if checked.embeddings is not None:
        outputs.write_embeddings(checked.embeddings, checked.rows, folder / EMBEDDINGS_FILE)
    metrics = _metrics(checked, time.perf_counter() - started)
    (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=float))
    return metrics


def import_run(
    root: Path,
    config: Config,
    store: Store,
    probs: outputs.ArrayInput,
    embeddings: np.ndarray | str | os.PathLike[str] | None = None,
    ids: Sequence[str] | str | os.PathLike[str] | None = None,
    *,
    model_name: str | None = None,
    logits: bool = False,
    cycle: int | None = None,
) -> ImportResult:
    """Check a model's out-of-fold outputs and record them as a finished run.

    Parameters
    ----------
    root : Path
        The project folder (its lock held by the caller).
    config : Config
        Its config.
    store : Store
        Its label store, open for writing.
    probs : numpy.ndarray, pandas.DataFrame or path
        Out-of-fold probabilities (or logits): ``(n, k)`` as an array or ``.npy`` file,
        columns in the project's class order; or a ``.parquet`` file or DataFrame with
        one column per class name and an optional ``sample_id`` column.
    embeddings : numpy.ndarray or path, optional
        ``(n, d)`` features (array or ``.npy``), rows in the order of ``probs``.
    ids : sequence of str or path, optional
        The sample of each row: a CSV with a ``sample_id`` column (or a single column), or
        a sequence. Without ids, the rows are the active samples in the order of
        :meth:`Project.active_samples` (the order of the manifest at init).
    model_name : str, optional
        Recorded with the run.
    logits : bool
        The values are logits: a stable softmax turns them into probabilities.
    cycle : int, optional
        The cycle the run belongs to.

    Returns
    -------
    ImportResult

    Raises
    ------
    RunImportError
        Naming the file and its row or column; nothing was written.
    """
    started = time.perf_counter()
    checked = _check(config, store, probs, embeddings, ids, model_name, logits)
    clean_stale_runs(Path(root), store, lambda message: log.info("%s", message))
    run_id = new_run_id(store)
    folder = run_dir(root, run_id)
    partial_path(folder).mkdir(parents=True, exist_ok=True)
    store.start_run(run_id, "train", checked.settings, cycle)
    try:
        with atomic_path(folder) as partial:
            metrics = _write_files(partial, checked, config.dataset.classes, started)
    except BaseException:
        shutil.rmtree(partial_path(folder), ignore_errors=True)
        store.finish_run(run_id, {}, status="failed")
        raise
    store.finish_run(run_id, metrics)
    return ImportResult(
        run_id, folder, len(checked.y), metrics["oof_accuracy"], metrics["oof_macro_f1"]
    )
