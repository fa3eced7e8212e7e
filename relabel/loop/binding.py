"""The link between a relabel project and its Label Studio project: it survives a move.

A relabel project is bound to ONE Label Studio project (the label store's
``studio_projects``, latest row): its id, the URL it was last reached at (redacted), its
title and classes. relabel also writes a marker into the Label Studio project's
description, a line ``relabel-project-id: <id>`` with a random id kept in the store's
``meta`` table (``studio_marker``), so that the project can be recognised elsewhere.

When the server is reached at another URL (another port, ``localhost`` instead of
``127.0.0.1``, a new host name), :func:`ensure_studio_project` looks the bound project up
by id and fingerprint at the new URL:

- the marker matches and the classes are the same (or, for a project bound before
  markers existed, the title and classes are the same): the binding moves to the new URL
  and relabel carries on in the same project (tasks keep their ids), logging
  ``Label Studio moved: project N found at NEW (was OLD)``;
- otherwise :class:`~relabel.errors.StudioBindingError` (exit code 7) names the old and
  new URL and how to re-bind: ``relabel studio bind PROJECT --studio-project ID``
  (:func:`bind`). No project replaces the bound one while a binding exists.

When the tasks outgrow one Label Studio project (``studio.max_tasks_per_project``), a push
creates the next one with :func:`add_studio_part`: ``TITLE (2)``, ``TITLE (3)``, ... with
the same classes and marker and a line ``relabel-part: N`` in its description, recorded in
the store's ``studio_parts`` beside the binding. :func:`ensure_studio_projects` checks them
all, and a moved server is followed only when every one of them is found at the new URL.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from relabel.errors import (
    ProjectError,
    StudioBindingError,
    StudioConfigMismatchError,
    StudioProjectMissingError,
)
from relabel.infra import failpoints
from relabel.project import Project
from relabel.studio.client import ProjectInfo, StudioClient
from relabel.studio.labeling import build_label_config, parse_classes
from relabel.studio.urls import same_server

log = logging.getLogger(__name__)

#: The ``meta`` key of the project's marker.
MARKER_META = "studio_marker"
#: The label of the marker line in the Label Studio project's description.
MARKER_LABEL = "relabel-project-id"
_MARKER_LINE = re.compile(rf"^\s*{MARKER_LABEL}:\s*(\S+)\s*$", re.MULTILINE)
#: The label of the line naming a further Label Studio project's place in the sequence.
PART_LABEL = "relabel-part"
_PART_LINE = re.compile(rf"^\s*{PART_LABEL}:\s*(\d+)\s*$", re.MULTILINE)
_UNFINISHED = ("planned", "pending", "open")


@dataclass(frozen=True)
class BindResult:
    """What :func:`bind` did.

    Attributes
    ----------
    studio_project_id : int
        The Label Studio project the relabel project is now bound to.
    url : str
        The server's URL (redacted).
    previous : int or None
        The project it was bound to before (None: not bound yet).
    linked, replanned : int
        Unfinished tasks of the previous project found in the new one by sample id, and
        those planned again (the next push sends them).
    """

    studio_project_id: int
    url: str
    previous: int | None
    linked: int = 0
    replanned: int = 0


def marker_of(description: str) -> str | None:
    """The relabel marker written in a Label Studio project's description, or None."""
    m = _MARKER_LINE.search(description or "")
    return m.group(1) if m else None


def part_of(description: str) -> int:
    """The place of a Label Studio project in its relabel project's sequence (1: the first,
    which has no ``relabel-part`` line)."""
    m = _PART_LINE.search(description or "")
    return int(m.group(1)) if m else 1


def _our_marker(project: Project) -> str | None:
    """The project's marker, or None before relabel wrote one anywhere."""
    return project.store.get_meta(MARKER_META)


def _new_or_our_marker(project: Project) -> str:
    """The marker to write: the project's, or a new one (saved by :func:`_save_marker`)."""
    return _our_marker(project) or uuid.uuid4().hex


