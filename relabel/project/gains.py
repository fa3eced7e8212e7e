"""What more review is expected to buy: the label errors left with the next cycle's finds,
and the learning curve of the runs (see :mod:`relabel.review.stopping`).

The inputs come from the store and the newest ranking: each sample's estimated error
probability (the ranking's ``p_error``), the samples reviewed since their label last
changed, the error probability each reviewed task was sent with, and each training run's
labelled count and out-of-fold accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel.config import Config
from relabel.project.ranking import RankedSamples, rank
from relabel.project.runs import OOF_FILE, run_dir
from relabel.project.samples import is_member
from relabel.ranking import noise_posterior
from relabel.review.stopping import ErrorsLeft, LearningCurve, errors_left, learning_curve
from relabel.store import Store

#: Review outcomes that found a wrong label (as the cycle's hit rate counts them).
HITS = ("corrected", "excluded")


def _error_probability(root: Path, ranked: RankedSamples) -> np.ndarray:
    """Each sample's estimated probability that its label is wrong, under the noise the run
    estimates on the labels it trained on: the ranking's ``p_error``, or, when labels
    changed since the run (corrections not yet retrained), the noise posterior of the
    run's own labels (so the corrections do not thin out the noise matrix the remaining
    samples are judged by)."""
    p = ranked.table["p_error"].to_numpy(dtype=np.float64)
    if not ranked.stale:
        return p
    with np.load(run_dir(root, ranked.run_id) / OOF_FILE) as data:
        if "labels" not in data:
            return p
        ids, labels = data["sample_ids"].astype(str), np.asarray(data["labels"])
    at = pd.Index(ids, dtype=object).get_indexer(ranked.table["sample_id"].astype(object))
    return noise_posterior(labels[at], ranked.probs)


def errors_left_of(root: Path, config: Config, store: Store, ranked: RankedSamples) -> ErrorsLeft:
    """The label errors left among the unreviewed samples of a ranking.

    Parameters
    ----------
    root : Path
        The project folder (the run's files).
    config : Config
        The project's config (the review budget, the seed).
    store : Store
        Its label store (the reviews).
    ranked : RankedSamples
        The newest ranking of the current labels.

    Returns
    -------
    ErrorsLeft
    """
    table = ranked.table
    reviewed = is_member(table["sample_id"], store.reviewed_sample_ids())
    tasks = store.reviewed_label_tasks()
    sent_with = tasks["p_error"].astype("float64").fillna(1.0 - tasks["p_given"].astype(float))
    known = sent_with.notna().to_numpy()
    return errors_left(
        _error_probability(root, ranked).clip(0.0, 1.0),
        np.asarray(reviewed, dtype=bool),
        sent_with.to_numpy()[known].clip(0.0, 1.0),
        tasks["outcome"].isin(HITS).to_numpy()[known],
        config.budget_count(len(table)),
        order=np.asarray(ranked.scores.order),
        seed=config.training.seed,
    )


def learning_curve_of(config: Config, store: Store) -> LearningCurve:
    """The learning curve of the finished training runs: labelled count (rows trained) and
    out-of-fold accuracy, the next batch the review budget.

    Parameters
    ----------
    config : Config
        The project's config.
    store : Store
        Its label store (the runs and their metrics).

    Returns
    -------
    LearningCurve
    """
    points = [
        (int(m["n_samples"]), float(m["oof_accuracy"]))
        for m in (r["metrics"] for r in store.finished_runs("train"))
        if m.get("n_samples") and m.get("oof_accuracy") is not None
    ]
    n = [p[0] for p in points]
    acc = [p[1] for p in points]
    batch = max(config.budget_count(max(n, default=store.n_samples())), 1)
    return learning_curve(n, acc, batch)


def estimate(
    root: Path, config: Config, store: Store, ranked: RankedSamples | None = None
) -> dict[str, Any]:
    """Both estimates as JSON-serialisable dicts.

    Parameters
    ----------
    root, config, store : Path, Config, Store
        The project folder, its config and its label store.
    ranked : RankedSamples, optional
        The newest ranking when the caller has it; default: ranked here (when a run exists).

    Returns
    -------
    dict
        ``errors_left`` (:class:`relabel.review.stopping.ErrorsLeft` as a dict; None before
        the first run) and ``learning_curve``
        (:class:`relabel.review.stopping.LearningCurve` as a dict).
    """
    if ranked is None and store.latest_run("train") is not None:
        ranked = rank(root, config, store)
    return {
        "errors_left": None
        if ranked is None
        else errors_left_of(root, config, store, ranked).as_dict(),
        "learning_curve": learning_curve_of(config, store).as_dict(),
    }
