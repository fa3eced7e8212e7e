"""``relabel demo --pool``: the unlabelled-pool loop on the digits, end to end.

The digits are written without noise and the labels of most of them are hidden (a few per
class stay labelled): the rows with an empty label are the unlabelled pool. Each round
trains on the labelled samples (the final model predicts the pool), sends ``budget`` pool
samples to Label Studio with ``relabel push --type label``, lets a simulated annotator
answer the true label, and pulls the answers as labels; the round's line says how many
samples are labelled and the accuracy of the round's final model on the samples still
unlabelled (against the true labels, which only the demo reads).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from relabel.demo.loop import DEMO_USER, _open_studio, _write_project
from relabel.demo.reviewers import SimulatedReview
from relabel.infra.progress import Progress
from relabel.loop.pool import push_labels
from relabel.loop.pull import pull
from relabel.project import Project
from relabel.project.pool import pool_predictions
from relabel.studio.client import StudioClient

log = logging.getLogger(__name__)


@dataclass
class PoolRound:
    """One round's figures as the demo prints them."""

    round: int
    labelled: int
    unlabelled: int
    oof_accuracy: float
    pool_accuracy: float
    pushed: int
    answered: int
    seconds: float


@dataclass
class PoolDemoResult:
    """What :func:`run_pool_demo` did."""

    project_dir: Path
    url: str
    rounds: list[PoolRound] = field(default_factory=list)


def hide_labels(manifest: Path, keep_per_class: int, seed: int) -> None:
    """Empty the label of every row of ``manifest`` but ``keep_per_class`` per class.

    Parameters
    ----------
    manifest : Path
        A CSV manifest (``id,path,label``), rewritten in place.
    keep_per_class : int
        Labelled rows kept per class (chosen at random with ``seed``).
    seed : int
        The seed.
    """
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(frame), dtype=bool)
    for _, rows in frame.groupby("label", sort=True).indices.items():
        keep[rng.choice(rows, size=min(keep_per_class, len(rows)), replace=False)] = True
    frame.loc[~keep, "label"] = ""
    frame.to_csv(manifest, index=False)


def _pool_accuracy(project: Project, truth: dict[str, str]) -> float:
    """Accuracy of the newest run's final model on the samples still unlabelled."""
    predicted = pool_predictions(project.root, project.store)
    if not len(predicted.sample_ids):
        return float("nan")
    classes = np.asarray(project.config.dataset.classes)
    guess = classes[predicted.probs.argmax(axis=1)]
    return float(np.mean(guess == np.asarray([truth[s] for s in predicted.sample_ids])))


def _round(
    project: Project, client: StudioClient, truth: dict[str, str], k: int, budget: int
) -> PoolRound:
    """Train, push ``budget`` pool samples, answer them, pull; the round's figures."""
    import time

    started = time.perf_counter()
    trained = project.train()
    accuracy = _pool_accuracy(project, truth)
    pushed = push_labels(project, client, budget=budget, cycle=k)
    review = SimulatedReview(truth=truth, accuracy=1.0, reviewers=1, skip_rate=0.0, seed=k)
    for studio_project_id in pushed.studio_projects:
        review(project, client, studio_project_id, k)
    pulled = pull(project, client)
    return PoolRound(
        k,
        len(project.store.labels(["sample_id"])),
        project.store.n_unlabelled(),
        trained.oof_accuracy,
        accuracy,
        pushed.pushed,
        pulled.labelled,
        time.perf_counter() - started,
    )


def run_pool_demo(
    project_dir: Path,
    *,
    rounds: int = 3,
    budget: int = 100,
    keep_per_class: int = 10,
    seed: int = 0,
    studio_url: str | None = None,
    studio_dir: Path = Path(".relabel-studio"),
    keep_server: bool = False,
    on_round: Callable[[PoolRound], None] | None = None,
    progress: Progress | None = None,
) -> PoolDemoResult:
    """Run the unlabelled-pool demo end to end (see the module).

    Parameters
    ----------
    project_dir : Path
        The demo project folder holding ``relabel.toml`` (``projects/digits``); its state
        is reset first.
    rounds : int
        Rounds of train, push ``--type label``, answer, pull.
    budget : int
        Pool samples labelled per round.
    keep_per_class : int
        Samples per class that keep their label at the start.
    seed : int
        Seed of the hidden labels and the simulated annotator.
    studio_url, studio_dir, keep_server
        As for :func:`relabel.demo.loop.run_demo`.
    on_round : callable, optional
        Called with each round's figures.
    progress : callable, optional
        Receives progress lines.

    Returns
    -------
    PoolDemoResult
    """
    say = progress or (lambda m: log.info("%s", m))
    project_dir = Path(project_dir)
    truth = _write_project(
        project_dir, None, seed, lambda manifest: hide_labels(manifest, keep_per_class, seed)
    )
    client, studio_url, local, password = _open_studio(
        project_dir, studio_url, Path(studio_dir), say
    )
    result = PoolDemoResult(project_dir, studio_url)
    try:
        with Project.locked(project_dir, "relabel demo") as project:
            say(f"digits: {len(truth)} images, {project.store.n_unlabelled()} unlabelled")
            for k in range(1, rounds + 1):
                row = _round(project, client, truth, k, budget)
                result.rounds.append(row)
                if on_round:
                    on_round(row)
        return result
    finally:
        client.close()
        if local is not None and not keep_server:
            local.stop()
        elif local is not None:
            say(f"Label Studio keeps running: {studio_url} (login {DEMO_USER} / {password})")
