"""Dataset issues beyond wrong labels: duplicates, leaks, outliers and unhealthy images.

Pure functions over arrays (numpy, scikit-learn and pandas; no I/O), each issue type with
a score (higher is worse), a flag and a short reason per sample:

* :mod:`~relabel.findings.duplicates`: exact copies by content hash and near copies by
  embedding distance (a threshold calibrated on augmented copies, or a documented
  fallback), joined into sets with conflicting labels and holdout leaks marked;
* :mod:`~relabel.findings.pixel_copies`: near copies in pixel space (grey thumbnails,
  a shift-tolerant distance), for copies within the data and across the holdout split;
* :mod:`~relabel.findings.outliers`: far from the nearest neighbours (and, with
  thumbnails, unlike the dataset's principal thumbnail components), judged per class;
* :mod:`~relabel.findings.health`: per-image statistics computed while decoding
  (:func:`image_statistics`) and the health types scored from them;
* :mod:`~relabel.findings.combine`: :func:`find_issues` (every type the inputs allow, one
  row per sample) and :func:`issue_summary`.

Bad input raises :class:`relabel.errors.IssueInputError`, naming the argument and row.
"""

from relabel.findings.combine import ISSUE_TYPES, find_issues, issue_summary
from relabel.findings.duplicates import (
    DuplicateSets,
    calibrate_duplicate_threshold,
    duplicate_sets,
    fallback_threshold,
    nearest_neighbours,
)
from relabel.findings.health import HEALTH_TYPES, STAT_NAMES, health_issues, image_statistics
from relabel.findings.outliers import (
    Outliers,
    class_distance,
    outlier_scores,
    pixel_residual,
    robust_z,
)
from relabel.findings.pixel_copies import (
    PixelPairs,
    holdout_copies,
    pixel_copies,
    shift_features,
    shifted_distance,
)
from relabel.findings.thumbnails import THUMB_SIDE, thumbnail_features, thumbnails

__all__ = [
    "HEALTH_TYPES",
    "ISSUE_TYPES",
    "STAT_NAMES",
    "THUMB_SIDE",
    "DuplicateSets",
    "Outliers",
    "PixelPairs",
    "calibrate_duplicate_threshold",
    "class_distance",
    "duplicate_sets",
    "fallback_threshold",
    "find_issues",
    "health_issues",
    "holdout_copies",
    "image_statistics",
    "issue_summary",
    "nearest_neighbours",
    "outlier_scores",
    "pixel_copies",
    "pixel_residual",
    "robust_z",
    "shift_features",
    "shifted_distance",
    "thumbnail_features",
    "thumbnails",
]