def _save_marker(project: Project, marker: str) -> None:
    """Keep the marker once it is in Label Studio (never before: a failure changes nothing)."""
    if project.store.get_meta(MARKER_META) != marker:
        project.store.set_meta(MARKER_META, marker)


def _marker_line(marker: str) -> str:
    return f"{MARKER_LABEL}: {marker}"


def _write_marker(project: Project, client: StudioClient, info: ProjectInfo) -> None:
    """Add this project's marker to the Label Studio project's description if it lacks it."""
    if marker_of(info.description) is not None:
        return
    marker = _new_or_our_marker(project)
    text = info.description.rstrip()
    line = _marker_line(marker)
    client.set_project_description(info.id, f"{text}\n\n{line}" if text else line)
    _save_marker(project, marker)
    log.info("Label Studio project %d: relabel's marker added to its description", info.id)


def _hint(project: Project) -> str:
    return f"relabel studio bind {project.root} --studio-project ID"


def _classes_of(info: ProjectInfo) -> list[str]:
    return parse_classes(info.label_config)


def _mismatch(project: Project, info: ProjectInfo, title: str) -> str | None:
    """Why the Label Studio project is not the bound one (None: it is)."""
    classes = project.config.dataset.classes
    theirs = _classes_of(info)
    if theirs != classes:
        return f"its classes are {theirs}, not {classes}"
    found = marker_of(info.description)
    ours = _our_marker(project)
    if found is not None:
        if found != ours:
            return f"its description names another relabel project ({MARKER_LABEL}: {found})"
        return None
    if info.title != title:  # bound before markers: title and classes must match
        return f"its title is {info.title!r}, not {title!r}"
    return None


def ensure_studio_project(project: Project, client: StudioClient, *, create: bool = True) -> int:
    """Return the Label Studio project of this relabel project, creating it once.

    At the URL it was bound at, the project must still exist and have the same classes.
    At another URL (the server moved) it is found by id and fingerprint and the binding
    moves to the new URL (see the module docstring). Nothing in the project folder
    changes when this raises.

    Raises
    ------
    StudioProjectMissingError
        The bound project was deleted in Label Studio (same URL).
    StudioConfigMismatchError
        Its class list no longer matches the relabel project's (same URL).
    StudioBindingError
        At a new URL, the bound project is missing or is not relabel's; or its marker
        names another relabel project.
    ProjectError
        No Label Studio project yet and ``create`` is False.
    """
    row = project.store.studio_project()
    if row is None:
        if not create:
            client.check()  # an unreachable server or a refused token says so first
            raise ProjectError(
                f"{project.root}: nothing was pushed to Label Studio yet (relabel push first)"
            )
        return _create_studio_project(project, client)
    if same_server(str(row["url"]), client.display_url):
        return _check_bound_project(project, client, int(row["studio_project_id"]))
    return _follow_moved_server(project, client, row)


def _description(project: Project, marker: str, part: int = 1) -> str:
    """A Label Studio project's description: what it is for, the marker (and its part)."""
    text = (
        f"Label review for the relabel project '{project.config.name}'. "
        "Pick the correct class; 'Not sure' leaves the task for another reviewer.\n\n"
        + _marker_line(marker)
    )
    return text if part == 1 else f"{text}\n{PART_LABEL}: {part}"


def _create_studio_project(project: Project, client: StudioClient) -> int:
    """Create the Label Studio project (with relabel's marker) and record the binding."""
    title = project.config.studio.title or f"relabel: {project.config.name}"
    marker = _new_or_our_marker(project)
    classes = project.config.dataset.classes
    studio_project_id = client.create_project(
        title,
        build_label_config(classes),
        _description(project, marker),
        maximum_annotations=project.config.review.reviewers_per_task,
    )
    with project.store.transaction():
        _save_marker(project, marker)
        project.store.add_studio_project(studio_project_id, client.display_url, title, classes)
    return studio_project_id


