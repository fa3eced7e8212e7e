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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    confusable: Mapping[str, float] | None = None,
) -> str | None:
    """The answer of simulated reviewer ``reviewer`` for a sample (None: skip).

    Deterministic in (seed, sample_id, reviewer): a skip with probability ``skip_rate``
    (drawn first), else the true label with probability ``accuracy``, else a mistake. A
    mistake is drawn uniformly from the other ``choices``, or, with ``confusable`` (weights
    per class, e.g. the model's probabilities for the image), in proportion to those
    weights plus 1 %: realistic mistakes go to the classes the image looks like.
    """
    digest = hashlib.sha256(f"{seed}\x1f{sample_id}\x1f{reviewer}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    if rng.random() < skip_rate:
        return None
    if rng.random() < accuracy:
        return true_label
    others = [c for c in choices if c != true_label]
    if not others:
        return true_label
    if confusable is None:
        return rng.choice(others)
    weights = [float(confusable.get(c, 0.0)) + 0.01 for c in others]
    return rng.choices(others, weights=weights)[0]


@dataclass(frozen=True)
class Crowd:
    """Who the simulated reviewers are and how they answer.

    Attributes
    ----------
    accuracy : float or sequence of float
        Each reviewer's accuracy (one value for all, or one per reviewer).
    reviewers : int
        Simulated reviewers (users ``reviewer-1@relabel.local`` ...).
    answers_per_task : int or None
        Non-skipped answers a task gets (default: every reviewer answers); a task whose
        overlap relabel raised (``overlaps``) gets that many, up to ``reviewers``.
    skip_rate : float
        Probability of a skip.
    confusable : mapping or None
        ``sample_id -> {class: weight}``: where each sample's mistakes go
        (:func:`simulated_answer`); None for uniform mistakes.
    overlaps : mapping
        ``task_id -> answers`` for tasks given one more reviewer.
    """

    accuracy: float | Sequence[float] = 0.95
    reviewers: int = 2
    answers_per_task: int | None = None
    skip_rate: float = 0.05
    confusable: Mapping[str, Mapping[str, float]] | None = None
    overlaps: Mapping[int, int] = field(default_factory=dict)

    def accuracy_of(self, k: int) -> float:
        """The accuracy of reviewer ``k`` (1-based)."""
        if isinstance(self.accuracy, int | float):
            return float(self.accuracy)
        return float(self.accuracy[k - 1])

    def needed(self, task_id: int) -> int:
        """Non-skipped answers task ``task_id`` should get."""
        base = self.reviewers if self.answers_per_task is None else self.answers_per_task
        return min(self.reviewers, max(base, self.overlaps.get(task_id, 0)))

    def check(self) -> None:
        """Raise ValueError on settings out of range."""
        accs = [self.accuracy_of(k) for k in range(1, self.reviewers + 1)]
        if not all(0 <= a <= 1 for a in accs) or not 0 <= self.skip_rate <= 1:
            raise ValueError("accuracy and skip_rate must be within [0, 1]")
        if self.reviewers < 1:
            raise ValueError("reviewers must be at least 1")


def _reviewer_order(seed: int, sample_id: str, n: int, needed: int) -> list[int]:
    """Reviewers (1-based) in the order they take a task: 1..n when all answer, else a
    deterministic shuffle per sample so the work spreads over the reviewers."""
    order = list(range(1, n + 1))
    if needed < n:
        digest = hashlib.sha256(f"{seed}\x1forder\x1f{sample_id}".encode()).digest()
        random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def _task_jobs(
    crowd: Crowd,
    seed: int,
    task_id: int,
    sample_id: str,
    true_label: str,
    choices: list[str],
    anns: list[Any],
    user_ids: list[int],
) -> list[tuple[int, str, int, int, str | None, str]]:
    """The answers still due on one task: ``(task, sample, k, user, answer, truth)``."""
    needed = crowd.needed(task_id)
    have = sum(not a.was_cancelled for a in anns)
    done_by = {a.user_id for a in anns}
    jobs = []
    for k in _reviewer_order(seed, sample_id, crowd.reviewers, needed):
        if have >= needed:
            break
        if user_ids[k - 1] in done_by:
            continue
        answer = simulated_answer(
            seed,
            sample_id,
            k,
            true_label,
            choices,
            accuracy=crowd.accuracy_of(k),
            skip_rate=crowd.skip_rate,
            confusable=(crowd.confusable or {}).get(sample_id),
        )
        jobs.append((task_id, sample_id, k, user_ids[k - 1], answer, true_label))
        have += answer is not None
    return jobs


def simulate_reviews(
    client: StudioClient,
    project_id: int,
    truth: Mapping[str, str],
    *,
    accuracy: float | Sequence[float] = 0.95,
    reviewers: int = 2,
    skip_rate: float = 0.05,
    seed: int = 0,
    threads: int = 4,
    crowd: Crowd | None = None,
) -> SimulationSummary:
    """Let simulated reviewers answer every task that still needs answers.

    A task needs answers while it has fewer non-skipped annotations than
    :meth:`Crowd.needed` (by default every reviewer's); then simulated reviewers who have
    not answered it yet (an answer or a skip) answer through the API, one by one, until it
    has enough: the true label with their accuracy, else a mistake
    (:func:`simulated_answer`), or a skip with probability ``skip_rate``.

    Parameters
    ----------
    client : StudioClient
        The connection (its token must belong to an administrator).
    project_id : int
        The Label Studio project.
    truth : mapping
        ``sample_id -> true label`` (a class, or :data:`NOT_VALID`). Tasks whose sample
        id is missing are left alone (a warning says how many).
    accuracy, reviewers, skip_rate
        Shorthands for a :class:`Crowd` with uniform mistakes (ignored with ``crowd``).
    seed : int
        Seed of the answers.
    threads : int
        Parallel API calls (Label Studio creates about 10 annotations a second on one
        connection, about 20 with 4).
    crowd : Crowd, optional
        The reviewers in full: per-reviewer accuracy, answers per task, realistic mistakes.

    Returns
    -------
    SimulationSummary
    """
    crowd = crowd or Crowd(accuracy=accuracy, reviewers=reviewers, skip_rate=skip_rate)
    crowd.check()
    started = time.perf_counter()
    choices = [*client.project_classes(project_id), NOT_VALID]
    user_ids = [
        client.ensure_user(REVIEWER_EMAIL.format(k=k)) for k in range(1, crowd.reviewers + 1)
    ]
    summary = SimulationSummary(reviewers=crowd.reviewers)
    answered = {t.task_id: t for t in client.list_reviewed_tasks(project_id)}
    jobs: list[tuple[int, str, int, int, str | None, str]] = []
    unknown_labels: set[str] = set()
    for sample_id, task_ids in sorted(client.list_task_sample_ids(project_id).items()):
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
            due = _task_jobs(crowd, seed, task_id, sample_id, true_label, choices, anns, user_ids)
            summary.already_complete += not due
            jobs += due
    _warn_left_alone(project_id, summary.missing_truth, unknown_labels)
    _create_answers(client, jobs, threads)
    summary.answered_tasks = len({j[0] for j in jobs})
    summary.created = len(jobs)
    summary.skipped = sum(j[4] is None for j in jobs)
    summary.correct = sum(j[4] is not None and j[4] == j[5] for j in jobs)
    summary.wrong = summary.created - summary.skipped - summary.correct
    summary.seconds = time.perf_counter() - started
    log.info(
        "project %d: %d simulated reviewer(s) created %d annotation(s) on %d task(s) in %.1f s",
        project_id,
        crowd.reviewers,
        summary.created,
        summary.answered_tasks,
        summary.seconds,
    )
    return summary


def _warn_left_alone(project_id: int, missing_truth: int, unknown_labels: set[str]) -> None:
    if missing_truth:
        log.warning(
            "project %d: %d task(s) have no true label in the simulation; left unanswered",
            project_id,
            missing_truth,
        )
    if unknown_labels:
        log.warning(
            "project %d: true labels %s are not classes of the project; those "
            "tasks were left unanswered",
            project_id,
            sorted(unknown_labels),
        )


def _create_answers(
    client: StudioClient, jobs: list[tuple[int, str, int, int, str | None, str]], threads: int
) -> None:
    def run(job: tuple[int, str, int, int, str | None, str]) -> None:
        task_id, _, _, uid, answer, _ = job
        client.create_annotation(task_id, answer, uid, was_cancelled=answer is None)

    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="ls-review") as pool:
        for _ in pool.map(run, jobs):
            pass


