"""Ranking a project's samples: the current labels scored against the newest run's
out-of-fold probabilities (or, with ``scoring.probabilities = "knn"``, the labels of each
sample's nearest neighbours in the run's embeddings)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel import ranking as scoring
from relabel.config import Config
from relabel.errors import EmbeddingsMissingError, NotTrainedError
from relabel.project.runs import EMBEDDINGS_FILE, OOF_FILE, read_embeddings, read_oof, run_dir
from relabel.project.samples import active_samples, label_indices
from relabel.project.tables import write_table
from relabel.store import Store

log = logging.getLogger("relabel.project")  # one logger for the facade

SCORE_COLUMNS = [
    "sample_id",
    "path",
    "given_label",
    "predicted_label",
    "p_given",
    "p_predicted",
    "max_confidence",
    "margin",
    "entropy",
    "suspicion",
    "p_error",
    "rank",
    "lane",
]

#: The label columns a ranking reads.
RANK_COLUMNS = ("sample_id", "path", "label", "status")


@dataclass(frozen=True)
class RankedSamples:
    """Scores of the current labels against a run's out-of-fold probabilities.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scored sample (:data:`SCORE_COLUMNS`, in rank order).
    scores : relabel.ranking.Scores
        The raw arrays, in sample (``ord``) order.
    probs : numpy.ndarray
        The out-of-fold probabilities, in sample order.
    run_id : str
        The run the probabilities come from.
    stale : bool
        True when labels changed after that run trained (retrain for fresh probabilities).
    """

    table: pd.DataFrame
    scores: Any
    probs: np.ndarray
    run_id: str
    stale: bool


def align_to_run(samples: pd.DataFrame, ids: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of ``samples`` for a run's ``ids``, in the run's order, and which ids have one.

    Parameters
    ----------
    samples : pandas.DataFrame
        Samples with a unique ``sample_id`` column (the active samples).
    ids : numpy.ndarray
        The run's sample ids, row for row with its probabilities.

    Returns
    -------
    rows, keep
        ``rows``: the samples of the ids in ``keep`` (a boolean mask over ``ids``), in that
        order, with a fresh index.
    """
    known = samples["sample_id"].to_numpy(dtype=object)
    wanted = np.asarray(ids, dtype=object)
    if len(known) == len(wanted) and bool((known == wanted).all()):
        return samples.reset_index(drop=True), np.ones(len(wanted), dtype=bool)  # usual case
    at = pd.Index(known, dtype=object).get_indexer(wanted)  # hashed, on Python objects
    keep = at >= 0
    return samples.iloc[at[keep]].reset_index(drop=True), keep


def latest_probabilities(
    root: Path, store: Store, labels: pd.DataFrame | None = None
) -> tuple[dict[str, Any], pd.DataFrame, np.ndarray]:
    """The newest training run, the current labels of its samples and its probabilities.

    Parameters
    ----------
    root : Path
        The project folder.
    store : Store
        Its label store.
    labels : pandas.DataFrame, optional
        :meth:`relabel.store.Store.labels` when the caller has read them; default: read here.

    Returns
    -------
    run, samples, probs
        ``samples`` are the current labels of the run's samples that are still active,
        aligned row for row with ``probs``.

    Raises
    ------
    NotTrainedError
        No finished training run.
    """
    run = store.latest_run("train")
    if run is None:
        raise NotTrainedError(f"{root}: no trained run yet; run: relabel train {root}")
    oof_file = run_dir(root, run["run_id"]) / OOF_FILE
    if not oof_file.is_file():
        raise NotTrainedError(f"{oof_file}: missing; retrain with: relabel train {root}")
    ids, probs = read_oof(oof_file)
    samples, keep = align_to_run(active_samples(store, labels), ids)
    return run, samples, probs if keep.all() else probs[keep]