def _check_bound_project(project: Project, client: StudioClient, studio_project_id: int) -> int:
    """At the URL it was bound at: the project must exist, with our classes and marker."""
    url, classes = client.display_url, project.config.dataset.classes
    try:
        info = client.get_project(studio_project_id)
    except StudioProjectMissingError as exc:
        raise StudioProjectMissingError(
            f"{exc}; to carry on in another Label Studio project: {_hint(project)}"
        ) from None
    server_classes = _classes_of(info)
    if server_classes != classes:
        raise StudioConfigMismatchError(
            f"Label Studio project {studio_project_id} at {url} now has classes "
            f"{server_classes}, but the relabel project '{project.config.name}' has "
            f"{classes}; restore the labeling config in Label Studio (relabel never guesses "
            "a class mapping)"
        )
    found = marker_of(info.description)
    if found is not None and found != _our_marker(project):
        raise StudioBindingError(
            f"Label Studio project {studio_project_id} at {url} belongs to another "
            f"relabel project (its description says {MARKER_LABEL}: {found}); was the "
            f"server replaced? Bind this project to its Label Studio project: {_hint(project)}"
        )
    _write_marker(project, client, info)
    return studio_project_id


def _follow_moved_server(project: Project, client: StudioClient, row: Any) -> int:
    """The server is reached at another URL: find the SAME projects there (the bound one
    and its further parts), never a new one; nothing changes unless all are found."""
    first_id, old_url, url = int(row["studio_project_id"]), str(row["url"]), client.display_url
    infos = []
    for part in project.store.studio_parts():
        studio_project_id = int(part["studio_project_id"])
        try:
            info = client.get_project(studio_project_id)
            reason = _mismatch(project, info, str(part["title"]))
        except StudioProjectMissingError:
            reason = "no project has that id there"
        except StudioConfigMismatchError as exc:  # not a labeling config of relabel's
            reason = str(exc)
        if reason is not None:
            raise StudioBindingError(
                f"the relabel project '{project.config.name}' is bound to Label Studio "
                f"project {studio_project_id} at {old_url}, but Label Studio is now at {url} "
                f"and its project {studio_project_id} is not that project: {reason}. If the "
                f"server moved and the project has another id there, re-bind: "
                f"{_hint(project)}; else point LABEL_STUDIO_URL at {old_url} again. Nothing "
                "was changed."
            )
        infos.append(info)
    for info in infos:
        _write_marker(project, client, info)
    project.store.rebind_studio_project(first_id, old_url, url)
    for info in infos:
        log.info("Label Studio moved: project %d found at %s (was %s)", info.id, url, old_url)
    return first_id


def ensure_studio_projects(
    project: Project, client: StudioClient, *, create: bool = True
) -> list[int]:
    """Every Label Studio project of this relabel project, in order, each checked.

    The first is :func:`ensure_studio_project`'s (created once when ``create``); the
    further ones, created by :func:`add_studio_part`, must still exist with the same
    classes and marker (else the errors of :func:`ensure_studio_project`).

    Returns
    -------
    list of int
        Their Label Studio project ids; one, below ``studio.max_tasks_per_project``.
    """
    ids = [ensure_studio_project(project, client, create=create)]
    for part in project.store.studio_parts()[1:]:
        ids.append(_check_bound_project(project, client, int(part["studio_project_id"])))
    return ids


def _find_part(
    client: StudioClient, title: str, marker: str, number: int, known: set[int]
) -> int | None:
    """A Label Studio project made for this part by a push killed before recording it."""
    for pid in client.project_ids_titled(title):
        if pid in known:
            continue
        description = client.get_project(pid).description
        if marker_of(description) == marker and part_of(description) == number:
            return pid
    return None


