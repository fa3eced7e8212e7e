"""Label the unlabelled pool: ``relabel push --type label`` chooses the images to label next.

The newest run's final model predicted the pool (:mod:`relabel.project.pool`);
:func:`relabel.ranking.acquisition.select_batch` chooses ``budget`` of the samples still
unlabelled by ``pool.strategy`` (``pool.class_balance``), and they go to the binding's
Label Studio projects as tasks whose pre-annotation is the model's prediction. The push is
the label review's (:mod:`relabel.loop.push`): the task rows go ``planned``, ``pending``,
``open`` in the store, so a push killed anywhere is finished, never repeated, by the next
one; a sample with an open task is not chosen again.

The answers come back through the label review's pull (:func:`relabel.loop.pull.pull`, and
:mod:`relabel.serve`'s webhook, which records through the same code): the same consensus,
the same exactly-once guarantees, and the first label version of the sample (source
``review``, evidence ``kind: label`` with the task, the answers and the reviewers) takes
it out of the pool (:func:`relabel.review.outcome.decide_unlabelled`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from relabel.infra.progress import Progress
from relabel.loop.push import open_push, plan_spread, push_all_planned
from relabel.project import Project
from relabel.project.pool import PoolPredictions, pool_predictions
from relabel.project.samples import is_member
from relabel.ranking.acquisition import NEEDS_EMBEDDINGS, select_batch
from relabel.studio.client import StudioClient

log = logging.getLogger(__name__)

#: The strategy used when ``pool.strategy`` needs embeddings and the run has none.
FALLBACK_STRATEGY = "margin"


@dataclass(frozen=True)
class LabelPushSummary:
    """What a label push did.

    ``pool`` is the number of unlabelled samples the push could choose from (predicted by
    the run, not in an open task); ``strategy`` the one used.
    """

    studio_project_id: int
    run_id: str
    strategy: str
    pool: int
    planned: int
    pushed: int
    reconciled: int
    resumed: bool
    seconds: float
    studio_projects: tuple[int, ...] = ()


def _strategy(predicted: PoolPredictions, wanted: str) -> str:
    """``wanted``, or :data:`FALLBACK_STRATEGY` when it needs embeddings the run lacks."""
    if wanted in NEEDS_EMBEDDINGS and predicted.embeddings is None:
        log.warning(
            "pool.strategy = %r needs the final model's embeddings, which run %s has not "
            "(its engine gives none): choosing by %r instead",
            wanted,
            predicted.run_id,
            FALLBACK_STRATEGY,
        )
        return FALLBACK_STRATEGY
    return wanted


def choose_labels(
    project: Project,
    budget: float | None = None,
    *,
    strategy: str | None = None,
    cycle: int | None = None,
) -> tuple[list[tuple[str, dict[str, Any]]], str, int, str]:
    """The samples of the pool to label next, with the evidence their tasks carry.

    Parameters
    ----------
    project : Project
        The opened project (its newest run must have predicted the pool).
    budget : float, optional
        A count, or a fraction of the candidates in (0, 1) (default ``review.budget``).
    strategy : str, optional
        One of :data:`relabel.ranking.acquisition.STRATEGIES` (default ``pool.strategy``).
    cycle : int, optional
        The cycle (it varies the seed).

    Returns
    -------
    items, strategy, candidates, run_id
        ``(sample_id, evidence)`` in selection order; the strategy used; how many
        samples could be chosen; the run whose predictions chose them.

    Raises
    ------
    NotTrainedError
        No run, or the newest run has no predictions of the pool.
    AcquisitionInputError
        An unknown strategy.
    """
    predicted = pool_predictions(project.root, project.store)
    candidates = pd.Series(predicted.sample_ids, dtype=object)
    free = ~is_member(candidates, project.store.busy_sample_ids())
    used = _strategy(predicted, strategy or project.config.pool.strategy)
    n = int(free.sum())
    count = project.config.budget_count(n, budget)
    if n == 0 or count == 0:
        return [], used, n, predicted.run_id
    embeddings = None if predicted.embeddings is None else predicted.embeddings[free]
    picks = select_batch(
        used,
        predicted.probs[free],
        count,
        embeddings=embeddings,
        labelled_embeddings=predicted.labelled_embeddings,
        class_balance=project.config.pool.class_balance,
        seed=project.config.training.seed * 1000 + (cycle or 0),
    )
    ids, probs = predicted.sample_ids[free], predicted.probs[free]
    classes = project.config.dataset.classes
    items = []
    for pick, row in enumerate(picks.tolist(), start=1):
        best = int(probs[row].argmax())
        evidence = {
            "kind": "label",
            "predicted_label": classes[best],
            "p_predicted": float(probs[row, best]),
            "run_id": predicted.run_id,
            "strategy": used,
            "pick": pick,
        }
        items.append((str(ids[row]), evidence))
    return items, used, n, predicted.run_id


def push_labels(
    project: Project,
    client: StudioClient,
    *,
    budget: float | None = None,
    strategy: str | None = None,
    cycle: int | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> LabelPushSummary:
    """Send the unlabelled samples chosen by :func:`choose_labels` to Label Studio.

    If an earlier push was interrupted, this finishes it instead of choosing anew.

    Parameters
    ----------
    project, client, cycle, batch_size, progress
        As for :func:`relabel.loop.push.push`.
    budget : float, optional
        Most samples to push (default ``review.budget``).
    strategy : str, optional
        The acquisition strategy (default ``pool.strategy``).

    Raises
    ------
    NotTrainedError
        The newest run has no predictions of the pool (nothing is sent).
    """
    started = time.perf_counter()
    client.check_image_mode(
        project.config.review.image_mode, project.config.studio.document_root or None
    )
    chosen = None
    if not project.store.has_unfinished_push():  # fails before Label Studio hears of anything
        chosen = choose_labels(project, budget, strategy=strategy, cycle=cycle)
    ids, reconciled, resumed = open_push(project, client)
    items: list[tuple[str, dict[str, Any]]] = []
    used, candidates, run_id = (chosen[1], chosen[2], chosen[3]) if chosen else ("", 0, "")
    if not resumed:
        if chosen is None:
            chosen = choose_labels(project, budget, strategy=strategy, cycle=cycle)
        items, used, candidates, run_id = chosen
        plan_spread(project, client, items, cycle=cycle)
    ids, pushed = push_all_planned(
        project, client, ids if resumed else None, batch_size=batch_size, progress=progress
    )
    return LabelPushSummary(
        ids[0],
        run_id,
        used,
        candidates,
        len(items),
        pushed,
        reconciled,
        resumed,
        time.perf_counter() - started,
        tuple(ids),
    )
