"""A typed, retrying client for the parts of the Label Studio API relabel uses.

This module knows nothing about relabel's label store: it creates projects, imports
review tasks (with their images), reads reviewed tasks back, and acts as simulated
reviewers. :mod:`relabel.studio.push` and :mod:`relabel.studio.pull` build on it.

Transport and authentication go through ``label_studio_sdk.LabelStudio``, which accepts
both legacy API tokens and personal access tokens (JWT refresh tokens). The SDK's own
retries are switched off; this client retries instead, knowing which calls are safe to
repeat:

- a call that never reached the server (connection refused, connect timeout), HTTP 429
  and HTTP 503 are retried for every method;
- a call that may have reached the server (connection reset, read timeout, 500, 502,
  504) is retried for idempotent calls (GET, PATCH, DELETE) only. Creating calls are
  made safe first: every task import carries a batch token in its task data
  (``relabel_batch``) and an ambiguous failure is reconciled by looking the token up
  before anything is sent again; an annotation carries a ``unique_id`` that the server
  refuses twice (HTTP 409); file uploads that are repeated only leave unused files.

The API token never appears in a log line, an exception message, a ``repr`` or a file;
neither do credentials or query values in the server's URL (``http://user:secret@host``):
messages use :attr:`StudioClient.display_url` (:func:`relabel.studio.urls.redact_url`).
Each HTTP request is logged at DEBUG on the ``relabel.studio.http`` logger (method,
redacted URL, status or error, milliseconds).
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import mimetypes
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlparse

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from relabel.errors import (
    ConfigError,
    DatasetError,
    Problem,
    StudioAuthError,
    StudioError,
    StudioProjectMissingError,
    StudioUnreachableError,
)
from relabel.studio.labeling import CHOICES_NAME, HEADER_FIELDS, IMAGE_NAME, parse_classes
from relabel.studio.urls import redact_text, redact_url

log = logging.getLogger(__name__)
#: One DEBUG line per HTTP request: method, redacted URL, status (or error), milliseconds.
#: The CLI shows it with ``-vv``.
http_log = logging.getLogger("relabel.studio.http")
_STARTED = "relabel_started"  # request extension: perf_counter() when the request left

T = TypeVar("T")

ImageMode = Literal["upload", "local-files", "url", "inline"]
#: The image modes :meth:`StudioClient.import_tasks` understands.
IMAGE_MODES: tuple[str, ...] = ("upload", "local-files", "url", "inline")
#: Task data keys set by the client itself.
RESERVED_DATA_KEYS = frozenset({IMAGE_NAME, "sample_id", "relabel_batch"})
#: Image file types Label Studio accepts as uploads; others are converted to PNG.
UPLOAD_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".svg"})
_URL_SCHEMES = ("http://", "https://", "s3://", "gs://", "azure-blob://")
#: The datetime format the Data Manager's filters require.
DM_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: How far before the server's clock the pull watermark is put (slow transactions).
WATERMARK_MARGIN = timedelta(seconds=5)
_MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # per upload request (the server takes 250 MB)
_MAX_QUERY_CHARS = 24_000  # the URL-encoded filter of one GET (the server reads ~64 KB lines)


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Prediction:
    """A model suggestion shown pre-selected in the task (a Label Studio prediction)."""

    label: str
    score: float | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """One review task to import.

    Attributes
    ----------
    sample_id : str
        relabel's id of the sample; stored in the task data (``data.sample_id``).
    image : str or Path
        A local image file, an ``http(s)://``, ``s3://`` or ``gs://`` URL, or a ``data:``
        URI.
    data : mapping
        More task data (``given_label``, ``predicted_label``, ``predicted_confidence``,
        ``suspicion``, ``rank``, ``cycle`` ...). Values must be JSON-serialisable (numpy
        scalars are converted). The keys ``image``, ``sample_id`` and ``relabel_batch``
        are reserved.
    prediction : Prediction or mapping, optional
        A pre-annotation (``label``, ``score``, ``model_version``).
    """

    sample_id: str
    image: str | os.PathLike[str]
    data: Mapping[str, Any] = field(default_factory=dict)
    prediction: Prediction | Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Annotation:
    """One answer to a task.

    Attributes
    ----------
    id : int
        The Label Studio annotation id.
    user : str
        The reviewer's e-mail address (their user id as text when it is unknown).
    choice : str or None
        The chosen class or special answer; None for a skipped task.
    was_cancelled : bool
        True when the reviewer skipped the task.
    updated_at : str or None
        When the answer was last changed (ISO 8601, UTC).
    user_id : int or None
        The reviewer's Label Studio user id.
    """

    id: int
    user: str
    choice: str | None
    was_cancelled: bool
    updated_at: str | None
    user_id: int | None = None


@dataclass(frozen=True)
class ReviewedTask:
    """A task with at least one answer (or skip)."""

    task_id: int
    sample_id: str
    updated_at: str
    annotations: list[Annotation]


class ReviewedTaskList(list[ReviewedTask]):
    """The tasks :meth:`StudioClient.list_reviewed_tasks` returns, plus a safe cursor.

    Attributes
    ----------
    watermark : str or None
        The server's clock a few seconds before the listing started, in the format the
        ``updated_after`` argument takes. Passing it as ``updated_after`` next time never
        misses an answer given during this listing (some tasks may be read twice: make
        the consumer idempotent). Taking the largest ``updated_at`` seen instead can miss
        a task answered while the pages were read.
    """

    watermark: str | None = None


@dataclass(frozen=True)
class ProjectInfo:
    """What :meth:`StudioClient.get_project` returns."""

    id: int
    title: str
    description: str
    label_config: str
    task_count: int | None


# --------------------------------------------------------------------------- errors


class _HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class _NotFoundError(StudioError):
    """HTTP 404 for something other than a project (a task, an annotation, a file)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _TooManyFilesError(StudioError):
    """The server takes fewer files per upload request (DATA_UPLOAD_MAX_NUMBER_FILES)."""


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.CloseError,
)


