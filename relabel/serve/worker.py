"""Writing to the project from the server: webhook answers now, cycles in the background.

Every write holds the project lock (:func:`relabel.infra.lock.project_lock`, through
:meth:`relabel.project.Project.locked`), so the server and ``relabel pull``, ``push`` or
``cycle`` in another process never write at the same time, and writes of the server's own
threads go one at a time (an in-process lock first).

- A webhook's answers are recorded at once (:func:`relabel.serve.record.record_event`)
  while the request waits: a few milliseconds. When the project lock is held (a cycle of
  this server trains, or another relabel process works), they are kept in memory
  (at most :data:`MAX_DEFERRED` webhooks) and recorded by the worker thread as soon as
  the lock is free; the webhook is answered 202 at once. A deferred webhook lost with the
  process (a restart) is found by the next pull.
- With ``cycle_on_answers``, a webhook that brings the answers the waiting cycle needs
  (:func:`relabel.loop.cycle.review_progress`) asks the worker thread for a cycle. The
  worker runs :func:`relabel.loop.cycle.run_cycle` under the project lock: it pulls,
  retrains, evaluates and finishes the cycle, then starts the next one (train, select,
  push) until it waits for answers again. Requests made while a cycle runs are one
  request; cycles never overlap. The HTTP answer never waits for training.
- An unresolved task given one more reviewer is sent to Label Studio by the worker
  (:func:`relabel.loop.pull.ask_more_reviewers`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relabel.errors import ProjectLockedError, RelabelError
from relabel.loop.cycle import CycleResult, review_progress, run_cycle, waiting_cycle
from relabel.loop.pull import ask_more_reviewers
from relabel.project import Project
from relabel.serve.record import Recorded, record_event
from relabel.studio.webhooks import WebhookEvent

if TYPE_CHECKING:
    from relabel.studio.client import StudioClient

log = logging.getLogger(__name__)

#: Most webhooks kept while the project lock is held; beyond, the oldest is dropped (the
#: next pull finds its answers).
MAX_DEFERRED = 10_000
#: Seconds between the worker's tries to take a held project lock.
RETRY_SECONDS = 2.0
#: Most cycles one request runs: finish the waiting cycle, start the next.
CYCLES_PER_REQUEST = 2


@dataclass
class WorkerState:
    """What the worker has done (for ``GET /health`` and tests)."""

    recorded: int = 0
    deferred: int = 0
    dropped: int = 0
    cycles: list[dict[str, Any]] = field(default_factory=list)
    cycle_running: bool = False
    last_error: str | None = None


class Worker:
    """The server's writer: records webhooks, runs cycles in one background thread.

    Parameters
    ----------
    root : Path
        The project folder.
    client : StudioClient, optional
        The Label Studio connection (needed for cycles and extra reviewers).
    cycle_on_answers : bool
        Start a cycle when the waiting cycle's answers are in.
    cycle_after : int, optional
        Answered tasks that are enough (default ``review.min_reviews``; 0: all).
    """

    def __init__(
        self,
        root: Path,
        *,
        client: StudioClient | None = None,
        cycle_on_answers: bool = False,
        cycle_after: int | None = None,
    ) -> None:
        if cycle_on_answers and client is None:
            raise ValueError("cycle_on_answers needs a Label Studio client")
        self.root = Path(root)
        self.client = client
        self.cycle_on_answers = cycle_on_answers
        self.cycle_after = cycle_after
        self.state = WorkerState()
        self._write = threading.Lock()
        self._deferred: deque[WebhookEvent] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cycle_wanted = False
        self._overlaps_wanted = False
        self._thread = threading.Thread(target=self._loop, name="relabel-serve-worker", daemon=True)

    # -- the request side -------------------------------------------------------------------
    def record(self, event: WebhookEvent) -> Recorded | None:
        """Record a webhook now; None when it was deferred (the project lock is held)."""
        with self._write:
            try:
                with Project.locked(self.root, "relabel serve (webhook)") as project:
                    recorded = record_event(project, event)
                    wants_cycle = self._wants_cycle(project)
            except ProjectLockedError:
                self._defer(event)
                return None
            self.state.recorded += 1
        if recorded.summary is not None and recorded.summary.more_reviewers:
            self._overlaps_wanted = True
            self._wake.set()
        if wants_cycle:
            self.request_cycle()
        return recorded

    def _defer(self, event: WebhookEvent) -> None:
        if len(self._deferred) >= MAX_DEFERRED:
            self._deferred.popleft()
            self.state.dropped += 1
            log.warning("too many webhooks wait for the project lock: the oldest is dropped")
        self._deferred.append(event)
        self.state.deferred += 1
        self._wake.set()

    def _wants_cycle(self, project: Project) -> bool:
        if not self.cycle_on_answers:
            return False
        waiting = waiting_cycle(project)
        if waiting is None:
            return False
        seen, need = review_progress(project, waiting[0], waiting[1], self.cycle_after)
        return seen >= need

    def request_cycle(self) -> None:
        """Ask the worker thread for a cycle (requests made meanwhile make one)."""
        self._cycle_wanted = True
        self._wake.set()

    @property
    def pending(self) -> int:
        """Webhooks waiting for the project lock."""
        return len(self._deferred)

    # -- the worker thread ------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker thread to stop after its current job and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def idle(self) -> bool:
        """Nothing deferred, no cycle wanted or running."""
        busy = self._cycle_wanted or self._overlaps_wanted or self.state.cycle_running
        return not (self._deferred or busy)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(RETRY_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._drain()
                if self._cycle_wanted:
                    self._cycles()
                if self._overlaps_wanted:
                    self._overlaps()
            except Exception as exc:  # the worker must live on; the next pull is the truth
                self.state.last_error = f"{type(exc).__name__}: {exc}"
                log.error("relabel serve: background work failed: %s", self.state.last_error)

    def _drain(self) -> None:
        """Record the deferred webhooks, if the project lock can be had."""
        if not self._deferred:
            return
        with self._write:
            try:
                with Project.locked(self.root, "relabel serve (webhook)") as project:
                    while self._deferred:
                        record_event(project, self._deferred[0])
                        self._deferred.popleft()
                        self.state.recorded += 1
                    wants_cycle = self._wants_cycle(project)
            except ProjectLockedError:
                return
        if wants_cycle:
            self._cycle_wanted = True

    def _cycles(self) -> None:
        """Run the waiting cycle to its end and start the next, under the project lock."""
        assert self.client is not None
        self._cycle_wanted = False
        self.state.cycle_running = True
        try:
            with Project.locked(self.root, "relabel serve (cycle)") as project:
                for _ in range(CYCLES_PER_REQUEST):
                    result = run_cycle(
                        project, self.client, min_reviews=self.cycle_after, progress=_progress
                    )
                    self.state.cycles.append(_described(result))
                    if result.state != "done":
                        break
        except ProjectLockedError:
            self._cycle_wanted = True  # another process works: try again later
        except RelabelError as exc:
            self.state.last_error = str(exc)
            log.error("relabel serve: the cycle failed: %s", exc)
        finally:
            self.state.cycle_running = False
        self._wake.set()  # webhooks deferred meanwhile

    def _overlaps(self) -> None:
        """Ask Label Studio for the extra reviewers recorded answers asked for."""
        self._overlaps_wanted = False
        if self.client is None:
            return
        try:
            with Project.locked(self.root, "relabel serve (reviewers)") as project:
                for part in project.store.studio_parts():
                    ask_more_reviewers(project, self.client, int(part["studio_project_id"]))
        except ProjectLockedError:
            self._overlaps_wanted = True


def _progress(message: str) -> None:
    log.info("relabel serve: %s", message)


def _described(result: CycleResult) -> dict[str, Any]:
    return {"cycle": result.cycle, "state": result.state, "steps": list(result.steps)}
