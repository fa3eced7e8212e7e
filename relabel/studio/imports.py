"""Task imports with their images: image modes, upload batches, import chunks, local storage.

Part of :class:`~relabel.studio.client.StudioClient` (import it from there). An import is
made safe to repeat: every chunk of tasks carries a batch token in its task data
(``relabel_batch``) and an ambiguous failure is reconciled by looking the token up
before anything is sent again; repeated file uploads only leave unused files.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from relabel.errors import ConfigError, DatasetError, Problem, StudioError
from relabel.studio.labeling import HEADER_FIELDS, IMAGE_NAME
from relabel.studio.models import (
    IMAGE_MODES,
    RESERVED_DATA_KEYS,
    UPLOAD_EXTENSIONS,
    ImageMode,
    Prediction,
    TaskSpec,
    choice_result,
)
from relabel.studio.tasks import TaskQueries
from relabel.studio.transport import CLIENT_LOGGER, _HTTPError, _TooManyFilesError

log = logging.getLogger(CLIENT_LOGGER)

_URL_SCHEMES = ("http://", "https://", "s3://", "gs://", "azure-blob://")
_MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # per upload request (the server takes 250 MB)


def _upload_files(
    items: list[tuple[int, TaskSpec]],
) -> tuple[dict[str, tuple[str, bytes, str]], dict[str, int]]:
    """The multipart files of an upload (PNG where the format is not one Label Studio
    takes), and each file name's item index."""
    files: dict[str, tuple[str, bytes, str]] = {}
    names: dict[str, int] = {}
    for k, (j, spec) in enumerate(items):
        path = Path(os.fspath(spec.image))
        raw = _read_image(path, spec.sample_id)
        ext = path.suffix.lower()
        if ext not in UPLOAD_EXTENSIONS:
            raw, ext = _to_png(raw, path, spec.sample_id), ".png"
        name = f"{k:03d}-{_safe_name(str(spec.sample_id))}{ext}"
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        files[f"file{k}"] = (name, raw, mime)
        names[name] = j
    return files, names


