"""Atomic file writes: written aside, flushed to disk, then renamed over the destination.

A reader never sees a half-written file: it sees the old file or the new one. A write that
fails (disk full, a killed process, an exception in the writer) leaves the destination as
it was and removes its partial file; a crash can leave only a hidden ``.NAME.partial``
file beside it, which the next write replaces.

The partial file keeps the destination's suffix, so writers that insist on one (Keras'
``.keras``, numpy's ``.npz``) accept it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "fsync_dir", "partial_path", "write_bytes", "write_text"]


def partial_path(dest: Path) -> Path:
    """The hidden file beside ``dest`` that an atomic write fills first."""
    dest = Path(dest)
    return dest.with_name(f".{dest.stem}.partial{dest.suffix}")


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename inside it) to disk, where the system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename itself is still atomic
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    if path.is_dir():
        for child in path.rglob("*"):
            if child.is_file():
                _fsync_file(child)
        fsync_dir(path)
        return
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a partial path to write; on success it replaces ``dest`` durably.

    Parameters
    ----------
    dest : Path
        The file to (re)write. Its folder must exist.

    Yields
    ------
    Path
        Where to write (``.NAME.partial.SUFFIX`` beside ``dest``). When the block ends
        without an exception, the file is fsynced, renamed over ``dest`` and the folder
        fsynced; otherwise the partial file is removed and ``dest`` is unchanged.
    """
    dest = Path(dest)
    partial = partial_path(dest)
    try:
        yield partial
        _fsync_file(partial)
        os.replace(partial, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)


def write_bytes(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically (see :func:`atomic_path`)."""
    with atomic_path(dest) as partial:
        partial.write_bytes(data)


def write_text(dest: Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``dest`` atomically (see :func:`atomic_path`)."""
    with atomic_path(dest) as partial:
        partial.write_text(text, encoding=encoding)
