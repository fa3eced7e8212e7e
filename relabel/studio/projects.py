"""Label Studio projects: create, read, describe, delete, and their webhooks.

Part of :class:`~relabel.studio.client.StudioClient` (import it from there).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from relabel.errors import StudioProjectMissingError
from relabel.studio.labeling import parse_classes
from relabel.studio.models import ProjectInfo
from relabel.studio.transport import CLIENT_LOGGER, StudioTransport

log = logging.getLogger(CLIENT_LOGGER)


class ProjectCalls(StudioTransport):
    """Create, read, describe and delete projects; create webhooks."""

    def create_project(
        self,
        title: str,
        label_config: str,
        description: str = "",
        *,
        maximum_annotations: int = 1,
        expert_instruction: str | None = None,
    ) -> int:
        """Create a project; return its id.

        Parameters
        ----------
        title, label_config, description : str
            See :func:`relabel.studio.labeling.build_label_config` for the config.
        maximum_annotations : int
            How many people the labeling stream shows each task to (overlap).
        expert_instruction : str, optional
            Instructions shown before labeling (HTML allowed).

        Notes
        -----
        A create that fails ambiguously is reconciled by looking for a new project with
        the same title before it is sent again.
        """
        before = set(self._project_ids_titled(title))

        extra: dict[str, Any] = {}
        if expert_instruction:  # None is sent as null and the server fails on it
            extra = {"expert_instruction": expert_instruction, "show_instruction": True}

        def attempt() -> int:
            project = self._sdk.projects.create(
                title=title,
                label_config=label_config,
                description=description,
                maximum_annotations=int(maximum_annotations),
                show_skip_button=True,
                **extra,
            )
            return int(project.id)  # type: ignore[arg-type]

        def reconcile() -> int | None:
            new = set(self._project_ids_titled(title)) - before
            return max(new) if new else None

        pid = self._call(
            f"creating project {title!r}", attempt, idempotent=False, reconcile=reconcile
        )
        log.info("created Label Studio project %d (%s) at %s", pid, title, self.display_url)
        return pid

    def project_ids_titled(self, title: str) -> list[int]:
        """The ids of the projects with exactly this title (oldest first)."""
        return sorted(self._project_ids_titled(title))

    def _project_ids_titled(self, title: str) -> list[int]:
        data = self._get_json(
            "listing projects", "/api/projects/", {"title": title, "page_size": 1000}
        )
        rows = data.get("results", data) if isinstance(data, Mapping) else data
        return [int(r["id"]) for r in rows if r.get("title") == title]

    def get_project(self, project_id: int) -> ProjectInfo:
        """Return a project's title, description, labeling config and task count.

        Raises
        ------
        StudioProjectMissingError
            No such project (deleted in Label Studio?).
        """
        p = self._call(
            f"reading project {project_id}",
            lambda: self._sdk.projects.get(id=int(project_id)),
            idempotent=True,
            project_id=project_id,
        )
        return ProjectInfo(
            id=int(p.id),  # type: ignore[arg-type]
            title=str(p.title or ""),
            description=str(p.description or ""),
            label_config=str(p.label_config or ""),
            task_count=getattr(p, "task_number", None),
        )

    def set_project_description(self, project_id: int, description: str) -> None:
        """Replace a project's description (shown in Label Studio's project list).

        Raises
        ------
        StudioProjectMissingError
            No such project.
        """
        self._call(
            f"updating the description of project {project_id}",
            lambda: self._sdk.projects.update(id=int(project_id), description=description),
            idempotent=True,
            project_id=project_id,
        )

    def set_maximum_annotations(self, project_id: int, maximum_annotations: int) -> None:
        """Set how many answers each task of a project collects (Label Studio's overlap).

        Label Studio applies it to every task of the project, existing ones included.
        """
        self._call(
            f"setting the overlap of project {project_id}",
            lambda: self._sdk.projects.update(
                id=int(project_id), maximum_annotations=int(maximum_annotations)
            ),
            idempotent=True,
            project_id=project_id,
        )

    def set_task_overlap(self, task_id: int, overlap: int) -> None:
        """Ask for ``overlap`` answers on one task (one more reviewer for a tie).

        The task goes back into the labeling stream until it has that many answers.
        """
        self._call(
            f"setting the overlap of task {task_id}",
            lambda: self._sdk.tasks.update(id=str(task_id), overlap=int(overlap), is_labeled=False),
            idempotent=True,
        )

    def project_classes(self, project_id: int) -> list[str]:
        """The class choices of a project's labeling config (without the special two)."""
        return parse_classes(self.get_project(project_id).label_config)

    def delete_project(self, project_id: int, *, missing_ok: bool = False) -> None:
        """Delete a project with its tasks and answers.

        Raises
        ------
        StudioProjectMissingError
            No such project and ``missing_ok`` is False.
        """
        try:
            self._call(
                f"deleting project {project_id}",
                lambda: self._sdk.projects.delete(id=int(project_id)),
                idempotent=True,
                project_id=project_id,
            )
        except StudioProjectMissingError:
            if not missing_ok:
                raise

    def create_webhook(
        self,
        project_id: int,
        url: str,
        actions: Sequence[str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> int:
        """Ask Label Studio to POST to ``url`` on changes in a project; return its id.

        Webhooks are a hint only: a failed delivery is never retried, so poll with
        :meth:`list_reviewed_tasks` for the truth. ``actions`` default to all;
        ``headers`` are sent with every delivery (a shared secret, say: Label Studio
        keeps them in its database).

        A webhook of the project with the same URL is updated instead of created twice.
        """
        extra: dict[str, Any] = {"actions": list(actions)} if actions else {}
        if headers:
            extra["headers"] = dict(headers)
        same = self._webhooks_to(project_id, url)
        if same:
            self._call(
                f"updating webhook {same[-1]} of project {project_id}",
                lambda: self._sdk.webhooks.update(
                    id=same[-1],
                    url=url,
                    send_payload=True,
                    send_for_all_actions=not actions,
                    is_active=True,
                    **extra,
                ),
                idempotent=True,
                project_id=project_id,
            )
            return same[-1]

        def attempt() -> int:
            hook = self._sdk.webhooks.create(
                url=url,
                project=int(project_id),
                send_payload=True,
                send_for_all_actions=not actions,
                **extra,
            )
            return int(hook.id)  # type: ignore[arg-type]

        def reconcile() -> int | None:
            found = self._webhooks_to(project_id, url)
            return found[-1] if found else None

        return self._call(
            f"creating a webhook for project {project_id}",
            attempt,
            idempotent=False,
            reconcile=reconcile,
            project_id=project_id,
        )

    def _webhooks_to(self, project_id: int, url: str) -> list[int]:
        """The ids of a project's webhooks that POST to ``url``, oldest first."""
        hooks = self._call(
            f"listing the webhooks of project {project_id}",
            lambda: self._sdk.webhooks.list(project=str(project_id)),
            idempotent=True,
        )
        return sorted(
            int(h.id)
            for h in hooks
            if h.url == url and h.id is not None and h.project in (None, int(project_id))
        )

    def connect_ml_backend(self, project_id: int, url: str, title: str = "relabel") -> int:
        """Connect a model backend at ``url`` to a project; return the backend's id.

        Label Studio checks the backend at once (``GET /health``, then ``POST /setup``) and
        refuses it (HTTP 400: :class:`~relabel.errors.StudioError`) when it does not
        answer. A backend of the project with the same URL is reused. Label Studio then
        asks the backend for predictions of the tasks that have none of its model version
        (when a task is opened, or by the Data Manager's "Retrieve predictions").
        """

        def same_url() -> list[int]:
            found = self._sdk.ml.list(project=int(project_id))
            return sorted(int(b.id) for b in found if b.url == url and b.id is not None)

        existing = self._call(
            f"listing the model backends of project {project_id}",
            same_url,
            idempotent=True,
            project_id=project_id,
        )
        if existing:
            return existing[-1]

        def attempt() -> int:
            backend = self._sdk.ml.create(
                project=int(project_id), url=url, title=title, is_interactive=False
            )
            return int(backend.id)  # type: ignore[arg-type]

        def reconcile() -> int | None:
            found = same_url()
            return found[-1] if found else None

        return self._call(
            f"connecting the model backend {url} to project {project_id}",
            attempt,
            idempotent=False,
            reconcile=reconcile,
            project_id=project_id,
        )
