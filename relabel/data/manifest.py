"""Reading a dataset: an images folder with one sub-folder per class, or a manifest.

Two sources are supported:

* an images folder with one sub-folder per class (the Keras convention), and
* a manifest, CSV or Parquet (or a pandas DataFrame, :func:`read_manifest_frame`), with
  columns ``path,label`` and an optional ``id`` (relative paths are resolved against the
  manifest's folder, or the current folder for a DataFrame; a URL such as
  ``s3://bucket/a.jpg`` is kept as it is, :func:`is_url`).

:func:`load_records` reads either. Rows that cannot be records (an empty path or id, a
duplicate id) are collected as problems, never raised one at a time, so a user sees all of
them in one go; :mod:`relabel.data.validate` then checks the records themselves. A row with
an empty label is an unlabelled sample of the pool (:data:`relabel.data.records.UNLABELLED`):
a record whose label is still to be given (``relabel push --type label``).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pandas as pd

from relabel.data.images import IMAGE_EXTENSIONS
from relabel.data.records import Record
from relabel.errors import DatasetError, Problem

__all__ = ["is_url", "load_records", "read_folder", "read_manifest", "read_manifest_frame"]

log = logging.getLogger(__name__)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: str) -> bool:
    """Whether an image path is a URL (``s3://``, ``gs://``, ``https://`` ...), not a file.

    Parameters
    ----------
    path : str
        A manifest's ``path`` cell.

    Returns
    -------
    bool
    """
    return bool(_URL.match(path))


def read_folder(images_dir: Path) -> tuple[list[Record], list[Problem]]:
    """Read an images folder with one sub-folder per class.

    Parameters
    ----------
    images_dir : Path
        The folder. Each sub-folder's name is a class; image files inside it (any depth)
        are its samples. Files directly in the folder and hidden files are ignored.

    Returns
    -------
    records, problems
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    records: list[Record] = []
    problems: list[Problem] = []
    ignored = 0
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if class_dir.name.startswith("."):
            continue
        for file in sorted(class_dir.rglob("*")):
            if not file.is_file() or file.name.startswith("."):
                continue
            if file.suffix.lower() not in IMAGE_EXTENSIONS:
                ignored += 1
                continue
            rel = file.relative_to(root).as_posix()
            records.append(
                Record(rel, str(file.resolve()), class_dir.name, str(file), len(records))
            )
    if ignored:
        log.warning(
            "%s: ignored %d files that are not images (%s)",
            root,
            ignored,
            ", ".join(IMAGE_EXTENSIONS),
        )
    if not records:
        problems.append(Problem(str(root), "no images found in class sub-folders"))
    return records, problems


def read_manifest(manifest: Path) -> tuple[list[Record], list[Problem]]:
    """Read a CSV or Parquet manifest with columns ``path,label`` and optional ``id``.

    Parameters
    ----------
    manifest : Path
        A ``.csv`` or ``.parquet`` file. Relative paths resolve against its folder.

    Returns
    -------
    records, problems
        Rows with an empty path or id, or a duplicate id, are problems, not records; a row
        with an empty label is an unlabelled (pool) record. CSV rows are named by their
        line number (the header is line 1).
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise DatasetError(f"{manifest}: manifest not found")
    frame, first_line = _read_frame(manifest)
    _check_columns(str(manifest), frame)
    row_word = "line" if manifest.suffix.lower() == ".csv" else "row"
    return _records_of(manifest.name, manifest.resolve().parent, frame, first_line, row_word)


def read_manifest_frame(
    frame: pd.DataFrame, *, base: Path | None = None, name: str = "DataFrame"
) -> tuple[list[Record], list[Problem]]:
    """Read a manifest given as a pandas DataFrame (the columns of a manifest file).

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``path,label`` and an optional ``id``; any cell type (read as text).
    base : Path, optional
        The folder relative paths resolve against (default: the current folder).
    name : str
        How messages name the frame (``DataFrame row 3``; rows counted from 0).

    Returns
    -------
    records, problems
    """
    frame = frame.reset_index(drop=True).fillna("").astype(str)
    frame.columns = [str(c) for c in frame.columns]
    _check_columns(name, frame)
    return _records_of(name, Path(base or Path.cwd()).resolve(), frame, 0, "row")


def _read_frame(manifest: Path) -> tuple[pd.DataFrame, int]:
    """The manifest's rows as strings, and the line (CSV) or row number of the first one."""
    suffix = manifest.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(manifest, dtype=str, keep_default_na=False), 2
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(manifest).fillna("").astype(str), 1
        raise DatasetError(f"{manifest}: manifest must be .csv or .parquet")
    except DatasetError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"{manifest}: the manifest is empty (no header, no rows)") from exc
    except Exception as exc:
        raise DatasetError(f"{manifest}: cannot read manifest: {exc}") from exc


def _check_columns(manifest: str, frame: pd.DataFrame) -> None:
    """Refuse a manifest without ``path`` and ``label`` columns, or without rows."""
    missing = [c for c in ("path", "label") if c not in frame.columns]
    if not missing and frame.empty:
        raise DatasetError(f"{manifest}: the manifest has no rows (only its header)")
    if missing:
        raise DatasetError(
            f"{manifest}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, frame.columns))}; need path,label and optional id)"
        )


def _records_of(
    manifest: str, base: Path, frame: pd.DataFrame, first_line: int, row_word: str
) -> tuple[list[Record], list[Problem]]:
    """The manifest's rows as records, and the rows that cannot be records as problems."""
    has_id = "id" in frame.columns
    records: list[Record] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    paths = frame["path"].str.strip()
    ids = frame["id"].str.strip() if has_id else paths
    for offset, (path, label, sid) in enumerate(
        zip(paths, frame["label"].str.strip(), ids, strict=True)
    ):
        where = f"{manifest} {row_word} {offset + first_line}"
        if not path:
            problems.append(Problem(where, "empty path", row=offset))
            continue
        if not sid:
            problems.append(Problem(where, "empty id", path, offset))
            continue
        if not has_id:
            sid = Path(path).as_posix()
        if sid in seen:
            problems.append(
                Problem(where, f"duplicate id {sid!r} (first at {seen[sid]})", path, offset)
            )
            continue
        seen[sid] = where
        records.append(Record(sid, _located(path, base), label, where, offset))
    return records, problems


def _located(path: str, base: Path) -> str:
    """A manifest's path as a record keeps it: a URL as it is, a file path absolute."""
    if is_url(path):
        return path
    return str((Path(path) if os.path.isabs(path) else base / path).resolve())


def load_records(
    *, images: Path | None = None, manifest: Path | None = None
) -> tuple[list[Record], list[Problem]]:
    """Read records from exactly one of an images folder or a manifest."""
    if (images is None) == (manifest is None):
        raise DatasetError("give exactly one of an images folder or a manifest")
    return read_folder(images) if images is not None else read_manifest(manifest)  # type: ignore[arg-type]
