"""The HTML report: evaluation, label quality, galleries, dataset issues (duplicates,
outliers, image health, an embedding map), cycles, shift and annotators.

Data in, one file out. The caller (the CLI, from the label store and the latest training
run) fills a :class:`ReportInputs` and calls :func:`write_report`, which writes ONE
self-contained file, ``report.html``, with every figure and thumbnail embedded as a PNG
``data:`` URI: it opens offline and can be mailed as it is.
This package never imports TensorFlow, Label Studio or the label store.

Examples
--------
>>> from relabel.report import ReportInputs, write_report
>>> html_path = write_report(inputs, "reports/cycle-3")  # doctest: +SKIP
"""

from relabel.report.data import (
    CycleRow,
    ReportInputError,
    ReportInputs,
    ReviewerRow,
    ShiftResult,
)
from relabel.report.evaluation import (
    ConfusedPair,
    Evaluation,
    ThresholdChoice,
    choose_threshold,
    confused_pairs,
    evaluate,
)
from relabel.report.html import write_report
from relabel.report.shift import pixel_features, shift_check

__all__ = [
    "ConfusedPair",
    "CycleRow",
    "Evaluation",
    "ReportInputError",
    "ReportInputs",
    "ReviewerRow",
    "ShiftResult",
    "ThresholdChoice",
    "choose_threshold",
    "confused_pairs",
    "evaluate",
    "pixel_features",
    "shift_check",
    "write_report",
]
