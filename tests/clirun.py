"""Run the ``relabel`` command in this process, as a child process would run it.

For tests that do not need a separate process (no kill -9, no signal, no real exit): the
same argv, environment, exit code, stdout and stderr as ``python -m relabel.cli``, without
starting Python and importing relabel (and TensorFlow) again for each command. Run with
click's ``CliRunner``; what a command changes in the process is undone after it:

* ``env`` is the WHOLE environment the command sees (as for ``subprocess.run``): applied
  to ``os.environ`` for the run (names missing from it are removed) and restored after
  (with whatever the command set); a failpoint (``RELABEL_FAILPOINT``) is refused: it
  would kill this process;
* the logging set-up (``relabel.cli`` puts its stderr handler on the root logger, sets
  logger levels and captures Python warnings) is restored after each run, so no handler
  pointing at a closed stream leaks into later tests and ``caplog`` keeps working;
* ``cwd`` is entered for the run and left after it;
* an exception that escapes the command is printed to stderr with its traceback and exit
  code 1, as Python would; the project lock is released by the command itself on the way
  out (a held lock would show as exit code 5 in the next run).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from relabel.cli import main

#: Loggers ``relabel.cli`` configures (made before the snapshot so their levels come back).
_CONFIGURED = (
    "relabel",
    "relabel.studio.http",
    "py.warnings",
    "httpx",
    "httpcore",
    "urllib3",
    "absl",
    "tensorflow",
    "h5py",
)


@dataclass
class Ran:
    """What a ``relabel`` run returned (the fields of ``subprocess.CompletedProcess``)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    """Restore the root logger's handlers and level, every logger's level, propagation
    and handlers, and the capture of Python warnings, as they were before the block."""
    root = logging.getLogger()
    for name in _CONFIGURED:
        logging.getLogger(name)
    loggers = {
        name: (logger.level, logger.propagate, list(logger.handlers))
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    handlers, level = list(root.handlers), root.level
    capturing = logging._warnings_showwarning is not None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        logging.captureWarnings(capturing)
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, (lvl, propagate, own) in loggers.items():
            logger = logging.getLogger(name)
            logger.setLevel(lvl)
            logger.propagate = propagate
            logger.handlers[:] = own


def relabel_in_process(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
) -> Ran:
    """Run ``relabel ARGV`` here; ``env``: the whole environment (default: this one)."""
    overrides: dict[str, str | None] = {}
    if env is not None:
        overrides = {name: None for name in os.environ if name not in env}
        overrides.update(env)
    if (env if env is not None else os.environ).get("RELABEL_FAILPOINT"):
        raise AssertionError("a failpoint kills its process: use relabel_subprocess")
    saved = dict(os.environ)  # a command may set variables (the demo sets the URL's)
    try:
        with logging_restored(), contextlib.chdir(cwd or Path.cwd()):
            result = CliRunner().invoke(
                main, list(argv), env=overrides, catch_exceptions=True, prog_name="relabel"
            )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(list(argv), result.exit_code, result.stdout, stderr)


def relabel_subprocess(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m relabel.cli ARGV`` as a child process (for kill -9 and exit tests)."""
    return subprocess.run(
        [sys.executable, "-m", "relabel.cli", *argv],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
