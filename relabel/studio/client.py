"""A typed, retrying client for the parts of the Label Studio API relabel uses.

This module knows nothing about relabel's label store: it creates projects, imports
review tasks (with their images), reads reviewed tasks back, and acts as simulated
reviewers. :mod:`relabel.loop.push` and :mod:`relabel.loop.pull` build on it.

:class:`StudioClient` is the one public class. It is put together from parts, one module
each, all importable from here:

- :mod:`relabel.studio.transport`: the connection, raw HTTP requests, retries and the
  judging of failures, the HTTP log;
- :mod:`relabel.studio.projects`: projects (create, read, describe, delete) and webhooks;
- :mod:`relabel.studio.imports`: task imports with their images (image modes, upload
  batches, import chunks, local storage);
- :mod:`relabel.studio.tasks`: task queries (paging, by sample id, reviewed tasks since a
  moment, images);
- :mod:`relabel.studio.annotations`: users and answers;
- :mod:`relabel.studio.models`: the data types it takes and returns.

Calls the SDK covers go through ``label_studio_sdk.LabelStudio``'s public client, which
accepts both legacy API tokens and personal access tokens (JWT refresh tokens). The
others (multipart uploads, imports that return task ids, Data Manager filters, answers
with a ``unique_id``, the server's clock) are sent by relabel's own ``httpx.Client``
(which the SDK shares) with an ``Authorization`` header relabel sets itself. The SDK's
own retries are switched off; this client retries instead, knowing which calls are safe
to repeat:

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

A client holds HTTP connections: close it (``with StudioClient(...) as client:``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from relabel.errors import ConfigError
from relabel.studio.imports import TaskImports
from relabel.studio.models import (
    DM_DATETIME_FORMAT,
    IMAGE_MODES,
    RESERVED_DATA_KEYS,
    UPLOAD_EXTENSIONS,
    WATERMARK_MARGIN,
    Annotation,
    ImageMode,
    Prediction,
    ProjectInfo,
    ReviewedTask,
    ReviewedTaskList,
    TaskSpec,
    to_dm_datetime,
)
from relabel.studio.projects import ProjectCalls
from relabel.studio.transport import (  # noqa: F401  (_HTTPError: tests inject it)
    _HTTPError,
    http_log,
)

__all__ = [
    "DM_DATETIME_FORMAT",
    "IMAGE_MODES",
    "RESERVED_DATA_KEYS",
    "UPLOAD_EXTENSIONS",
    "WATERMARK_MARGIN",
    "Annotation",
    "ImageMode",
    "Prediction",
    "ProjectInfo",
    "ReviewedTask",
    "ReviewedTaskList",
    "StudioClient",
    "TaskSpec",
    "http_log",
    "to_dm_datetime",
]


class StudioClient(ProjectCalls, TaskImports):
    """A connection to one Label Studio server.

    Parameters
    ----------
    url : str
        The server's base URL (``http://127.0.0.1:8080``).
    token : str
        A legacy API token or a personal access token. Kept inside the client only.
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
        Tasks per import request. Label Studio recomputes project-wide counters after
        every import request, so fewer, larger requests cost it less (10,000 tasks in
        requests of 500 take it about 15 % more CPU than in requests of 5,000).
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
        import_batch_size: int = 5000,
        threads: int = 2,
        token_name: str = "the API token",
    ) -> None:
        super().__init__(
            url,
            token,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            token_name=token_name,
        )
        self.document_root = Path(document_root).resolve() if document_root else None
        self.upload_batch_size = max(1, int(upload_batch_size))
        self.import_batch_size = max(1, int(import_batch_size))
        self.threads = max(1, int(threads))
        self._users = {}
        self._emails = {}
        self._users_lock = threading.Lock()
        self._storages = {}
        self._storage_lock = threading.Lock()

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

    def __enter__(self) -> StudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
