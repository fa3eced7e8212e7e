"""Tests of relabel.ranking: hand-computed values, agreement with cleanlab, validation,
lanes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from cleanlab import count as cl_count
from cleanlab import rank as cl_rank

from relabel import ranking as scoring
from relabel.errors import ScoringInputError
from relabel.ranking.metrics import precision_at_k

# --- a tiny example, every number worked out by hand ------------------------------------
#   row  given  probs               pred  p_given  max   margin  normalized margin
#   0    0      0.70 0.20 0.10      0     0.70     0.70  0.00    0.70 - 0.20 =  0.50
#   1    1      0.10 0.30 0.60      2     0.30     0.60  0.30    0.30 - 0.60 = -0.30
#   2    2      0.20 0.20 0.60      2     0.60     0.60  0.00    0.60 - 0.20 =  0.40
#   3    0      0.25 0.50 0.25      1     0.25     0.50  0.25    0.25 - 0.50 = -0.25
# thresholds: t0 = (0.70 + 0.25) / 2 = 0.475, t1 = 0.30, t2 = 0.60
# confident labels: row 0 -> 0; row 1 -> {1, 2} reach t, most probable 2; row 2 -> 2; row 3 -> 1
TINY_LABELS = np.array([0, 1, 2, 0])
TINY_PROBS = np.array(
    [
        [0.70, 0.20, 0.10],
        [0.10, 0.30, 0.60],
        [0.20, 0.20, 0.60],
        [0.25, 0.50, 0.25],
    ]
)


def _h(*ps: float) -> float:
    return -sum(p * math.log(p) for p in ps if p > 0)


def test_tiny_per_sample_scores() -> None:
    y, p = TINY_LABELS, TINY_PROBS
    np.testing.assert_allclose(scoring.self_confidence(y, p), [0.70, 0.30, 0.60, 0.25])
    np.testing.assert_array_equal(scoring.predicted_labels(p), [0, 2, 2, 1])
    np.testing.assert_allclose(scoring.max_confidence(p), [0.70, 0.60, 0.60, 0.50])
    np.testing.assert_allclose(scoring.margin(y, p), [0.0, 0.30, 0.0, 0.25], atol=1e-12)
    np.testing.assert_allclose(scoring.normalized_margin(y, p), [0.50, -0.30, 0.40, -0.25])
    # entropy of row 0 = 0.7*0.35667 + 0.2*1.60944 + 0.1*2.30259 = 0.80182 nats
    np.testing.assert_allclose(
        scoring.entropy(p),
        [0.8018185, _h(0.1, 0.3, 0.6), _h(0.2, 0.2, 0.6), _h(0.25, 0.5, 0.25)],
        rtol=1e-6,
    )
    assert _h(0.25, 0.5, 0.25) == pytest.approx(1.5 * math.log(2))


def test_entropy_zero_times_log_zero_is_zero() -> None:
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(
        scoring.entropy(p), [0.0, math.log(2), math.log(3)], rtol=1e-6, atol=1e-7
    )


def test_tiny_suspicion_methods() -> None:
    y, p = TINY_LABELS, TINY_PROBS
    expected = {
        "self_confidence": [0.30, 0.70, 0.40, 0.75],
        "normalized_margin": [0.25, 0.65, 0.30, 0.625],  # (1 - nm) / 2
        "margin": [0.0, 0.30, 0.0, 0.25],
        "max_softmax": [0.30, 0.40, 0.40, 0.50],
        # predicted != given: 0.5 + margin / 2; otherwise (1 - p_given) / 2
        "disagreement": [0.15, 0.65, 0.20, 0.625],
    }
    for method, values in expected.items():
        np.testing.assert_allclose(scoring.suspicion(y, p, method), values, atol=1e-12)
    # confidence-weighted entropy for row 3: H / log 3 = 1.5 log 2 / log 3, ratio r = H / 0.25
    r = (1.5 * math.log(2) / math.log(3)) / 0.25
    cwe = scoring.suspicion(y, p, "confidence_weighted_entropy")
    assert cwe[3] == pytest.approx(1 - math.log1p(r) / r, rel=1e-6)
    assert set(scoring.SCORING_METHODS) == {
        *expected,
        "confidence_weighted_entropy",
        "noise_posterior",
    }
    assert scoring.DEFAULT_METHOD == "noise_posterior"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_confidence_weighted_entropy_on_one_hot_rows(dtype: type) -> None:
    """Saturated rows (float32 softmax, unanimous kNN neighbours) keep the order: a one-hot
    row that agrees with its label is the least suspicious sample, one that contradicts it
    the most suspicious; the values, not only their bounds."""
    y = np.array([0, 0, 0, 0, 0, 0, 1, 2])
    p = np.array(
        [
            [1.0, 0.0, 0.0],  # agrees, saturated
            [0.0, 1.0, 0.0],  # contradicts, saturated
            [0.4, 0.6, 0.0],
            [0.01, 0.99, 0.0],
            [0.99, 0.01, 0.0],
            [1 / 3, 1 / 3, 1 / 3],
            [0.0, 1.0, 0.0],  # agrees, saturated
            [0.0, 0.0, 1.0],  # agrees, saturated
        ],
        dtype=dtype,
    )
    s = scoring.suspicion(y, p, "confidence_weighted_entropy")
    # the agreeing one-hot rows: H over the clipped row, 2 * 1e-6 * log(1e6) / log 3,
    # divided by p[given] = 1, and f(r) = 1 - log(1 + r) / r is about r / 2
    r = 2 * 1e-6 * math.log(1e6) / math.log(3)
    for i in (0, 6, 7):
        assert s[i] == pytest.approx(r / 2, rel=1e-3)
    # the contradicting one-hot row: the same H over p[given] clipped at 1e-6
    r = 2 * 1e-6 * math.log(1e6) / math.log(3) / 1e-6
    assert s[1] == pytest.approx(1 - math.log1p(r) / r, rel=1e-4)
    assert s[1] > 0.8
    order = np.argsort(-s, kind="stable")
    assert order[0] == 1 and set(order[-3:]) == {0, 6, 7}
    assert s[3] > s[2] > s[4] and s[5] > s[4]
    # the rows that are not saturated score as before (cleanlab's formula)
    free = np.array([[0.4, 0.5, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.2, 0.7, 0.1]], dtype=dtype)
    np.testing.assert_allclose(
        1 - scoring.suspicion(y[:3], free, "confidence_weighted_entropy"),
        cl_rank.get_confidence_weighted_entropy_for_each_label(y[:3], free.astype(np.float64)),
        rtol=1e-5,
    )
    # score_samples ranks with the same scores
    ranked = scoring.score_samples(y, p, method="confidence_weighted_entropy")
    assert int(ranked.order[0]) == 1


def test_tiny_noise_posterior() -> None:
    # raw confident-joint counts [[1,1,0],[0,0,1],[0,0,1]] (test_tiny_confident_joint) plus
    # 0.1 per cell; column sums 1.3, 1.3, 2.3, so
    #   T = [[11/13, 11/13, 1/23], [1/13, 1/13, 11/23], [1/13, 1/13, 11/23]]
    # score = 1 - T[y, y] p_y / sum_j T[y, j] p_j
    a, b, c, d = 11 / 13, 1 / 13, 1 / 23, 11 / 23
    expected = [
        1 - a * 0.70 / (a * 0.70 + a * 0.20 + c * 0.10),
        1 - b * 0.30 / (b * 0.10 + b * 0.30 + d * 0.60),
        1 - d * 0.60 / (b * 0.20 + b * 0.20 + d * 0.60),
        1 - a * 0.25 / (a * 0.25 + a * 0.50 + c * 0.25),
    ]
    got = scoring.suspicion(TINY_LABELS, TINY_PROBS, "noise_posterior")
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(scoring.noise_posterior(TINY_LABELS, TINY_PROBS), expected)
    np.testing.assert_allclose(
        scoring.score_samples(TINY_LABELS, TINY_PROBS).suspicion, expected, rtol=1e-12
    )
    # row 1 (given 1, the model says 2, and 2s are estimated to be labelled 1 rarely but
    # 1s almost never confidently 1) ranks first; row 2 (label = prediction) last
    assert int(np.argmax(got)) == 1 and int(np.argmin(got)) == 2
    with pytest.raises(ScoringInputError, match="pseudo_count"):
        scoring.noise_posterior(TINY_LABELS, TINY_PROBS, pseudo_count=0)


def test_noise_posterior_follows_the_estimated_flips() -> None:
    # class 1 is often labelled 2 (rows 0-3), class 0 never is; two samples labelled 2 with
    # the same p[given] = 0.4, one looks like a 1 (a known flip), one like a 0 (no flip
    # seen): self-confidence ties them, the noise posterior puts the known flip first.
    y, p, _ = _noisy(3000, 3, 0.0, 1)
    y = y.copy()
    ones = np.flatnonzero(y == 1)[:300]
    y[ones] = 2  # 1 -> 2 flips, seen confidently by the joint
    y = np.concatenate([y, [2, 2]])
    p = np.vstack([p, [[0.0, 0.6, 0.4], [0.6, 0.0, 0.4]]])
    sc = scoring.suspicion(y, p, "self_confidence")
    assert sc[-2] == pytest.approx(sc[-1])
    npst = scoring.suspicion(y, p, "noise_posterior")
    assert npst[-2] > npst[-1] + 0.1


def test_tiny_confident_joint() -> None:
    cj = scoring.confident_joint(TINY_LABELS, TINY_PROBS)
    np.testing.assert_allclose(cj.thresholds, [0.475, 0.30, 0.60])
    np.testing.assert_allclose(
        scoring.per_class_thresholds(TINY_LABELS, TINY_PROBS, 3), [0.475, 0.30, 0.60]
    )
    # given 0: rows 0 (-> 0) and 3 (-> 1); given 1: row 1 (-> 2); given 2: row 2 (-> 2)
    np.testing.assert_array_equal(cj.counts, [[1, 1, 0], [0, 0, 1], [0, 0, 1]])
    # diagonal raised to 1: [[1,1,0],[0,1,1],[0,0,1]]; rows scaled to label counts 2, 1, 1
    np.testing.assert_allclose(cj.calibrated, [[1, 1, 0], [0, 0.5, 0.5], [0, 0, 1]])
    np.testing.assert_allclose(cj.noise_matrix, [[0.5, 0.5, 0], [0, 0.5, 0.5], [0, 0, 1]])
    np.testing.assert_array_equal(cj.label_counts, [2, 1, 1])
    # row 1 rounds to [0, 0, 0]; keeping its total 1 raises one of the two entries rounded
    # down by 0.5 -- cleanlab's order, made stable, takes the last one (class 2)
    np.testing.assert_array_equal(cj.errors_per_pair, [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(cj.errors_per_class, [1, 1, 0])
    assert cj.n_label_errors == 2
    assert cj.n_confident_off_diagonal == 2
    assert cj.n_classes == 3
    assert cj.n_label_errors == cl_count.num_label_issues(
        TINY_LABELS, TINY_PROBS, estimation_method="off_diagonal_calibrated"
    )


def test_tiny_score_samples() -> None:
    s = scoring.score_samples(TINY_LABELS, TINY_PROBS, method="self_confidence")
    np.testing.assert_allclose(s.suspicion, [0.30, 0.70, 0.40, 0.75])
    np.testing.assert_array_equal(s.order, [3, 1, 2, 0])
    np.testing.assert_array_equal(s.rank, [4, 2, 3, 1])
    np.testing.assert_array_equal(s.disagreement, [False, True, False, True])
    np.testing.assert_allclose(s.p_given, [0.70, 0.30, 0.60, 0.25])
    np.testing.assert_allclose(s.p_predicted, [0.70, 0.60, 0.60, 0.50])
    np.testing.assert_allclose(s.max_confidence, s.p_predicted)
    np.testing.assert_allclose(s.margin, [0.0, 0.30, 0.0, 0.25], atol=1e-12)
    np.testing.assert_array_equal(s.lane, ["ok", "label_issue", "ok", "label_issue"])
    assert s.lane_counts() == {"label_issue": 2, "uncertain": 0, "ok": 2}
    assert s.method == "self_confidence" and s.n_samples == 4
    assert s.joint.n_label_errors == 2
    # a higher bar for certainty makes row 2 (max 0.6) uncertain
    s2 = scoring.score_samples(
        TINY_LABELS, TINY_PROBS, method="self_confidence", uncertain_threshold=0.65
    )
    np.testing.assert_array_equal(s2.lane, ["ok", "label_issue", "uncertain", "label_issue"])


# --- lanes: a sample the model predicts as its given label is never a label issue ------
#   row 4, 8: clear errors (0.9 on class 0); row 7: a weak error (class 2 by 0.05)
#   row 5: given 2, predicted 2, but only at 0.34 -- more suspicious than row 7 by 1 - p
AGREE_LABELS = np.array([0, 0, 1, 1, 1, 2, 2, 1, 2])
AGREE_PROBS = np.array(
    [
        [0.90, 0.05, 0.05],
        [0.90, 0.05, 0.05],
        [0.05, 0.90, 0.05],
        [0.05, 0.90, 0.05],
        [0.90, 0.05, 0.05],
        [0.33, 0.33, 0.34],
        [0.05, 0.05, 0.90],
        [0.05, 0.45, 0.50],
        [0.90, 0.05, 0.05],
    ]
)


def test_lanes_skip_samples_whose_label_the_model_predicts() -> None:
    s = scoring.score_samples(AGREE_LABELS, AGREE_PROBS, method="self_confidence")
    # t = [0.9, 0.575, 0.43]; counts [[2,0,0],[1,2,1],[1,0,1]]; row 2 calibrated to
    # [1.5, 0, 1.5] rounds to [1, 0, 2]: errors (1,0), (1,2), (2,0)
    np.testing.assert_allclose(s.joint.thresholds, [0.9, 0.575, 0.43])
    np.testing.assert_array_equal(s.joint.counts, [[2, 0, 0], [1, 2, 1], [1, 0, 1]])
    np.testing.assert_array_equal(s.joint.errors_per_pair, [[0, 0, 0], [1, 0, 1], [1, 0, 0]])
    assert s.joint.n_label_errors == 3
    # ranking: rows 4 and 8 tie at 0.95 (index order), then row 5 (0.66), then row 7 (0.55)
    np.testing.assert_array_equal(s.order[:4], [4, 8, 5, 7])
    # the top 3 by rank would include row 5; the lane takes row 7 instead
    assert sorted(np.flatnonzero(s.lane == "label_issue")) == [4, 7, 8]
    assert s.lane[5] == "uncertain"  # max 0.34 < 0.5
    assert s.lane_counts() == {"label_issue": 3, "uncertain": 1, "ok": 5}


def test_label_issue_lane_is_capped_by_eligible_samples() -> None:
    # the estimate can exceed the samples whose label the model disagrees with
    s = scoring.score_samples(TINY_LABELS, TINY_PROBS, method="max_softmax")
    issues = np.flatnonzero(s.lane == "label_issue")
    assert set(issues) <= set(np.flatnonzero(s.margin > 1e-6))
    assert issues.size == min(s.joint.n_label_errors, int(np.count_nonzero(s.margin > 1e-6)))


# --- agreement with cleanlab on realistic synthetic probabilities ----------------------


def _noisy(n: int, k: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model-like probabilities for n samples and given labels with a fraction flipped."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) * 1.5
    logits[np.arange(n), true] += 4.0
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = true.copy()
    flip = rng.random(n) < noise
    labels[flip] = (true[flip] + rng.integers(1, k, int(flip.sum()))) % k
    return labels, probs, flip


@pytest.mark.parametrize(("n", "k", "seed"), [(3000, 3, 0), (5000, 10, 1)])
def test_scores_match_cleanlab(n: int, k: int, seed: int) -> None:
    y, p, _ = _noisy(n, k, 0.15, seed)
    np.testing.assert_allclose(
        scoring.self_confidence(y, p), cl_rank.get_self_confidence_for_each_label(y, p)
    )
    np.testing.assert_allclose(
        (scoring.normalized_margin(y, p) + 1) / 2,
        cl_rank.get_normalized_margin_for_each_label(y, p),
    )
    np.testing.assert_allclose(
        1 - scoring.suspicion(y, p, "normalized_margin"),
        cl_rank.get_normalized_margin_for_each_label(y, p),
    )
    np.testing.assert_allclose(
        1 - scoring.suspicion(y, p, "confidence_weighted_entropy"),
        cl_rank.get_confidence_weighted_entropy_for_each_label(y, p),
        atol=1e-5,
    )


@pytest.mark.parametrize(("n", "k", "seed"), [(3000, 3, 0), (5000, 10, 1), (20000, 10, 2)])
def test_confident_joint_matches_cleanlab(n: int, k: int, seed: int) -> None:
    y, p, _ = _noisy(n, k, 0.15, seed)
    cj = scoring.confident_joint(y, p)
    np.testing.assert_allclose(cj.thresholds, cl_count.get_confident_thresholds(y, p))
    # cleanlab raises every diagonal entry to at least 1; counts here are the raw counts
    raw = cj.counts.copy()
    np.fill_diagonal(raw, np.maximum(raw.diagonal(), 1))
    np.testing.assert_array_equal(raw, cl_count.compute_confident_joint(y, p, calibrate=False))
    # cleanlab's calibrated joint is rounded to integers keeping the row totals; where two
    # cells of a row tie exactly in their rounding residue its tie order is unspecified
    cl_cal = cl_count.compute_confident_joint(y, p, calibrate=True)
    ours = cj.errors_per_pair + np.diag(cj.label_counts - cj.errors_per_class)
    np.testing.assert_array_equal(cl_cal.sum(axis=1), ours.sum(axis=1))
    assert np.abs(ours - cl_cal).max() <= 1
    residue = cj.calibrated - np.rint(cj.calibrated)
    for i in np.flatnonzero((ours != cl_cal).any(axis=1)):
        differ = np.flatnonzero(ours[i] != cl_cal[i])
        assert np.unique(residue[i, differ].round(9)).size == 1  # only tied cells swap
    assert np.abs(cj.calibrated - cl_cal).max() <= 1.0
    np.testing.assert_allclose(cj.calibrated.sum(axis=1), cj.label_counts)
    assert cj.calibrated.sum() == pytest.approx(n)
    joint = cl_count.estimate_joint(y, p)
    assert cj.n_label_errors == round(n * (1 - np.trace(joint)))
    assert cj.n_label_errors == cl_count.num_label_issues(
        y, p, estimation_method="off_diagonal_calibrated"
    )
    assert cj.n_confident_off_diagonal == cl_count.num_label_issues(y, p)


def test_confident_label_is_most_probable_confident_class() -> None:
    # classes 1 and 2 reach their thresholds; the overall argmax (class 0) does not.
    # The paper's confident label is 1; cleanlab's vectorised code takes the argmax, 0.
    y = np.array([1, 0])
    p = np.array([[0.40, 0.35, 0.25], [0.95, 0.03, 0.02]])
    t = [0.9, 0.3, 0.2]
    cj = scoring.confident_joint(y, p, thresholds=t)
    np.testing.assert_array_equal(cj.counts, [[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    cl = cl_count.compute_confident_joint(y, p, thresholds=np.array(t), calibrate=False)
    np.testing.assert_array_equal(cl, [[1, 0, 0], [1, 1, 0], [0, 0, 1]])  # diag forced >= 1


def test_sample_reaching_no_threshold_is_not_counted() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.2, 0.8]])
    cj = scoring.confident_joint(y, p)  # t = [0.7, 0.85]; row 1 reaches neither
    np.testing.assert_allclose(cj.thresholds, [0.7, 0.85])
    np.testing.assert_array_equal(cj.counts, [[1, 0], [0, 1]])
    assert cj.counts.sum() == 2


def test_class_without_samples_gets_infinite_threshold() -> None:
    y = np.array([0, 0, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.6, 0.1, 0.3], [0.1, 0.7, 0.2]])
    t = scoring.per_class_thresholds(y, p)
    assert t[2] == np.inf
    cj = scoring.confident_joint(y, p)
    assert cj.counts[:, 2].sum() == 0
    np.testing.assert_array_equal(cj.noise_matrix[2], [0, 0, 1])
    raw = cj.counts.copy()
    np.fill_diagonal(raw, np.maximum(raw.diagonal(), 1))
    np.testing.assert_array_equal(raw, cl_count.compute_confident_joint(y, p, calibrate=False))


def test_float32_input_matches_float64_of_the_same_values() -> None:
    y, p, _ = _noisy(4000, 10, 0.1, 3)
    p32 = p.astype(np.float32)
    a = scoring.score_samples(y, p32)
    b = scoring.score_samples(y, p32.astype(np.float64))
    np.testing.assert_array_equal(a.order, b.order)
    np.testing.assert_array_equal(a.lane, b.lane)
    np.testing.assert_array_equal(a.joint.counts, b.joint.counts)
    assert a.joint.n_label_errors == b.joint.n_label_errors
    assert a.suspicion.dtype == np.float64
    np.testing.assert_allclose(a.entropy, b.entropy, atol=1e-6)


# --- ranking determinism ---------------------------------------------------------------


def test_rank_order_breaks_ties_by_index() -> None:
    score = np.array([0.5, 0.9, 0.5, 0.9, 0.1, 0.5])
    np.testing.assert_array_equal(scoring.rank_order(score), [1, 3, 0, 2, 5, 4])
    np.testing.assert_array_equal(scoring.ranks(score), [3, 1, 4, 2, 6, 5])
    np.testing.assert_array_equal(scoring.rank_order([0.0, -0.0, 0.0]), [0, 1, 2])


def test_rank_order_equals_stable_sort_with_many_ties() -> None:
    rng = np.random.default_rng(7)
    score = rng.integers(0, 50, 100_000) / 50.0  # heavy ties
    expected = np.argsort(-score, kind="stable")
    np.testing.assert_array_equal(scoring.rank_order(score), expected)
    distinct = rng.random(50_000)
    np.testing.assert_array_equal(
        scoring.rank_order(distinct), np.argsort(-distinct, kind="stable")
    )
    r = scoring.ranks(score)
    np.testing.assert_array_equal(r[expected], np.arange(1, score.size + 1))


def test_score_samples_is_deterministic_and_ties_follow_index() -> None:
    y = np.zeros(6, dtype=int)
    p = np.tile([0.4, 0.6], (6, 1))  # identical rows: every score ties
    s = scoring.score_samples(y, p)
    np.testing.assert_array_equal(s.order, np.arange(6))
    y2, p2, _ = _noisy(2000, 5, 0.2, 5)
    a, b = scoring.score_samples(y2, p2), scoring.score_samples(y2, p2)
    np.testing.assert_array_equal(a.order, b.order)
    np.testing.assert_array_equal(a.lane, b.lane)


def test_results_are_read_only_and_inputs_untouched() -> None:
    y = np.array([0, 1, 2, 0])
    p = TINY_PROBS.copy()
    s = scoring.score_samples(y, p)
    assert not s.suspicion.flags.writeable and not s.joint.counts.flags.writeable
    assert y.flags.writeable and p.flags.writeable
    np.testing.assert_array_equal(p, TINY_PROBS)
    with pytest.raises(AttributeError):
        s.method = "margin"  # type: ignore[misc]


# --- detection on synthetic noise (no model trained) ----------------------------------


def test_detects_synthetic_label_noise() -> None:
    y, p, flip = _noisy(5000, 10, 0.1, 11)
    k = int(flip.sum())
    s = scoring.score_samples(y, p)
    assert precision_at_k(flip, s.order, k) >= 0.5
    issues = s.lane == "label_issue"
    assert flip[issues].mean() >= 0.5 and flip[issues].sum() >= 0.5 * k
    baseline = scoring.score_samples(y, p, method="max_softmax")
    assert precision_at_k(flip, s.order, k) > precision_at_k(flip, baseline.order, k)
    assert 0.5 * k <= s.joint.n_label_errors <= 2 * k


@pytest.mark.parametrize("method", scoring.SCORING_METHODS)
def test_every_method_is_bounded(method: str) -> None:
    y, p, _ = _noisy(2000, 4, 0.2, 9)
    p[:5] = [1.0, 0.0, 0.0, 0.0]
    s = scoring.score_samples(y, p, method=method)
    assert s.suspicion.min() >= 0.0 and s.suspicion.max() <= 1.0
    assert s.method == method
    assert set(np.unique(s.lane)) <= set(scoring.LANES)


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "probs", "match"),
    [
        ([0, 1], [[0.5, 0.5]], "labels has 2 entries but probs has 1 rows"),
        ([0, 3], [[0.5, 0.5], [0.5, 0.5]], r"labels\[1\] = 3 is not a class index"),
        ([-1, 0], [[0.5, 0.5], [0.5, 0.5]], r"labels\[0\] = -1"),
        ([0.0, 1.0], [[0.5, 0.5], [0.5, 0.5]], "labels must be integer"),
        ([[0, 1]], [[0.5, 0.5], [0.5, 0.5]], "labels must be 1-D"),
        ([0, 1], [[0.5, 0.5], [np.nan, 0.5]], "probs row 1: probability of class 0 is NaN"),
        ([0, 1], [[0.5, 0.5], [np.inf, 0.5]], "probs row 1: probability of class 0 is infinite"),
        ([0, 1], [[1.2, -0.2], [0.5, 0.5]], "probs row 0: probability of class 1 is negative"),
        ([0, 1, 1], [[0.5, 0.5], [0.5, 0.5], [0.9, 0.2]], "probs row 2: probabilities sum to 1.1"),
        ([0, 1], [[2.0, 3.0], [0.5, 0.4]], r"row 0.*\(1 more invalid rows\)"),
        ([], np.zeros((0, 3)), "probs has no rows"),
        ([0], [[1.0]], "at least 2 classes"),
        ([0], [0.5, 0.5], "probs must be 2-D"),
        ([0], [["a", "b"]], "probs must be a numeric array"),
    ],
)
def test_invalid_input_is_refused(labels: object, probs: object, match: str) -> None:
    with pytest.raises(ScoringInputError, match=match):
        scoring.score_samples(labels, probs)  # type: ignore[arg-type]


def test_row_sum_tolerance() -> None:
    y = np.array([0, 1])
    scoring.score_samples(y, np.array([[0.5, 0.5009], [0.3, 0.6991]]))  # within 1e-3
    with pytest.raises(ScoringInputError, match="row 0"):
        scoring.score_samples(y, np.array([[0.5, 0.502], [0.3, 0.7]]))


def test_other_validation() -> None:
    y, p = TINY_LABELS, TINY_PROBS
    with pytest.raises(ScoringInputError, match="unknown scoring method 'nope'"):
        scoring.suspicion(y, p, "nope")
    with pytest.raises(ScoringInputError, match="unknown scoring method"):
        scoring.score_samples(y, p, method="nope")
    with pytest.raises(ScoringInputError, match="uncertain_threshold"):
        scoring.score_samples(y, p, uncertain_threshold=1.5)
    with pytest.raises(ScoringInputError, match="n_classes is 4"):
        scoring.per_class_thresholds(y, p, 4)
    with pytest.raises(ScoringInputError, match=r"thresholds must have shape \(3,\)"):
        scoring.confident_joint(y, p, thresholds=[0.5, 0.5])
    with pytest.raises(ScoringInputError, match="NaN"):
        scoring.rank_order([0.1, np.nan])
    with pytest.raises(ScoringInputError, match="1-D"):
        scoring.ranks([[0.1, 0.2]])
    assert issubclass(ScoringInputError, ValueError)


def test_integer_and_list_inputs_are_accepted() -> None:
    s = scoring.score_samples([0, 1], [[1, 0], [0, 1]])
    np.testing.assert_array_equal(s.predicted, [0, 1])
    assert s.joint.n_label_errors == 0
    np.testing.assert_array_equal(s.lane, ["ok", "ok"])


def _reference_counts(labels: np.ndarray, probs: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Confident joint by the paper's definition, one sample at a time."""
    k = probs.shape[1]
    counts = np.zeros((k, k), dtype=int)
    for given, row in zip(labels, probs, strict=True):
        confident = [j for j in range(k) if row[j] >= t[j] - 1e-6]
        if confident:
            counts[given, max(confident, key=lambda j: (row[j], -j))] += 1
    return counts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confident_joint_matches_a_loop_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 7
    probs = rng.dirichlet(np.full(k, 0.4), 600)
    probs[:50] = np.round(probs[:50], 1)  # ties within rows
    probs[:50] /= probs[:50].sum(axis=1, keepdims=True)
    labels = rng.integers(0, k, 600)
    cj = scoring.confident_joint(labels, probs)
    np.testing.assert_array_equal(cj.counts, _reference_counts(labels, probs, cj.thresholds))
    t = rng.uniform(0.05, 0.9, k)
    cj = scoring.confident_joint(labels, probs, thresholds=t)
    np.testing.assert_array_equal(cj.counts, _reference_counts(labels, probs, t))


def test_public_scoring_module_names_the_ranking_functions() -> None:
    """relabel.scoring (the stable public module) exports the same names as before the
    split, each the very object relabel.ranking implements."""
    import relabel.scoring

    assert relabel.scoring.__all__ == [
        "DEFAULT_METHOD",
        "LANES",
        "LANE_LABEL_ISSUE",
        "LANE_OK",
        "LANE_UNCERTAIN",
        "POSTERIOR_PSEUDO_COUNT",
        "ROW_SUM_TOLERANCE",
        "SCORING_METHODS",
        "ConfidentJoint",
        "Scores",
        "confident_joint",
        "entropy",
        "margin",
        "max_confidence",
        "noise_posterior",
        "normalized_margin",
        "per_class_thresholds",
        "predicted_labels",
        "rank_order",
        "ranks",
        "score_samples",
        "self_confidence",
        "suspicion",
    ]
    assert set(relabel.scoring.__all__) <= set(scoring.__all__)  # ranking has more since
    for name in relabel.scoring.__all__:
        assert getattr(relabel.scoring, name) is getattr(scoring, name), name
