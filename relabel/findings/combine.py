"""Every issue type at once, on arrays alone: :func:`find_issues` and :func:`issue_summary`.

The types computed are those the inputs allow: ``duplicate`` (embeddings and/or content
hashes), ``outlier`` (embeddings), the health types of :data:`HEALTH_TYPES` (image
statistics) and ``label_issue`` (probabilities and labels, scored by
:func:`relabel.ranking.score_samples` exactly as the ranking does: these columns never
change the label-issue ranking, they sit beside it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from relabel.errors import IssueInputError
from relabel.findings.duplicates import DuplicateSets, duplicate_sets, nearest_neighbours
from relabel.findings.health import HEALTH_TYPES, HEALTH_Z, check_statistics, health_issues
from relabel.findings.outliers import (
    OUTLIER_K,
    OUTLIER_Z,
    class_distance,
    outlier_scores,
    pixel_residual,
)
from relabel.findings.pixel_copies import pixel_copies
from relabel.findings.validation import (
    CHUNK_ROWS,
    check_embeddings,
    check_flags,
    check_hashes,
    check_labels,
    normalised,
)

__all__ = ["ISSUE_TYPES", "THUMBNAIL_KEY", "find_issues", "issue_summary"]

#: The key of the thumbnails in ``image_stats`` (:func:`relabel.findings.thumbnails`).
THUMBNAIL_KEY: Final[str] = "thumbnail"

#: Every issue type, in column order.
ISSUE_TYPES: Final[tuple[str, ...]] = ("duplicate", "outlier", *HEALTH_TYPES, "label_issue")

#: ``{type: (score, flag, reason)}`` as the scorers return them.
Found = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def _length(*arrays: object, stats: Mapping[str, npt.ArrayLike] | None) -> int:
    """The number of samples: the length of the first input given."""
    for a in arrays:
        if a is not None:
            shape = np.shape(a)  # type: ignore[arg-type]
            if not shape:
                raise IssueInputError(f"expected an array per sample, got {a!r}")
            return int(shape[0])
    if stats is not None and "brightness" in stats:
        return len(np.asarray(stats["brightness"]))
    raise IssueInputError("find_issues needs embeddings, probs, hashes or image_stats")


def _thumbnails(stats: Mapping[str, npt.ArrayLike] | None, n: int) -> np.ndarray | None:
    """The ``thumbnail`` of the image statistics when they carry them (None otherwise)."""
    if stats is None or THUMBNAIL_KEY not in stats:
        return None
    t = np.asarray(stats[THUMBNAIL_KEY])
    if t.ndim != 3 or len(t) != n:
        raise IssueInputError(
            f"image_stats[{THUMBNAIL_KEY!r}] must have shape ({n}, side, side), got {t.shape}"
        )
    return t


def _duplicate_columns(d: DuplicateSets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score (1 = exact copy, 0.5 = at the threshold), flag and reason of the duplicates."""
    t = d.threshold
    if np.isfinite(t) and t > 0:
        score = np.clip(1 - np.nan_to_num(d.nearest, nan=2 * t) / (2 * t), 0, 1)
    else:
        score = np.zeros(len(d.set_id))
    score = np.where(d.exact, 1.0, np.where(d.set_id >= 0, np.maximum(score, 0.5), score))
    flag = d.set_id >= 0
    size = np.bincount(d.set_id[flag], minlength=1)
    reason = np.full(len(flag), "", dtype=object)
    for i in np.flatnonzero(flag):
        s = int(d.set_id[i])
        kind = "exact copy" if d.exact[i] else f"near copy (distance {d.nearest[i]:.3f})"
        text = f"{kind} in duplicate set {s} of {int(size[s])}"
        text += "; labels conflict" if d.conflicting[i] else ""
        text += "; crosses the holdout split" if d.crosses_holdout[i] else ""
        reason[i] = text
    return score.astype(np.float64), flag, reason


