"""Ids and labels a person may not have meant: said at init, never changed silently.

Reading a manifest trims the spaces around each id and label (``"  spaced id  "`` is the
sample ``spaced id``, and ``" cat"`` the class ``cat``), and two labels that differ only by
case (``Cat`` and ``cat``) are two classes. Both are what most manifests mean, so neither
is refused; but the user is told, row by row, before the project is written, so that an
export's ids and classes never differ from the manifest's without a word.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

#: At most this many rows are named per kind of warning (then a count).
SHOWN = 5


def _raw_columns(manifest: Path) -> tuple[pd.DataFrame, int]:
    """The manifest's cells as written (not trimmed), and the line of its first row."""
    if manifest.suffix.lower() == ".csv":
        return pd.read_csv(manifest, dtype=str, keep_default_na=False), 2
    return pd.read_parquet(manifest).fillna("").astype(str), 1


def _listed(items: list[str]) -> str:
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def spaced_cells(manifest: Path | pd.DataFrame) -> list[str]:
    """One warning per column (``id``, ``label``) with cells that have surrounding spaces.

    Parameters
    ----------
    manifest : Path or pandas.DataFrame
        A CSV or Parquet manifest that has been read without error, or a DataFrame
        manifest (named ``DataFrame``, rows counted from 0).

    Returns
    -------
    list of str
    """
    if isinstance(manifest, pd.DataFrame):
        frame, first, row, name = manifest.fillna("").astype(str), 0, "row", "DataFrame"
    else:
        frame, first = _raw_columns(manifest)
        row = "line" if manifest.suffix.lower() == ".csv" else "row"
        name = manifest.name
    out = []
    for column, what in (("id", "id"), ("label", "label")):
        if column not in frame.columns:
            continue
        cells = [
            f"{row} {i + first} {value!r} is read as {value.strip()!r}"
            for i, value in enumerate(frame[column])
            if value.strip() and value != value.strip()
        ]
        if cells:
            out.append(
                f"{name}: {len(cells)} {what}(s) with spaces around them, trimmed: "
                f"{_listed(cells)}" + ("; export writes the trimmed ids" if what == "id" else "")
            )
    return out


def case_twins(labels: Iterable[str]) -> list[str]:
    """One warning per group of labels that differ only by case (``Cat``, ``cat``)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for label in labels:
        groups[str(label).casefold()].add(str(label))
    return [
        f"labels {', '.join(repr(x) for x in sorted(group))} differ only by case: they are "
        f"{len(group)} classes (if they are one, make them the same in the manifest)"
        for group in groups.values()
        if len(group) > 1
    ]
