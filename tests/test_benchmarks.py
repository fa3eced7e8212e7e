"""The benchmark harness: candidate rankings, detection measures, and a small quick-mode run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import __main__ as bench_main
from benchmarks import datasets, detection, report
from relabel import metrics, scoring
from relabel.demo import inject_noise

HAVE_DATA = (datasets.DEFAULT_DATA / "known_errors" / "summary.json").is_file()


def _synthetic(n: int = 3000, k: int = 10, seed: int = 0, pair: bool = False):
    """Model-like probabilities of the TRUE class, and labels with injected noise."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    alpha = np.full((n, k), 0.3)
    alpha[np.arange(n), true] += 6.0
    probs = rng.dirichlet(np.ones(k), size=n) * 0.0 + rng.gamma(alpha)
    probs /= probs.sum(axis=1, keepdims=True)
    spec = "1>7:0.3,3>8:0.3,5>6:0.3" if pair else "sym:0.1"
    given = inject_noise(true, spec, k, seed=seed)
    return given, probs, given != true


def test_cl_prune_mask_matches_cleanlab_find_label_issues():
    from cleanlab.filter import find_label_issues

    given, probs, _ = _synthetic(seed=3)
    ours = detection.cl_prune_mask(given, probs)
    theirs = find_label_issues(given, probs, n_jobs=1)
    assert ours.sum() > 100
    # identical up to the tie-breaking cleanlab leaves to an unstable sort
    assert np.count_nonzero(ours != theirs) <= 2


def test_cl_prune_first_puts_the_flagged_set_first():
    given, probs, _ = _synthetic(seed=4)
    mask = detection.cl_prune_mask(given, probs)
    order = scoring.rank_order(detection.cl_prune_first(given, probs))
    assert mask[order[: mask.sum()]].all()
    assert not mask[order[mask.sum() :]].any()


def test_noise_posterior_is_a_probability_and_uses_the_noise_estimate():
    # A model trained on pair-flipped labels (30% of the 1s labelled 7) gives every 1,
    # flipped or not, p(1) ~ 0.66 and p(7) ~ 0.30. Correctly labelled but ambiguous 4s and
    # 9s get p(given) = 0.25, below any flipped sample, but 4 and 9 are never flipped.
    # Self-confidence puts the ambiguous samples first; the noise posterior the flips.
    rng = np.random.default_rng(0)
    k, n_flip, n_ones, n_amb, n_easy = 10, 60, 140, 120, 1800
    easy_classes = np.array([0, 2, 3, 4, 5, 6, 7, 8, 9])
    given = np.concatenate(
        [
            np.full(n_flip, 7),
            np.full(n_ones, 1),
            np.where(np.arange(n_amb) % 2, 4, 9),
            rng.choice(easy_classes, n_easy),
        ]
    )
    probs = np.empty((given.size, k))
    ones = np.arange(n_flip + n_ones)
    probs[ones] = 0.005
    probs[ones, 1], probs[ones, 7] = 0.66, 0.30
    amb = np.arange(n_flip + n_ones, n_flip + n_ones + n_amb)
    probs[amb] = 0.01
    probs[amb, given[amb]] = 0.25
    probs[amb, np.where(given[amb] == 4, 9, 4)] = 0.67
    easy = np.arange(n_flip + n_ones + n_amb, given.size)
    probs[easy] = 0.04 / 9
    probs[easy, given[easy]] = 0.96
    is_error = np.zeros(given.size, dtype=bool)
    is_error[:n_flip] = True

    post = scoring.noise_posterior(given, probs)
    assert post.shape == given.shape
    assert np.all((post >= 0) & (post <= 1))
    sc = scoring.suspicion(given, probs, "self_confidence")
    p_post = metrics.precision_at_k(is_error, scoring.rank_order(post), n_flip)
    p_sc = metrics.precision_at_k(is_error, scoring.rank_order(sc), n_flip)
    assert p_sc == 0.0  # the ambiguous samples come first by self-confidence
    assert p_post == 1.0


