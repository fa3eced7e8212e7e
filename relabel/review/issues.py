"""What a reviewer's answer to an issue task does to its samples: pure, no I/O.

Two kinds of issue task (:mod:`relabel.findings` finds them):

``duplicates``
    one task per duplicate set, its members side by side with their labels. Answers:
    :data:`KEEP_ONE` (the first member is kept, the others are dropped), "Same image: all
    labelled X" (:func:`all_labelled`, every member gets label X) or
    :data:`NOT_DUPLICATES` (nothing changes);
``outliers``
    one task per flagged outlier. Answers: :data:`BELONGS` (nothing changes),
    :data:`REMOVE` (the sample is dropped) or "Relabel as X" (:func:`relabel_as`).

Every kind also offers :data:`relabel.review.majority.NOT_SURE` (the task stays open).
:func:`issue_decision` maps a resolved answer and the members' current state to the events
to record: drops, kept-again samples (a drop undone by an edited answer) and new labels.
Nothing is ever deleted: a drop is an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from relabel.review.majority import NOT_SURE

#: The kinds of issue task.
ISSUE_KINDS: tuple[str, str] = ("duplicates", "outliers")

#: Duplicates: the same image; keep the first member, drop the others.
KEEP_ONE = "Same image: keep one"
#: Duplicates: not the same image; nothing changes.
NOT_DUPLICATES = "Not duplicates"
#: Outliers: the image belongs to the dataset; nothing changes.
BELONGS = "Belongs to the dataset"
#: Outliers: drop the image from the dataset.
REMOVE = "Remove from the dataset"

_ALL_LABELLED = "Same image: all labelled "
_RELABEL_AS = "Relabel as "


def all_labelled(label: str) -> str:
    """The duplicates answer "same image: all labelled ``label``"."""
    return _ALL_LABELLED + label


def relabel_as(label: str) -> str:
    """The outliers answer "relabel as ``label``"."""
    return _RELABEL_AS + label


def issue_choices(kind: str, classes: Sequence[str]) -> list[str]:
    """The answers a reviewer picks from, in the order they are shown.

    Parameters
    ----------
    kind : str
        ``duplicates`` or ``outliers``.
    classes : sequence of str
        The project's classes.

    Returns
    -------
    list of str
        For duplicates: :data:`KEEP_ONE`, one :func:`all_labelled` per class,
        :data:`NOT_DUPLICATES`; for outliers: :data:`BELONGS`, :data:`REMOVE`, one
        :func:`relabel_as` per class; then ``Not sure``.

    Raises
    ------
    ValueError
        An unknown kind.
    """
    if kind == "duplicates":
        return [KEEP_ONE, *(all_labelled(c) for c in classes), NOT_DUPLICATES, NOT_SURE]
    if kind == "outliers":
        return [BELONGS, REMOVE, *(relabel_as(c) for c in classes), NOT_SURE]
    raise ValueError(f"issue kind must be one of {', '.join(ISSUE_KINDS)}; got {kind!r}")


@dataclass(frozen=True)
class MemberState:
    """A member of an issue task as the store holds it now."""

    sample_id: str
    label: str
    dropped: bool = False


@dataclass(frozen=True)
class IssueDecision:
    """What an answer does.

    Attributes
    ----------
    outcome : str
        ``kept_one``, ``relabelled``, ``not_duplicates``, ``kept``, ``removed`` or
        ``unresolved`` (the task stays open).
    drop : list of str
        Members to drop (not dropped now).
    keep : list of str
        Members dropped now that the answer keeps (an edited answer undoes a drop).
    relabel : dict
        ``sample_id -> label`` for members whose label changes.
    """

    outcome: str
    drop: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    relabel: dict[str, str] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        """Whether the answer changes any member."""
        return bool(self.drop or self.keep or self.relabel)


def _kept(members: Sequence[MemberState]) -> list[str]:
    return [m.sample_id for m in members if m.dropped]


def _relabelled(
    members: Sequence[MemberState], label: str, classes: Sequence[str]
) -> IssueDecision:
    if label not in classes:
        return IssueDecision("unresolved")
    changed = {m.sample_id: label for m in members if m.label != label}
    return IssueDecision("relabelled", keep=_kept(members), relabel=changed)


def issue_decision(
    kind: str, choice: str | None, members: Sequence[MemberState], classes: Sequence[str]
) -> IssueDecision:
    """Map a resolved answer to the events to record for the task's members.

    Parameters
    ----------
    kind : str
        ``duplicates`` or ``outliers``.
    choice : str or None
        The resolved answer (None, ``Not sure`` or an answer not of this kind: the task
        stays unresolved).
    members : sequence of MemberState
        The task's samples in the order they were shown (the first is kept by
        :data:`KEEP_ONE`).
    classes : sequence of str
        The project's classes.

    Returns
    -------
    IssueDecision
    """
    if kind == "duplicates":
        if choice == KEEP_ONE:
            first, rest = members[0], members[1:]
            return IssueDecision(
                "kept_one",
                drop=[m.sample_id for m in rest if not m.dropped],
                keep=[first.sample_id] if first.dropped else [],
            )
        if choice == NOT_DUPLICATES:
            return IssueDecision("not_duplicates", keep=_kept(members))
        if choice is not None and choice.startswith(_ALL_LABELLED):
            return _relabelled(members, choice[len(_ALL_LABELLED) :], classes)
    elif kind == "outliers":
        if choice == BELONGS:
            return IssueDecision("kept", keep=_kept(members))
        if choice == REMOVE:
            return IssueDecision("removed", drop=[m.sample_id for m in members if not m.dropped])
        if choice is not None and choice.startswith(_RELABEL_AS):
            return _relabelled(members, choice[len(_RELABEL_AS) :], classes)
    else:
        raise ValueError(f"issue kind must be one of {', '.join(ISSUE_KINDS)}; got {kind!r}")
    return IssueDecision("unresolved")
