"""The HTTP side of ``relabel serve``: Label Studio's model-backend routes and webhooks.

The routes are thin; the work is in :mod:`relabel.serve.predict`,
:mod:`relabel.serve.record` and :mod:`relabel.serve.worker`.

========================  ==============================================================
``GET /health``           ``{"status": "UP", "model_version": RUN_ID, ...}``
``POST /setup``           ``{"model_version": RUN_ID}`` (Label Studio calls it when the
                          backend is connected and before it asks for predictions)
``POST /predict``         predictions of the latest run (:mod:`relabel.serve.predict`)
``POST /webhook``         Label Studio's webhooks: appended to the inbox and answered at
                          once; recorded in the background, in batches
========================  ==============================================================

The server is the standard library's :class:`http.server.ThreadingHTTPServer` (one thread
per request): the official ``label-studio-ml`` package (1.0.9, the newest on PyPI, of
January 2023) pins Flask 1.1.2 and Werkzeug 2.0.2 and does not import without ``rq``,
and no web framework is among relabel's dependencies.

``/webhook`` checks, in this order, each before anything is read or written: the shared
secret in the :data:`SECRET_HEADER` header against ``RELABEL_WEBHOOK_SECRET``
(:func:`hmac.compare_digest`; missing or wrong: 401, and every call is 401 when the
variable is not set), the body's declared size (none: 411; over ``max_body``: 413), then
the body (not JSON, or not a Label Studio payload: 400). Nothing is written unless all
pass. A webhook with answers is then appended to the store's inbox (committed, fsync) and
answered 200 with its event id (``duplicate``: the same answers were appended before,
nothing written); the worker records it (:mod:`relabel.serve.worker`). ``/health`` says
how many wait (``pending_webhooks``). ``/setup`` and ``/predict`` take no secret (Label
Studio sends none to a model backend); bodies over ``max_predict_body`` get 413. Secrets
and tokens are never logged: requests are logged at DEBUG by method, path and status only.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relabel.serve.inbox import Inbox
from relabel.serve.predict import Predictor, read_tasks
from relabel.serve.worker import Worker
from relabel.studio.webhooks import PayloadError, parse_webhook

if TYPE_CHECKING:
    from relabel.studio.client import StudioClient

log = logging.getLogger(__name__)

#: The environment variable holding the webhooks' shared secret.
SECRET_ENV = "RELABEL_WEBHOOK_SECRET"
#: The header Label Studio's webhook sends the secret in (set on the webhook).
SECRET_HEADER = "X-Relabel-Secret"
#: Default most bytes of a webhook body.
MAX_BODY = 1024 * 1024
#: Default most bytes of a ``/setup`` or ``/predict`` body (tasks may carry inline images).
MAX_PREDICT_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class ServeOptions:
    """How ``relabel serve`` listens and what it does with answers.

    Attributes
    ----------
    host, port : str, int
        Where to listen (port 0: any free port).
    secret : str or None
        The webhooks' shared secret (None: every webhook is refused).
    max_body, max_predict_body : int
        Most bytes of a webhook body, and of a ``/setup`` or ``/predict`` body.
    cycle_on_answers : bool
        Start the next cycle when the waiting cycle's answers are in.
    cycle_after : int or None
        Answered tasks that are enough for that (default ``review.min_reviews``).
    """

    host: str = "127.0.0.1"
    port: int = 9090
    secret: str | None = None
    max_body: int = MAX_BODY
    max_predict_body: int = MAX_PREDICT_BODY
    cycle_on_answers: bool = False
    cycle_after: int | None = None


class HTTPRefusalError(Exception):
    """An answer other than 200: its status and message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


Reply = tuple[HTTPStatus, dict[str, Any]]


