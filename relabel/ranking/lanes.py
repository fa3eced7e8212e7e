"""Review lanes: ``"label_issue"``, ``"uncertain"`` or ``"ok"``, one per sample."""

from __future__ import annotations

from typing import Final

import numpy as np

from relabel.ranking.confident_joint import FLOAT_TOLERANCE

__all__ = ["LANES", "LANE_LABEL_ISSUE", "LANE_OK", "LANE_UNCERTAIN", "assign_lanes"]

LANE_LABEL_ISSUE: Final[str] = "label_issue"
LANE_UNCERTAIN: Final[str] = "uncertain"
LANE_OK: Final[str] = "ok"
#: Every lane, most urgent first.
LANES: Final[tuple[str, ...]] = (LANE_LABEL_ISSUE, LANE_UNCERTAIN, LANE_OK)

_LANE_TABLE = np.array([LANE_OK, LANE_UNCERTAIN, LANE_LABEL_ISSUE])


def assign_lanes(
    order: np.ndarray,
    gap: np.ndarray,
    p_pred: np.ndarray,
    n_label_errors: int,
    uncertain_threshold: float,
) -> np.ndarray:
    """Sort every sample into a lane (the rules are in :func:`relabel.ranking.score_samples`).

    Parameters
    ----------
    order : numpy.ndarray of intp, shape (n,)
        Sample indices, most suspicious first.
    gap : numpy.ndarray of float64, shape (n,)
        ``p[predicted] - p[given]``.
    p_pred : numpy.ndarray of float64, shape (n,)
        Largest class probability.
    n_label_errors : int
        Size of the label-issue lane (the confident joint's estimate), at most.
    uncertain_threshold : float
        ``p_pred`` below which a sample outside the label-issue lane is uncertain.

    Returns
    -------
    numpy.ndarray of str, shape (n,)
        One lane per sample.
    """
    issues = order[gap[order] > FLOAT_TOLERANCE][:n_label_errors]
    codes = (p_pred < uncertain_threshold).view(np.int8)  # 0 ok, 1 uncertain
    codes[issues] = 2
    return _LANE_TABLE.take(codes)