def _detail(body: Any) -> str:
    if isinstance(body, Mapping):
        parts = [
            str(body[k]) for k in ("detail", "validation_errors", "message", "error") if body.get(k)
        ]
        return "; ".join(parts)[:800] if parts else json.dumps(body)[:800]
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    text = str(body or "").strip()
    if text.lstrip().startswith("<"):
        return "(an HTML error page)"
    return text[:500]


def _response_detail(resp: httpx.Response) -> str:
    try:
        return _detail(resp.json())
    except ValueError:
        return _detail(resp.text)


# --------------------------------------------------------------------------- HTTP log


def _http_started(request: httpx.Request) -> None:
    request.extensions[_STARTED] = time.perf_counter()


def _elapsed_ms(request: httpx.Request | None) -> float:
    started = request.extensions.get(_STARTED) if request is not None else None
    return (time.perf_counter() - started) * 1000 if isinstance(started, float) else 0.0


def _http_answered(response: httpx.Response) -> None:
    if http_log.isEnabledFor(logging.DEBUG):
        request = response.request
        http_log.debug(
            "%s %s -> %d (%.0f ms)",
            request.method,
            redact_url(str(request.url)),
            response.status_code,
            _elapsed_ms(request),
        )


def _http_failed(exc: httpx.HTTPError) -> None:
    if not http_log.isEnabledFor(logging.DEBUG):
        return
    try:
        request: httpx.Request | None = exc.request
    except RuntimeError:  # an error raised outside a request
        request = None
    if request is None:
        return
    http_log.debug(
        "%s %s -> %s (%.0f ms)",
        request.method,
        redact_url(str(request.url)),
        type(exc).__name__,
        _elapsed_ms(request),
    )


def _error_text(exc: Exception) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}")


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


def to_dm_datetime(value: str | datetime) -> str:
    """Return ``value`` in the only format the Data Manager's datetime filters accept.

    Parameters
    ----------
    value : str or datetime
        An ISO 8601 timestamp (``2026-01-02T03:04:05Z``, ``...+00:00``, with or without
        fractions) or a datetime; naive values are taken as UTC.
    """
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from exc
    else:
        dt = value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime(DM_DATETIME_FORMAT)