def test_evaluate_reports_every_method_and_cleanlab():
    given, probs, is_error = _synthetic(seed=5, pair=True)
    r = detection.evaluate(given, probs, is_error, dataset="synthetic", source="s", setting="t")
    assert r.k == int(is_error.sum())
    expected = {
        *scoring.SCORING_METHODS,
        *detection.CANDIDATES,
        "cleanlab_quality_scores",
        "random",
    }
    assert set(r.methods) == expected
    for m in r.methods.values():
        assert all(0.0 <= v <= 1.0 for v in m.values())
    # the model knows the truth here: label-aware rankings beat chance by far
    assert r.methods[scoring.DEFAULT_METHOD]["p_at_k"] > 0.8
    assert abs(r.methods["random"]["p_at_k"] - r.k / r.n) < 0.1
    assert r.cleanlab["flagged"] > 0 and 0 < r.cleanlab["precision"] <= 1


@pytest.mark.skipif(not HAVE_DATA, reason="../shared/data is absent (optional benchmark data)")
def test_mnist_reference_probabilities_and_confirmed_errors(tmp_path: Path):
    ds = datasets.load("mnist", datasets.DEFAULT_DATA, tmp_path)
    assert ds.n == 10_000 and ds.confirmed.size == 15 and len(ds.correctable) == 10
    results = detection.run_dataset(ds, train=None, workdir=tmp_path / "w")
    assert [r.setting.split(" (")[0] for r in results] == [
        "symmetric 10%",
        "symmetric 30%",
        "class pairs 30%",
        "original labels",
    ]
    original = results[-1]
    default = original.confirmed[scoring.DEFAULT_METHOD]
    assert default["correctable"] == 10
    assert default["correctable_top100"] == sum(r <= 100 for r in default["correctable_ranks"])
    assert default["top100"] <= default["top275"] <= default["top500"] <= 15
    sym = results[0]
    assert sym.k == 1000
    assert sym.methods[scoring.DEFAULT_METHOD]["p_at_k"] >= sym.cleanlab["precision"]


@pytest.mark.slow
def test_quick_mode_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A scaled-down quick run: every section but review, the report and the JSON."""
    small = dataclasses.replace(
        bench_main.QUICK,
        digits_epochs=1,
        scoring_n=20_000,
        scoring_repeat=1,
        throughput=(("digits", 2, 600),),
        studio_tasks=0,
        memory_sizes=(300, 1800),
    )
    monkeypatch.setitem(bench_main.PLANS, "quick", small)
    out, js = tmp_path / "BENCHMARKS.md", tmp_path / "results.json"
    argv = ["--quick", "--sections", "detection,speed,memory", "--out", str(out)]
    results = bench_main.run([*argv, "--json", str(js), "--cache", str(tmp_path / "cache")])
    assert results["errors"] == {}
    assert results["exit_code"] == 0
    assert json.loads(js.read_text())["meta"]["mode"] == "quick"

    settings = results["detection"]["settings"]
    digits = [s for s in settings if s["dataset"] == "digits"]
    assert len(digits) == 3 and all(s["source"].startswith("relabel small_cnn") for s in digits)
    assert len(settings) == 3 + (8 if HAVE_DATA else 0)
    for s in settings:
        assert s["methods"][scoring.DEFAULT_METHOD]["p_at_k"] > s["methods"]["random"]["p_at_k"]
    assert results["speed"]["cycle"]["folds"] == 5  # the digits pair-noise run's cycle time
    case = results["speed"]["scoring"]["cases"][0]
    assert case["n"] == 20_000 and case["relabel_s"] > 0 and case["cleanlab_s"] > 0
    assert results["speed"]["throughput"][0]["train_images_per_s"] > 0
    mem = results["memory"]
    assert [r["n"] for r in mem["rows"]] == [300, 1800]
    assert mem["ratio"] < 1.5

    text = out.read_text()
    for heading in ("## Acceptance checks", "## 1. Detection quality", "## 3. Speed and memory"):
        assert heading in text
    assert "## Machine, versions, command" in text
    checks = report.checks(results)
    assert any("precision@k >= cleanlab" in what for what, _, _ in checks)
    # every figure of the summary table comes from the results
    first = digits[0]
    assert f"{first['cleanlab']['precision']:.3f}" in text