def add_studio_part(project: Project, client: StudioClient) -> int:
    """Create the next Label Studio project of this relabel project and record it.

    Its title is the first project's with `` (N)``; it has the same classes, overlap and
    marker, and a ``relabel-part: N`` line. A creation killed before the store recorded it
    is found again (by title, marker and part) instead of being made twice.

    Returns
    -------
    int
        The new project's id.
    """
    parts = project.store.studio_parts()
    number = len(parts) + 1
    title = f"{parts[0]['title']} ({number})"
    marker = _new_or_our_marker(project)
    known = {int(p["studio_project_id"]) for p in parts}
    studio_project_id = _find_part(client, title, marker, number, known)
    if studio_project_id is None:
        studio_project_id = client.create_project(
            title,
            build_label_config(project.config.dataset.classes),
            _description(project, marker, number),
            maximum_annotations=project.config.review.reviewers_per_task,
        )
        failpoints.hit("push:after_create_part")
    else:
        log.info("Label Studio project %d (%s) found again: recorded", studio_project_id, title)
    with project.store.transaction():
        _save_marker(project, marker)
        project.store.add_studio_part(number, studio_project_id, title)
    return studio_project_id


def _tasks_in_new(
    project: Project, client: StudioClient, olds: list[int], studio_project_id: int
) -> dict[str, int]:
    """Sample id -> task id in ``studio_project_id`` of the unfinished tasks of ``olds``."""
    unfinished = [r for old in olds for r in project.store.tasks(old, _UNFINISHED)]
    if not unfinished:
        return {}
    in_new = client.find_tasks_by_sample_ids(
        studio_project_id, [r["sample_id"] for r in unfinished]
    )
    for sample_id, ids in in_new.items():
        if len(ids) > 1:
            log.warning(
                "sample %s has %d tasks in Label Studio project %d: %s",
                sample_id,
                len(ids),
                studio_project_id,
                ids,
            )
    return {sample_id: min(ids) for sample_id, ids in in_new.items()}


def bind(project: Project, client: StudioClient, studio_project_id: int) -> BindResult:
    """Bind the relabel project to an existing Label Studio project (after a move).

    The Label Studio project must exist and have the relabel project's classes, and must
    not carry another relabel project's marker. relabel's marker is written into its
    description and the binding is recorded at the client's URL. When the project was
    bound to ANOTHER Label Studio project, its unfinished tasks (in every project of the
    binding, see :func:`ensure_studio_projects`) are carried over: found in the new
    project by sample id (linked), else planned again for the next push.

    Raises
    ------
    StudioProjectMissingError
        No such project at the client's URL.
    StudioConfigMismatchError
        Its classes differ from the relabel project's.
    StudioBindingError
        Its description names another relabel project.
    """
    store = project.store
    studio_project_id = int(studio_project_id)
    url = client.display_url
    classes = project.config.dataset.classes
    info = client.get_project(studio_project_id)
    theirs = _classes_of(info)
    if theirs != classes:
        raise StudioConfigMismatchError(
            f"Label Studio project {studio_project_id} at {url} has classes {theirs}, but the "
            f"relabel project '{project.config.name}' has {classes}: relabel binds only to a "
            "project with the same classes, in the same order. Nothing was changed."
        )
    found = marker_of(info.description)
    if found is not None and found != _our_marker(project):
        raise StudioBindingError(
            f"Label Studio project {studio_project_id} at {url} belongs to another relabel "
            f"project (its description says {MARKER_LABEL}: {found}). If it really is this "
            "project's, delete that line from its description in Label Studio and bind again. "
            "Nothing was changed."
        )
    row = store.studio_project()
    previous = int(row["studio_project_id"]) if row is not None else None
    olds = [int(p["studio_project_id"]) for p in store.studio_parts()]
    olds = [] if previous == studio_project_id else [p for p in olds if p != studio_project_id]
    task_ids = _tasks_in_new(project, client, olds, studio_project_id)
    _write_marker(project, client, info)
    linked = replanned = 0
    with store.transaction():
        if previous == studio_project_id and row is not None:
            store.rebind_studio_project(studio_project_id, str(row["url"]), url, title=info.title)
        else:
            store.add_studio_project(studio_project_id, url, info.title, classes)
            for old in olds:
                moved = store.carry_over_tasks(old, studio_project_id, task_ids)
                linked, replanned = linked + moved[0], replanned + moved[1]
    log.info(
        "bound to Label Studio project %d at %s (was %s)",
        studio_project_id,
        url,
        "not bound" if row is None else f"project {previous} at {row['url']}",
    )
    return BindResult(studio_project_id, url, previous, linked, replanned)
