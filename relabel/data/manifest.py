"""Reading a dataset: an images folder with one sub-folder per class, or a manifest.

Two sources are supported:

* an images folder with one sub-folder per class (the Keras convention), and
* a manifest, CSV or Parquet, with columns ``path,label`` and an optional ``id``
  (relative paths are resolved against the manifest's folder).

:func:`load_records` reads either. Rows that cannot be records (an empty path, label or
id, a duplicate id) are collected as problems, never raised one at a time, so a user sees
all of them in one go; :mod:`relabel.data.validate` then checks the records themselves.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from relabel.data.images import IMAGE_EXTENSIONS
from relabel.data.records import Record
from relabel.errors import DatasetError, Problem

__all__ = ["load_records", "read_folder", "read_manifest"]

log = logging.getLogger(__name__)


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
        Rows with an empty path or label, or a duplicate id, are problems, not records.
        CSV rows are named by their line number (the header is line 1).
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise DatasetError(f"{manifest}: manifest not found")
    frame, first_line = _read_frame(manifest)
    _check_columns(manifest, frame)
    return _records_of(manifest, frame, first_line)


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


def _check_columns(manifest: Path, frame: pd.DataFrame) -> None:
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
    manifest: Path, frame: pd.DataFrame, first_line: int
) -> tuple[list[Record], list[Problem]]:
    """The manifest's rows as records, and the rows that cannot be records as problems."""
    base = manifest.resolve().parent
    has_id = "id" in frame.columns
    records: list[Record] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    row_word = "line" if manifest.suffix.lower() == ".csv" else "row"
    paths = frame["path"].str.strip()
    ids = frame["id"].str.strip() if has_id else paths
    for offset, (path, label, sid) in enumerate(
        zip(paths, frame["label"].str.strip(), ids, strict=True)
    ):
        where = f"{manifest.name} {row_word} {offset + first_line}"
        if not path:
            problems.append(Problem(where, "empty path", row=offset))
            continue
        resolved = Path(path) if os.path.isabs(path) else base / path
        if not label:
            problems.append(Problem(where, "empty label", path, offset))
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
        records.append(Record(sid, str(resolved.resolve()), label, where, offset))
    return records, problems


def load_records(
    *, images: Path | None = None, manifest: Path | None = None
) -> tuple[list[Record], list[Problem]]:
    """Read records from exactly one of an images folder or a manifest."""
    if (images is None) == (manifest is None):
        raise DatasetError("give exactly one of an images folder or a manifest")
    return read_folder(images) if images is not None else read_manifest(manifest)  # type: ignore[arg-type]
