"""Does a new batch of images look like the data already labelled?

Two checks, both cheap and model-free:

* prior shift: a chi-square test of the class proportions, old vs new;
* covariate shift: a logistic regression on small grey pixel thumbnails tries to tell
  old images from new ones; its cross-validated ROC AUC is about 0.5 when it cannot.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy.stats import chi2_contingency
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from relabel.errors import DatasetError, Problem
from relabel.report.data import ReportInputError, ShiftResult
from relabel.report.thumbnails import to_rgb

logger = logging.getLogger(__name__)

#: Most samples per side the covariate classifier sees (a seeded subsample beyond).
MAX_PER_SIDE = 2000


def pixel_features(paths: Sequence[str | Path], size: int = 16) -> np.ndarray:
    """Small grey thumbnails of images, flattened, as features for the shift check.

    Parameters
    ----------
    paths : sequence of str or Path
        Image files PIL can read.
    size : int
        Side of the square thumbnail (bilinear resize, aspect ratio not kept).

    Returns
    -------
    numpy.ndarray
        ``(len(paths), size * size)`` float32 in ``[0, 1]``.

    Raises
    ------
    DatasetError
        Listing every file that could not be read.
    """
    out = np.zeros((len(paths), size * size), dtype=np.float32)
    problems: list[Problem] = []
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                grey = to_rgb(im).convert("L").resize((size, size), Image.Resampling.BILINEAR)
                out[i] = np.asarray(grey, dtype=np.float32).reshape(-1) / 255.0
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            problems.append(Problem(str(p), f"cannot read image: {exc}", str(p)))
    if problems:
        raise DatasetError(
            f"{len(problems)} image(s) could not be read for the shift check", problems
        )
    return out


def shift_check(
    old_labels: np.ndarray,
    new_labels: np.ndarray,
    n_classes: int,
    old_features: np.ndarray | None,
    new_features: np.ndarray | None,
    seed: int = 0,
    *,
    new_labels_are_predictions: bool = False,
    folds: int = 5,
) -> ShiftResult:
    """Test for prior shift (class proportions) and covariate shift (image looks).

    Parameters
    ----------
    old_labels, new_labels : numpy.ndarray
        ``(n_old,)`` and ``(n_new,)`` int labels in ``0..n_classes-1``. The new batch's
        labels may be a model's predictions (say so with ``new_labels_are_predictions``).
    n_classes : int
        Number of classes K.
    old_features, new_features : numpy.ndarray | None
        ``(n_old, d)`` and ``(n_new, d)`` image features, e.g. from :func:`pixel_features`;
        ``None`` skips the covariate check.
    seed : int
        Seeds the subsample and the fold split.
    new_labels_are_predictions : bool
        Recorded in the result so the report can say so.
    folds : int
        Stratified cross-validation folds for the covariate classifier (fewer when a
        side has fewer samples; the check is skipped below 2 per side).

    Returns
    -------
    ShiftResult
        Chi-square statistic, dof and p-value; covariate ROC AUC.

    Raises
    ------
    ReportInputError
        If labels are out of range or features do not match the labels.
    """
    old = _check_labels("old_labels", old_labels, n_classes)
    new = _check_labels("new_labels", new_labels, n_classes)
    old_counts = np.bincount(old, minlength=n_classes)
    new_counts = np.bincount(new, minlength=n_classes)
    chi2, dof, p, v = _prior_shift(old_counts, new_counts)
    cov = _covariate_shift(old, new, old_features, new_features, folds, seed)
    logger.info(
        "shift check: chi2=%.3g dof=%d p=%.3g covariate AUC=%s",
        chi2,
        dof,
        p,
        "n/a" if cov.auc is None else f"{cov.auc:.3f}",
    )
    return ShiftResult(
        n_old=int(old.size),
        n_new=int(new.size),
        old_counts=old_counts,
        new_counts=new_counts,
        chi2=chi2,
        dof=dof,
        prior_p_value=p,
        cramers_v=v,
        covariate_auc=cov.auc,
        covariate_auc_std=cov.auc_std,
        cv_folds=cov.folds,
        n_features=cov.n_features,
        new_labels_are_predictions=new_labels_are_predictions,
        note=cov.note,
    )


def _prior_shift(old_counts: np.ndarray, new_counts: np.ndarray) -> tuple[float, int, float, float]:
    """Chi-square statistic, dof, p-value and Cramér's V of old against new class counts."""
    table = np.vstack([old_counts, new_counts])
    table = table[:, table.sum(axis=0) > 0]
    if old_counts.sum() == 0 or new_counts.sum() == 0 or table.shape[1] < 2:
        return 0.0, 0, 1.0, 0.0
    res = chi2_contingency(table, correction=False)
    chi2, dof, p = float(res.statistic), int(res.dof), float(res.pvalue)
    v = float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1))))
    return chi2, dof, p, v


