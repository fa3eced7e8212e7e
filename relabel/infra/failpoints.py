"""Failpoints: named places where a test can make the process die (``kill -9``), and work a
test can refuse (:func:`refuse`).

Set ``RELABEL_FAILPOINT=<name>`` (optionally ``<name>:<n>`` to die on the n-th hit) and the
process sends itself SIGKILL when it reaches that place. Used by the fault tests to prove
that a crash at the worst moment never repeats a push or applies a review twice. Unset in
normal use, where :func:`hit` costs one dictionary look-up.

With ``RELABEL_FAILPOINT_ONCE=<file>`` as well, the place kills only the first process that
reaches it: that process creates the file first, and every later one (a retry of the same
work in a new process, such as a Ray task re-run on a new worker) finds it and goes on.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def hit(name: str) -> None:
    """Die here if ``RELABEL_FAILPOINT`` names this place (and its hit count is reached)."""
    spec = os.environ.get("RELABEL_FAILPOINT")
    if not spec:
        return
    target, _, count = spec.rpartition(":")
    if not count.isdigit():
        target, count = spec, "1"
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] < int(count or 1):
        return
    once = os.environ.get("RELABEL_FAILPOINT_ONCE")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)


#: The environment variable listing refused work (comma-separated names).
REFUSE_ENV = "RELABEL_REFUSE"


class RefusedError(RuntimeError):
    """Work that ``RELABEL_REFUSE`` forbids in this process was attempted."""


def refuse(name: str) -> None:
    """Raise :class:`RefusedError` if ``RELABEL_REFUSE`` lists ``name``.

    The test suite sets ``RELABEL_REFUSE=training`` for tests that must not train, and
    child processes inherit it: a CLI child or a Ray worker that reaches Keras' ``fit``
    fails as loudly as the test process would. Unset in normal use.
    """
    listed = os.environ.get(REFUSE_ENV, "")
    if name in listed.split(","):
        raise RefusedError(
            f"{name} is refused in this process ({REFUSE_ENV}={listed}): a test that "
            "trains must ask for the `trains` fixture"
        )
