"""A run folder's files and the run ids.

``PROJECT/runs/<run_id>/`` holds ``oof.npz`` (the out-of-fold probabilities with the
sample ids and labels they were computed for), ``embeddings.npy`` (the out-of-fold
embeddings, row for row with ``oof.npz``; for ``model.mode = "embed"``, the backbone's
features), ``metrics.json`` and ``model.keras`` (the final model).

``embeddings.npy`` is a float16 ``(n, d)`` array written through a memory-mapped file and
read memory-mapped (:func:`read_embeddings`, :func:`run_embeddings`): row ``i`` is the
input of the final ``Dense`` layer of the fold model that predicted row ``i`` of
``oof.npz``, from the same prediction pass. Each fold's model embeds in its own space:
compare rows within a fold (``oof.npz``'s ``folds``, the fold that held each sample out).
It is missing from runs trained before relabel stored embeddings and from runs of an
engine that gives none. ``final_embeddings.npy`` (:data:`FINAL_EMBEDDINGS_FILE`) holds the
final model's embeddings of every sample, one space for all of them (one inference pass
after the final model is fitted); runs without a final model have none.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel.config import Config
from relabel.config.rules import EXECUTOR_FIELDS
from relabel.errors import EmbeddingsMissingError, NotTrainedError, ProjectError
from relabel.store import Store

log = logging.getLogger("relabel.project")

RUNS_DIR = "runs"
#: The decoded images of a training run (deleted when the run ends).
IMAGE_CACHE = "images.npy"
#: The out-of-fold embeddings of a run (float16 ``(n, d)``, rows as ``oof.npz``'s); the
#: backbone's features in an ``embed`` run.
EMBEDDINGS_FILE = "embeddings.npy"
#: The final model's embeddings of every sample (same format), read when a run has them.
FINAL_EMBEDDINGS_FILE = "final_embeddings.npy"
#: Rows of embeddings converted and written at a time.
EMBEDDING_CHUNK = 65536
_FLOAT16_MAX = float(np.finfo(np.float16).max)
#: Under ``runs/``: the folds a failed run finished, reused by the next run on the same
#: labels and settings (:mod:`relabel.training.checkpoints`); removed when a run succeeds.
FOLD_CHECKPOINTS = ".folds"
OOF_FILE = "oof.npz"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"
#: ``settings["source"]`` of a run imported with ``relabel import-run`` (not trained here).
IMPORTED = "imported"


def new_run_id(store: Store) -> str:
    """A new run's id: the UTC time to the microsecond and the labels' version
    (``20250101T120000123456-v42``), never one the store has already.

    Parameters
    ----------
    store : Store
        The project's label store.

    Returns
    -------
    str
    """
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        run_id = f"{stamp}-v{store.max_version()}"
        if not store.has_run(run_id):
            return run_id


#: Training settings that change how a run is computed, not the model it computes: where
#: it runs (:data:`relabel.config.rules.EXECUTOR_FIELDS`) and the decoded-image cache.
_HOW_KEYS = frozenset({*EXECUTOR_FIELDS, "cache_images"})


def _model_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that make a model, as the store keeps them (JSON)."""
    out = json.loads(json.dumps(settings, default=str))
    training = out.get("training") or {}
    out["training"] = {k: v for k, v in training.items() if k not in _HOW_KEYS}
    return out


def trained_as_configured(run: dict[str, Any], config: Config) -> bool:
    """Whether a finished run was trained with the model settings ``relabel.toml`` has now.

    The model, training, image size and channels count (:func:`settings_dict`), but not
    where or how the folds ran (executor, Ray, the image cache).

    Parameters
    ----------
    run : dict
        A run as :meth:`relabel.store.Store.latest_run` returns it.
    config : Config
        The project's config now.

    An imported run (``relabel import-run``) was not trained by relabel: no setting of
    ``relabel.toml`` made it, so it counts as configured (it is reused while the labels
    are the ones it was imported on).
    """
    if (run.get("settings") or {}).get("source") == IMPORTED:
        return True
    return _model_settings(run.get("settings") or {}) == _model_settings(settings_dict(config))


def run_dir(root: Path, run_id: str) -> Path:
    """The folder of a run (``PROJECT/runs/<run_id>``)."""
    return Path(root) / RUNS_DIR / run_id