@dataclass(frozen=True)
class _Covariate:
    """The outcome of the covariate check (see :class:`ShiftResult` for the fields)."""

    auc: float | None = None
    auc_std: float | None = None
    folds: int = 0
    n_features: int = 0
    note: str = ""


def _covariate_shift(
    old: np.ndarray,
    new: np.ndarray,
    old_features: np.ndarray | None,
    new_features: np.ndarray | None,
    folds: int,
    seed: int,
) -> _Covariate:
    """Run the covariate check when features are given and each side has 2 samples."""
    if old_features is None or new_features is None:
        return _Covariate(note="no image features were given, so the covariate check did not run")
    xo = np.asarray(old_features, dtype=np.float64).reshape(len(old_features), -1)
    xn = np.asarray(new_features, dtype=np.float64).reshape(len(new_features), -1)
    if xo.shape[0] != old.size or xn.shape[0] != new.size:
        raise ReportInputError(
            f"features have {xo.shape[0]} and {xn.shape[0]} rows, labels {old.size} and {new.size}"
        )
    if xo.shape[1] != xn.shape[1]:
        raise ReportInputError(
            f"old features have {xo.shape[1]} columns, new features {xn.shape[1]}"
        )
    n_features = int(xo.shape[1])
    used_folds = min(folds, xo.shape[0], xn.shape[0])
    if used_folds < 2:
        return _Covariate(
            n_features=n_features,
            note="too few images on one side (need 2) for the covariate check",
        )
    auc, auc_std = _covariate_auc(xo, xn, used_folds, seed)
    return _Covariate(auc=auc, auc_std=auc_std, folds=used_folds, n_features=n_features)


def _covariate_auc(xo: np.ndarray, xn: np.ndarray, folds: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    if xo.shape[0] > MAX_PER_SIDE:
        xo = xo[np.sort(rng.choice(xo.shape[0], MAX_PER_SIDE, replace=False))]
    if xn.shape[0] > MAX_PER_SIDE:
        xn = xn[np.sort(rng.choice(xn.shape[0], MAX_PER_SIDE, replace=False))]
    x = np.vstack([xo, xn])
    y = np.r_[np.zeros(xo.shape[0], dtype=int), np.ones(xn.shape[0], dtype=int)]
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    oof = np.zeros(y.size)
    per_fold: list[float] = []
    for train, test in split.split(x, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        model.fit(x[train], y[train])
        oof[test] = model.predict_proba(x[test])[:, 1]
        if len(np.unique(y[test])) == 2:
            per_fold.append(float(roc_auc_score(y[test], oof[test])))
    return float(roc_auc_score(y, oof)), float(np.std(per_fold)) if per_fold else 0.0


def _check_labels(name: str, labels: np.ndarray, k: int) -> np.ndarray:
    arr = np.asarray(labels).astype(np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        raise ReportInputError(f"{name} must be class indices in 0..{k - 1}")
    return arr
