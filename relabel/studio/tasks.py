"""Reading tasks back: paging, tasks by sample id, reviewed tasks since a moment, images.

Part of :class:`~relabel.studio.client.StudioClient` (import it from there). Tasks are
found by relabel's own ids in their data (``data.sample_id``, ``data.relabel_batch``)
through Data Manager filters, never by Label Studio's task ids alone.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from relabel.errors import StudioError
from relabel.studio.annotations import UserCalls
from relabel.studio.labeling import IMAGE_NAME
from relabel.studio.models import (
    WATERMARK_MARGIN,
    ReviewedTask,
    ReviewedTaskList,
    annotation_from,
    to_dm_datetime,
)
from relabel.studio.transport import CLIENT_LOGGER, _HTTPError, _NotFoundError, _response_detail
from relabel.studio.urls import redact_url

log = logging.getLogger(CLIENT_LOGGER)

_MAX_QUERY_CHARS = 24_000
#: Tasks per page when reading reviewed tasks: fewer, larger pages cost the server less.
REVIEWED_PAGE_SIZE = 5000  # the URL-encoded filter of one GET (the server reads ~64 KB lines)


def _filters(items: list[dict[str, Any]], conjunction: str = "and") -> dict[str, Any]:
    return {"conjunction": conjunction, "items": items}


def _task_filter(field_name: str, operator: str, type_: str, value: Any) -> dict[str, Any]:
    """One Data Manager filter item on a task field (``filter:tasks:<field_name>``)."""
    return {
        "filter": f"filter:tasks:{field_name}",
        "operator": operator,
        "type": type_,
        "value": value,
    }


def _chunk_by_query_size(values: list[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    size = 0
    for v in values:
        cost = len(quote(json.dumps(v), safe="")) + 3
        if chunk and size + cost > _MAX_QUERY_CHARS:
            yield chunk
            chunk, size = [], 0
        chunk.append(v)
        size += cost
    if chunk:
        yield chunk


class TaskQueries(UserCalls):
    """Read tasks: by page, by sample id, answered since a moment; download their images."""

    def _iter_task_pages(
        self,
        project_id: int,
        *,
        filters: dict[str, Any] | None = None,
        fields: str = "task_only",
        include: str = "id,data",
        page_size: int = 1000,
        extra: Mapping[str, str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        query: dict[str, Any] = {"ordering": ["tasks:id"]}
        if filters:
            query["filters"] = filters
        page = 1
        while True:
            params = {
                "project": str(int(project_id)),
                "page": str(page),
                "page_size": str(page_size),
                "fields": fields,
                "include": include,
                "resolve_uri": "false",
                "query": json.dumps(query, separators=(",", ":")),
                **(extra or {}),
            }
            try:
                data = self._get_json(
                    f"listing tasks of project {project_id} (page {page})",
                    "/api/tasks/",
                    params,
                    project_id=project_id if page == 1 else None,
                )
            except _NotFoundError:  # past the last page
                return
            rows = data.get("tasks", []) if isinstance(data, Mapping) else data
            if rows:
                yield rows
            if len(rows) < page_size:
                return
            page += 1

    def _tasks_by_data(self, project_id: int, key: str, values: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in _chunk_by_query_size(values):
            item = (
                _task_filter(f"data.{key}", "equal", "String", chunk[0])
                if len(chunk) == 1
                else _task_filter(f"data.{key}", "in_list", "List", chunk)
            )
            for rows in self._iter_task_pages(project_id, filters=_filters([item]), page_size=5000):
                out += rows
        return out

    def get_task(self, task_id: int) -> dict[str, Any]:
        """Return one task as Label Studio serves it (data, annotations, predictions)."""
        try:
            return dict(self._get_json(f"reading task {task_id}", f"/api/tasks/{int(task_id)}/"))
        except _NotFoundError:
            raise StudioError(f"task {task_id} does not exist at {self.display_url}") from None

    def find_tasks_by_sample_ids(
        self, project_id: int, sample_ids: Iterable[str]
    ) -> dict[str, list[int]]:
        """Return ``{sample_id: [task ids]}`` for the sample ids that have tasks.

        Sample ids without a task are absent. Several ids for one sample mean it was
        imported more than once.
        """
        wanted = {str(s) for s in sample_ids}
        if not wanted:
            return {}
        out: dict[str, set[int]] = {}
        for t in self._tasks_by_data(project_id, "sample_id", sorted(wanted)):
            sid = str((t.get("data") or {}).get("sample_id"))
            if sid in wanted:
                out.setdefault(sid, set()).add(int(t["id"]))
        return {k: sorted(v) for k, v in out.items()}

    def list_task_sample_ids(self, project_id: int) -> dict[str, list[int]]:
        """Return ``{sample_id: [task ids]}`` for every task of the project that has one."""
        out: dict[str, list[int]] = {}
        for rows in self._iter_task_pages(project_id, page_size=5000):
            for t in rows:
                sid = (t.get("data") or {}).get("sample_id")
                if sid is not None:
                    out.setdefault(str(sid), []).append(int(t["id"]))
        return out

    def task_ids(self, project_id: int) -> set[int]:
        """The ids of every task of a project (to notice tasks deleted in Label Studio)."""
        return {
            int(t["id"])
            for rows in self._iter_task_pages(project_id, include="id", page_size=5000)
            for t in rows
        }

    def delete_task(self, task_id: int) -> None:
        """Delete one task with its answers (what a Label Studio user can do in the UI)."""
        self._call(
            f"deleting task {task_id}",
            lambda: self._sdk.tasks.delete(id=str(int(task_id))),
            idempotent=True,
        )

    def list_reviewed_tasks(
        self, project_id: int, updated_after: str | datetime | None = None
    ) -> ReviewedTaskList:
        """Return the tasks with at least one answer or skip, updated after a moment.

        Parameters
        ----------
        project_id : int
            The project.
        updated_after : str or datetime, optional
            Only tasks whose ``updated_at`` is later (any ISO 8601 form; UTC if naive).
            Creating, editing or skipping an answer updates the task.

        Returns
        -------
        ReviewedTaskList
            A list of :class:`ReviewedTask` (ordered by task id, annotations by id),
            with ``watermark``: the cursor to pass next time (see
            :class:`ReviewedTaskList`). Tasks without ``data.sample_id`` are left out.
        """
        watermark = to_dm_datetime(self.server_time() - WATERMARK_MARGIN)
        since = (
            [_task_filter("updated_at", "greater", "Datetime", to_dm_datetime(updated_after))]
            if updated_after
            else []
        )
        answered = [_task_filter("total_annotations", "greater", "Number", 0), *since]
        only_skipped = [
            _task_filter("cancelled_annotations", "greater", "Number", 0),
            _task_filter("total_annotations", "equal", "Number", 0),
            *since,
        ]
        raw: dict[int, Mapping[str, Any]] = {}
        for items in (answered, only_skipped):
            for rows in self._iter_task_pages(
                project_id,
                filters=_filters(items),
                fields="all",
                # "include" also filters the fields of each nested annotation
                include="id,data,updated_at,annotations,result,was_cancelled,completed_by",
                page_size=REVIEWED_PAGE_SIZE,
                # Serialize the annotations with one nested serializer for the page instead
                # of one built per task. Measured on 10,000 answered tasks (Label Studio
                # 1.23): 6.6 s of server CPU instead of 17.6 s; its export endpoint took
                # 15 s and a snapshot export 13 s. A server that ignores "expand" still
                # sends the fields named in "include".
                extra={"expand": "annotations"},
            ):
                for t in rows:
                    raw[int(t["id"])] = t
        user_ids = {
            a.get("completed_by")
            for t in raw.values()
            for a in t.get("annotations") or []
            if isinstance(a.get("completed_by"), int)
        }
        if user_ids - set(self._emails):
            with self._users_lock:
                self._load_users()
        by_id: dict[int, ReviewedTask] = {}
        foreign = 0
        for tid, t in raw.items():
            task = self._reviewed_task(t)
            if task is None:
                foreign += 1
            elif task.annotations:
                by_id[tid] = task
        if foreign:
            log.warning(
                "project %d: %d answered task(s) have no data.sample_id (not relabel's); ignored",
                project_id,
                foreign,
            )
        out = ReviewedTaskList(by_id[k] for k in sorted(by_id))
        out.watermark = watermark
        return out

    def _reviewed_task(self, t: Mapping[str, Any]) -> ReviewedTask | None:
        sid = (t.get("data") or {}).get("sample_id")
        if sid is None:
            return None
        anns = [annotation_from(a, self._emails) for a in t.get("annotations") or []]
        anns.sort(key=lambda x: x.id)
        return ReviewedTask(int(t["id"]), str(sid), str(t.get("updated_at") or ""), anns)

    def fetch_image(self, ref: int | str) -> bytes:
        """Download a task's image the way the labeling UI gets it.

        Parameters
        ----------
        ref : int or str
            A task id (its ``data.image`` is fetched) or an image URL. Label Studio's own
            URLs (relative, or on this server) are fetched with the token; other
            ``http(s)`` URLs without it; ``data:`` URIs are decoded.
        """
        url = str(self.get_task(ref)["data"][IMAGE_NAME]) if isinstance(ref, int) else ref
        if url.startswith("data:"):
            head, _, payload = url.partition(",")
            return base64.b64decode(payload) if head.endswith(";base64") else payload.encode()
        what = f"downloading {redact_url(url)}"
        if url.startswith("/"):
            path = url[len(self._base_path) :] if url.startswith(self._base_path + "/") else url
            return self._call(what, lambda: self._raw("GET", path).content, idempotent=True)
        if url.startswith(self.url + "/"):
            rest = url[len(self.url) :]
            return self._call(what, lambda: self._raw("GET", rest).content, idempotent=True)
        if url.startswith(("http://", "https://")):

            def plain() -> bytes:  # never send the token to another host
                resp = self._httpx.get(url)
                if resp.status_code >= 400:
                    raise _HTTPError(resp.status_code, _response_detail(resp))
                return resp.content

            return self._call(what, plain, idempotent=True)
        raise StudioError(
            f"cannot download {redact_url(url)!r} from here (only http(s) and data: URIs)"
        )