@dataclass(frozen=True)
class SimulatedReview:
    """Simulated reviewers as a cycle's reviewer (demos, benchmarks, ``--simulate-review``).

    Pass it as ``review`` to :func:`relabel.loop.cycle.run_cycle`: before each pull it lets
    :func:`simulate_reviews` answer the cycle's tasks, with the seed ``seed + cycle``.

    Attributes
    ----------
    truth : mapping
        ``sample_id -> true label``.
    accuracy, reviewers, skip_rate, seed, answers_per_task
        As for :class:`Crowd` and :func:`simulate_reviews`.
    realistic : bool
        Mistakes go to the classes each image is confusable with: drawn in proportion to
        the newest run's out-of-fold probabilities (else uniformly).
    """

    truth: Mapping[str, str]
    accuracy: float | Sequence[float] = 0.95
    reviewers: int = 2
    skip_rate: float = 0.05
    seed: int = 0
    answers_per_task: int | None = None
    realistic: bool = False

    def __call__(
        self, project: Project, client: StudioClient, studio_project_id: int, cycle: int
    ) -> SimulationSummary:
        """Answer the tasks of ``studio_project_id`` that still need answers."""
        crowd = Crowd(
            accuracy=self.accuracy,
            reviewers=self.reviewers,
            answers_per_task=self.answers_per_task,
            skip_rate=self.skip_rate,
            confusable=confusable_classes(project) if self.realistic else None,
            overlaps=project.store.task_overlaps(studio_project_id),
        )
        return simulate_reviews(
            client, studio_project_id, self.truth, seed=self.seed + cycle, crowd=crowd
        )


def confusable_classes(project: Project) -> dict[str, dict[str, float]]:
    """``sample_id -> {class: probability}`` from the newest run's out-of-fold probabilities."""
    _, samples, probs = project.latest_probabilities()
    classes = project.config.dataset.classes
    return {
        str(sid): dict(zip(classes, map(float, row), strict=True))
        for sid, row in zip(samples["sample_id"], probs, strict=True)
    }
