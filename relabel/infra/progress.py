"""Progress of long work: one type for every step, and bars with ETA on a terminal.

Library functions take ``progress: Progress | None``: a callable receiving one-line
messages (``print``, ``list.append`` or a logger's method all fit). Steps that know how far
they are call :func:`count`; a plain callable then receives the message, and a
:class:`TerminalProgress` (what the CLI passes) also moves a bar per task (each fold's
epochs, the folds, the images checked, the tasks pushed and pulled) with its ETA, on
stderr. Bars are shown on a terminal only, never with ``--json-logs`` or ``-q``;
``RELABEL_PROGRESS=always`` or ``never`` overrides the choice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, Any

#: What every long-running library function accepts: it receives one-line messages.
Progress = Callable[[str], None]


def count(
    progress: Progress | None, task: str, done: int, total: int, message: str | None = None
) -> None:
    """Report that ``done`` of ``total`` units of ``task`` are finished.

    Parameters
    ----------
    progress : Progress, optional
        The receiver; nothing happens when it is None.
    task : str
        What is counted (``"fold 2/5"``, ``"push"``); one bar per task.
    done, total : int
        Units finished and units in all.
    message : str, optional
        A line for logs; receivers without bars get only this (nothing when None).
    """
    if progress is None:
        return
    counter = getattr(progress, "count", None)
    if callable(counter):
        counter(task, done, total, message)
    elif message is not None:
        progress(message)


def bars_wanted(json_logs: bool, quiet: bool, stream: IO[str] | None = None) -> bool:
    """Whether the CLI shows bars: ``RELABEL_PROGRESS``, else a terminal without -q/JSON."""
    forced = os.environ.get("RELABEL_PROGRESS", "").strip().lower()
    if forced in ("always", "never"):
        return forced == "always"
    stream = stream or sys.stderr
    return not json_logs and not quiet and bool(getattr(stream, "isatty", lambda: False)())


class TerminalProgress:
    """Messages to a log function; with ``bars``, one tqdm bar per counted task.

    Parameters
    ----------
    log : callable
        Receives every message (the CLI logs them at INFO).
    bars : bool
        Show bars with ETA (on ``stream``).
    stream : file, optional
        Where bars go (default stderr).
    """

    def __init__(self, log: Progress, *, bars: bool, stream: IO[str] | None = None) -> None:
        self.log = log
        self.bars = bars
        self.stream = stream
        self._open: dict[str, Any] = {}

    def __call__(self, message: str) -> None:
        self.log(message)

    def count(self, task: str, done: int, total: int, message: str | None = None) -> None:
        """Move ``task``'s bar to ``done`` of ``total`` (closed when complete)."""
        if message is not None:
            self.log(message)
        if not self.bars:
            return
        bar = self._open.get(task)
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=task, file=self.stream or sys.stderr, leave=False)
            self._open[task] = bar
        bar.total = total
        bar.n = done
        bar.refresh()  # counts come seconds apart: draw each one
        if done >= total:
            bar.close()
            del self._open[task]

    def close(self) -> None:
        """Close the bars still open (an interrupted step)."""
        for bar in self._open.values():
            bar.close()
        self._open.clear()
