"""Validating a dataset's records: every row, then the dataset as a whole.

:func:`validate_records` checks every row (unknown label, missing file, unreadable, corrupt
or too large image) and the dataset as a whole (fewer than 2 classes, a class with too few
samples for the folds). Row problems are collected, never raised one at a time, so a user
sees all of them in one go; :func:`write_problems` writes them as CSV.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from relabel.data.images import DEFAULT_MAX_PIXELS, check_image_files
from relabel.data.records import Record, Validated
from relabel.errors import DatasetError, Problem

__all__ = ["validate_records", "write_problems"]


def validate_records(
    records: list[Record],
    *,
    folds: int,
    classes: list[str] | None = None,
    check_images: bool = True,
    threads: int = 8,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Validated:
    """Validate every record and the dataset as a whole.

    Parameters
    ----------
    records : list of Record
        As read by :func:`relabel.data.manifest.read_folder` or
        :func:`relabel.data.manifest.read_manifest`.
    folds : int
        Cross-validation folds: each class needs at least this many samples.
    classes : list of str, optional
        The declared class list; a label outside it is a problem. Default: the sorted
        set of labels found.
    check_images : bool
        Open and fully decode every image (catches truncated and corrupt files).
    threads : int
        Threads used to check images.
    max_pixels : int
        An image of more pixels is an invalid row (``dataset.max_pixels``).

    Returns
    -------
    Validated
        Valid records and row-level problems.

    Raises
    ------
    DatasetError
        Dataset-level problems no row can be skipped past: every row unlabelled, fewer
        than 2 classes, a class with fewer labelled samples than folds. Unlabelled records
        (the pool) are kept and checked as images; they count for no class.
    """
    declared = list(classes) if classes else None
    kept, problems = _known_labels(records, declared)
    if check_images and kept:
        kept, bad_images = _readable_images(kept, max_pixels, threads)
        problems += bad_images
    final_classes = declared or sorted({r.label for r in kept if r.labelled})
    if kept and not any(r.labelled for r in kept):
        raise DatasetError(
            "the dataset cannot be used: every row is unlabelled (an empty label is a "
            "sample of the unlabelled pool), so there is nothing to train on",
            problems,
        )
    labelled = [r for r in kept if r.labelled]
    dataset_problems = _dataset_problems(labelled, final_classes, folds)
    if dataset_problems:
        raise DatasetError("the dataset cannot be used:", dataset_problems + problems)
    return Validated(kept, final_classes, problems)


def _known_labels(
    records: list[Record], declared: list[str] | None
) -> tuple[list[Record], list[Problem]]:
    """The records whose label is declared (all without a declared list), and the others."""
    kept: list[Record] = []
    problems: list[Problem] = []
    for rec in records:
        if declared is not None and rec.labelled and rec.label not in declared:
            problems.append(Problem(rec.where, f"unknown label {rec.label!r}", rec.path, rec.row))
        else:
            kept.append(rec)
    return kept, problems


def _readable_images(
    records: list[Record], max_pixels: int, threads: int
) -> tuple[list[Record], list[Problem]]:
    """The records whose image can be trained on, and a problem for each of the others."""
    reasons = check_image_files([r.path for r in records], max_pixels=max_pixels, threads=threads)
    bad = {i: why for i, why in enumerate(reasons) if why}
    problems = [
        Problem(records[i].where, f"{why}: {records[i].path}", records[i].path, records[i].row)
        for i, why in bad.items()
    ]
    return [r for i, r in enumerate(records) if i not in bad], problems


def _dataset_problems(records: list[Record], classes: list[str], folds: int) -> list[Problem]:
    """Fewer than 2 classes with samples, or a class with fewer samples than folds."""
    counts = Counter(r.label for r in records)
    problems: list[Problem] = []
    present = [c for c in classes if counts[c] > 0]
    if len(present) < 2:
        problems.append(
            Problem(
                "dataset",
                f"needs at least 2 classes with samples, found {len(present)}: {present!r}",
            )
        )
    for c in classes:
        if counts[c] < folds:
            problems.append(
                Problem(
                    "dataset",
                    f"class {c!r} has {counts[c]} valid sample(s), fewer than "
                    f"the {folds} cross-validation folds need",
                )
            )
    return problems


def write_problems(problems: list[Problem], path: Path) -> Path:
    """Write problems as CSV (``where,path,problem``) to ``path``; return it."""
    frame = pd.DataFrame(
        {
            "where": [p.where for p in problems],
            "path": [p.path or "" for p in problems],
            "problem": [p.message for p in problems],
        }
    )
    frame.to_csv(path, index=False)
    return path