def _neighbour_labels(
    root: Path, config: Config, run_id: str, sample_ids: pd.Series, y: np.ndarray
) -> np.ndarray:
    """The current labels of each sample's nearest neighbours in the run's embeddings."""
    from relabel.ranking.neighbours import neighbour_label_distribution

    folder = run_dir(root, run_id)
    if not (folder / EMBEDDINGS_FILE).is_file():
        raise EmbeddingsMissingError(
            f'{folder / EMBEDDINGS_FILE}: missing; scoring.probabilities = "knn" needs a run '
            f'of model.mode = "embed": relabel train {root}'
        )
    features = read_embeddings(folder, sample_ids)
    n_classes = len(config.dataset.classes)
    return neighbour_label_distribution(features, y, n_classes, config.scoring.knn_k)


def _error_probability(method: str, scores: Any, y: np.ndarray, probs: np.ndarray) -> Any:
    """The estimated probability that each label is wrong (the noise posterior)."""
    if method == scoring.DEFAULT_METHOD:
        return scores.suspicion
    return scoring.noise_posterior(y, probs)


def _score_table(
    samples: pd.DataFrame, classes: list[str], scores: Any, p_error: Any
) -> pd.DataFrame:
    """The ranking table (:data:`SCORE_COLUMNS`), in sample order."""
    names = pd.array(classes, dtype="str")  # taken by index: no Python string per row
    return pd.DataFrame(
        {
            "sample_id": pd.array(samples["sample_id"], dtype="str"),
            "path": pd.array(samples["path"], dtype="str"),
            "given_label": names.take(np.asarray(scores.given)),
            "predicted_label": names.take(np.asarray(scores.predicted)),
            "p_given": scores.p_given,
            "p_predicted": scores.p_predicted,
            "max_confidence": scores.max_confidence,
            "margin": scores.margin,
            "entropy": scores.entropy,
            "suspicion": scores.suspicion,
            "p_error": p_error,
            "rank": scores.rank,
            "lane": scores.lane,
        }
    )


def rank(
    root: Path, config: Config, store: Store, labels: pd.DataFrame | None = None
) -> RankedSamples:
    """Score the current labels against the newest run's out-of-fold probabilities.

    Parameters
    ----------
    root : Path
        The project folder.
    config : Config
        Its config (classes, ``scoring``).
    store : Store
        Its label store.
    labels : pandas.DataFrame, optional
        :meth:`relabel.store.Store.labels` when the caller has read them; default: read here.

    Returns
    -------
    RankedSamples
        ``stale`` (and a warning logged) when labels changed after the run trained.

    Raises
    ------
    NotTrainedError
        No finished training run, or its files are missing.
    """
    if labels is None:
        labels = store.labels(RANK_COLUMNS)
    run, samples, probs = latest_probabilities(root, store, labels)
    classes = config.dataset.classes
    y = label_indices(classes, samples["label"])
    s = config.scoring
    if s.probabilities == "knn":
        probs = _neighbour_labels(root, config, run["run_id"], samples["sample_id"], y)
    scores = scoring.score_samples(
        y, probs, method=s.method, uncertain_threshold=s.uncertain_threshold
    )
    p_error = _error_probability(s.method, scores, y, probs)
    table = _score_table(samples, classes, scores, p_error)
    stale = int(run["labels_version"]) != store.max_version()
    if stale:
        log.warning(
            "labels changed after run %s trained; retrain for fresh probabilities",
            run["run_id"],
        )
    return RankedSamples(table, scores, probs, run["run_id"], stale)


def write_ranking(ranked: RankedSamples, classes: list[str], out: Path, with_probs: bool) -> None:
    """Write a ranking to CSV or Parquet (by extension), in rank order.

    Parameters
    ----------
    ranked : RankedSamples
        The ranking.
    classes : list of str
        The classes, in model-output order.
    out : Path
        ``.csv`` or ``.parquet`` file to write.
    with_probs : bool
        Add one ``prob:<class>`` column per class.
    """
    table = ranked.table
    if with_probs:
        probs = pd.DataFrame(ranked.probs, columns=[f"prob:{c}" for c in classes])
        table = pd.concat([table, probs], axis=1)
    write_table(table.sort_values("rank", kind="stable"), Path(out))