def _outlier_columns(
    distances: np.ndarray,
    labels: np.ndarray | None,
    z: float,
    residual: np.ndarray | None,
    centre: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o = outlier_scores(distances, labels, z, residual=residual, centre_distance=centre)
    reason = np.full(len(o.flag), "", dtype=object)
    for i in np.flatnonzero(o.flag):
        within = f" within class {labels[i]}" if labels is not None else ""
        reason[i] = (
            f"outlier (class-centre distance {centre[i]:.1f}, neighbour distance "
            f"{o.distance[i]:.3f}, z {o.score[i]:.1f}{within})"
        )
    return o.score, o.flag, reason


def _label_columns(labels: np.ndarray, probs: npt.ArrayLike) -> tuple[np.ndarray, ...]:
    from relabel.ranking import score_samples

    s = score_samples(labels, probs)
    flag = np.asarray(s.lane == "label_issue")
    reason = np.full(len(flag), "", dtype=object)
    for i in np.flatnonzero(flag):
        reason[i] = f"label issue (given {s.given[i]}, predicted {s.predicted[i]})"
    return np.asarray(s.suspicion, np.float64), flag, reason


def _embedding_types(
    embeddings: npt.ArrayLike,
    labels: np.ndarray | None,
    hashes: np.ndarray | None,
    holdout: np.ndarray | None,
    thumbs: np.ndarray | None,
    options: dict[str, float | int | None],
) -> tuple[Found, DuplicateSets]:
    """Near duplicates and outliers from one nearest-neighbour search (and the thumbnails'
    pixel-space copies and residuals, when there are thumbnails)."""
    chunk = int(options["chunk"] or CHUNK_ROWS)
    e = check_embeddings(embeddings, chunk)
    k = max(1, min(int(options["outlier_k"] or OUTLIER_K), e.shape[0] - 1))
    unit = normalised(e, chunk)
    dist, idx = nearest_neighbours(unit, k, chunk)
    pairs, residual = None, None
    if thumbs is not None:
        pixel = pixel_copies(thumbs, unit, idx, chunk=chunk)
        pairs = (pixel.a[pixel.near], pixel.b[pixel.near])
        residual = pixel_residual(thumbs, chunk=chunk)
    d = duplicate_sets(
        e,
        hashes=hashes,
        labels=labels,
        holdout=holdout,
        threshold=options["duplicate_threshold"],
        nearest=dist[:, 0],
        chunk=chunk,
        pairs=pairs,
        # with thumbnails, embedding evidence counts through the pixel rule's joint part,
        # unless a calibrated threshold was given
        radius=thumbs is None or options["duplicate_threshold"] is not None,
    )
    z = float(options["outlier_z"] or OUTLIER_Z)
    found = {
        "duplicate": _duplicate_columns(d),
        "outlier": _outlier_columns(
            dist, labels, z, residual, class_distance(unit, labels, chunk=chunk)
        ),
    }
    return found, d


def _frame(found: Found, d: DuplicateSets | None, n: int) -> pd.DataFrame:
    """One row per sample: score and flag per type, the duplicate set, types and reasons."""
    columns: dict[str, np.ndarray] = {}
    types = np.full(n, "", dtype=object)
    reasons = np.full(n, "", dtype=object)
    for t in ISSUE_TYPES:
        if t not in found:
            continue
        score, flag, reason = found[t]
        columns[f"{t}_score"], columns[f"{t}_flag"] = score, np.asarray(flag, bool)
        types = types + np.where(flag, t + ",", "")
        reasons = reasons + np.where(flag, reason + "; ", "")
    if d is not None:
        columns["duplicate_set"] = d.set_id
        columns["duplicate_conflict"] = d.conflicting
        columns["duplicate_crosses_holdout"] = d.crosses_holdout
    columns["issue_types"] = np.array([s.rstrip(",") for s in types], dtype=object)
    columns["reasons"] = np.array([s.removesuffix("; ") for s in reasons], dtype=object)
    return pd.DataFrame(columns)


def find_issues(
    embeddings: npt.ArrayLike | None = None,
    probs: npt.ArrayLike | None = None,
    labels: npt.ArrayLike | None = None,
    *,
    hashes: npt.ArrayLike | None = None,
    holdout: npt.ArrayLike | None = None,
    image_stats: Mapping[str, npt.ArrayLike] | None = None,
    duplicate_threshold: float | None = None,
    outlier_k: int = OUTLIER_K,
    outlier_z: float = OUTLIER_Z,
    health_z: float = HEALTH_Z,
    chunk: int = CHUNK_ROWS,
) -> pd.DataFrame:
    """Find dataset issues beyond wrong labels, on arrays alone (no project, no files).

    Parameters
    ----------
    embeddings : array_like, shape (n, d), optional
        One vector per sample (out-of-fold embeddings; a float16 memmap is fine). Enables
        ``duplicate`` (near copies) and ``outlier``.
    probs : array_like, shape (n, k), optional
        Out-of-fold probabilities; with integer ``labels`` adds ``label_issue`` (the
        suspicion and lane of :func:`relabel.ranking.score_samples`).
    labels : array_like, shape (n,), optional
        Given labels: marks conflicting duplicate sets and calibrates outliers per class.
    hashes : array_like, shape (n,), optional
        Content hashes (sha256 of file bytes, or of decoded pixels): exact copies. Default:
        ``image_stats["content_hash"]`` when image statistics are given.
    holdout : array_like of bool, shape (n,), optional
        Which samples are on the holdout side, to mark sets that cross the split.
    image_stats : mapping, optional
        :func:`relabel.findings.image_statistics` of every sample (concatenated): enables
        the health types. With a ``thumbnail`` key (:func:`relabel.findings.thumbnails`,
        ``(n, side, side)`` uint8, as a run's ``image_stats.npz`` keeps them), near copies
        are also looked for in pixel space (:mod:`relabel.findings.pixel_copies`) and the
        outlier score adds how badly a thumbnail fits the dataset's principal components
        (:func:`relabel.findings.outliers.pixel_residual`).
    duplicate_threshold : float, optional
        Near-copy distance (:func:`relabel.findings.calibrate_duplicate_threshold`);
        default :func:`relabel.findings.duplicates.fallback_threshold`.
    outlier_k, outlier_z : int, float
        Neighbours of the outlier distance, and the robust z-score that flags it.
    health_z : float
        Robust z-score beyond which an image statistic is unusual for the dataset.
    chunk : int
        Rows searched at a time (memory stays ``chunk x n`` at most, never ``n x n``).

    Returns
    -------
    pandas.DataFrame
        One row per sample, in input order: ``<type>_score`` (higher is worse) and
        ``<type>_flag`` for each type computed (in :data:`ISSUE_TYPES` order);
        ``duplicate_set`` (-1 for none), ``duplicate_conflict`` and
        ``duplicate_crosses_holdout`` when duplicates were looked for; ``issue_types``
        (the flagged types, comma-separated) and ``reasons``.

    Raises
    ------
    relabel.errors.IssueInputError
        An input has the wrong shape or length, or holds NaN (the argument and row are
        named); ``relabel.errors.ScoringInputError`` for ``probs`` that do not fit.
    """
    n = _length(embeddings, probs, labels, hashes, holdout, stats=image_stats)
    y = check_labels(labels, n)
    h = check_hashes(hashes, n)
    split = check_flags(holdout, n, "holdout")
    stats = None if image_stats is None else check_statistics(image_stats, n)
    if h is None and stats is not None:
        h = stats["content_hash"]
    thumbs = _thumbnails(image_stats, n)
    found: Found = {}
    d = None
    options = {
        "chunk": chunk,
        "outlier_k": outlier_k,
        "outlier_z": outlier_z,
        "duplicate_threshold": duplicate_threshold,
    }
    if embeddings is not None:
        if np.shape(embeddings)[0] != n:  # type: ignore[arg-type]
            raise IssueInputError(f"embeddings must have {n} rows, got {np.shape(embeddings)}")
        more, d = _embedding_types(embeddings, y, h, split, thumbs, options)
        found.update(more)
    elif h is not None:
        pairs = None
        if thumbs is not None:
            pixel = pixel_copies(thumbs, chunk=chunk)
            pairs = (pixel.a[pixel.near], pixel.b[pixel.near])
        d = duplicate_sets(hashes=h, labels=y, holdout=split, pairs=pairs)
        found["duplicate"] = _duplicate_columns(d)
    if stats is not None:
        found.update(health_issues(stats, health_z))
    if probs is not None:
        if y is None:
            raise IssueInputError("probs need labels (the given class of each sample)")
        found["label_issue"] = _label_columns(y, probs)
    return _frame(found, d, n)


def issue_summary(df: pd.DataFrame) -> pd.Series:
    """How many samples each issue type flagged, and how many duplicate sets there are.

    Parameters
    ----------
    df : pandas.DataFrame
        :func:`find_issues` output (or ``Project.issues()``).

    Returns
    -------
    pandas.Series of int
        One entry per type computed (flagged samples), then ``duplicate_sets``,
        ``conflicting_sets`` and ``sets_crossing_holdout`` when duplicates were looked for.
    """
    counts = {t: int(df[f"{t}_flag"].sum()) for t in ISSUE_TYPES if f"{t}_flag" in df.columns}
    if "duplicate_set" in df.columns:
        members = df[df["duplicate_set"] >= 0]
        by_set = members.groupby("duplicate_set")
        counts["duplicate_sets"] = int(by_set.ngroups)
        counts["conflicting_sets"] = int(by_set["duplicate_conflict"].any().sum())
        counts["sets_crossing_holdout"] = int(by_set["duplicate_crosses_holdout"].any().sum())
    return pd.Series(counts, name="count", dtype="int64")
