"""How :class:`~relabel.studio.client.StudioClient` talks to the server: HTTP and retries.

:class:`StudioTransport` owns the connection: relabel's own ``httpx.Client`` (shared with
the ``label_studio_sdk.LabelStudio`` client, whose own retries are off), the
``Authorization`` header of relabel's raw requests (:class:`TokenHeader`), the retry loop
(:meth:`StudioTransport._call`) and the judging of failures (which are safe to repeat,
which become relabel's typed errors; see :mod:`relabel.studio.client`). Every HTTP
request is logged at DEBUG on the ``relabel.studio.http`` logger with a redacted URL.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlparse

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from relabel.errors import (
    ConfigError,
    StudioAuthError,
    StudioError,
    StudioProjectMissingError,
    StudioUnreachableError,
)
from relabel.studio.urls import (
    redact_text,
    redact_url,
    refuse_placeholder,
    remember_secrets,
)

#: The logger of every part of the client (one name, as in JSON log lines before the split).
CLIENT_LOGGER = "relabel.studio.client"
log = logging.getLogger(CLIENT_LOGGER)
#: One DEBUG line per HTTP request: method, redacted URL, status (or error), milliseconds.
#: The CLI shows it with ``-vv``.
http_log = logging.getLogger("relabel.studio.http")
_STARTED = "relabel_started"  # request extension: perf_counter() when the request left
#: An access token is exchanged again this many seconds before it expires.
_ACCESS_TOKEN_MARGIN_S = 30.0

T = TypeVar("T")


# --------------------------------------------------------------------------- errors


class _HTTPError(Exception):
    def __init__(self, status: int, detail: str, *, not_json: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail
        #: For an answer that should have been JSON and was not: its content type.
        self.not_json = not_json


def _content_type(headers: Mapping[str, str] | None) -> str:
    """The media type of an answer (``text/html``), or ``no content type``."""
    for key, value in (headers or {}).items():
        if key.lower() == "content-type":
            return str(value).split(";")[0].strip() or "no content type"
    return "no content type"


def json_of(resp: httpx.Response) -> Any:
    """The JSON of an answer; an answer that is not JSON (a login or proxy page answering
    HTTP 200) raises :class:`_HTTPError` with its status and content type."""
    try:
        return resp.json()
    except ValueError:
        raise _HTTPError(
            resp.status_code, "not JSON", not_json=_content_type(resp.headers)
        ) from None


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


def _api_failure(exc: ApiError) -> _HTTPError:
    """The SDK's error as relabel's: an answer the SDK could not read as JSON (it reports
    a success status with the page's text) keeps its status and content type."""
    status = exc.status_code or 0
    if 200 <= status < 300:
        return _HTTPError(status, "not JSON", not_json=_content_type(exc.headers))
    return _HTTPError(status, _detail(exc.body))


def _error_text(exc: Exception) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- auth


def _jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JSON Web Token (not verified), or None if ``token`` is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (
            json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in parts[:2]
        )
    except ValueError:  # bad base64 (binascii.Error), bad UTF-8 or bad JSON
        return None
    return claims if isinstance(header, dict) and isinstance(claims, dict) else None


class TokenHeader:
    """The ``Authorization`` header of relabel's own requests to one server.

    A legacy API token is sent as ``Token <key>``. A personal access token (a JWT refresh
    token, as the SDK treats every JWT) is exchanged for a short-lived access token at
    ``/api/token/refresh/``, sent as ``Bearer <access token>`` and exchanged again shortly
    before it expires. The token is never part of a message or a ``repr``.
    """

    def __init__(self, token: str, url: str, http: httpx.Client) -> None:
        self._token = token
        self._refresh_url = f"{url}/api/token/refresh/"
        self._http = http
        self._legacy = _jwt_claims(token) is None
        self._access: str | None = None
        self._access_expires = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenHeader(legacy={self._legacy})"

    def value(self) -> str:
        """The header value; may exchange the refresh token first (one request)."""
        if self._legacy:
            return f"Token {self._token}"
        with self._lock:
            if self._access is None or time.time() > self._access_expires - _ACCESS_TOKEN_MARGIN_S:
                self._access, self._access_expires = self._exchange()
            return f"Bearer {self._access}"

    def _exchange(self) -> tuple[str, float]:
        resp = self._http.post(self._refresh_url, json={"refresh": self._token})
        if resp.status_code >= 400:
            raise _HTTPError(resp.status_code, _response_detail(resp))
        try:
            access = str(resp.json()["access"])
        except (ValueError, KeyError, TypeError):
            raise _HTTPError(resp.status_code, "no access token in the answer") from None
        expires = (_jwt_claims(access) or {}).get("exp")
        return access, float(expires) if isinstance(expires, int | float) else time.time() + 60


# --------------------------------------------------------------------------- transport


class StudioTransport:
    """The connection half of :class:`~relabel.studio.client.StudioClient`.

    Holds the server's URL, the HTTP client, the SDK client and the retry settings, and
    runs every call through :meth:`_call`. The other parts of the client
    (:mod:`relabel.studio.projects`, :mod:`relabel.studio.imports`,
    :mod:`relabel.studio.tasks`, :mod:`relabel.studio.annotations`) build on it.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float,
        retries: int,
        backoff: float,
        max_backoff: float,
        token_name: str,
    ) -> None:
        given = (url or "").strip()
        parsed = urlparse(given)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"the Label Studio URL {redact_url(given)!r} is not an http(s) URL")
        if not token or not token.strip():
            raise ConfigError(f"{token_name} for Label Studio at {redact_url(given)} is empty")
        refuse_placeholder(token_name, token)
        remember_secrets(given, token.strip())
        # The base is scheme, authority and path; a query string of the given URL (a
        # gateway's key) is sent with every request as parameters, never glued to a path.
        url = parsed._replace(query="", fragment="").geturl().rstrip("/")
        #: The server's base URL (used for requests only, never in a message).
        self.url = url
        #: The URL for messages, logs and the label store: no credentials, no query values.
        self.display_url = redact_url(given.rstrip("/"))
        self.timeout = float(timeout)
        self.retries = max(1, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self._token_name = token_name
        self._base_path = parsed.path.rstrip("/")
        self._httpx = httpx.Client(
            params=parse_qsl(parsed.query, keep_blank_values=True),
            timeout=self.timeout,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            event_hooks={"request": [_http_started], "response": [_http_answered]},
        )
        self._auth = TokenHeader(token.strip(), url, self._httpx)
        try:
            self._sdk = LabelStudio(
                base_url=url,
                api_key=token.strip(),
                timeout=self.timeout,
                max_retries=0,
                httpx_client=self._httpx,
            )
        except ApiError as exc:  # an expired or malformed personal access token
            self._httpx.close()
            raise StudioAuthError(
                f"Label Studio at {redact_url(url)} cannot use {token_name}: "
                f"{redact_text(_detail(exc.body))}"
            ) from None

    def close(self) -> None:
        """Close the HTTP connections (the SDK client shares them)."""
        self._httpx.close()

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
        """One HTTP request to the server: relabel's HTTP client, the token's header."""
        resp = self._httpx.request(
            method,
            f"{self.url}/{path.lstrip('/')}",
            params=dict(params) if params else None,
            json=json_body,
            files=files,
            headers={"Authorization": self._auth.value()},
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        if resp.status_code >= 400:
            raise _HTTPError(resp.status_code, _response_detail(resp))
        return resp

    def _raw_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`_raw`, and the JSON of its answer (see :func:`json_of`)."""
        return json_of(self._raw(method, path, **kwargs))

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
                failure = _api_failure(exc)
                final, retry_any, last = self._classify_http_error(failure, what, project_id)
                network = False
            except _HTTPError as failure:
                final, retry_any, last = self._classify_http_error(failure, what, project_id)
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

    def _classify_http_error(
        self, failure: _HTTPError, what: str, project_id: int | None
    ) -> tuple[Exception | None, bool, str]:
        """Classify an HTTP error: (error to raise now, retry even if not idempotent, text)."""
        status = failure.status
        failure.detail = redact_text(failure.detail)
        text = f"HTTP {status}: {failure.detail}"
        if failure.not_json is not None:
            return (
                StudioError(
                    f"Label Studio at {self.display_url}: {what}: the answer was not JSON "
                    f"(HTTP {status}, {failure.not_json}); is this URL the Label Studio "
                    "server itself, not a login page or a proxy in front of it?"
                ),
                False,
                f"HTTP {status}, {failure.not_json}, not JSON",
            )
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
            lambda: self._raw_json("GET", path, params=params),
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
