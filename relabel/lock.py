"""The project lock: one relabel process at a time writes to a project.

Every command that writes to a project (``init``, ``train``, ``push``, ``pull``,
``review-simulate``, ``cycle``, ``studio bind``, ``demo``) holds ``PROJECT/.lock`` while it
runs; a second one exits at once with code 5 (:class:`relabel.errors.ProjectLockedError`).
Read-only commands (``status``, ``score``, ``export``, ``history``, ``report``) take no
lock. The lock is an advisory ``flock`` on the file, released by the kernel when its
holder exits, even after ``kill -9``. While held, the file names the holder; it is emptied
again on release, so a project at rest always has the same, empty, lock file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from relabel.errors import ProjectLockedError

LOCK_FILE = ".lock"


@contextmanager
def project_lock(root: Path, command: str = "relabel") -> Iterator[None]:
    """Hold the project's lock; raise at once if another process holds it.

    Parameters
    ----------
    root : Path
        The project folder (it must exist).
    command : str
        What the holder runs, shown to a process that finds the lock held.

    Raises
    ------
    ProjectLockedError
        Another relabel process holds the lock.
    """
    path = Path(root) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "pid ?"
            raise ProjectLockedError(
                f"{root}: another relabel process ({holder}) is working on this project; "
                "try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {command}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def create_lock_file(root: Path) -> Path:
    """Create the project's (empty) lock file, so that locking never adds a file later."""
    path = Path(root) / LOCK_FILE
    path.touch(exist_ok=True)
    return path
