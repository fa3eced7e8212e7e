"""The data a report is made from: plain frozen dataclasses holding numpy arrays.

The report package never reads the label store, trains or talks to Label Studio: the
caller gathers everything into a :class:`ReportInputs` and hands it to
:func:`relabel.report.write_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from relabel.errors import ExitCode, RelabelError

#: The lanes :mod:`relabel.ranking` sorts samples into, in the order the report lists them.
KNOWN_LANES: tuple[str, ...] = ("label_issue", "uncertain", "ok")


class ReportInputError(RelabelError, ValueError):
    """The arrays and lists given to the report do not fit together."""

    exit_code = ExitCode.INVALID_INPUT


@dataclass(frozen=True)
class CycleRow:
    """One finished review cycle, as the cycle history table shows it.

    Attributes
    ----------
    cycle : int
        Cycle number (1 for the first).
    budget : int | None
        How many samples the cycle was allowed to send for review.
    reviewed : int
        Samples people reviewed in this cycle.
    corrected : int
        Reviewed samples whose label people changed.
    hit_rate : float | None
        ``corrected / reviewed`` (0..1); ``None`` when nothing was reviewed.
    est_errors_left : float | None
        Estimated label errors left in the dataset after the cycle.
    accuracy, macro_f1 : float | None
        Out-of-fold accuracy and macro-F1 of the model trained in the cycle.
    """

    cycle: int
    budget: int | None
    reviewed: int
    corrected: int
    hit_rate: float | None
    est_errors_left: float | None
    accuracy: float | None
    macro_f1: float | None


@dataclass(frozen=True)
class ReviewerRow:
    """One reviewer's work, as the annotators table shows it.

    Attributes
    ----------
    name : str
        The reviewer's name or e-mail as Label Studio reports it.
    tasks : int
        Review tasks the reviewer handled, skipped ones included.
    agreement_with_final : float | None
        Share (0..1) of the reviewer's answers equal to the final label; ``None`` if unknown.
    skips : int
        Tasks the reviewer skipped or marked as unsure.
    gold_tasks : int
        Gold tasks the reviewer answered.
    gold_accuracy : float | None
        Share of those answered with the gold label; ``None`` without gold answers.
    estimated_accuracy : float | None
        The Dawid-Skene estimate of the reviewer's accuracy (:mod:`relabel.review.annotators`).
    interval : tuple of float, optional
        Its 95 % interval.
    confuses : str
        The class pairs the reviewer confuses most (``"7 as 1 (3.0)"``).
    """

    name: str
    tasks: int
    agreement_with_final: float | None
    skips: int
    gold_tasks: int = 0
    gold_accuracy: float | None = None
    estimated_accuracy: float | None = None
    interval: tuple[float, float] | None = None
    confuses: str = ""


@dataclass(frozen=True)
class ShiftResult:
    """Whether a new batch of images looks different from the data already labelled.

    Made by :func:`relabel.report.shift_check`.

    Attributes
    ----------
    n_old, n_new : int
        Samples in the old data and the new batch.
    old_counts, new_counts : numpy.ndarray
        ``(K,)`` samples per class in the old data and the new batch.
    chi2, dof, prior_p_value : float, int, float
        Chi-square test of independence between "old or new" and the class (a 2 x K'
        table, K' = classes present in either; no continuity correction). A small
        p-value means the class proportions differ (prior shift).
    cramers_v : float
        Effect size of the prior shift (0 = same proportions, 1 = disjoint classes).
    covariate_auc : float | None
        Cross-validated ROC AUC of a logistic regression telling old images from new
        ones from their pixels: about 0.5 means it cannot (no covariate shift), near 1.0
        means the images look clearly different. ``None`` when too few samples.
    covariate_auc_std : float | None
        Standard deviation of the AUC over the cross-validation folds.
    cv_folds : int
        Folds used for the covariate check (0 when it was not run).
    n_features : int
        Features per image the classifier saw.
    new_labels_are_predictions : bool
        True when the new batch's labels are a model's predictions, not human labels.
    note : str
        Why the covariate check was not run, or an empty string.
    """

    n_old: int
    n_new: int
    old_counts: np.ndarray
    new_counts: np.ndarray
    chi2: float
    dof: int
    prior_p_value: float
    cramers_v: float
    covariate_auc: float | None
    covariate_auc_std: float | None
    cv_folds: int
    n_features: int
    new_labels_are_predictions: bool = False
    note: str = ""


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report shows; arrays are indexed by sample (n) and class (K).

    Attributes
    ----------
    project_name : str
        Shown in the title.
    classes : list[str]
        Class names; label ``k`` means ``classes[k]``.
    sample_ids, paths : list[str]
        Sample ids and their image files (thumbnails are made from the files).
    given : numpy.ndarray
        ``(n,)`` int, the current labels.
    probs : numpy.ndarray
        ``(n, K)`` out-of-fold class probabilities for the whole dataset.
    suspicion : numpy.ndarray
        ``(n,)`` how likely the given label is wrong (higher = more suspicious).
    rank : numpy.ndarray
        ``(n,)`` review order (lower = reviewed first).
    lane : numpy.ndarray
        ``(n,)`` str, ``label_issue``, ``uncertain`` or ``ok``.
    noise_matrix : numpy.ndarray
        ``(K, K)`` estimated P(true = j | given = i).
    errors_per_class : numpy.ndarray
        ``(K,)`` estimated label errors among samples given class i.
    errors_per_pair : numpy.ndarray
        ``(K, K)`` estimated samples given i whose true class is j (diagonal ignored).
    original : numpy.ndarray | None
        ``(n,)`` int, the labels before any correction (for the class balance plot).
    cycles : list[CycleRow]
        Finished cycles, oldest first (may be empty).
    reviewers : list[ReviewerRow]
        Reviewers (may be empty).
    shift : ShiftResult | None
        Result of the shift check on the latest new batch, if any.
    positive_class : str | None
        Two-class projects: the class treated as "positive" (default: ``classes[1]``).
    target_recall : float | None
        Two-class projects: pick the decision threshold reaching this recall; when
        ``None`` the threshold minimises ``cost_fp * FP + cost_fn * FN``.
    cost_fp, cost_fn : float
        Cost of a false positive and of a false negative.
    generated_at, run_id : str
        When the report was made and from which training run (shown in the header).
    issues : pandas.DataFrame | None
        Dataset issues beyond wrong labels (the columns of
        :func:`relabel.findings.find_issues`), one row per sample in ``sample_ids`` order
        (a ``sample_id`` column, when there is one, must list the same ids); ``None``
        when they were not computed (``issues_note`` says why).
    embeddings : array_like | None
        ``(n, d)`` out-of-fold embeddings, row for row with ``sample_ids`` (a memory map
        is fine: only the map's sample of rows is read); ``None`` when the run has none.
    issues_note : str
        Why the issues were not computed, shown in their sections (or an empty string).
    """

    project_name: str
    classes: list[str]
    sample_ids: list[str]
    paths: list[str]
    given: np.ndarray
    probs: np.ndarray
    suspicion: np.ndarray
    rank: np.ndarray
    lane: np.ndarray
    noise_matrix: np.ndarray
    errors_per_class: np.ndarray
    errors_per_pair: np.ndarray
    original: np.ndarray | None = None
    cycles: list[CycleRow] = field(default_factory=list)
    reviewers: list[ReviewerRow] = field(default_factory=list)
    shift: ShiftResult | None = None
    positive_class: str | None = None
    target_recall: float | None = None
    cost_fp: float = 1.0
    cost_fn: float = 1.0
    generated_at: str = ""
    run_id: str = ""
    issues: pd.DataFrame | None = None
    embeddings: Any = None
    issues_note: str = ""

    def __post_init__(self) -> None:
        k = _check_classes(self.classes)
        probs = _check_probs(self.probs, self.classes)
        n = probs.shape[0]
        for name in ("sample_ids", "paths"):
            if len(getattr(self, name)) != n:
                raise ReportInputError(
                    f"{name} has {len(getattr(self, name))} entries, expected {n}"
                )
        self._set("probs", probs)
        self._check_per_sample(n, k)
        self._check_estimates(k)
        self._check_decision()
        if self.shift is not None and len(self.shift.old_counts) != k:
            raise ReportInputError(
                f"shift result has {len(self.shift.old_counts)} classes, expected {k}"
            )
        self._set("classes", list(self.classes))
        self._set("sample_ids", [str(s) for s in self.sample_ids])
        self._set("paths", [str(p) for p in self.paths])
        self._set("cycles", list(self.cycles))
        self._set("reviewers", list(self.reviewers))
        self._check_issues(n)

    def _set(self, name: str, value: object) -> None:
        """Replace a field of this frozen instance with its checked, normalised value."""
        object.__setattr__(self, name, value)

    def _check_per_sample(self, n: int, k: int) -> None:
        """Check and normalise the arrays with one entry per sample."""
        self._set("given", _labels("given", self.given, n, k))
        if self.original is not None:
            self._set("original", _labels("original", self.original, n, k))
        for name in ("suspicion", "rank"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (n,):
                raise ReportInputError(f"{name} has shape {arr.shape}, expected ({n},)")
            self._set(name, arr)
        lane = np.asarray(self.lane).astype(str)
        if lane.shape != (n,):
            raise ReportInputError(f"lane has shape {lane.shape}, expected ({n},)")
        self._set("lane", lane)

    def _check_estimates(self, k: int) -> None:
        """Check and normalise the per-class and class-pair estimates."""
        for name, shape in (
            ("noise_matrix", (k, k)),
            ("errors_per_class", (k,)),
            ("errors_per_pair", (k, k)),
        ):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != shape:
                raise ReportInputError(f"{name} has shape {arr.shape}, expected {shape}")
            self._set(name, arr)

    def _check_decision(self) -> None:
        """Check the two-class decision settings: positive class, target recall, costs."""
        if self.positive_class is not None and self.positive_class not in self.classes:
            raise ReportInputError(
                f"positive_class {self.positive_class!r} is not one of {list(self.classes)}"
            )
        if self.target_recall is not None and not 0.0 < self.target_recall <= 1.0:
            raise ReportInputError(f"target_recall must be in (0, 1], got {self.target_recall}")
        if self.cost_fp < 0 or self.cost_fn < 0 or self.cost_fp + self.cost_fn == 0:
            raise ReportInputError(
                "cost_fp and cost_fn must be >= 0 and not both 0, "
                f"got {self.cost_fp}, {self.cost_fn}"
            )

    def _check_issues(self, n: int) -> None:
        """Check that the issues table and the embeddings have a row per sample."""
        if self.issues is not None:
            table = self.issues
            if len(table) != n:
                raise ReportInputError(f"issues has {len(table)} rows, expected {n}")
            if "sample_id" in table.columns:
                ids = table["sample_id"].astype(str).tolist()
                bad = next(
                    (
                        i
                        for i, (a, b) in enumerate(zip(ids, self.sample_ids, strict=True))
                        if a != b
                    ),
                    None,
                )
                if bad is not None:
                    raise ReportInputError(
                        f"issues row {bad} is sample {ids[bad]!r}, expected "
                        f"{self.sample_ids[bad]!r} (rows must follow sample_ids)"
                    )
            self._set("issues", table.reset_index(drop=True))
        if self.embeddings is not None:
            shape = np.shape(self.embeddings)
            if len(shape) != 2 or shape[0] != n or shape[1] < 1:
                raise ReportInputError(f"embeddings has shape {shape}, expected ({n}, d)")

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.probs.shape[0])

    @property
    def k(self) -> int:
        """Number of classes."""
        return len(self.classes)


def _check_classes(classes: list[str]) -> int:
    """The number of classes, or raise when there are fewer than 2 or a name repeats."""
    k = len(classes)
    if k < 2:
        raise ReportInputError(f"report needs at least 2 classes, got {list(classes)!r}")
    if len(set(classes)) != k:
        raise ReportInputError(f"class names repeat: {list(classes)!r}")
    return k


def _check_probs(values: np.ndarray, classes: list[str]) -> np.ndarray:
    """``values`` as an ``(n, K)`` float64 array of finite values, n > 0, or raise."""
    k = len(classes)
    probs = np.asarray(values, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != k:
        raise ReportInputError(
            f"probs has shape {probs.shape}, expected (n, {k}) for classes {list(classes)}"
        )
    if probs.shape[0] == 0:
        raise ReportInputError("report needs at least one sample; probs is empty")
    if not np.all(np.isfinite(probs)):
        raise ReportInputError("probs holds NaN or infinite values")
    return probs


def _labels(name: str, values: np.ndarray, n: int, k: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ReportInputError(f"{name} has shape {arr.shape}, expected ({n},)")
    if (
        arr.size
        and not np.issubdtype(arr.dtype, np.integer)
        and not np.all(np.equal(np.mod(arr, 1), 0))
    ):
        raise ReportInputError(f"{name} holds non-integer labels")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero((arr < 0) | (arr >= k))
    if bad.size:
        raise ReportInputError(
            f"{name}[{int(bad[0])}] = {int(arr[bad[0]])} is not a class index in 0..{k - 1}"
            + (f" ({bad.size} such rows)" if bad.size > 1 else "")
        )
    return arr