def chosen_run(root: Path, store: Store, run_id: str | None = None) -> tuple[str, Path]:
    """``run_id`` (default: the newest finished training run) and its folder.

    Raises
    ------
    NotTrainedError
        ``run_id`` is None and no run has finished.
    """
    if run_id is None:
        run = store.latest_run("train")
        if run is None:
            raise NotTrainedError(f"{root}: no trained run yet; run: relabel train {root}")
        run_id = str(run["run_id"])
    return run_id, run_dir(root, run_id)


def settings_dict(config: Config) -> dict[str, Any]:
    """The settings a run records in the store: model, training, image size and channels.

    Parameters
    ----------
    config : Config
        The project's config.

    Returns
    -------
    dict
    """
    return {
        "model": config.model.__dict__,
        "training": config.training.__dict__,
        "image_size": config.dataset.image_size,
        "channels": config.dataset.channels,
    }


def _as_dict(obj: Any) -> dict[str, Any]:
    """A fold's or final model's record (a dataclass, dict or object) as a dict."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return dict(vars(obj))


def write_run_files(
    folder: Path,
    samples: pd.DataFrame,
    y: np.ndarray,
    classes: list[str],
    cv: Any,
    fit: Any,
    seconds: float,
) -> dict[str, Any]:
    """Write a run's ``oof.npz`` and ``metrics.json``; return the metrics.

    Parameters
    ----------
    folder : Path
        The (partial) run folder.
    samples : pandas.DataFrame
        The samples trained on, with ``sample_id``, in the order of ``y``.
    y : numpy.ndarray
        Their label indices.
    classes : list of str
        The classes, in model-output order.
    cv : object
        The cross-validation result: ``probabilities`` and ``folds``.
    fit : object or None
        The final model's record, if one was fitted.
    seconds : float
        The run's duration so far.

    Returns
    -------
    dict
        ``n_samples, oof_accuracy, oof_macro_f1, seconds, folds, final_model``.
    """
    from sklearn.metrics import f1_score

    probs = np.asarray(cv.probabilities, dtype=np.float32)
    np.savez_compressed(
        folder / OOF_FILE,
        sample_ids=samples["sample_id"].to_numpy(dtype=str),
        labels=y,
        probs=probs,
        classes=np.asarray(classes, dtype=str),
        **_folds(cv, len(samples)),
    )
    pred = probs.argmax(axis=1)
    metrics = {
        "n_samples": len(samples),
        "oof_accuracy": float((pred == y).mean()),
        "oof_macro_f1": float(f1_score(y, pred, average="macro")),
        "seconds": seconds,
        "folds": [_as_dict(f) for f in getattr(cv, "folds", [])],
        "final_model": _as_dict(fit) if fit is not None else None,
    }
    (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=float))
    embeddings = getattr(cv, "embeddings", None)
    if embeddings is not None and np.ndim(embeddings) == 2 and len(embeddings) == len(samples):
        write_embeddings(folder / EMBEDDINGS_FILE, embeddings)
    elif embeddings is not None:
        log.warning(
            "embeddings of shape %s for %d samples: not written", np.shape(embeddings), len(samples)
        )
    return metrics


def _folds(cv: Any, n: int) -> dict[str, np.ndarray]:
    """``folds``: the 1-based fold that held each sample out, when the run says (each fold's
    model embeds its held-out samples in its own space: compare embeddings within a fold)."""
    folds = getattr(cv, "fold_of_sample", None)
    if folds is None or np.shape(folds) != (n,):
        return {}
    return {"folds": np.asarray(folds, dtype=np.int16)}


def write_embeddings(path: Path, embeddings: np.ndarray) -> None:
    """Write ``(n, d)`` embeddings as a float16 ``.npy`` that ``np.load(..., mmap_mode="r")``
    maps, through a memory-mapped file a chunk of rows at a time (memory stays flat).

    Parameters
    ----------
    path : Path
        The ``.npy`` file (in a partial run folder: the run's rename makes it visible).
    embeddings : numpy.ndarray
        ``(n, d)`` numbers, clipped to float16's finite range.
    """
    shape = (int(embeddings.shape[0]), int(embeddings.shape[1]))
    if 0 in shape:
        np.save(path, np.zeros(shape, np.float16))
        return
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shape)
    for at in range(0, shape[0], EMBEDDING_CHUNK):
        chunk = np.asarray(embeddings[at : at + EMBEDDING_CHUNK])
        out[at : at + EMBEDDING_CHUNK] = np.clip(chunk, -_FLOAT16_MAX, _FLOAT16_MAX)
    out.flush()
    del out


def oof_sample_ids(oof_file: Path) -> np.ndarray:
    """The sample ids of a run's ``oof.npz``, in its row order."""
    with np.load(oof_file) as data:
        return data["sample_ids"].astype(str)


def read_oof(oof_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """A run's out-of-fold probabilities and the sample ids of their rows.

    Parameters
    ----------
    oof_file : Path
        The run's ``oof.npz``.

    Returns
    -------
    sample_ids, probs : numpy.ndarray
    """
    with np.load(oof_file) as data:
        return data["sample_ids"].astype(str), data["probs"]


def read_embeddings(folder: Path, sample_ids: pd.Series) -> np.ndarray:
    """A run's out-of-fold embeddings (the backbone's features in an ``embed`` run), for the
    given samples in their order.

    The file is memory-mapped; only the rows asked for are read.

    Parameters
    ----------
    folder : Path
        The run folder (with ``embeddings.npy`` and ``oof.npz``, row for row).
    sample_ids : pandas.Series
        Samples of the run.

    Returns
    -------
    numpy.ndarray
        One row of embeddings per sample (float16 in runs written since relabel stores them
        as float16).
    """
    row_of = {sid: i for i, sid in enumerate(oof_sample_ids(folder / OOF_FILE))}
    embeddings = np.load(folder / EMBEDDINGS_FILE, mmap_mode="r")
    return np.asarray(embeddings[[row_of[sid] for sid in sample_ids]])


def run_embeddings(
    root: Path, store: Store, run_id: str | None = None, *, final: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A run's sample ids and its embeddings, memory-mapped (default: the newest run).

    Parameters
    ----------
    root : Path
        The project folder.
    store : Store
        Its label store (for the newest finished run).
    run_id : str, optional
        The run; default the newest finished training run.
    final : bool
        The final model's embeddings (``final_embeddings.npy``) instead of the out-of-fold
        ones (``embeddings.npy``).

    Returns
    -------
    sample_ids, embeddings : numpy.ndarray
        ``(n,)`` ids in ``oof.npz``'s order and the ``(n, d)`` read-only memory map.

    Raises
    ------
    NotTrainedError
        No finished run, or ``run_id`` has no ``oof.npz``.
    EmbeddingsMissingError
        The run has no such embeddings file (the message says how to get one).
    ProjectError
        The file's rows do not match ``oof.npz``'s samples.
    """
    run_id, folder = chosen_run(root, store, run_id)
    if not (folder / OOF_FILE).is_file():
        raise NotTrainedError(f"{folder / OOF_FILE}: missing, {run_id} is not a finished run")
    file = folder / (FINAL_EMBEDDINGS_FILE if final else EMBEDDINGS_FILE)
    if not file.is_file():
        raise EmbeddingsMissingError(_missing_embeddings(root, run_id, file, final))
    ids = oof_sample_ids(folder / OOF_FILE)
    embeddings = np.load(file, mmap_mode="r")
    if embeddings.ndim != 2 or len(embeddings) != len(ids):
        raise ProjectError(
            f"{file}: shape {embeddings.shape} does not match the {len(ids)} samples of "
            f"{folder / OOF_FILE}; retrain with `relabel train {root}`"
        )
    return ids, embeddings


def _missing_embeddings(root: Path, run_id: str, file: Path, final: bool) -> str:
    """What to say when a run has no embeddings file."""
    if final:
        return (
            f"{file}: run {run_id} has no final-model embeddings: relabel stores the "
            "out-of-fold embeddings of every run (ask without final=True); the final "
            "model makes no prediction pass over the training images"
        )
    return (
        f"{file}: run {run_id} has no embeddings; retrain with `relabel train {root}` (runs "
        "trained before relabel stored embeddings, or by an engine that gives none, have "
        "no embeddings.npy)"
    )