class Backend:
    """What the routes do, without HTTP: a project's predictor and writer."""

    def __init__(
        self, root: Path, options: ServeOptions, client: StudioClient | None = None
    ) -> None:
        self.root = Path(root)
        self.options = options
        self.client = client
        self.predictor = Predictor(self.root)
        self.inbox = Inbox(self.root)
        self.worker = Worker(
            self.root,
            self.inbox,
            client=client,
            cycle_on_answers=options.cycle_on_answers,
            cycle_after=options.cycle_after,
        )

    def health(self) -> Reply:
        state = self.worker.state
        return HTTPStatus.OK, {
            "status": "UP",
            "model_class": "relabel",
            "model_version": self.predictor.model_version(),
            "pending_webhooks": self.inbox.pending,
            "recorded_webhooks": state.recorded,
            "duplicate_webhooks": self.inbox.duplicates,
            "webhook_batches": state.batches,
            "cycles": state.cycles,
            "cycle_running": state.cycle_running,
        }

    def setup(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            raise HTTPRefusalError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return HTTPStatus.OK, {"model_version": self.predictor.model_version()}

    def predict(self, body: Any) -> Reply:
        try:
            tasks = read_tasks(body)
        except ValueError as exc:
            raise HTTPRefusalError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        return HTTPStatus.OK, self.predictor.predict(tasks)

    def check_secret(self, given: str | None) -> None:
        """Raise 401 unless ``given`` is the configured secret (constant time)."""
        secret = self.options.secret
        if not secret or given is None or not hmac.compare_digest(given.encode(), secret.encode()):
            raise HTTPRefusalError(HTTPStatus.UNAUTHORIZED, f"missing or wrong {SECRET_HEADER}")

    def webhook(self, body: Any) -> Reply:
        """Validate a webhook's body, append its answers to the inbox; answer at once."""
        try:
            event = parse_webhook(body)
        except PayloadError as exc:
            raise HTTPRefusalError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        if not event.answers:
            return HTTPStatus.OK, {"action": event.action, "answers": 0}
        event_id = self.inbox.append(event, json.dumps(body))
        self.worker.notify()
        return HTTPStatus.OK, {
            "action": event.action,
            "answers": len(event.answers),
            "event": event_id,
            "duplicate": event_id is None,
            "pending": self.inbox.pending,
        }


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that holds its :class:`Backend`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.backend = backend
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """One request: routes to the server's :class:`Backend`."""

    server: _HTTPServer
    server_version = "relabel-serve"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/") in ("/health", ""):
            self._run(self.server.backend.health)
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route GET {self.path}"})

    def do_POST(self) -> None:
        route = self.path.split("?")[0].rstrip("/")
        backend = self.server.backend
        limit = backend.options.max_predict_body
        if route == "/webhook":
            self._run(self._webhook)
        elif route == "/predict":
            self._run(lambda: backend.predict(self._json(limit)))
        elif route == "/setup":
            self._run(lambda: backend.setup(self._json(limit)))
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route POST {self.path}"})

    def _webhook(self) -> Reply:
        self.server.backend.check_secret(self.headers.get(SECRET_HEADER))
        return self.server.backend.webhook(self._json(self.server.backend.options.max_body))

    def _json(self, limit: int) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            raise HTTPRefusalError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
        if int(length) > limit:
            raise HTTPRefusalError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {limit} bytes"
            )
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPRefusalError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {exc}") from None

    def _run(self, route: Callable[[], Reply]) -> None:
        try:
            status, body = route()
        except HTTPRefusalError as exc:
            status, body = exc.status, {"error": str(exc)}
        except Exception as exc:  # a 500 that names the error; the server lives on
            log.error("relabel serve: %s %s failed: %s", self.command, self.path, exc)
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}
        self._reply(status, body)

    def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        unread = status >= 400 and self.command == "POST"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if unread:  # a body may be left unread: do not reuse the connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("relabel serve: %s %s", self.command, self.path.split("?")[0])


class BackendServer:
    """A running ``relabel serve``: the HTTP server, its threads and the worker.

    Use :func:`start_backend`; :meth:`stop` ends it.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        options = backend.options
        self.httpd = _HTTPServer((options.host, options.port), backend)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="relabel-serve-http", daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL it listens at (``http://127.0.0.1:PORT``)."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BackendServer:
        self.backend.worker.start()
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in the CLI)."""
        self._thread.join()

    def stop(self) -> None:
        """Stop listening, then let the worker finish its current job (what is left in
        the inbox is recorded by the next start)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.backend.worker.stop()
        self.backend.inbox.close()

    def __enter__(self) -> BackendServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_backend(
    root: Path, options: ServeOptions, client: StudioClient | None = None
) -> BackendServer:
    """Start ``relabel serve`` for a project in background threads.

    Parameters
    ----------
    root : Path
        The project folder.
    options : ServeOptions
        Where to listen, the secret, body limits, cycles.
    client : StudioClient, optional
        The Label Studio connection (reviewers' e-mail addresses, cycles, extra
        reviewers); required with ``cycle_on_answers``.

    Returns
    -------
    BackendServer
        Listening; :attr:`BackendServer.url` says where.
    """
    if not options.secret:
        log.warning("relabel serve: %s is not set: every webhook is refused (401)", SECRET_ENV)
    return BackendServer(Backend(root, options, client)).start()
