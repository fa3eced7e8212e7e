"""Tests of relabel.ranking.metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from relabel.errors import ScoringInputError
from relabel.ranking.metrics import auroc, precision_at_k, recall_at

#            index: 0      1     2      3     4      5
IS_ERROR = np.array([True, False, True, False, False, True])
ORDER = np.array([2, 1, 5, 0, 4, 3])  # errors at positions 1, 3 and 4 of the ranking


def test_precision_at_k_by_hand() -> None:
    assert precision_at_k(IS_ERROR, ORDER, 1) == 1.0
    assert precision_at_k(IS_ERROR, ORDER, 2) == 0.5
    assert precision_at_k(IS_ERROR, ORDER, 3) == pytest.approx(2 / 3)
    assert precision_at_k(IS_ERROR, ORDER, 4) == 0.75
    assert precision_at_k(IS_ERROR, ORDER, 6) == 0.5
    assert precision_at_k(IS_ERROR, ORDER, 100) == 0.5  # k past the end: the whole ranking
    assert precision_at_k([1, 0, 1, 0, 0, 1], ORDER, 4) == 0.75  # 0/1 integers


def test_recall_at_by_hand() -> None:
    assert recall_at(IS_ERROR, ORDER, 1) == pytest.approx(1 / 3)
    assert recall_at(IS_ERROR, ORDER, 2) == pytest.approx(1 / 3)
    assert recall_at(IS_ERROR, ORDER, 3) == pytest.approx(2 / 3)
    assert recall_at(IS_ERROR, ORDER, 4) == 1.0
    assert recall_at(IS_ERROR, ORDER, 50) == 1.0


def test_auroc_by_hand() -> None:
    # errors score 0.9, 0.4, 0.4; correct 0.5, 0.4, 0.1.
    # pairs (error > correct): 0.9 beats all 3; each 0.4 beats 0.1, ties 0.4 (half), loses
    # to 0.5 -> (3 + 1.5 + 1.5) / 9
    is_error = np.array([True, True, True, False, False, False])
    score = np.array([0.9, 0.4, 0.4, 0.5, 0.4, 0.1])
    assert auroc(is_error, score) == pytest.approx(6 / 9)
    assert auroc(is_error, -score) == pytest.approx(3 / 9)
    assert auroc([True, False], [1.0, 0.0]) == 1.0
    assert auroc([True, False], [0.3, 0.3]) == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    is_error = rng.random(5000) < 0.1
    score = rng.integers(0, 30, 5000) / 30 + 0.2 * is_error  # many ties, some signal
    assert auroc(is_error, score) == pytest.approx(roc_auc_score(is_error, score), abs=1e-12)
    distinct = rng.random(5000) + 0.1 * is_error
    assert auroc(is_error, distinct) == pytest.approx(roc_auc_score(is_error, distinct))


def test_metrics_refuse_bad_input() -> None:
    with pytest.raises(ScoringInputError, match="k must be at least 1"):
        precision_at_k(IS_ERROR, ORDER, 0)
    with pytest.raises(ScoringInputError, match="k must be an integer"):
        precision_at_k(IS_ERROR, ORDER, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ScoringInputError, match="budget must be at least 1"):
        recall_at(IS_ERROR, ORDER, -1)
    with pytest.raises(ScoringInputError, match="recall is undefined"):
        recall_at(np.zeros(6, bool), ORDER, 3)
    with pytest.raises(ScoringInputError, match=r"outside 0\.\.5"):
        precision_at_k(IS_ERROR, [0, 6], 1)
    with pytest.raises(ScoringInputError, match="order is empty"):
        precision_at_k(IS_ERROR, np.array([], dtype=int), 1)
    with pytest.raises(ScoringInputError, match="booleans"):
        precision_at_k([0.5, 1.0], [0, 1], 1)
    with pytest.raises(ScoringInputError, match="only correct labels"):
        auroc([False, False], [0.1, 0.2])
    with pytest.raises(ScoringInputError, match="only errors"):
        auroc([True, True], [0.1, 0.2])
    with pytest.raises(ScoringInputError, match="shape"):
        auroc([True, False], [0.1, 0.2, 0.3])
    with pytest.raises(ScoringInputError, match="NaN"):
        auroc([True, False], [np.nan, 0.2])
    with pytest.raises(ScoringInputError, match="empty"):
        auroc([], [])
