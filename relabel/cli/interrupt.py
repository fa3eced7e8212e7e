"""Ctrl-C and SIGTERM: the command stops within seconds, cleans up and says so.

Python turns Ctrl-C into a ``KeyboardInterrupt`` wherever the main thread happens to be.
Two places lose it: code whose exceptions are ignored (a finalizer run between two folds
prints "Exception ignored in ... KeyboardInterrupt" and training goes on), and native code
that turns it into an error of its own (TensorFlow inside an epoch: a pybind11 error and
a long traceback). SIGTERM, by default, ends the process without any clean-up at all.

:class:`Interrupts` handles both signals for the ``relabel`` command: it remembers the
signal and raises ``KeyboardInterrupt`` at once, as Python would (so the run's clean-up
and every store transaction's rollback happen); :meth:`Interrupts.check`, called with
every progress line (each epoch, each fold, each batch of tasks), raises it again where
it was lost; and the command's error handler reports any error raised while a signal is
pending as the interruption it is (:func:`relabel.cli.main.RelabelGroup.invoke`).
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any


class Interrupts:
    """The signal handlers of one ``relabel`` command (install, then restore)."""

    def __init__(self) -> None:
        #: The first signal received (``signal.SIGINT`` or ``signal.SIGTERM``), or None.
        self.received: int | None = None
        self._saved: dict[int, Any] = {}
        self._unraisable: Any = None

    def install(self) -> None:
        """Handle SIGINT and SIGTERM (from the main thread only, as Python requires)."""
        self.received = None
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._saved[signum] = signal.signal(signum, self._handle)
        self._unraisable = sys.unraisablehook
        sys.unraisablehook = self._unraisable_hook

    def restore(self) -> None:
        """Put back the handlers that were there before :meth:`install`."""
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()
        if self._unraisable is not None:
            sys.unraisablehook, self._unraisable = self._unraisable, None

    def _unraisable_hook(self, unraisable: Any) -> None:
        """Python's report of an error it had to ignore: silent for the interruption this
        class raised (it is raised again at the next progress line), as before otherwise."""
        if self.received is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        (self._unraisable or sys.__unraisablehook__)(unraisable)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` again if a signal came and was lost on the way.

        Called at safe points (the progress lines); a no-op without a pending signal, or
        outside the main thread.
        """
        if self.received is not None and threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt

    @property
    def exit_code(self) -> int:
        """The shell's code for the signal: 130 after Ctrl-C, 143 after SIGTERM."""
        return 128 + int(self.received or signal.SIGINT)

    def message(self, command: str | None) -> str:
        """What the user reads: what stopped, and what was kept."""
        what = "terminated (SIGTERM)" if self.received == signal.SIGTERM else "interrupted"
        if command in ("train", "cycle"):
            return (
                f"{what}; finished folds are kept, `relabel {command}` resumes (a run "
                "stopped halfway is marked failed and its partial files removed)"
            )
        return f"{what}; nothing half-done was kept: run the command again to carry on"


#: The handlers of the running command (:func:`relabel.cli.main.main` installs them).
INTERRUPTS = Interrupts()
