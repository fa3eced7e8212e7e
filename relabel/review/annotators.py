"""Reviewers' quality from every answer pulled (pure: the caller reads the store).

The crowd model (:func:`relabel.review.dawid_skene.dawid_skene`) is fitted on every answer relabel
pulled, each task one item, anchored by the answers to gold tasks. The pull uses it to
weight votes (``review.consensus = "dawid_skene"``); :func:`annotator_table` turns it into
one row per reviewer for ``relabel annotators`` and the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from relabel.review.dawid_skene import Answer, CrowdEstimate, annotator_stats, dawid_skene

#: Gold labels of answered gold tasks: ``(studio project id, task id) -> trusted label``.
GoldTasks = Mapping[tuple[int, int], str]

#: The columns of :func:`annotator_table`, in order.
ANNOTATOR_COLUMNS = (
    "reviewer",
    "tasks",
    "skips",
    "not_sure",
    "gold_tasks",
    "gold_accuracy",
    "estimated_accuracy",
    "accuracy_low",
    "accuracy_high",
    "agreement",
    "confuses",
)


def item_key(studio_project_id: int, task_id: int) -> str:
    """The key of one Label Studio task in the crowd model."""
    return f"{studio_project_id}:{task_id}"


def crowd_model(
    stored: pd.DataFrame,
    gold_tasks: GoldTasks,
    classes: Sequence[str],
    fresh: Mapping[str, Sequence[Answer]] | None = None,
) -> tuple[list[Answer], dict[str, str], CrowdEstimate]:
    """Fit Dawid-Skene on every answer recorded.

    Parameters
    ----------
    stored : pandas.DataFrame
        Every recorded answer (:meth:`relabel.store.Store.crowd_answers`:
        ``studio_project_id, task_id, reviewer, choice, cancelled``).
    gold_tasks : mapping
        The trusted label of each gold task (:data:`GoldTasks`), including tasks whose
        answers are only in ``fresh``.
    classes : sequence of str
        The project's classes.
    fresh : mapping, optional
        ``item key -> answers`` just read from Label Studio: they replace what the store
        recorded for those tasks (a pull fits on the answers it is applying).

    Returns
    -------
    answers, gold, estimate
        The answers and gold labels (``item -> label``) the model was fitted on, and the fit.
    """
    fresh = fresh or {}
    pairs = zip(stored["studio_project_id"], stored["task_id"], strict=True)
    keys = [item_key(int(p), int(t)) for p, t in pairs]
    answers = [
        Answer(key, str(who), None if pd.isna(choice) else str(choice), bool(skip))
        for key, who, choice, skip in zip(
            keys, stored["reviewer"], stored["choice"], stored["cancelled"], strict=True
        )
        if key not in fresh
    ]
    for key in sorted(fresh):
        answers.extend(fresh[key])
    gold = {item_key(p, t): label for (p, t), label in gold_tasks.items()}
    return answers, gold, dawid_skene(answers, classes, gold=gold)


def annotator_table(
    stored: pd.DataFrame, gold_tasks: GoldTasks, classes: Sequence[str]
) -> pd.DataFrame:
    """One row per reviewer: tasks, skips, gold accuracy, estimated accuracy, confusions.

    Parameters
    ----------
    stored, gold_tasks :
        Every recorded answer and the gold tasks' labels, as for :func:`crowd_model`.
    classes : sequence of str
        The project's classes.

    Returns
    -------
    pandas.DataFrame
        :data:`ANNOTATOR_COLUMNS`; ``confuses`` reads like ``"7 as 1 (3.0), 5 as 6 (1.2)"``
        (true class as answered class, expected count). Empty when nobody answered yet.
    """
    answers, gold, estimate = crowd_model(stored, gold_tasks, classes)
    if not answers:
        return pd.DataFrame(columns=list(ANNOTATOR_COLUMNS))
    rows = [
        {
            "reviewer": s.reviewer,
            "tasks": s.tasks,
            "skips": s.skips,
            "not_sure": s.not_sure,
            "gold_tasks": s.gold_tasks,
            "gold_accuracy": s.gold_accuracy,
            "estimated_accuracy": s.estimated_accuracy,
            "accuracy_low": s.interval[0],
            "accuracy_high": s.interval[1],
            "agreement": s.agreement,
            "confuses": ", ".join(f"{t} as {a} ({n:.1f})" for t, a, n in s.confusions),
        }
        for s in annotator_stats(answers, estimate, gold=gold)
    ]
    return pd.DataFrame(rows, columns=list(ANNOTATOR_COLUMNS))
