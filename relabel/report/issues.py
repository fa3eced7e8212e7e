"""What the issue sections show, picked from the issues table: the flagged samples of a
type with the highest scores, duplicate sets in order of concern, the marks of the map.

Pure pandas and numpy over :attr:`relabel.report.ReportInputs.issues` (the columns of
:func:`relabel.findings.find_issues`); nothing here draws or writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from relabel.findings import HEALTH_TYPES

#: Types marked on the embedding map: (type, legend text); ``unhealthy`` is any health type.
MAP_MARKS: tuple[tuple[str, str], ...] = (
    ("duplicate", "duplicate"),
    ("outlier", "outlier"),
    ("unhealthy", "unhealthy image"),
    ("label_issue", "label issue"),
)


@dataclass(frozen=True)
class DuplicateGroup:
    """One duplicate set as the report shows it.

    Attributes
    ----------
    set_id : int
        ``duplicate_set`` of its members, or -1 for a training image whose only copy is a
        held-out image (a group of one).
    members : numpy.ndarray
        Sample indices, highest duplicate score first.
    conflict : bool
        Its members carry different given labels.
    crosses_holdout : bool
        It has a copy on the other side of the holdout split.
    score : float
        The highest duplicate score of its members.
    """

    set_id: int
    members: np.ndarray
    conflict: bool
    crosses_holdout: bool
    score: float


def has_type(table: pd.DataFrame | None, kind: str) -> bool:
    """Whether an issue type was computed.

    Parameters
    ----------
    table : pandas.DataFrame or None
        The issues table.
    kind : str
        An issue type (:data:`relabel.findings.ISSUE_TYPES`).

    Returns
    -------
    bool
        True when the table has its flag column.
    """
    return table is not None and f"{kind}_flag" in table.columns


def top_flagged(table: pd.DataFrame, kind: str, limit: int) -> tuple[np.ndarray, int]:
    """The flagged samples of one type with the highest scores.

    Parameters
    ----------
    table : pandas.DataFrame
        The issues table, with ``<kind>_flag`` and ``<kind>_score``.
    kind : str
        The issue type.
    limit : int
        At most this many.

    Returns
    -------
    indices : numpy.ndarray
        Sample indices, highest score first (ties in sample order).
    total : int
        How many samples the type flagged.
    """
    flagged = np.flatnonzero(table[f"{kind}_flag"].to_numpy(dtype=bool))
    score = table[f"{kind}_score"].to_numpy(dtype=np.float64)[flagged]
    order = np.lexsort((flagged, -np.nan_to_num(score, nan=-np.inf)))
    return flagged[order][:limit], int(flagged.size)


def _group(table: pd.DataFrame, set_id: int, members: np.ndarray) -> DuplicateGroup:
    score = table["duplicate_score"].to_numpy(dtype=np.float64)[members]
    order = np.lexsort((members, -score))
    return DuplicateGroup(
        set_id=set_id,
        members=members[order],
        conflict=bool(table["duplicate_conflict"].to_numpy(dtype=bool)[members].any()),
        crosses_holdout=bool(
            table["duplicate_crosses_holdout"].to_numpy(dtype=bool)[members].any()
        ),
        score=float(score.max()),
    )


def duplicate_groups(table: pd.DataFrame) -> list[DuplicateGroup]:
    """Every duplicate set, in order of concern.

    Sets that cross the holdout split or carry conflicting labels come first, then the
    highest duplicate score, then the set number. A training image flagged as a copy of
    a held-out image but in no set of its own (``duplicate_set`` -1) is a group of one.

    Parameters
    ----------
    table : pandas.DataFrame
        The issues table, with the duplicate columns.

    Returns
    -------
    list of DuplicateGroup
        The sets, most worrying first.
    """
    flag = table["duplicate_flag"].to_numpy(dtype=bool)
    set_id = table["duplicate_set"].to_numpy(dtype=np.int64)
    groups = [
        _group(table, int(s), np.flatnonzero(set_id == s))
        for s in np.unique(set_id[flag & (set_id >= 0)])
    ]
    groups += [_group(table, -1, np.array([i])) for i in np.flatnonzero(flag & (set_id < 0))]
    return sorted(
        groups,
        key=lambda g: (
            not (g.crosses_holdout or g.conflict),
            -g.score,
            g.set_id < 0,
            g.set_id,
            int(g.members[0]),
        ),
    )


def unhealthy(table: pd.DataFrame) -> np.ndarray:
    """Which samples any health type flagged.

    Parameters
    ----------
    table : pandas.DataFrame
        The issues table.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` bool; all False when no health type was computed.
    """
    out = np.zeros(len(table), dtype=bool)
    for kind in HEALTH_TYPES:
        if has_type(table, kind):
            out |= table[f"{kind}_flag"].to_numpy(dtype=bool)
    return out


def map_marks(table: pd.DataFrame | None, n: int) -> list[tuple[str, np.ndarray]]:
    """The issue types to mark on the embedding map, with the samples each flagged.

    Parameters
    ----------
    table : pandas.DataFrame or None
        The issues table.
    n : int
        Samples in the report.

    Returns
    -------
    list of (str, numpy.ndarray)
        ``(legend text, (n,) bool)`` for each type of :data:`MAP_MARKS` that was computed.
    """
    if table is None:
        return []
    marks = []
    for kind, text in MAP_MARKS:
        if kind == "unhealthy":
            if any(has_type(table, h) for h in HEALTH_TYPES):
                marks.append((text, unhealthy(table)))
        elif has_type(table, kind):
            marks.append((text, table[f"{kind}_flag"].to_numpy(dtype=bool)))
    return [(text, np.asarray(mask, dtype=bool).reshape(n)) for text, mask in marks]