def _choice_result(choice: str | None) -> list[dict[str, Any]]:
    if choice is None:
        return []
    return [
        {
            "from_name": CHOICES_NAME,
            "to_name": IMAGE_NAME,
            "type": "choices",
            "value": {"choices": [choice]},
        }
    ]


def _choice_of(result: Any) -> str | None:
    if not isinstance(result, list):
        return None
    items = [r for r in result if isinstance(r, Mapping) and r.get("type") == "choices"]
    ours = [r for r in items if r.get("from_name") == CHOICES_NAME] or items
    for r in ours:
        choices = (r.get("value") or {}).get("choices") or []
        if choices:
            return str(choices[0])
    return None


def _safe_name(text: str, limit: int = 40) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:limit].strip("._")
    return name or "image"


def _filters(items: list[dict[str, Any]], conjunction: str = "and") -> dict[str, Any]:
    return {"conjunction": conjunction, "items": items}


def _f(field_name: str, operator: str, type_: str, value: Any) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- the client


class StudioClient:
    """A connection to one Label Studio server.

    Parameters
    ----------
    url : str
        The server's base URL (``http://127.0.0.1:8080``).
    token : str
        A legacy API token or a personal access token. Kept inside the SDK client only.
    timeout : float
        Seconds per HTTP request.
    retries : int
        Attempts per call for transient failures (1 = no retry).
    backoff : float
        First retry delay in seconds; doubles per attempt up to ``max_backoff``.
    max_backoff : float
        Longest delay between attempts.
    document_root : str or Path, optional
        The server's ``LOCAL_FILES_DOCUMENT_ROOT`` as seen from here; needed by the
        ``local-files`` image mode.
    upload_batch_size : int
        Image files per upload request. Label Studio accepts 100 by default
        (``DATA_UPLOAD_MAX_NUMBER_FILES``; servers started by
        :func:`relabel.studio.server.start_server` take 500): when the server refuses a
        batch, the client falls back to 100 files per request for good.
    import_batch_size : int
        Tasks per import request.
    threads : int
        Parallel upload requests.
    token_name : str
        What to call the token in error messages (e.g. the environment variable).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 120.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        document_root: str | os.PathLike[str] | None = None,
        upload_batch_size: int = 500,
        import_batch_size: int = 1000,
        threads: int = 2,
        token_name: str = "the API token",
    ) -> None:
        url = (url or "").strip().rstrip("/")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"the Label Studio URL {redact_url(url)!r} is not an http(s) URL")
        if not token or not token.strip():
            raise ConfigError(f"{token_name} for Label Studio at {redact_url(url)} is empty")
        #: The server's URL as given (used for requests only, never in a message).
        self.url = url
        #: The URL for messages, logs and the label store: no credentials, no query values.
        self.display_url = redact_url(url)
        self.timeout = float(timeout)
        self.retries = max(1, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.document_root = Path(document_root).resolve() if document_root else None
        self.upload_batch_size = max(1, int(upload_batch_size))
        self.import_batch_size = max(1, int(import_batch_size))
        self.threads = max(1, int(threads))
        self._token_name = token_name
        self._base_path = parsed.path.rstrip("/")
        self._httpx = httpx.Client(
            timeout=self.timeout,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            event_hooks={"request": [_http_started], "response": [_http_answered]},
        )
        try:
            self._sdk = LabelStudio(
                base_url=url,
                api_key=token.strip(),
                timeout=self.timeout,
                max_retries=0,
                httpx_client=self._httpx,
            )
        except ApiError as exc:  # an expired or malformed personal access token
            raise StudioAuthError(
                f"Label Studio at {redact_url(url)} cannot use {token_name}: "
                f"{redact_text(_detail(exc.body))}"
            ) from None
        self._users: dict[str, int] = {}
        self._emails: dict[int, str] = {}
        self._users_lock = threading.Lock()
        self._storages: dict[int, list[Path]] = {}
        self._storage_lock = threading.Lock()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_env(
        cls,
        url_env: str = "LABEL_STUDIO_URL",
        token_env: str = "LABEL_STUDIO_API_KEY",
        *,
        document_root_env: str = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT",
        **kwargs: Any,
    ) -> StudioClient:
        """Build a client from environment variables (their NAMES are configurable).

        Parameters
        ----------
        url_env, token_env : str
            Variables holding the server URL and the API token.
        document_root_env : str
            Optional variable holding the server's local-files document root.
        **kwargs
            Passed to :class:`StudioClient`.

        Raises
        ------
        ConfigError
            A variable is missing or empty (the message names it).
        """
        values = {}
        for name, what in ((url_env, "the Label Studio URL"), (token_env, "the API token")):
            value = os.environ.get(name, "").strip()
            if not value:
                raise ConfigError(f"environment variable {name} is not set: it must hold {what}")
            values[name] = value
        if "document_root" not in kwargs and os.environ.get(document_root_env):
            kwargs["document_root"] = os.environ[document_root_env]
        kwargs.setdefault("token_name", f"the token in {token_env}")
        return cls(values[url_env], values[token_env], **kwargs)

    def __repr__(self) -> str:
        return f"StudioClient(url={self.display_url!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._httpx.close()

    def __enter__(self) -> StudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        files: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """One HTTP request through the SDK's client (base URL, auth headers)."""
        options: dict[str, Any] = {"max_retries": 0}
        if timeout is not None:
            options["timeout_in_seconds"] = timeout
        http = self._sdk._client_wrapper.httpx_client  # the SDK's transport, with auth
        try:
            resp = http.request(
                path.lstrip("/"),
                method=method,
                params=dict(params) if params else None,
                json=json_body,
                files=files,
                request_options=options,  # type: ignore[arg-type]
            )
        except ApiError as exc:  # raised while refreshing a personal access token
            raise _HTTPError(exc.status_code or 0, _detail(exc.body)) from None
        if resp.status_code >= 400:
            raise _HTTPError(resp.status_code, _response_detail(resp))
        return resp

    def _call(
        self,
        what: str,
        attempt: Callable[[], T],
        *,
        idempotent: bool,
        reconcile: Callable[[], T | None] | None = None,
        project_id: int | None = None,
    ) -> T:
        """Run ``attempt`` with retries and turn failures into relabel's typed errors.

        ``reconcile`` is called after an ambiguous failure of a non-idempotent call; it
        returns the call's result if the first attempt did reach the server, else None
        (and the call is sent again).
        """
        last = ""
        network = False
        check_first = False  # an earlier attempt may have landed: reconcile before resending
        for i in range(self.retries):
            retry_any = False
            final: Exception | None = None
            try:
                if check_first and reconcile is not None:
                    found = reconcile()
                    if found is not None:
                        log.info("%s: the failed attempt had reached the server", what)
                        return found
                    check_first = False
                return attempt()
            except _NOT_SENT as exc:
                _http_failed(exc)
                last, network, retry_any = _error_text(exc), True, True
            except _MAYBE_SENT as exc:
                _http_failed(exc)
                last, network = _error_text(exc), True
            except ApiError as exc:
                failure = _HTTPError(exc.status_code or 0, _detail(exc.body))
                final, retry_any, last = self._judge(failure, what, project_id)
                network = False
            except _HTTPError as failure:
                final, retry_any, last = self._judge(failure, what, project_id)
                network = False
            if final is not None:
                raise final from None
            if not retry_any and not idempotent and not check_first:
                if reconcile is None:
                    raise StudioError(
                        f"Label Studio at {self.display_url}: {what} failed ({last}); it may "
                        "or may not have been applied on the server"
                    )
                check_first = True
            if i + 1 < self.retries:
                delay = min(self.max_backoff, self.backoff * 2**i)
                log.warning(
                    "Label Studio at %s: %s failed (%s); retry %d/%d in %.1f s",
                    self.display_url,
                    what,
                    last,
                    i + 2,
                    self.retries,
                    delay,
                )
                time.sleep(delay)
        if network:
            raise StudioUnreachableError(
                f"Label Studio at {self.display_url} is unreachable: {what} failed after "
                f"{self.retries} attempt(s) ({last})"
            )
        raise StudioError(
            f"Label Studio at {self.display_url}: {what} failed after {self.retries} "
            f"attempt(s) ({last})"
        )

    def _judge(
        self, failure: _HTTPError, what: str, project_id: int | None
    ) -> tuple[Exception | None, bool, str]:
        """Classify an HTTP error: (error to raise now, retry even if not idempotent, text)."""
        status = failure.status
        failure.detail = redact_text(failure.detail)
        text = f"HTTP {status}: {failure.detail}"
        if status in (401, 403):
            return (
                StudioAuthError(
                    f"Label Studio at {self.display_url} refused {self._token_name} "
                    f"(HTTP {status}) for {what}: {failure.detail}"
                ),
                False,
                text,
            )
        if status == 404:
            if project_id is not None:
                return (
                    StudioProjectMissingError(
                        f"Label Studio project {project_id} does not exist at "
                        f"{self.display_url} (deleted?)"
                    ),
                    False,
                    text,
                )
            return (
                _NotFoundError(f"{what}: not found at {self.display_url} ({failure.detail})"),
                False,
                text,
            )
        if status in (429, 503):
            return None, True, text
        if status in (500, 502, 504) or status == 0:
            return None, False, text
        rejected = StudioError(f"Label Studio at {self.display_url} rejected {what}: {text}")
        return rejected, False, text

    def _get_json(
        self,
        what: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        project_id: int | None = None,
    ) -> Any:
        return self._call(
            what,
            lambda: self._raw("GET", path, params=params).json(),
            idempotent=True,
            project_id=project_id,
        )

    # ------------------------------------------------------------------ server

    def check(self) -> str:
        """Check that the server answers and accepts the token; return its version.

        Raises
        ------
        StudioUnreachableError
            No answer (after retries).
        StudioAuthError
            The token is refused.
        """
        version = self._get_json("reading the server version", "/api/version")
        self._get_json("checking the token", "/api/current-user/whoami")
        return str(
            version.get("release")
            or version.get("label-studio-os-package", {}).get("version", "unknown")
        )

    def server_time(self) -> datetime:
        """The server's clock (from the ``Date`` header; the client's if it has none)."""
        resp = self._call(
            "reading the server clock",
            lambda: self._raw("GET", "/api/version"),
            idempotent=True,
        )
        date = resp.headers.get("date")
        if date:
            try:
                return email.utils.parsedate_to_datetime(date).astimezone(UTC)
            except (TypeError, ValueError):
                pass
        return datetime.now(UTC)

    # ------------------------------------------------------------------ projects

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
            lambda: self._raw(
                "PATCH", f"/api/projects/{int(project_id)}/", json_body={"description": description}
            ),
            idempotent=True,
            project_id=project_id,
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

    # ------------------------------------------------------------------ tasks: import

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

        def submit(ci: int) -> None:  # uploads run up to two import chunks ahead
            if ci < len(chunks) and ci not in pending:
                pending[ci] = self._submit_uploads(pool, project_id, chunks[ci], mode)

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
                "result": _choice_result(pred.label),
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
        what = f"uploading {len(files)} image(s) to project {project_id}"

        def attempt() -> Any:
            try:
                return self._raw(
                    "POST",
                    f"/api/projects/{int(project_id)}/import",
                    params={"commit_to_project": "false"},
                    files=files,
                ).json()
            except _HTTPError as exc:
                if "DATA_UPLOAD_MAX_NUMBER_FILES" in exc.detail and len(files) > 1:
                    raise _TooManyFilesError(exc.detail) from None
                raise

        try:
            # a repeated upload only leaves unused files behind: safe to retry
            resp = self._call(what, attempt, idempotent=True, project_id=project_id)
        except _TooManyFilesError:
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
        upload_ids = [int(i) for i in resp.get("file_upload_ids") or []]
        if len(upload_ids) != len(files):
            raise StudioError(
                f"Label Studio at {self.display_url} stored {len(upload_ids)} of {len(files)} "
                f"uploaded files for project {project_id}"
            )
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
        if len(out) != len(items):
            raise StudioError(
                f"Label Studio at {self.display_url} listed {len(out)} of {len(items)} uploaded "
                f"files for project {project_id}"
            )
        return out

    # local files ------------------------------------------------------------

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
            resp = self._raw(
                "POST",
                f"/api/projects/{int(project_id)}/import",
                params={"return_task_ids": "true"},
                json_body=task_dicts,
            ).json()
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

    # ------------------------------------------------------------------ tasks: read

    def _iter_task_pages(
        self,
        project_id: int,
        *,
        filters: dict[str, Any] | None = None,
        fields: str = "task_only",
        include: str = "id,data",
        page_size: int = 1000,
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
                _f(f"data.{key}", "equal", "String", chunk[0])
                if len(chunk) == 1
                else _f(f"data.{key}", "in_list", "List", chunk)
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
            [_f("updated_at", "greater", "Datetime", to_dm_datetime(updated_after))]
            if updated_after
            else []
        )
        answered = [_f("total_annotations", "greater", "Number", 0), *since]
        only_skipped = [
            _f("cancelled_annotations", "greater", "Number", 0),
            _f("total_annotations", "equal", "Number", 0),
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
                page_size=1000,
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
        anns = []
        for a in t.get("annotations") or []:
            cb = a.get("completed_by")
            uid: int | None
            mail: str | None
            if isinstance(cb, Mapping):
                uid = int(cb["id"]) if cb.get("id") is not None else None
                mail = cb.get("email") or None
            else:
                uid = int(cb) if cb is not None else None
                mail = self._emails.get(uid) if uid is not None else None
            cancelled = bool(a.get("was_cancelled"))
            anns.append(
                Annotation(
                    id=int(a["id"]),
                    user=str(mail or uid or "unknown"),
                    choice=None if cancelled else _choice_of(a.get("result")),
                    was_cancelled=cancelled,
                    updated_at=a.get("updated_at"),
                    user_id=uid,
                )
            )
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

    # ------------------------------------------------------------------ users, answers

    def ensure_user(self, email: str) -> int:
        """Return the id of the user with this e-mail address, creating it if needed.

        Users created here join the token owner's organization and have no password:
        they exist to be ``completed_by`` of annotations (simulated reviewers).
        """
        key = email.strip().lower()
        with self._users_lock:
            if key in self._users:
                return self._users[key]
            self._load_users()
            if key in self._users:
                return self._users[key]

            def attempt() -> int:
                user = self._sdk.users.create(email=email.strip(), username=email.strip())
                return int(user.id)  # type: ignore[arg-type]

            def reconcile() -> int | None:
                self._load_users()
                return self._users.get(key)

            try:
                uid = self._call(
                    f"creating user {email}", attempt, idempotent=False, reconcile=reconcile
                )
            except StudioError:
                self._load_users()  # created meanwhile by someone else?
                if key not in self._users:
                    raise
                uid = self._users[key]
            self._users[key] = uid
            self._emails[uid] = email.strip()
            return uid

    def _load_users(self) -> None:
        users = self._call("listing users", lambda: self._sdk.users.list(), idempotent=True)
        for u in users:
            if getattr(u, "email", None) and u.id is not None:
                self._users[str(u.email).lower()] = int(u.id)
                self._emails[int(u.id)] = str(u.email)

    def create_annotation(
        self,
        task_id: int,
        choice: str | None,
        user_id: int,
        was_cancelled: bool = False,
    ) -> int:
        """Answer a task as ``user_id``; return the annotation id.

        A skip is ``was_cancelled=True`` (the choice is then ignored). The server records
        ``completed_by = user_id``; the token's owner must be allowed to write for that
        user (an administrator). Each call carries a ``unique_id``, so a retried call
        never creates a second annotation.
        """
        unique = str(uuid.uuid4())
        body = {
            "result": [] if was_cancelled else _choice_result(choice),
            "completed_by": int(user_id),
            "was_cancelled": bool(was_cancelled),
            "unique_id": unique,
        }
        path = f"/api/tasks/{int(task_id)}/annotations/"
        what = f"answering task {task_id} as user {user_id}"

        def attempt() -> int:
            try:
                return int(self._raw("POST", path, json_body=body).json()["id"])
            except _HTTPError as exc:
                if exc.status == 409:  # our unique_id exists: an earlier attempt landed
                    found = self._find_annotation(task_id, user_id, was_cancelled)
                    if found is not None:
                        return found
                raise

        def reconcile() -> int | None:
            return None  # sending again is safe: a duplicate unique_id answers 409

        try:
            return self._call(what, attempt, idempotent=False, reconcile=reconcile)
        except _NotFoundError:
            raise StudioError(f"task {task_id} does not exist at {self.display_url}") from None

    def _find_annotation(self, task_id: int, user_id: int, was_cancelled: bool) -> int | None:
        task = self._get_json(f"reading task {task_id}", f"/api/tasks/{int(task_id)}/")
        mine = []
        for a in task.get("annotations") or []:
            cb = a.get("completed_by")
            uid = cb.get("id") if isinstance(cb, Mapping) else cb
            if uid == user_id and bool(a.get("was_cancelled")) == was_cancelled:
                mine.append(int(a["id"]))
        return max(mine) if mine else None

    def update_annotation(
        self, annotation_id: int, choice: str | None, *, was_cancelled: bool = False
    ) -> None:
        """Change an answer (or turn it into a skip)."""
        body = {
            "result": [] if was_cancelled else _choice_result(choice),
            "was_cancelled": bool(was_cancelled),
        }
        try:
            self._call(
                f"updating annotation {annotation_id}",
                lambda: self._raw(
                    "PATCH", f"/api/annotations/{int(annotation_id)}/", json_body=body
                ),
                idempotent=True,
            )
        except _NotFoundError:
            raise StudioError(
                f"annotation {annotation_id} does not exist at {self.display_url}"
            ) from None

    def bulk_annotate(
        self, project_id: int, answers: Mapping[int, str], *, model_version: str | None = None
    ) -> int:
        """Answer many tasks at once as the token's user (demos and benchmarks).

        The answers are imported as predictions of a one-off model version, then turned
        into annotations by Label Studio's "predictions to annotations" action: thousands
        per second instead of about 20 per second with :meth:`create_annotation`. Not
        retried after an ambiguous failure.

        Returns
        -------
        int
            Annotations created.
        """
        if not answers:
            return 0
        version = model_version or f"relabel-bulk-{uuid.uuid4().hex[:8]}"
        ids = [int(t) for t in answers]
        created = 0
        for k in range(0, len(ids), 5000):
            part = ids[k : k + 5000]
            preds = [
                {
                    "task": t,
                    "model_version": version,
                    "score": 1.0,
                    "result": _choice_result(answers[t]),
                }
                for t in part
            ]
            self._call(
                f"importing {len(preds)} prediction(s) into project {project_id}",
                lambda preds=preds: self._raw(
                    "POST", f"/api/projects/{int(project_id)}/import/predictions", json_body=preds
                ),
                idempotent=False,
                project_id=project_id,
            )
            resp = self._call(
                f"turning predictions into annotations in project {project_id}",
                lambda part=part: self._raw(
                    "POST",
                    "/api/dm/actions",
                    params={"id": "predictions_to_annotations", "project": str(project_id)},
                    json_body={
                        "model_version": version,
                        "selectedItems": {"all": False, "included": part},
                    },
                ).json(),
                idempotent=False,
                project_id=project_id,
            )
            m = re.search(r"(\d+)", str(resp.get("detail", "")))
            created += int(m.group(1)) if m else len(part)
        return created

    def create_webhook(
        self, project_id: int, url: str, actions: Sequence[str] | None = None
    ) -> int:
        """Ask Label Studio to POST to ``url`` on changes in a project; return its id.

        Webhooks are a hint only: a failed delivery is never retried, so poll with
        :meth:`list_reviewed_tasks` for the truth. ``actions`` default to all.
        """

        def attempt() -> int:
            extra: dict[str, Any] = {"actions": list(actions)} if actions else {}
            hook = self._sdk.webhooks.create(
                url=url,
                project=int(project_id),
                send_payload=True,
                send_for_all_actions=not actions,
                **extra,
            )
            return int(hook.id)  # type: ignore[arg-type]

        def reconcile() -> int | None:
            hooks = self._sdk.webhooks.list(project=str(project_id))
            same = [int(h.id) for h in hooks if h.url == url and h.id is not None]
            return max(same) if same else None

        return self._call(
            f"creating a webhook for project {project_id}",
            attempt,
            idempotent=False,
            reconcile=reconcile,
            project_id=project_id,
        )


# --------------------------------------------------------------------------- files


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
