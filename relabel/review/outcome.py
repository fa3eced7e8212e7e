"""What a resolved task does to its sample's label (pure).

A task's answers are resolved first (:func:`relabel.review.majority.resolve` or
:func:`relabel.review.dawid_skene.resolve_posterior`); the resolution, set against the
sample's current label, decides the outcome:

* ``confirmed``: the answer is the current (active) label; no new version;
* ``corrected``: another label; a new label version with that label;
* ``excluded``: "not a valid image"; a new version excluding the sample, once;
* ``unresolved``: a tie, too little agreement, or "Not sure"; the task may get one more
  reviewer (once), and is closed once its answers are in.

A task of an unlabelled sample (the pool, ``relabel push --type label``) has no current
label to set the answer against (:func:`decide_unlabelled`): ``labelled`` (the answer is
the sample's first label, it leaves the pool), ``excluded`` (the image is not valid: the
sample is dropped, there is no label to exclude) or ``unresolved``.

The loop (:mod:`relabel.loop.pull`) writes what this module decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from relabel.review.majority import Resolution, Vote

#: The fields of the push's evidence that a review's label version carries over.
CARRIED_EVIDENCE = ("p_given", "p_predicted", "predicted_label", "run_id")


@dataclass(frozen=True)
class Decision:
    """The outcome of one resolved task for its sample.

    Attributes
    ----------
    outcome : str
        ``confirmed``, ``corrected``, ``excluded`` or ``unresolved`` (``labelled`` for a
        sample of the pool, :func:`decide_unlabelled`).
    label : str or None
        The label the review settled on (the current one when excluded).
    new_status : str or None
        The status of the label version to append (``active`` or ``excluded``), or None
        when no version is added.
    correction : str or None
        ``"given>new"`` for a correction.
    """

    outcome: str
    label: str | None
    new_status: str | None = None
    correction: str | None = None


def decide(resolution: Resolution, current_label: str, current_status: str) -> Decision:
    """The outcome of ``resolution`` for a sample whose current label and status are given."""
    if resolution.outcome == "label":
        label = resolution.label
        if label == current_label and current_status == "active":
            return Decision("confirmed", label)
        return Decision("corrected", label, "active", f"{current_label}>{label}")
    if resolution.outcome == "excluded":
        status = "excluded" if current_status != "excluded" else None
        return Decision("excluded", current_label, status)
    return Decision("unresolved", resolution.label)


def decide_unlabelled(resolution: Resolution) -> Decision:
    """The outcome of ``resolution`` for a sample of the unlabelled pool.

    Parameters
    ----------
    resolution : Resolution
        The resolved answers of the sample's label task.

    Returns
    -------
    Decision
        ``labelled`` with the label and status ``active`` (its first label version),
        ``excluded`` (no version: the loop drops the sample) or ``unresolved``.
    """
    if resolution.outcome == "label":
        return Decision("labelled", resolution.label, "active")
    if resolution.outcome == "excluded":
        return Decision("excluded", None)
    return Decision("unresolved", resolution.label)


def answered(votes: Sequence[Vote]) -> int:
    """Answers that are not skips."""
    return sum(not v.cancelled for v in votes)


def wants_one_more(
    decision: Decision, votes: Sequence[Vote], reviewers_per_task: int, extra: int | None
) -> bool:
    """Whether an unresolved task whose answers are all in gets one more reviewer.

    Only once: ``extra`` is the overlap an earlier pull already asked for (None if none).
    """
    if decision.outcome != "unresolved" or extra is not None:
        return False
    return answered(votes) >= reviewers_per_task


def stays_open(decision: Decision, votes: Sequence[Vote], extra: int | None) -> bool:
    """Whether the task stays open: unresolved, and still waiting for an asked-for answer."""
    return decision.outcome == "unresolved" and (extra is None or answered(votes) < int(extra))


def review_evidence(
    location: tuple[int, int],
    votes: Sequence[Vote],
    resolution: Resolution,
    pushed: Mapping[str, Any],
    consensus: str,
) -> dict[str, Any]:
    """What a review's label version records: where, who, the votes and the push's scores.

    Parameters
    ----------
    location : (int, int)
        The Label Studio project id and task id.
    votes : sequence of Vote
        The task's answers.
    resolution : Resolution
        How they resolved.
    pushed : mapping
        The evidence recorded when the task was pushed (the model's scores).
    consensus : str
        ``majority`` or ``dawid_skene`` (then the posterior is recorded).
    """
    studio_project_id, task_id = location
    evidence = {
        "studio_project_id": studio_project_id,
        "task_id": task_id,
        "annotation_ids": sorted(v.annotation_id for v in votes if not v.cancelled),
        "votes": resolution.votes,
        "agreement": round(resolution.agreement, 4),
        "reason": resolution.reason,
        **{k: v for k, v in pushed.items() if k in CARRIED_EVIDENCE},
        "consensus": consensus,
    }
    if consensus == "dawid_skene":
        evidence["posterior"] = round(resolution.agreement, 4)
    return evidence
