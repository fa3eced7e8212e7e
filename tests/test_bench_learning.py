"""The learning benchmark: the curves' protocol, the figures of the report, the quick path."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import benchmarks.__main__ as bench_main
from benchmarks import learning_curves, report, report_learning
from relabel.ranking import DEFAULT_STRATEGY, STRATEGIES

TINY = learning_curves.LearningPlan(
    "quick", seeds=(0, 1), start=0.05, step=0.05, stop=0.2, large_step=0.1
)


def _fake_mnist(data: Path, n: int = 300) -> np.ndarray:
    """``n`` 28x28 images of 10 noisy class templates, in MNIST's IDX files; the labels."""
    rng = np.random.default_rng(0)
    templates = rng.uniform(0, 255, size=(10, 28 * 28))
    y = np.arange(n) % 10
    images = np.clip(templates[y] + rng.normal(0, 60, size=(n, 28 * 28)), 0, 255)
    (data / "mnist").mkdir(parents=True)
    with gzip.open(data / "mnist" / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes(16) + images.astype(np.uint8).tobytes())
    with gzip.open(data / "mnist" / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes(8) + y.astype(np.uint8).tobytes())
    return y


def test_the_split_is_fixed_and_disjoint() -> None:
    pool, test = learning_curves.split(100, 0.2)
    assert len(test) == 20 and len(pool) == 80
    assert not set(pool) & set(test)
    again = learning_curves.split(100, 0.2)
    assert np.array_equal(pool, again[0]) and np.array_equal(test, again[1])


def test_a_curve_adds_a_batch_per_round_and_starts_the_same_for_every_strategy() -> None:
    rng = np.random.default_rng(1)
    y = np.arange(200) % 4
    x = (np.eye(4)[y] * 3 + rng.normal(size=(200, 4))).astype(np.float32)
    feats = learning_curves.Features(x, y, "synthetic")
    pool, test = learning_curves.split(200, 0.25)
    runs = {
        s: learning_curves.curve(feats, pool, test, s, 0, start=0.05, step=0.05, stop=0.2)
        for s in STRATEGIES
    }
    for run in runs.values():
        assert run["sizes"] == [8, 16, 24, 30]
        assert all(0.0 <= a <= 1.0 for a in run["accuracy"])
    assert len({r["accuracy"][0] for r in runs.values()}) == 1  # the same start set
    assert runs["random"]["accuracy"][-1] > 0.5  # the learner learns


def _run(*acc: float) -> dict:
    return {"sizes": [10 * (i + 1) for i in range(len(acc))], "accuracy": list(acc),
            "select_seconds": 0.1}  # fmt: skip


def _section(default_curve: tuple[float, ...], entropy_final: tuple[float, float, float]) -> dict:
    small = {
        "random": [_run(0.5, 0.6, 0.7, 0.8, 0.9)] * 3,
        "entropy": [_run(0.5, 0.6, 0.7, 0.8, 0.85)] * 3,
        DEFAULT_STRATEGY: [_run(*default_curve)] * 3,
    }
    large = {
        "random": [_run(0.5, 0.9)] * 3,
        "entropy": [_run(0.5, f) for f in entropy_final],
        DEFAULT_STRATEGY: [_run(0.5, 0.9), _run(0.5, 0.91), _run(0.5, 0.92)],
    }
    plan = dataclasses.asdict(dataclasses.replace(learning_curves.FULL))
    ds = {
        "features": "synthetic",
        "label_informed_features": True,
        "n": 60,
        "n_pool": 50,
        "n_heldout": 10,
        "batches": {"0.02": {"step": 0.02, "runs": small}, "0.08": {"step": 0.08, "runs": large}},
    }
    return {
        "plan": plan,
        "learner": learning_curves.LEARNER,
        "default": DEFAULT_STRATEGY,
        "tuning": "mnist",
        "datasets": {"mnist": ds},
        "skipped": ["cifar10: not found"],
    }


def test_labels_to_reach_random_s_final_accuracy_on_the_mean_curve() -> None:
    lr = _section((0.5, 0.8, 0.9, 0.9, 0.9), (0.7, 0.8, 0.75))
    small = report_learning.summary(lr["datasets"]["mnist"]["batches"]["0.02"])
    assert small["random"]["labels"] == 50 and small["random"]["share"] == 1.0
    assert small[DEFAULT_STRATEGY]["labels"] == 30
    assert small[DEFAULT_STRATEGY]["share"] == pytest.approx(0.6)
    assert small["entropy"]["labels"] is None  # 0.85 < 0.9: never reached
    mean, low, high = small["random"]["final"]
    assert mean == pytest.approx(0.9) and low == pytest.approx(high)  # equal seeds


def test_the_checks_pass_and_fail_from_the_figures() -> None:
    winning = _section((0.5, 0.8, 0.9, 0.9, 0.9), (0.7, 0.8, 0.75))
    good = [ok for _, _, ok in report_learning.checks(winning)]
    assert good == [True, True]
    losing = _section((0.5, 0.6, 0.7, 0.8, 0.95), (0.95, 0.94, 0.96))
    bad = report_learning.checks(losing)
    assert [ok for _, _, ok in bad] == [False, False]  # all of random's labels; loses
    assert bad[0][1] == "100% of random's labels"
    text = "\n".join(report_learning.render(losing))
    assert f"`{DEFAULT_STRATEGY}` loses to `entropy`" in text
    assert "*Limitation:*" in text and "Skipped: cifar10: not found" in text


def test_quick_path_runs_and_renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--quick --sections learning`` on a fake MNIST (CIFAR-10 absent: skipped)."""
    y = _fake_mnist(tmp_path / "data")
    monkeypatch.setitem(learning_curves.PLANS, "quick", TINY)
    out, js = tmp_path / "B.md", tmp_path / "b.json"
    argv = ["--quick", "--sections", "learning", "--data", str(tmp_path / "data")]
    argv += ["--cache", str(tmp_path / "cache"), "--out", str(out), "--json", str(js)]
    results = bench_main.run(argv)
    assert results["exit_code"] == 0, results["errors"]
    lr = json.loads(js.read_text())["learning"]
    mnist = lr["datasets"]["mnist"]
    assert mnist["n"] == len(y) and mnist["n_heldout"] == 60
    assert set(mnist["batches"]["0.05"]["runs"]) == set(STRATEGIES)
    assert [len(r) for r in mnist["batches"]["0.05"]["runs"].values()] == [2] * 6
    assert lr["skipped"] and lr["skipped"][0].startswith("cifar10")
    text = out.read_text()
    assert report_learning.HEADING in text
    assert all(ok is None for _, _, ok in report_learning.checks(lr))  # quick: reported only
    assert any(what.startswith("learning (mnist") for what, _, _ in report.checks(results))
