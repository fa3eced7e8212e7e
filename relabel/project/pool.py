"""The unlabelled pool of a project: its samples, and a run's predictions of them.

A manifest row with an empty label is a sample of the pool: the store keeps it without any
label version (:meth:`relabel.store.Store.pool`), training leaves it out of the folds and
the final model, and a run predicts it with the final model once that is fitted:
``runs/RUN/pool.npz`` (:data:`POOL_FILE`: the pool's sample ids, their probabilities and
the classes) and, where the engine gives embeddings, ``pool_embeddings.npy``
(:data:`POOL_EMBEDDINGS_FILE`, float16, row for row, in the space of
``final_embeddings.npy``). ``relabel push --type label`` chooses from them
(:mod:`relabel.loop.pool`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel.errors import NotTrainedError
from relabel.project.runs import (
    FINAL_EMBEDDINGS_FILE,
    MODEL_FILE,
    OOF_FILE,
    chosen_run,
    oof_sample_ids,
    write_embeddings,
)
from relabel.project.samples import is_member
from relabel.store import Store

#: A run's predictions of the pool (``sample_ids``, ``probs``, ``classes``).
POOL_FILE = "pool.npz"
#: The final model's embeddings of the pool (float16 ``(n_pool, d)``, rows as ``pool.npz``).
POOL_EMBEDDINGS_FILE = "pool_embeddings.npy"


@dataclass(frozen=True)
class PoolPredictions:
    """A run's predictions of the samples of the pool still unlabelled.

    Attributes
    ----------
    run_id : str
        The run that made them.
    sample_ids : numpy.ndarray
        ``(n,)`` the pool samples, in the store's order.
    probs : numpy.ndarray
        ``(n, n_classes)`` the final model's probabilities.
    embeddings : numpy.ndarray or None
        ``(n, d)`` the final model's embeddings of them, when the run has them.
    labelled_embeddings : numpy.ndarray or None
        The final model's embeddings of the labelled samples (``final_embeddings.npy``),
        when the run has them.
    """

    run_id: str
    sample_ids: np.ndarray
    probs: np.ndarray
    embeddings: np.ndarray | None
    labelled_embeddings: np.ndarray | None


def pool_samples(store: Store) -> pd.DataFrame:
    """The samples of the pool that can be labelled: no label yet, not dropped.

    Parameters
    ----------
    store : Store
        The project's label store.

    Returns
    -------
    pandas.DataFrame
        ``sample_id, ord, path`` in the store's order.
    """
    pool = store.pool()
    dropped = store.dropped_sample_ids()
    if dropped and len(pool):
        pool = pool[~is_member(pool["sample_id"], dropped)].reset_index(drop=True)
    return pool


def predict_pool(
    folder: Path, engine: Any, settings: Any, pool: pd.DataFrame, classes: list[str]
) -> None:
    """Predict the pool with a run's final model and write :data:`POOL_FILE` (and
    :data:`POOL_EMBEDDINGS_FILE` where the engine gives embeddings).

    Nothing is written when the run has no final model or the pool is empty.

    Parameters
    ----------
    folder : Path
        The (partial) run folder, with ``model.keras``.
    engine : relabel.project.engine.Engine
        The run's engine.
    settings : relabel.training.TrainSettings
        The run's settings.
    pool : pandas.DataFrame
        :func:`pool_samples` (``sample_id``, ``path``).
    classes : list of str
        The classes, in model-output order.
    """
    model = Path(folder) / MODEL_FILE
    if pool.empty or not model.is_file():
        return
    paths = pool["path"].tolist()
    embeddings = None
    if engine.final_embeddings is not None:
        probs, embeddings = engine.final_embeddings(model, paths, settings, None)
    else:
        probs = engine.predict(model, paths, settings)
    np.savez_compressed(
        Path(folder) / POOL_FILE,
        sample_ids=pool["sample_id"].to_numpy(dtype=str),
        probs=np.asarray(probs, dtype=np.float32),
        classes=np.asarray(classes, dtype=str),
    )
    if embeddings is not None and np.ndim(embeddings) == 2 and len(embeddings) == len(pool):
        write_embeddings(Path(folder) / POOL_EMBEDDINGS_FILE, np.asarray(embeddings))


def pool_predictions(root: Path, store: Store, run_id: str | None = None) -> PoolPredictions:
    """A run's predictions of the samples of the pool still unlabelled (default: the
    newest run), in the store's order.

    Parameters
    ----------
    root, store : Path, Store
        The project folder and its label store.
    run_id : str, optional
        The run (default: the newest finished training run).

    Returns
    -------
    PoolPredictions
        The rows of :func:`pool_samples` the run predicted (samples labelled or dropped
        since are left out).

    Raises
    ------
    NotTrainedError
        No finished run, or the run did not predict the pool (trained before relabel kept
        a pool, or without a final model).
    """
    run_id, folder = chosen_run(root, store, run_id)
    if not (folder / POOL_FILE).is_file():
        raise NotTrainedError(
            f"{folder / POOL_FILE}: run {run_id} has no predictions of the unlabelled pool "
            f"(the run has no final model, or the pool was empty); retrain with: "
            f"relabel train {root}"
        )
    with np.load(folder / POOL_FILE) as data:
        ids, probs = data["sample_ids"].astype(str), data["probs"]
    rows = pd.Index(ids, dtype=object).get_indexer(
        pool_samples(store)["sample_id"].to_numpy(dtype=object)
    )
    rows = rows[rows >= 0]
    embeddings = None
    if (folder / POOL_EMBEDDINGS_FILE).is_file():
        embeddings = np.asarray(np.load(folder / POOL_EMBEDDINGS_FILE, mmap_mode="r")[rows])
    labelled = None
    if (folder / FINAL_EMBEDDINGS_FILE).is_file():
        labelled = np.load(folder / FINAL_EMBEDDINGS_FILE, mmap_mode="r")
        if len(labelled) != len(oof_sample_ids(folder / OOF_FILE)):
            labelled = None
    return PoolPredictions(run_id, ids[rows], probs[rows], embeddings, labelled)
