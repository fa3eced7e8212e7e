"""Simulated reviewers: answer open tasks through the real Label Studio API.

For demos, benchmarks and tests. Each simulated reviewer is a separate Label Studio user
(``reviewer-1@relabel.local`` ...) and its answers are real annotations with
``completed_by`` set to that user. Answers are deterministic per (seed, sample id,
reviewer): re-running never changes or repeats an earlier answer, it only fills in what
is missing.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relabel.studio.client import StudioClient
from relabel.studio.labeling import NOT_VALID

if TYPE_CHECKING:
    from relabel.project import Project

log = logging.getLogger(__name__)

#: E-mail address of simulated reviewer ``k`` (1-based).
REVIEWER_EMAIL = "reviewer-{k}@relabel.local"


@dataclass
class SimulationSummary:
    """What :func:`simulate_reviews` did.

    Attributes
    ----------
    tasks : int
        Tasks in the project.
    answered_tasks : int
        Tasks that received at least one new answer.
    created : int
        Annotations created (answers plus skips).
    correct, wrong, skipped : int
        Of those: the true label, another label, a skip.
    already_complete : int
        Tasks that already had every reviewer's answer (or enough answers).
    missing_truth : int
        Tasks whose sample id is not in ``truth`` (left alone).
    reviewers : int
        Simulated reviewers.
    seconds : float
        Wall time.
    """

    tasks: int = 0
    answered_tasks: int = 0
    created: int = 0
    correct: int = 0
    wrong: int = 0
    skipped: int = 0
    already_complete: int = 0
    missing_truth: int = 0
    reviewers: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"simulated reviewers answered {self.created}"


def simulated_answer(
    seed: int,
    sample_id: str,
    reviewer: int,
    true_label: str,
    choices: list[str],
    *,
    accuracy: float,
    skip_rate: float,
) -> str | None:
    """The answer of simulated reviewer ``reviewer`` for a sample (None: skip).

    Deterministic in (seed, sample_id, reviewer): the true label with probability
    ``accuracy``, else another of ``choices`` drawn uniformly; a skip with probability
    ``skip_rate`` (drawn first).
    """
    digest = hashlib.sha256(f"{seed}\x1f{sample_id}\x1f{reviewer}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    if rng.random() < skip_rate:
        return None
    if rng.random() < accuracy:
        return true_label
    others = [c for c in choices if c != true_label]
    return rng.choice(others) if others else true_label


def simulate_reviews(
    client: StudioClient,
    project_id: int,
    truth: Mapping[str, str],
    *,
    accuracy: float = 0.95,
    reviewers: int = 2,
    skip_rate: float = 0.05,
    seed: int = 0,
    threads: int = 4,
) -> SimulationSummary:
    """Let simulated reviewers answer every task that still needs answers.

    A task needs answers while it has fewer than ``reviewers`` non-skipped annotations;
    then each simulated reviewer who has not answered it yet (an answer or a skip)
    answers through the API: the true label with probability ``accuracy``, else a random
    other class, or a skip with probability ``skip_rate``.

    Parameters
    ----------
    client : StudioClient
        The connection (its token must belong to an administrator).
    project_id : int
        The Label Studio project.
    truth : mapping
        ``sample_id -> true label`` (a class, or :data:`NOT_VALID`). Tasks whose sample
        id is missing are left alone (a warning says how many).
    accuracy, skip_rate : float
        Probabilities, in [0, 1].
    reviewers : int
        Number of simulated reviewers (users ``reviewer-1@relabel.local`` ...).
    seed : int
        Seed of the answers.
    threads : int
        Parallel API calls (Label Studio creates about 10 annotations a second on one
        connection, about 20 with 4).

    Returns
    -------
    SimulationSummary
    """
    if not 0 <= accuracy <= 1 or not 0 <= skip_rate <= 1:
        raise ValueError("accuracy and skip_rate must be within [0, 1]")
    if reviewers < 1:
        raise ValueError("reviewers must be at least 1")
    started = time.perf_counter()
    classes = client.project_classes(project_id)
    choices = [*classes, NOT_VALID]
    user_ids = [client.ensure_user(REVIEWER_EMAIL.format(k=k)) for k in range(1, reviewers + 1)]
    summary = SimulationSummary(reviewers=reviewers)

    answered = {t.task_id: t for t in client.list_reviewed_tasks(project_id)}
    all_tasks = client.list_task_sample_ids(project_id)
    jobs: list[tuple[int, str, int, int, str | None, str]] = []
    unknown_labels: set[str] = set()
    for sample_id, task_ids in sorted(all_tasks.items()):
        for task_id in task_ids:
            summary.tasks += 1
            true_label = truth.get(sample_id)
            if true_label is None:
                summary.missing_truth += 1
                continue
            if true_label not in choices:
                unknown_labels.add(true_label)
                continue
            task = answered.get(task_id)
            anns = task.annotations if task else []
            if sum(not a.was_cancelled for a in anns) >= reviewers:
                summary.already_complete += 1
                continue
            done_by = {a.user_id for a in anns}
            todo = [(k, uid) for k, uid in enumerate(user_ids, start=1) if uid not in done_by]
            if not todo:
                summary.already_complete += 1
                continue
            for k, uid in todo:
                answer = simulated_answer(
                    seed, sample_id, k, true_label, choices, accuracy=accuracy, skip_rate=skip_rate
                )
                jobs.append((task_id, sample_id, k, uid, answer, true_label))
    if summary.missing_truth:
        log.warning(
            "project %d: %d task(s) have no true label in the simulation; left unanswered",
            project_id,
            summary.missing_truth,
        )
    if unknown_labels:
        log.warning(
            "project %d: true labels %s are not classes of the project; those "
            "tasks were left unanswered",
            project_id,
            sorted(unknown_labels),
        )

    def run(job: tuple[int, str, int, int, str | None, str]) -> None:
        task_id, _, _, uid, answer, _ = job
        client.create_annotation(task_id, answer, uid, was_cancelled=answer is None)

    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="ls-review") as pool:
        for _ in pool.map(run, jobs):
            pass
    summary.answered_tasks = len({j[0] for j in jobs})
    summary.created = len(jobs)
    summary.skipped = sum(j[4] is None for j in jobs)
    summary.correct = sum(j[4] is not None and j[4] == j[5] for j in jobs)
    summary.wrong = summary.created - summary.skipped - summary.correct
    summary.seconds = time.perf_counter() - started
    log.info(
        "project %d: %d simulated reviewer(s) created %d annotation(s) on %d task(s) in %.1f s",
        project_id,
        reviewers,
        summary.created,
        summary.answered_tasks,
        summary.seconds,
    )
    return summary


@dataclass(frozen=True)
class SimulatedReview:
    """Simulated reviewers as a cycle's reviewer (demos, benchmarks, ``--simulate-review``).

    Pass it as ``review`` to :func:`relabel.cycle.run_cycle`: before each pull it lets
    :func:`simulate_reviews` answer the cycle's tasks, with the seed ``seed + cycle``.

    Attributes
    ----------
    truth : mapping
        ``sample_id -> true label``.
    accuracy, reviewers, skip_rate, seed
        As for :func:`simulate_reviews`.
    """

    truth: Mapping[str, str]
    accuracy: float = 0.95
    reviewers: int = 2
    skip_rate: float = 0.05
    seed: int = 0

    def __call__(
        self, project: Project, client: StudioClient, studio_project_id: int, cycle: int
    ) -> SimulationSummary:
        """Answer the tasks of ``studio_project_id`` that still need answers."""
        return simulate_reviews(
            client,
            studio_project_id,
            self.truth,
            accuracy=self.accuracy,
            reviewers=self.reviewers,
            skip_rate=self.skip_rate,
            seed=self.seed + cycle,
        )
