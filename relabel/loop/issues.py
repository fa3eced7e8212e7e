"""Issue reviews in Label Studio: push duplicate sets and outliers, pull what reviewers said.

Each kind of issue (``duplicates``, ``outliers``) has its own Label Studio project, since its
answers differ from a label review's: the first ``relabel push --type KIND`` creates it
(with relabel's marker in its description) and the store's ``meta`` keeps it
(``studio_issue_project:KIND``). The answers are those of :mod:`relabel.review.issues`.

The push and pull follow the label review's design (:mod:`relabel.loop.push`,
:mod:`relabel.loop.pull`) and share its guarantees:

- a task row is ``planned`` (the selection, with the samples it covers) before Label Studio
  hears of it, ``pending`` before its batch is imported and ``open`` once the import
  returned its id; a push killed anywhere is finished, never repeated, by the next one
  (``pending`` rows are looked up in Label Studio by their first sample);
- a pull applies every answered task and its cursor in ONE transaction: a crash before the
  commit changes nothing, a second pull changes nothing (unchanged answers are skipped by
  their fingerprint), and an edited answer is applied again (a drop it undoes is recorded
  as the sample being kept again).

A drop is an event in the store (:meth:`relabel.store.Store.add_drop`); nothing is deleted.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from relabel.data.collage import png_data_uri, side_by_side
from relabel.errors import ProjectError, StudioBindingError, StudioConfigMismatchError
from relabel.infra import failpoints
from relabel.infra.progress import Progress, count
from relabel.loop.binding import MARKER_LABEL, MARKER_META, marker_of
from relabel.loop.pull import fingerprint, release_deleted_tasks
from relabel.loop.push import reconcile_pending
from relabel.project import Project
from relabel.review.issues import ISSUE_KINDS, MemberState, issue_choices, issue_decision
from relabel.review.majority import Vote, resolve
from relabel.store.issues import task_members
from relabel.studio.client import ReviewedTask, StudioClient, TaskSpec
from relabel.studio.labeling import build_issue_label_config, parse_classes

log = logging.getLogger(__name__)

#: The ``meta`` key (``.format(kind=...)``) that keeps a kind's Label Studio project.
ISSUE_PROJECT_META = "studio_issue_project:{kind}"

_HEADERS = {
    "duplicates": "Duplicate set of $set_size images: are they the same image? "
    "('keep one' keeps image 1)",
    "outliers": "Outlier: does this image belong to the dataset? Given label: $given_label",
}


@dataclass(frozen=True)
class IssuePushSummary:
    """What an issue push did."""

    kind: str
    studio_project_id: int
    candidates: int
    planned: int
    pushed: int
    reconciled: int
    resumed: bool
    excluded_covered: int
    seconds: float


@dataclass(frozen=True)
class IssuePullSummary:
    """What an issue pull did.

    ``outcomes`` counts the resolved tasks per outcome (``kept_one``, ``relabelled``,
    ``not_duplicates``, ``kept``, ``removed``); ``dropped``, ``kept_again`` and
    ``relabelled`` count the samples changed.
    """

    kind: str
    tasks_seen: int = 0
    resolved: int = 0
    unresolved: int = 0
    unchanged: int = 0
    unknown: int = 0
    dropped: int = 0
    kept_again: int = 0
    relabelled: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    deleted: list[int] = field(default_factory=list)
    seconds: float = 0.0


# -- the Label Studio project of a kind ------------------------------------------------------
def _check_kind(kind: str) -> None:
    if kind not in ISSUE_KINDS:
        raise ValueError(f"issue kind must be one of {', '.join(ISSUE_KINDS)}; got {kind!r}")


def bound_issue_kinds(project: Project) -> list[str]:
    """The issue kinds that have a Label Studio project (something was pushed)."""
    return [k for k in ISSUE_KINDS if project.store.get_meta(ISSUE_PROJECT_META.format(kind=k))]


def _create_issue_project(project: Project, client: StudioClient, kind: str) -> int:
    store, classes = project.store, project.config.dataset.classes
    marker = store.get_meta(MARKER_META) or uuid.uuid4().hex
    title = f"relabel: {project.config.name} ({kind})"
    description = (
        f"Review of {kind} found by relabel in the project '{project.config.name}'.\n\n"
        f"{MARKER_LABEL}: {marker}"
    )
    config = build_issue_label_config(_HEADERS[kind], issue_choices(kind, classes))
    pid = client.create_project(
        title, config, description, maximum_annotations=project.config.review.reviewers_per_task
    )
    with store.transaction():
        store.set_meta(MARKER_META, marker)
        store.set_meta(
            ISSUE_PROJECT_META.format(kind=kind),
            json.dumps({"id": pid, "url": client.display_url, "title": title}),
        )
    return pid


def issue_project(project: Project, client: StudioClient, kind: str, *, create: bool = True) -> int:
    """The Label Studio project of one issue kind, created on first use.

    The project must still exist, carry this project's marker and offer the answers of
    :func:`relabel.review.issues.issue_choices` for the project's classes. When the server
    is reached at another URL, the project found there by id and marker is taken.

    Raises
    ------
    ProjectError
        None yet and ``create`` is False.
    StudioProjectMissingError
        It was deleted in Label Studio.
    StudioBindingError
        Its description names another relabel project.
    StudioConfigMismatchError
        Its answers no longer match the project's classes.
    """
    _check_kind(kind)
    key = ISSUE_PROJECT_META.format(kind=kind)
    saved = project.store.get_meta(key)
    if saved is None:
        if not create:
            client.check()
            raise ProjectError(
                f"{project.root}: no {kind} were pushed to Label Studio yet "
                f"(relabel push --type {kind} first)"
            )
        return _create_issue_project(project, client, kind)
    bound = json.loads(saved)
    pid = int(bound["id"])
    info = client.get_project(pid)
    found = marker_of(info.description)
    if found != project.store.get_meta(MARKER_META):
        raise StudioBindingError(
            f"Label Studio project {pid} at {client.display_url} is not this project's {kind} "
            f"review (its description says {MARKER_LABEL}: {found}); nothing was changed"
        )
    want = issue_choices(kind, project.config.dataset.classes)
    if parse_classes(info.label_config) != want[:-1]:  # parse_classes leaves out Not sure
        raise StudioConfigMismatchError(
            f"Label Studio project {pid} at {client.display_url} no longer offers the answers "
            f"{want[:-1]}; restore its labeling config (relabel never guesses a mapping)"
        )
    if bound["url"] != client.display_url:
        bound["url"] = client.display_url
        project.store.set_meta(key, json.dumps(bound))
    return pid


# -- push -------------------------------------------------------------------------------------
Item = tuple[list[str], dict[str, Any]]


def duplicate_items(table: pd.DataFrame, covered: set[str]) -> list[Item]:
    """One candidate task per duplicate set of :meth:`Project.issues`, highest score first.

    A set with a member already covered by a duplicates task is left out. Members are in
    the table's (the store's) order; a set's score is its members' highest
    ``duplicate_score``; ties go to the lower set number.
    """
    flagged = table[table["duplicate_set"] >= 0]
    items: list[tuple[float, int, Item]] = []
    for set_id, g in flagged.groupby("duplicate_set", sort=True):
        members = g["sample_id"].astype(str).tolist()
        if len(members) < 2 or covered.intersection(members):
            continue
        score = float(g["duplicate_score"].max())
        evidence = {
            "kind": "duplicates",
            "set": int(set_id),  # type: ignore[call-overload]
            "score": score,
            "given_labels": g["given_label"].astype(str).tolist(),
            "conflict": bool(g["duplicate_conflict"].any()),
            "crosses_holdout": bool(g["duplicate_crosses_holdout"].any()),
        }
        items.append((-score, int(set_id), (members, evidence)))  # type: ignore[call-overload]
    return [item for *_, item in sorted(items, key=lambda t: (t[0], t[1]))]


def outlier_items(table: pd.DataFrame, covered: set[str]) -> list[Item]:
    """One candidate task per flagged outlier of :meth:`Project.issues`, highest score
    first (ties: table order); samples covered by an outliers task are left out."""
    flagged = table[table["outlier_flag"] & ~table["sample_id"].isin(covered)]
    flagged = flagged.sort_values("outlier_score", ascending=False, kind="stable")
    return [
        (
            [str(r.sample_id)],
            {
                "kind": "outliers",
                "score": float(r.outlier_score),
                "given_labels": [str(r.given_label)],
                "reason": str(r.reasons),
            },
        )
        for r in flagged.itertuples(index=False)
    ]


def _plan(
    project: Project,
    studio_project_id: int,
    kind: str,
    table: pd.DataFrame,
    budget: float | None,
    cycle: int | None,
) -> tuple[int, int, int]:
    """Select and plan this push's tasks from the issues ``table``; return (candidates,
    planned, excluded)."""
    covered = project.store.issue_covered_samples(kind)
    select = duplicate_items if kind == "duplicates" else outlier_items
    every = select(table, set())
    items = select(table, covered)
    chosen = items[: project.config.budget_count(len(table), budget)]
    project.store.plan_issue_tasks(
        studio_project_id, kind, chosen, cycle=cycle, batch=uuid.uuid4().hex[:12]
    )
    return len(every), len(chosen), len(every) - len(items)


def _task_spec(
    project: Project, row: Any, paths: dict[str, str], labels: dict[str, str]
) -> TaskSpec:
    """The Label Studio task of a planned issue row: its image(s), labels and findings."""
    members = task_members(row)
    evidence = json.loads(row["evidence"])
    text = " \u00b7 ".join(f"{i}: {sid} ({labels[sid]})" for i, sid in enumerate(members, 1))
    data = {
        "given_label": labels[members[0]],
        "members_text": text,
        "set_size": len(members),
        "score": round(float(evidence.get("score", 0.0)), 6),
        "issue": row["kind"],
        "cycle": row["cycle"],
    }
    if row["kind"] == "outliers":
        data["members_text"] = f"{text}: {evidence.get('reason', '')}"
        return TaskSpec(sample_id=members[0], image=paths[members[0]], data=data)
    png = side_by_side(
        [paths[s] for s in members],
        [f"{i}: {labels[s]}" for i, s in enumerate(members, 1)],
        max_pixels=project.config.dataset.max_pixels,
    )
    return TaskSpec(sample_id=members[0], image=png_data_uri(png), data=data)


def _push_planned(
    project: Project,
    client: StudioClient,
    studio_project_id: int,
    batch_size: int,
    progress: Progress | None,
) -> int:
    """Import every planned issue task in batches; return how many were imported."""
    store = project.store
    current = store.labels()
    paths = dict(zip(current["sample_id"], current["path"], strict=True))
    labels = dict(zip(current["sample_id"], current["label"], strict=True))
    rows = store.tasks(studio_project_id, ("planned",))
    done = 0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        specs = [_task_spec(project, r, paths, labels) for r in batch]
        row_ids = [r["row_id"] for r in batch]
        store.set_task_state(row_ids, "pending")
        task_ids = client.import_tasks(
            studio_project_id,
            specs,
            project.config.review.image_mode,
            document_root=project.config.studio.document_root or None,
        )
        failpoints.hit("issue_push:after_import")
        store.open_tasks(list(zip(row_ids, task_ids, strict=True)))
        done += len(batch)
        count(progress, "push", done, len(rows), f"push: {done}/{len(rows)} tasks")
    return done


def push_issues(
    project: Project,
    client: StudioClient,
    kind: str,
    *,
    budget: float | None = None,
    cycle: int | None = None,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> IssuePushSummary:
    """Send duplicate sets or outliers to Label Studio for review, within the budget.

    If an earlier push of this kind was interrupted, this finishes it instead of
    selecting anew.

    Parameters
    ----------
    project : Project
        The opened project (its newest run must have embeddings: :meth:`Project.issues`).
    client : StudioClient
        The Label Studio connection.
    kind : str
        ``duplicates`` (one task per set, highest score first) or ``outliers`` (one task
        per flagged outlier).
    budget : float, optional
        Most tasks: a count, or a fraction of the samples in (0, 1) (default:
        ``review.budget``).
    cycle : int, optional
        The cycle the tasks belong to.
    batch_size : int
        Tasks per import request.
    progress : callable, optional
        Receives progress lines.

    Raises
    ------
    EmbeddingsMissingError
        The run has no embeddings (nothing is sent).
    """
    _check_kind(kind)
    started = time.perf_counter()
    client.check_image_mode(
        project.config.review.image_mode, project.config.studio.document_root or None
    )
    store = project.store
    unfinished = any(
        store.tasks(int(json.loads(v)["id"]), ("planned", "pending"))
        for v in [store.get_meta(ISSUE_PROJECT_META.format(kind=kind))]
        if v
    )
    table = None if unfinished else project.issues()  # fails before Label Studio hears
    pid = issue_project(project, client, kind)
    reconciled = reconcile_pending(project, client, pid)
    resumed = bool(store.tasks(pid, ("planned",))) or reconciled > 0
    candidates = planned = excluded = 0
    if not resumed:
        table = project.issues() if table is None else table
        candidates, planned, excluded = _plan(project, pid, kind, table, budget, cycle)
    pushed = _push_planned(project, client, pid, batch_size, progress)
    return IssuePushSummary(
        kind,
        pid,
        candidates,
        planned,
        pushed,
        reconciled,
        resumed,
        excluded,
        time.perf_counter() - started,
    )


# -- pull -------------------------------------------------------------------------------------
@dataclass
class _State:
    """What the pull knows while it applies tasks: labels, drops and counts."""

    labels: dict[str, str]
    dropped: set[str]
    tally: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.tally[key] = self.tally.get(key, 0) + n


def _votes(task: ReviewedTask) -> list[Vote]:
    return [Vote(a.id, str(a.user), a.choice, bool(a.was_cancelled)) for a in task.annotations]


def _apply_task(project: Project, kind: str, task: ReviewedTask, row: Any, state: _State) -> None:
    """Resolve one changed task and record what its answer does to its members."""
    store, classes = project.store, project.config.dataset.classes
    votes = _votes(task)
    choices = issue_choices(kind, classes)
    resolution = resolve(votes, classes=choices, min_agreement=project.config.review.min_agreement)
    choice = resolution.label if resolution.outcome == "label" else None
    members = task_members(row)
    decision = issue_decision(
        kind,
        choice,
        [MemberState(s, state.labels[s], s in state.dropped) for s in members],
        classes,
    )
    reviewers = sorted({v.reviewer for v in votes if not v.cancelled})
    evidence = {
        "kind": kind,
        "studio_project_id": int(row["studio_project_id"]),
        "task_id": task.task_id,
        "annotation_ids": [v.annotation_id for v in votes],
        "votes": resolution.votes,
        "choice": choice,
        "members": members,
        "outcome": decision.outcome,
    }
    for sid in decision.drop:
        store.add_drop(sid, True, cycle=row["cycle"], reviewers=reviewers, evidence=evidence)
        state.dropped.add(sid)
    for sid in decision.keep:
        store.add_drop(sid, False, cycle=row["cycle"], reviewers=reviewers, evidence=evidence)
        state.dropped.discard(sid)
    for sid, label in sorted(decision.relabel.items()):
        status = str(store.current_version(sid)["status"])
        store.add_version(
            sid,
            label,
            source="review",
            status=status,
            cycle=row["cycle"],
            reviewers=reviewers,
            evidence=evidence,
        )
        state.labels[sid] = label
    unresolved = decision.outcome == "unresolved"
    store.record_issue_review(
        int(row["row_id"]),
        outcome=decision.outcome,
        fingerprint=fingerprint(task),
        evidence={**evidence, "reason": resolution.reason},
        still_open=unresolved,
    )
    state.add("unresolved" if unresolved else "resolved")
    state.add("dropped", len(decision.drop))
    state.add("kept_again", len(decision.keep))
    state.add("relabelled", len(decision.relabel))
    if not unresolved:
        state.tally.setdefault("outcomes", {})
        state.tally["outcomes"][decision.outcome] = (
            state.tally["outcomes"].get(decision.outcome, 0) + 1
        )


def apply_issue_reviews(
    project: Project,
    studio_project_id: int,
    kind: str,
    tasks: list[ReviewedTask],
    *,
    cursor: str | None,
) -> IssuePullSummary:
    """Apply answered issue tasks and the new cursor in ONE transaction.

    A task relabel did not push (or of another kind) is counted as ``unknown``; one whose
    answers did not change since the last pull (same fingerprint) as ``unchanged``.
    """
    store = project.store
    current = store.labels()
    state = _State(
        dict(zip(current["sample_id"], current["label"], strict=True)), store.dropped_sample_ids()
    )
    rows = store.task_rows_by_task_id(studio_project_id)
    with store.transaction():
        for task in sorted(tasks, key=lambda t: t.task_id):
            row = rows.get(task.task_id)
            if row is None or row["kind"] != kind:
                state.add("unknown")
            elif row["fingerprint"] == fingerprint(task):
                state.add("unchanged")
            else:
                _apply_task(project, kind, task, row, state)
        summary = IssuePullSummary(kind, tasks_seen=len(tasks), **state.tally)
        store.add_pull(studio_project_id, cursor, {**summary.__dict__, "kind": kind})
        failpoints.hit("issue_pull:before_commit")
    return summary


def pull_issues(
    project: Project, client: StudioClient, kind: str, *, progress: Progress | None = None
) -> IssuePullSummary:
    """Read every answer to ``kind`` tasks since the last pull and apply it exactly once.

    "Keep one" drops every member of a set but the first, "all labelled X" gives every
    member label X, "remove" drops an outlier, "relabel as X" relabels it; "not
    duplicates" and "belongs to the dataset" change nothing (or undo a drop that an
    earlier answer to the same task made). Each change is recorded with its provenance
    (task, answers, reviewers).

    Raises
    ------
    ProjectError
        Nothing of this kind was pushed yet.
    StudioError
        Server unreachable, token refused, project deleted; the store is unchanged.
    """
    started = time.perf_counter()
    pid = issue_project(project, client, kind, create=False)
    deleted = release_deleted_tasks(project, client, pid)
    cursor = project.store.last_pull_cursor(pid)
    tasks = client.list_reviewed_tasks(pid, updated_after=cursor)
    if progress:
        progress(f"pull {kind}: {len(tasks)} task(s) with answers since {cursor or 'the start'}")
    new_cursor = getattr(tasks, "watermark", None) or cursor
    summary = apply_issue_reviews(project, pid, kind, tasks, cursor=new_cursor)
    seconds = time.perf_counter() - started
    return IssuePullSummary(**{**summary.__dict__, "deleted": deleted, "seconds": seconds})