class TaskImports(TaskQueries):
    """Import tasks with their images (upload, local files, URLs or inline)."""

    document_root: Path | None
    upload_batch_size: int
    import_batch_size: int
    threads: int
    _storages: dict[int, list[Path]]
    _storage_lock: threading.Lock

    def import_tasks(
        self,
        project_id: int,
        tasks: Sequence[TaskSpec],
        image_mode: ImageMode | str | None = None,
        *,
        document_root: str | os.PathLike[str] | None = None,
    ) -> list[int]:
        """Create one task per spec; return the task ids in input order.

        Parameters
        ----------
        project_id : int
            The project.
        tasks : sequence of TaskSpec
            The tasks; ``sample_id`` must be unique within the call.
        image_mode : str, optional
            How images reach Label Studio:

            ``upload`` (default for local files)
                the files are uploaded (multipart, ``upload_batch_size`` per request,
                ``threads`` requests at once) and served by Label Studio to logged-in
                users from ``/data/upload/...``;
            ``local-files``
                Label Studio serves the files from its document root
                (``/data/local-files/?d=...``); a local import storage covering each
                top folder is created once (never synced);
            ``url``
                ``http(s)://``, ``s3://``, ``gs://`` URLs are passed through;
            ``inline``
                the image is embedded as a ``data:`` URI (small images, tests).

            In ``upload`` mode (and when None) URLs and ``data:`` URIs pass through.
        document_root : str or Path, optional
            Overrides the client's ``document_root`` for ``local-files``.

        Returns
        -------
        list of int
            Task ids, in the order of ``tasks``. Ids increase in that order, so Label
            Studio's sequential labeling stream shows the tasks in input order.

        Raises
        ------
        DatasetError
            An image file is missing or unreadable.
        ConfigError
            ``local-files`` without a document root, or a file outside it.
        StudioProjectMissingError
            The project does not exist.
        """
        specs = list(tasks)
        if not specs:
            return []
        mode = image_mode or "upload"
        if mode not in IMAGE_MODES:
            raise ConfigError(f"unknown image mode {mode!r}; expected one of {IMAGE_MODES}")
        ids = [str(s.sample_id) for s in specs]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})[:10]
            raise ValueError(f"duplicate sample_id(s) in one import: {dupes}")
        for s in specs:
            bad = RESERVED_DATA_KEYS & set(s.data)
            if bad:
                raise ValueError(f"task data of {s.sample_id!r} uses reserved keys {sorted(bad)}")
            if not str(s.sample_id):
                raise ValueError("a task has an empty sample_id")
        started = time.perf_counter()
        root = Path(document_root).resolve() if document_root else self.document_root
        chunks = [
            specs[i : i + self.import_batch_size]
            for i in range(0, len(specs), self.import_batch_size)
        ]
        result: list[int] = []
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ls-upload")
        pending: dict[int, list[Future[dict[int, str]]]] = {}

        def submit(ci: int) -> None:  # images are readied up to two import chunks ahead
            if ci < len(chunks) and ci not in pending:
                if mode == "upload":
                    pending[ci] = self._submit_uploads(pool, project_id, chunks[ci], mode)
                else:  # resolve references while the server imports the chunk before
                    refs = pool.submit(self._image_refs, chunks[ci], mode, root, project_id)
                    pending[ci] = [refs]

        try:
            submit(0)
            submit(1)
            for ci, chunk in enumerate(chunks):
                submit(ci + 2)
                uploaded: dict[int, str] = {}
                for fut in pending.pop(ci):
                    uploaded.update(fut.result())
                task_dicts = [
                    self._task_dict(
                        spec, uploaded.get(j) or self._image_ref(spec, mode, root, project_id)
                    )
                    for j, spec in enumerate(chunk)
                ]
                result += self._import_chunk(project_id, task_dicts)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        log.info(
            "imported %d task(s) into project %d at %s (%s) in %.1f s",
            len(result),
            project_id,
            self.display_url,
            mode,
            time.perf_counter() - started,
        )
        return result

    def _submit_uploads(
        self, pool: ThreadPoolExecutor, project_id: int, chunk: list[TaskSpec], mode: str
    ) -> list[Future[dict[int, str]]]:
        if mode != "upload":
            return []
        batches: list[list[tuple[int, TaskSpec]]] = [[]]
        size = 0
        for j, spec in enumerate(chunk):
            if self._is_reference(spec.image):
                continue
            try:
                nbytes = os.path.getsize(os.fspath(spec.image))
            except OSError:
                nbytes = 0  # reported by the upload itself
            full = len(batches[-1]) >= self.upload_batch_size
            if batches[-1] and (full or size + nbytes > _MAX_UPLOAD_BYTES):
                batches.append([])
                size = 0
            batches[-1].append((j, spec))
            size += nbytes
        return [pool.submit(self._upload_batch, project_id, b) for b in batches if b]

    def _image_refs(
        self, chunk: list[TaskSpec], mode: str, root: Path | None, project_id: int
    ) -> dict[int, str]:
        return {j: self._image_ref(spec, mode, root, project_id) for j, spec in enumerate(chunk)}

    @staticmethod
    def _is_reference(image: str | os.PathLike[str]) -> bool:
        text = os.fspath(image)
        return text.startswith(_URL_SCHEMES) or text.startswith("data:")

    def _task_dict(self, spec: TaskSpec, image_url: str) -> dict[str, Any]:
        data: dict[str, Any] = {str(k): _jsonable(v) for k, v in spec.data.items()}
        pred = spec.prediction
        if isinstance(pred, Mapping):
            pred = Prediction(
                label=str(pred["label"]),
                score=None if pred.get("score") is None else float(pred["score"]),
                model_version=pred.get("model_version"),
            )
        if pred is not None:
            data.setdefault("predicted_label", pred.label)
            if pred.score is not None:
                data.setdefault("predicted_confidence", f"{pred.score:.2f}")
        for key in HEADER_FIELDS:  # the header text refers to them: never leave one out
            data.setdefault(key, "")
        data[IMAGE_NAME] = image_url
        data["sample_id"] = str(spec.sample_id)
        task: dict[str, Any] = {"data": data}
        if pred is not None:
            p: dict[str, Any] = {
                "model_version": str(pred.model_version or "relabel"),
                "result": choice_result(pred.label),
            }
            if pred.score is not None:
                p["score"] = float(pred.score)
            task["predictions"] = [p]
        return task

    def _image_ref(self, spec: TaskSpec, mode: str, root: Path | None, project_id: int) -> str:
        text = os.fspath(spec.image)
        if text.startswith("data:"):
            return text
        if text.startswith(_URL_SCHEMES):
            if mode in ("local-files",):
                raise ConfigError(
                    f"sample {spec.sample_id}: {text!r} is a URL, not a file under the "
                    "document root (image mode local-files)"
                )
            return text
        if mode == "url":
            raise ConfigError(
                f"sample {spec.sample_id}: image mode 'url' needs http(s)/s3/gs URLs, got {text!r}"
            )
        path = Path(text)
        if mode == "inline":
            raw = _read_image(path, spec.sample_id)
            mime = mimetypes.guess_type(path.name)[0] or "image/png"
            return f"data:{mime};base64,{base64.b64encode(raw).decode()}"
        if mode == "local-files":
            return self._local_file_url(path, root, project_id, spec.sample_id)
        raise AssertionError(f"unexpected image mode {mode}")  # upload is handled earlier

    # uploads ----------------------------------------------------------------

    def _upload_batch(self, project_id: int, items: list[tuple[int, TaskSpec]]) -> dict[int, str]:
        """Upload image files without creating tasks; return {index: served URL}."""
        files, names = _upload_files(items)
        what = f"uploading {len(files)} image(s) to project {project_id}"

        def attempt() -> Any:
            try:
                return self._raw_json(
                    "POST",
                    f"/api/projects/{int(project_id)}/import",
                    params={"commit_to_project": "false"},
                    files=files,
                )
            except _HTTPError as exc:
                if "DATA_UPLOAD_MAX_NUMBER_FILES" in exc.detail and len(files) > 1:
                    raise _TooManyFilesError(exc.detail) from None
                raise

        try:
            # a repeated upload only leaves unused files behind: safe to retry
            resp = self._call(what, attempt, idempotent=True, project_id=project_id)
        except _TooManyFilesError:
            return self._upload_in_smaller_batches(project_id, items)
        upload_ids = [int(i) for i in resp.get("file_upload_ids") or []]
        if len(upload_ids) != len(files):
            raise StudioError(
                f"Label Studio at {self.display_url} stored {len(upload_ids)} of {len(files)} "
                f"uploaded files for project {project_id}"
            )
        out = self._served_urls(project_id, upload_ids, names)
        if len(out) != len(items):
            raise StudioError(
                f"Label Studio at {self.display_url} listed {len(out)} of {len(items)} uploaded "
                f"files for project {project_id}"
            )
        return out

    def _upload_in_smaller_batches(
        self, project_id: int, items: list[tuple[int, TaskSpec]]
    ) -> dict[int, str]:
        """The server takes fewer files per request than asked: upload in smaller batches."""
        smaller = 100 if len(items) > 100 else max(1, len(items) // 2)
        log.info(
            "Label Studio at %s takes fewer files per request; %d from now on",
            self.display_url,
            smaller,
        )
        self.upload_batch_size = min(self.upload_batch_size, smaller)
        out: dict[int, str] = {}
        for k in range(0, len(items), smaller):
            out.update(self._upload_batch(project_id, items[k : k + smaller]))
        return out

    def _served_urls(
        self, project_id: int, upload_ids: list[int], names: dict[str, int]
    ) -> dict[int, str]:
        """The URLs Label Studio serves the uploaded files at, by item index."""
        listed = self._get_json(
            f"listing uploaded files of project {project_id}",
            f"/api/projects/{int(project_id)}/file-uploads",
            {"ids": json.dumps(upload_ids, separators=(",", ":"))},
            project_id=project_id,
        )
        wanted = set(upload_ids)
        out = {}
        for row in listed:
            if int(row["id"]) not in wanted:
                continue
            stored = str(row["file"])  # upload/<project>/<8 hex>-<our name>
            base = stored.rsplit("/", 1)[-1]
            ours = base.split("-", 1)[1] if "-" in base else base
            if ours in names:
                out[names[ours]] = f"{self._base_path}/data/{stored}"
        return out

    # local files ------------------------------------------------------------

    def check_image_mode(
        self, image_mode: str, document_root: str | os.PathLike[str] | None = None
    ) -> None:
        """Refuse an image mode this client cannot import with, before anything is sent.

        Raises
        ------
        ConfigError
            An unknown mode, or ``local-files`` without the server's document root.
        """
        if image_mode not in IMAGE_MODES:
            raise ConfigError(f"unknown image mode {image_mode!r}; expected one of {IMAGE_MODES}")
        if image_mode == "local-files" and not (document_root or self.document_root):
            self._local_file_url(Path("."), None, 0, "")

    def _local_file_url(
        self, path: Path, root: Path | None, project_id: int, sample_id: str
    ) -> str:
        if root is None:
            raise ConfigError(
                "image mode local-files needs the server's document root: set "
                "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (or pass document_root)"
            )
        full = path.resolve()
        try:
            rel = full.relative_to(root)
        except ValueError:
            raise ConfigError(
                f"sample {sample_id}: {full} is outside the Label Studio document root {root}"
            ) from None
        if len(rel.parts) < 2:
            raise ConfigError(
                f"sample {sample_id}: {full} must be in a sub-folder of the document root "
                f"{root} (Label Studio refuses the root itself)"
            )
        if not full.is_file():
            raise DatasetError(
                "image file not found",
                [Problem(str(full), "image file not found", str(full))],
            )
        self._ensure_local_storage(project_id, root / rel.parts[0])
        return f"{self._base_path}/data/local-files/?d={quote(rel.as_posix(), safe='/')}"

    def _ensure_local_storage(self, project_id: int, folder: Path) -> None:
        with self._storage_lock:
            known = self._storages.get(project_id)
            if known is None:
                rows = self._call(
                    f"listing local storages of project {project_id}",
                    lambda: self._sdk.import_storage.local.list(project=int(project_id)),
                    idempotent=True,
                    project_id=project_id,
                )
                known = [Path(str(r.path)) for r in rows if getattr(r, "path", None)]
                self._storages[project_id] = known
            if any(folder == p or p in folder.parents for p in known):
                return

            def attempt() -> None:
                self._sdk.import_storage.local.create(
                    project=int(project_id),
                    path=str(folder),
                    use_blob_urls=True,
                    title=f"relabel images: {folder.name}",
                    description="created by relabel so that Label Studio serves these images; "
                    "never synced",
                )

            def reconcile() -> bool | None:
                rows = self._sdk.import_storage.local.list(project=int(project_id))
                return True if any(Path(str(r.path)) == folder for r in rows) else None

            self._call(
                f"creating a local storage for {folder} in project {project_id}",
                attempt,
                idempotent=False,
                reconcile=reconcile,
                project_id=project_id,
            )
            known.append(folder)
            log.info("project %d: Label Studio may now serve files under %s", project_id, folder)

    # import ------------------------------------------------------------------

    def _import_chunk(self, project_id: int, task_dicts: list[dict[str, Any]]) -> list[int]:
        token = uuid.uuid4().hex[:16]
        for t in task_dicts:
            t["data"]["relabel_batch"] = token
        what = f"importing {len(task_dicts)} task(s) into project {project_id}"

        def attempt() -> list[int]:
            resp = self._raw_json(
                "POST",
                f"/api/projects/{int(project_id)}/import",
                params={"return_task_ids": "true"},
                json_body=task_dicts,
            )
            ids = [int(i) for i in resp.get("task_ids") or []]
            if len(ids) != len(task_dicts):
                raise StudioError(
                    f"Label Studio at {self.display_url} created {len(ids)} task(s) for "
                    f"{len(task_dicts)} in project {project_id}"
                )
            return ids

        def reconcile() -> list[int] | None:
            found = self._tasks_by_data(project_id, "relabel_batch", [token])
            by_sample = {str(t["data"].get("sample_id")): int(t["id"]) for t in found}
            if not by_sample:
                return None
            missing = [t for t in task_dicts if t["data"]["sample_id"] not in by_sample]
            if missing:  # should not happen: an import is one transaction
                log.warning(
                    "import into project %d half-applied; sending %d task(s) again",
                    project_id,
                    len(missing),
                )
                for sid, tid in zip(
                    (t["data"]["sample_id"] for t in missing),
                    self._import_chunk(project_id, missing),
                    strict=True,
                ):
                    by_sample[sid] = tid
            return [by_sample[t["data"]["sample_id"]] for t in task_dicts]

        return self._call(
            what, attempt, idempotent=False, reconcile=reconcile, project_id=project_id
        )


# --------------------------------------------------------------------------- helpers


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _safe_name(text: str, limit: int = 40) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:limit].strip("._")
    return name or "image"


def _read_image(path: Path, sample_id: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatasetError(
            f"cannot read the image of sample {sample_id}",
            [Problem(str(path), f"cannot read image: {exc.strerror or exc}", str(path))],
        ) from None


def _to_png(raw: bytes, path: Path, sample_id: str) -> bytes:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as im:
            out = io.BytesIO()
            im.save(out, format="PNG")
            return out.getvalue()
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(
            f"cannot convert the image of sample {sample_id} to PNG for upload",
            [Problem(str(path), f"unreadable image: {exc}", str(path))],
        ) from None
