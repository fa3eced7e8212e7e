"""The project lock: one relabel process at a time writes to a project.

Every command that writes to a project (``init``, ``train``, ``push``, ``pull``,
``review-simulate``, ``cycle``, ``studio bind``, ``demo``) holds ``PROJECT/.lock`` while it
runs; a second one exits at once with code 5 (:class:`relabel.errors.ProjectLockedError`).
Read-only commands (``status``, ``score``, ``export``, ``history``, ``report``) take no
lock. The lock is a :class:`filelock.FileLock` (``flock`` on POSIX, ``LockFileEx`` on
Windows), released by the operating system when its holder exits, even after ``kill -9``.
While held, the file names the holder (pid and command); it is emptied again on release
and never removed, so a project at rest always has the same, empty, lock file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import FileLock, Timeout

from relabel.errors import ProjectLockedError

LOCK_FILE = ".lock"


def _holder(path: Path) -> str:
    """What the holder wrote into the lock file (``"pid ?"`` when it cannot be read)."""
    try:
        text = path.read_bytes()[:200].decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "pid ?"


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
    held: list[int] = []

    def name_the_holder(fd: int) -> None:
        # filelock lends the locked descriptor: write who holds the lock into the file.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {command}".encode(), 0)
        held.append(fd)

    lock = FileLock(
        path,
        timeout=0,
        thread_local=False,
        preserve_lock_file=True,
        on_acquired=name_the_holder,
    )
    try:
        lock.acquire()
    except Timeout:
        raise ProjectLockedError(
            f"{root}: another relabel process ({_holder(path)}) is working on this project; "
            "try again when it has finished"
        ) from None
    try:
        yield
    finally:
        with suppress(OSError):
            os.ftruncate(held[-1], 0)
        lock.release(force=True)


def create_lock_file(root: Path) -> Path:
    """Create the project's (empty) lock file, so that locking never adds a file later."""
    path = Path(root) / LOCK_FILE
    path.touch(exist_ok=True)
    return path
