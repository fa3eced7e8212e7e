"""When to stop: the label errors left (with an interval), the next cycle's expected finds,
the learning curve's gain, and the stop rule of ``relabel cycle``.

Pure tests build data whose truth is known: labels flipped by a known noise matrix from
classes drawn from calibrated probabilities, so the exact probability that each label is
wrong is known; reviews are the truth of the top of the ranking. The plumbing tests use a
project of URL paths with an imported run (``Project.add_run``), no training and no Label
Studio (its URL is a closed port: a call would exit 7).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relabel.errors import ExitCode, ScoringInputError
from relabel.project import Project
from relabel.review.gold import evidence_of
from relabel.review.stopping import (
    ErrorsLeft,
    LearningCurve,
    errors_left,
    learning_curve,
    stop_reason,
)
from tests.clirun import relabel_in_process

K = 5
#: P(given = j | true = i): each class flipped into the next one 10 % of the time.
NOISE = 0.9 * np.eye(K) + 0.1 * np.roll(np.eye(K), 1, axis=1)


def _noisy(seed: int, n: int = 20_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated probabilities, true classes drawn from them, labels flipped by NOISE, and
    the exact probability that each given label is wrong (Bayes with the known NOISE)."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(K, 0.02), n)
    true = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    given = (NOISE[true].cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    joint = p * NOISE[:, given].T  # P(true = j, given = y | x)
    p_wrong = 1.0 - joint[np.arange(n), given] / joint.sum(axis=1)
    return given != true, p_wrong, np.argsort(-p_wrong, kind="stable")


def _estimate(
    wrong: np.ndarray,
    p_model: np.ndarray,
    order: np.ndarray,
    n_reviewed: int,
    seed: int,
    budget: int = 1000,
) -> tuple[ErrorsLeft, int, int]:
    """The estimate after reviewing the ``n_reviewed`` top-ranked samples, with the true
    errors left and the true errors of the next ``budget`` ranks."""
    reviewed = np.zeros(wrong.size, dtype=bool)
    reviewed[order[:n_reviewed]] = True
    est = errors_left(
        p_model, reviewed, p_model[reviewed], wrong[reviewed], budget, order=order, seed=seed
    )
    nxt = order[n_reviewed : n_reviewed + budget]
    return est, int(wrong[~reviewed].sum()), int(wrong[nxt].sum())


def test_errors_left_are_near_the_truth_and_their_intervals_cover_it() -> None:
    covered = covered_next = 0
    for seed in range(20):
        wrong, p_wrong, order = _noisy(seed, n=10_000)
        est, left, found = _estimate(wrong, p_wrong, order, 400, seed, budget=500)
        assert abs(est.expected - left) < 0.1 * left
        assert est.reviewed == 400 and est.unreviewed == wrong.size - 400
        assert est.next_budget == 500 and est.calibrated
        covered += est.low <= left <= est.high
        covered_next += est.next_low <= found <= est.next_high
    assert covered >= 18 and covered_next >= 18, (covered, covered_next)


def test_reviews_calibrate_a_model_that_understates_the_errors() -> None:
    wrong, p_wrong, order = _noisy(1)
    halved = p_wrong / 2  # the model says half of what is true, at every rank
    est, left, found = _estimate(wrong, halved, order, 800, seed=1)
    assert est.model_expected == pytest.approx(halved[order[800:]].sum())
    assert est.calibration_low < 2.0 < est.calibration_high
    assert est.low <= left <= est.high
    assert est.next_low <= found <= est.next_high
    assert est.hit_rate == pytest.approx(wrong[order[:800]].mean())
    assert est.hit_rate_low < est.hit_rate <= est.hit_rate_high


def test_without_reviews_the_estimate_is_the_model_s_own() -> None:
    wrong, p_wrong, _ = _noisy(2, n=5000)
    est = errors_left(p_wrong, np.zeros(wrong.size, bool), [], [], 100)
    assert not est.calibrated and est.calibration == 1.0 and est.hit_rate is None
    assert est.expected == pytest.approx(p_wrong.sum())
    assert est.low < est.expected < est.high
    assert est.next_expected == pytest.approx(np.sort(p_wrong)[::-1][:100].sum())
    assert est.as_dict()["calibrated"] is False


def test_reviews_that_found_nothing_leave_an_upper_bound() -> None:
    p = np.full(1000, 0.05)
    reviewed = np.zeros(1000, bool)
    reviewed[:200] = True
    est = errors_left(p, reviewed, p[:200], np.zeros(200, bool), 50)
    assert est.expected == 0.0 and est.hits == 0 and est.hit_rate == 0.0
    assert est.high > 0 and est.calibration_high > 0


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ScoringInputError, match="p_error"):
        errors_left([0.5, np.nan], [False, False], [], [], 1)
    with pytest.raises(ScoringInputError, match="match"):
        errors_left([0.5, 0.2], [False], [], [], 1)
    with pytest.raises(ScoringInputError, match="paired"):
        learning_curve([100, 200], [0.5], 10)


def _power(n: np.ndarray) -> np.ndarray:
    return 0.95 - 2.0 * np.power(n, -0.5)


def test_a_learning_curve_recovers_the_gain_of_exact_power_law_points() -> None:
    n = np.array([500, 1000, 2000, 4000, 8000])
    curve = learning_curve(n, _power(n), 2000)
    truth = float(_power(np.array([10_000]))[0] - _power(np.array([8000]))[0])
    assert curve.gain == pytest.approx(truth, rel=1e-4)
    assert (curve.a, curve.b, curve.c) == pytest.approx((0.95, 2.0, 0.5), rel=1e-3)
    assert curve.n_labelled == 8000 and curve.batch == 2000 and curve.points == 5


def test_a_learning_curve_interval_covers_the_next_gain_of_noisy_points() -> None:
    n = np.array([500, 750, 1000, 1500, 2000, 3000, 4000, 6000, 8000])
    truth = float(_power(np.array([10_000]))[0] - _power(np.array([8000]))[0])
    covered = 0
    for seed in range(20):
        acc = _power(n) + np.random.default_rng(seed).normal(0, 0.002, n.size)
        curve = learning_curve(n, acc, 2000)
        assert curve.low is not None and curve.high is not None and not curve.reason
        assert abs(curve.gain - truth) < 0.002
        covered += curve.low <= truth <= curve.high
    assert covered >= 17, covered


def test_a_learning_curve_needs_three_counts_and_four_for_an_interval() -> None:
    two = learning_curve([100, 200, 200], [0.6, 0.65, 0.7], 50)
    assert two.gain is None and two.points == 2 and "3 or more" in two.reason
    n = np.array([1000, 2000, 4000])
    three = learning_curve(n, _power(n), 1000)
    assert three.gain is not None and three.low is None and "4 or more" in three.reason
    # of two runs at the same count, the later one counts
    again = learning_curve([1000, 2000, 4000, 4000], [*_power(n)[:2], 0.5, _power(n)[2]], 1000)
    assert again.gain == pytest.approx(three.gain)


def test_the_stop_reason_names_the_estimate_and_the_key() -> None:
    wrong, p_wrong, order = _noisy(3, n=5000)
    est, _, _ = _estimate(wrong, p_wrong, order, 400, seed=3, budget=100)
    assert stop_reason(est, None, 0.0, 0.0) is None
    assert stop_reason(est, None, est.next_expected / 2, 0.0) is None
    why = stop_reason(est, None, est.next_expected + 1, 0.0)
    assert why is not None and "review.stop_when_gain_below" in why
    assert f"{est.next_expected:.1f} label errors" in why
    curve = LearningCurve(points=3, n_labelled=1000, batch=100, gain=0.001)
    why = stop_reason(None, curve, 5.0, 0.002)
    assert why is not None and "review.stop_when_accuracy_gain_below = 0.002" in why
    assert stop_reason(None, curve, 5.0, 0.0005) is None


# -- plumbing: status and the stop rule of relabel cycle ------------------------------------

CLASSES = ["cat", "dog", "fox"]
N = 300
PLANTED = tuple(range(0, N, 10))  # 30 labels the probabilities contradict


def _project(root: Path) -> Path:
    """300 URL samples; three older runs at smaller labelled counts (metrics only), then an
    imported run whose probabilities contradict the planted labels."""
    frame = pd.DataFrame(
        {
            "id": [f"s{i:03d}" for i in range(N)],
            "path": [f"s3://bucket/{i:03d}.jpg" for i in range(N)],
            "label": [CLASSES[i % 3] for i in range(N)],
        }
    )
    Project.init(root, manifest=frame, folds=2, trust_paths=True)
    truth = np.arange(N) % 3
    truth[list(PLANTED)] = (truth[list(PLANTED)] + 1) % 3
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=N) * 0.1 + np.eye(3)[truth] * 0.9
    with Project.open(root) as p:
        for i, (n, acc) in enumerate(((100, 0.70), (150, 0.76), (220, 0.80))):
            p.store.start_run(f"old{i}", "train", {}, None)
            p.store.finish_run(f"old{i}", {"n_samples": n, "oof_accuracy": acc})
        p.add_run(probs.astype(np.float32))
    return root


def _review_top(root: Path, n: int) -> int:
    """Answer the ``n`` most suspicious samples with their true label, as a pull records it
    (task, label version, review); return how many were corrections."""
    corrected = 0
    with Project.open(root) as p:
        ranked = p.rank()
        top = ranked.table.sort_values("rank").head(n)
        p.store.plan_tasks(
            1,
            [(r.sample_id, evidence_of(r, ranked.run_id)) for r in top.itertuples()],
            cycle=None,
            batch="t",
        )
        rows = p.store.tasks(1, ("planned",))
        p.store.open_tasks([(r["row_id"], 100 + i) for i, r in enumerate(rows)])
        for row in p.store.tasks(1, ("open",)):
            i = int(row["sample_id"][1:])
            given, true = CLASSES[i % 3], CLASSES[(i % 3 + (i in PLANTED)) % 3]
            with p.store.transaction():
                version = int(p.store.current_version(row["sample_id"])["version_id"])
                if true != given:
                    version = p.store.add_version(row["sample_id"], true, source="review")
                    corrected += 1
                p.store.record_review(
                    row,
                    outcome="corrected" if true != given else "confirmed",
                    label=true,
                    reviewers=["r"],
                    annotation_ids=[1],
                    votes={true: 1},
                    fingerprint="f",
                    version_after=version,
                    still_open=False,
                )
    return corrected


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO", "RELABEL"))}
    env.update(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="x" * 40)
    return env


def test_status_shows_the_errors_left_and_the_learning_curve(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj")
    corrected = _review_top(root, 20)
    assert corrected == 20  # the planted labels rank first
    ran = relabel_in_process(["status", str(root)])
    assert ran.returncode == 0, ran.stderr
    line = next(x for x in ran.stdout.splitlines() if x.startswith("errors left: about "))
    assert "95% interval" in line and "calibrated on 20 reviews, hit rate 1.00" in line
    assert "next cycle expected to find" in line
    assert "learning curve (4 labelled counts): the next 15 labels add about +" in ran.stdout
    info = json.loads(relabel_in_process(["status", str(root), "--json"]).stdout)
    left = info["errors_left"]
    assert left["reviewed"] == 20 and left["hits"] == 20 and left["unreviewed"] == N - 20
    assert left["low"] <= left["expected"] <= left["high"]
    assert left["low"] <= len(PLANTED) - corrected <= left["high"]
    assert info["learning_curve"]["points"] == 4 and info["learning_curve"]["gain"] > 0


def test_a_cycle_stops_when_the_next_one_is_expected_to_find_too_little(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj")
    _review_top(root, 40)  # every planted error found: little is left
    toml = root / "relabel.toml"
    toml.write_text(
        toml.read_text().replace("stop_when_gain_below = 0.0", "stop_when_gain_below = 5")
    )
    ran = relabel_in_process(["cycle", str(root)], _env())
    assert ran.returncode == int(ExitCode.STOPPED) == 8, ran.stderr
    assert "cycle 1: stopped: the next cycle is expected to find" in ran.stdout
    assert "in 15 reviews, below review.stop_when_gain_below = 5" in ran.stdout
    with Project.open(root, readonly=True) as p:
        assert p.store.cycles() == [] and p.store.latest_cycle() is None


def test_a_cycle_expected_to_find_enough_goes_on(tmp_path: Path) -> None:
    """The rule lets the cycle start; its push then calls the closed port (exit 7)."""
    root = _project(tmp_path / "proj")
    toml = root / "relabel.toml"
    text = toml.read_text().replace("retries = 5", "retries = 1")  # the closed port: once
    toml.write_text(text.replace("stop_when_gain_below = 0.0", "stop_when_gain_below = 0.5"))
    ran = relabel_in_process(["cycle", str(root)], _env())
    assert ran.returncode == int(ExitCode.STUDIO), ran.stderr
    assert "stopped" not in ran.stdout
