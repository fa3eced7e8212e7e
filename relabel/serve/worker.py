"""Writing to the project from the server: webhook answers and cycles, in one background thread.

Every write holds the project lock (:func:`relabel.infra.lock.project_lock`, through
:meth:`relabel.project.Project.locked`), so the server and ``relabel pull``, ``push`` or
``cycle`` in another process never write at the same time. The one exception is the
webhook inbox's append (:mod:`relabel.serve.inbox`), which writes only its own table.

- A webhook's answers are appended to the inbox and answered at once; the worker thread
  records the pending events in batches (:func:`relabel.serve.record.record_inbox`: one
  project open, one transaction, each event marked done in it), as soon as the project
  lock is free. Events appended while a batch is recorded make the next batch. At start
  the events a previous run left pending are recorded first. When the project lock is
  held (a cycle of this server trains, or another relabel process works), they wait in
  the inbox; nothing is lost with the process.
- With ``cycle_on_answers``, a batch that brings the answers the waiting cycle needs
  (:func:`relabel.loop.cycle.review_progress`) asks for a cycle. The worker runs
  :func:`relabel.loop.cycle.run_cycle` under the project lock: it pulls, retrains,
  evaluates and finishes the cycle, then starts the next one (train, select, push) until
  it waits for answers again. Requests made while a cycle runs are one request; cycles
  never overlap. The HTTP answer never waits for training.
- An unresolved task given one more reviewer is sent to Label Studio by the worker
  (:func:`relabel.loop.pull.ask_more_reviewers`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relabel.errors import ProjectLockedError, RelabelError
from relabel.loop.cycle import CycleResult, review_progress, run_cycle, waiting_cycle
from relabel.loop.pull import ask_more_reviewers
from relabel.project import Project
from relabel.serve.inbox import Inbox
from relabel.serve.record import Drained, record_inbox

if TYPE_CHECKING:
    from relabel.studio.client import StudioClient

log = logging.getLogger(__name__)

#: Most inbox events recorded in one batch (one transaction).
MAX_BATCH = 500
#: Seconds between the worker's tries to take a held project lock.
RETRY_SECONDS = 2.0
#: Most cycles one request runs: finish the waiting cycle, start the next.
CYCLES_PER_REQUEST = 2


@dataclass
class WorkerState:
    """What the worker has done (for ``GET /health`` and tests)."""

    recorded: int = 0
    batches: int = 0
    unreadable: int = 0
    last_batch: dict[str, Any] = field(default_factory=dict)
    cycles: list[dict[str, Any]] = field(default_factory=list)
    cycle_running: bool = False
    last_error: str | None = None


class Worker:
    """The server's writer: records webhooks, runs cycles in one background thread.

    Parameters
    ----------
    root : Path
        The project folder.
    inbox : Inbox
        The webhook inbox the request threads append to.
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
        inbox: Inbox,
        *,
        client: StudioClient | None = None,
        cycle_on_answers: bool = False,
        cycle_after: int | None = None,
    ) -> None:
        if cycle_on_answers and client is None:
            raise ValueError("cycle_on_answers needs a Label Studio client")
        self.root = Path(root)
        self.inbox = inbox
        self.client = client
        self.cycle_on_answers = cycle_on_answers
        self.cycle_after = cycle_after
        self.state = WorkerState()
        self._emails: dict[int, str] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cycle_wanted = False
        self._overlaps_wanted = False
        self._thread = threading.Thread(target=self._loop, name="relabel-serve-worker", daemon=True)

    # -- the request side -------------------------------------------------------------------
    def notify(self) -> None:
        """A webhook was appended to the inbox: record it (with any others) soon."""
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
        """Webhooks in the inbox, not yet recorded."""
        return self.inbox.pending

    # -- the worker thread ------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread; it records first what an earlier run left pending."""
        if self.inbox.left_over:
            log.info(
                "relabel serve: %d webhook(s) left pending by the last run are recorded first",
                self.inbox.left_over,
            )
        self._wake.set()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker thread to stop after its current job and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def idle(self) -> bool:
        """Nothing pending in the inbox, no cycle wanted or running."""
        busy = self._cycle_wanted or self._overlaps_wanted or self.state.cycle_running
        return not (self.inbox.pending or busy)

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
        """Record the inbox's pending webhooks, batch after batch, while the lock is free."""
        while self.inbox.pending and not self._stop.is_set():
            try:
                with Project.locked(self.root, "relabel serve (webhooks)") as project:
                    drained = record_inbox(project, MAX_BATCH, self._reviewer_emails)
                    wants_cycle = drained is not None and self._wants_cycle(project)
            except ProjectLockedError:
                return  # tried again in RETRY_SECONDS, or when the cycle is done
            if drained is None:  # recorded by an earlier run that died after its commit
                self.inbox.drained(self.inbox.pending)
                return
            self._count(drained)
            if wants_cycle:
                self._cycle_wanted = True

    def _count(self, drained: Drained) -> None:
        """Count a recorded batch; ask for the extra reviewers it gave tasks."""
        self.inbox.drained(drained.events)
        state = self.state
        state.recorded += drained.events - drained.unreadable
        state.unreadable += drained.unreadable
        state.batches += 1
        summary = drained.recorded.summary
        state.last_batch = {"events": drained.events, **drained.recorded.as_dict()}
        log.info(
            "relabel serve: %d webhook(s) recorded (%d task(s), %d reviewed); %d pending",
            drained.events,
            0 if summary is None else summary.tasks_seen,
            0 if summary is None else summary.reviewed,
            self.inbox.pending,
        )
        if summary is not None and summary.more_reviewers:
            self._overlaps_wanted = True

    def _reviewer_emails(self, user_ids: set[int]) -> Mapping[int, str]:
        """Reviewers' e-mail addresses, as a pull names them (asked once per user id)."""
        unknown = user_ids - self._emails.keys()
        if self.client is not None and unknown:
            try:
                self._emails.update(self.client.user_emails(unknown))
            except RelabelError as exc:
                log.warning("webhook: reviewers' e-mail addresses unknown (%s): ids used", exc)
        return {i: self._emails[i] for i in user_ids if i in self._emails}

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
        self._wake.set()  # webhooks appended meanwhile

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
