"""The benchmark harness: candidate rankings, detection measures, and a small quick-mode run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import __main__ as bench_main
from benchmarks import datasets, detection, human_noise, photo_sizes, photos, report, user_run
from relabel import ranking as scoring
from relabel.config import Config, DatasetConfig, ModelConfig, TrainingConfig
from relabel.data.noise_injection import inject_noise
from relabel.errors import DatasetError
from relabel.ranking import metrics

HAVE_DATA = (datasets.DEFAULT_DATA / "known_errors" / "summary.json").is_file()
HAVE_CIFAR10H = (datasets.DEFAULT_DATA / human_noise.COUNTS_FILE).is_file()


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
    assert sym.k == 1000 and sym.k5 == 500
    assert sym.methods[scoring.DEFAULT_METHOD]["p_at_flagged"] >= sym.cleanlab["precision"]


# --------------------------------------------------------------------------------------
# top-5% precision


def test_review_cut_is_the_top_five_percent_rounded_up():
    assert detection.review_cut(1797) == 90  # 89.85 rounded up
    assert detection.review_cut(10_000) == 500  # exactly, no float error
    assert detection.review_cut(20) == 1
    assert detection.review_cut(1) == 1
    assert detection.review_cut(201, percent=10) == 21


def test_top_five_percent_precision_by_hand():
    # 60 samples, 3 classes; top 5% = 3 samples. By self-confidence (lowest p[given]
    # first) the top 3 are: a CORRECT but hard sample (p[given] 0.02), then two of the three
    # errors (p[given] 0.05, 0.06); the third error (0.07) is 4th. Precision: 2 of 3.
    n, k = 60, 3
    given = np.arange(n) % k
    probs = np.full((n, k), 0.02)
    probs[np.arange(n), given] = 0.96
    hard, errors = 0, [1, 2, 3]
    for i, p_given in zip(errors, (0.05, 0.06, 0.07), strict=True):
        probs[i] = (1 - p_given) / 2
        probs[i, given[i]] = p_given
    probs[hard] = [0.02, 0.49, 0.49]  # its given label is 0
    is_error = np.zeros(n, dtype=bool)
    is_error[errors] = True
    r = detection.evaluate(given, probs, is_error, dataset="d", source="s", setting="t")
    assert r.k5 == 3
    assert r.methods["self_confidence"]["p_at_5pct"] == pytest.approx(2 / 3)
    for m in r.methods.values():
        assert 0.0 <= m["p_at_5pct"] <= 1.0


def test_top_five_percent_matches_the_ranking_on_every_method():
    given, probs, is_error = _synthetic(seed=6)
    r = detection.evaluate(given, probs, is_error, dataset="d", source="s", setting="t")
    assert r.k5 == 150 and r.to_dict()["k5"] == 150
    for name, score in detection.method_scores(given, probs).items():
        top = scoring.rank_order(score)[:150]
        assert r.methods[name]["p_at_5pct"] == pytest.approx(is_error[top].mean()), name


# --------------------------------------------------------------------------------------
# CIFAR-10H human noise

COUNTS = np.array(
    [
        [5, 0, 0],  # unanimous: both settings keep label 0
        [1, 3, 2],  # given 1: worst -> 2 (2 votes); sampled: draw 0 -> 0, 1..3 -> 1, 4..5 -> 2
        [0, 0, 0],  # no votes: the original label everywhere
        [2, 2, 2],  # given 0: worst -> the tie between 1 and 2 goes to the lower index, 1
        [0, 1, 1],  # given 2: the wrong class 1 has a single vote -> worst keeps 2
    ]
)
ORIGINAL = np.array([0, 1, 2, 0, 2])


def test_worst_labels_exact_and_the_two_votes_rule():
    assert human_noise.worst_labels(COUNTS, ORIGINAL).tolist() == [0, 2, 2, 1, 2]
    assert human_noise.worst_labels(COUNTS, ORIGINAL, min_votes=1).tolist() == [0, 2, 2, 1, 1]
    assert human_noise.worst_labels(COUNTS, ORIGINAL, min_votes=3).tolist() == [0, 1, 2, 0, 2]
    with pytest.raises(DatasetError):
        human_noise.worst_labels(COUNTS, ORIGINAL, min_votes=0)


def test_sampled_labels_exact_and_seeded():
    # the draws of default_rng(seed).integers(0, totals) decide the labels
    totals = np.maximum(COUNTS.sum(axis=1), 1)
    for seed in (0, 1, 7):
        draw = np.random.default_rng(seed).integers(0, totals)
        expected = [
            int(np.searchsorted(np.cumsum(c), d, side="right")) if c.sum() else o
            for c, d, o in zip(COUNTS, draw, ORIGINAL, strict=True)
        ]
        got = human_noise.sampled_labels(COUNTS, ORIGINAL, seed=seed)
        assert got.tolist() == expected
        assert got[0] == 0 and got[2] == 2  # unanimous / no votes
    assert human_noise.sampled_labels(COUNTS, ORIGINAL, seed=0).tolist() == [0, 1, 2, 1, 1]
    # the same seed gives the same labels; another seed other labels (on enough images)
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 6, size=(500, 4))
    original = counts.argmax(axis=1)
    a = human_noise.sampled_labels(counts, original, seed=11)
    assert np.array_equal(a, human_noise.sampled_labels(counts, original, seed=11))
    assert not np.array_equal(a, human_noise.sampled_labels(counts, original, seed=12))
    # every sampled label got at least one vote
    assert np.all(counts[np.arange(500), a] > 0)


def test_human_noise_rejects_bad_input():
    with pytest.raises(DatasetError):
        human_noise.sampled_labels(-COUNTS, ORIGINAL)
    with pytest.raises(DatasetError):
        human_noise.worst_labels(COUNTS, ORIGINAL[:3])
    with pytest.raises(DatasetError):
        human_noise.human_labels("human-best", COUNTS, ORIGINAL)


@pytest.mark.skipif(not (HAVE_DATA and HAVE_CIFAR10H), reason="no CIFAR-10H in ../shared/data")
def test_cifar10h_counts_are_in_the_cifar10_test_order():
    data = datasets.DEFAULT_DATA
    counts = human_noise.load_counts(data)
    original = np.load(
        data / "label_errors" / "original_test_labels" / "cifar10_test_set_original_labels.npy"
    ).astype(np.int64)
    assert (counts.argmax(axis=1) == original).mean() > 0.98
    sampled = human_noise.sampled_labels(counts, original, seed=0)
    worst = human_noise.worst_labels(counts, original)
    assert 0.04 < (sampled != original).mean() < 0.06
    assert 0.23 < (worst != original).mean() < 0.28


def _fake_dataset(name: str = "cifar10", n: int = 400) -> datasets.BenchDataset:
    labels = np.arange(n) % 10
    ids = [f"s{i}" for i in range(n)]
    classes = datasets.CIFAR10_CLASSES if name == "cifar10" else tuple(str(d) for d in range(10))
    return datasets.BenchDataset(name, Path("."), ids, ids, labels, classes, [8, 8], 1)


# --------------------------------------------------------------------------------------
# the out-of-fold cache key


def _key(config: Config, *, version: str = "1.0", code: str = "c", final: bool = False) -> str:
    fp = detection.training_fingerprint(config, final_model=final, version=version, code=code)
    return detection.oof_key("digits", np.array([0, 1, 2, 1]), fp)


def test_oof_key_changes_with_model_training_config_and_version():
    base = Config(name="project")
    key = _key(base)
    assert _key(Config(name="project")) == key  # deterministic
    # where the benchmark wrote the manifest, and the project's name, do not matter
    moved = Config(name="elsewhere", dataset=DatasetConfig(path="/somewhere/else/manifest.csv"))
    assert _key(moved) == key
    changed = [
        Config(name="project", model=ModelConfig(architecture="MobileNetV2")),
        Config(name="project", model=ModelConfig(dropout=0.5)),
        Config(name="project", model=ModelConfig(batch_size=32)),
        Config(name="project", model=ModelConfig(flip="horizontal")),
        Config(name="project", training=TrainingConfig(epochs=3)),
        Config(name="project", training=TrainingConfig(folds=3)),
        Config(name="project", training=TrainingConfig(patience=1)),
        Config(name="project", training=TrainingConfig(seed=1)),
    ]
    keys = {_key(c) for c in changed}
    assert key not in keys and len(keys) == len(changed)
    assert _key(base, version="1.1") != key
    assert _key(base, code="d") != key
    assert _key(base, final=True) != key
    fp = detection.training_fingerprint(base, final_model=False, version="1.0", code="c")
    assert detection.oof_key("digits", np.array([0, 1, 2, 2]), fp) != key  # other labels
    assert detection.oof_key("mnist", np.array([0, 1, 2, 1]), fp) != key  # other images


def test_oof_key_defaults_to_the_imported_relabel():
    import relabel

    fp = detection.training_fingerprint(Config(name="p"), final_model=False)
    assert fp["relabel_version"] == relabel.__version__
    assert fp["model_code"] == detection.model_code_digest()
    assert fp["model"]["architecture"] == ModelConfig().architecture


# --------------------------------------------------------------------------------------
# the report: like-for-like checks, and no sentence that is false

SOURCE = "relabel small_cnn OOF (5-fold, at most 1 epochs, trained on these labels)"


def _results() -> dict:
    return {
        "meta": {
            "mode": "quick",
            "command": "python -m benchmarks --quick",
            "date": "2026-01-01 00:00 UTC",
            "wall_seconds": 60.0,
            "machine": {"cpu": "x", "cores": 2, "memory_gb": 1.0, "os": "l", "load_start": "0"},
            "versions": {"python": "3.11"},
            "data": None,
            "json": "build/benchmarks-quick.json",
            "sections": {},
        },
        "errors": {},
        "notes": [],
    }


def test_output_paths_full_beside_the_report_quick_under_build(tmp_path: Path):
    root = datasets.REPO_ROOT
    assert bench_main.output_paths("full", None, None) == (
        root / "BENCHMARKS.md",
        root / "BENCHMARKS.json",
    )
    out = tmp_path / "report.md"
    assert bench_main.output_paths("full", out, None) == (out, tmp_path / "report.json")
    quick_out, quick_json = bench_main.output_paths("quick", None, None)
    assert quick_out.parent == quick_json.parent == root / "build"
    assert bench_main.output_paths("quick", out, tmp_path / "r.json")[1] == tmp_path / "r.json"
    assert bench_main.display_path(root / "BENCHMARKS.json") == "BENCHMARKS.json"
    assert bench_main.display_path(tmp_path / "x.json") == str((tmp_path / "x.json").resolve())


# --------------------------------------------------------------------------------------
# the harness, end to end (tiny)


def _quick_plan(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    """A scaled-down quick plan, swapped in for ``--quick``."""
    small = dataclasses.replace(
        bench_main.QUICK,
        digits_epochs=1,
        scoring_n=20_000,
        scoring_repeat=1,
        studio_tasks=0,
        heldout_seeds=(),  # held out: only the other class pairs (and CIFAR-10H on the pyx)
        **changes,
    )
    monkeypatch.setitem(bench_main.PLANS, "quick", small)


def test_quick_mode_throughput(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trains: dict):
    """The quick run's throughput rows, which measure Keras itself, as plumbing (200 digits,
    2 epochs). The memory section trains in child processes and is exercised by
    ``make bench-quick``, where its figures are reported (a target is a benchmark figure,
    never a test's)."""
    _quick_plan(monkeypatch, throughput=(("digits", 2, 200),))
    out, js = tmp_path / "BENCHMARKS.md", tmp_path / "results.json"
    argv = ["--quick", "--sections", "speed", "--out", str(out)]
    results = bench_main.run([*argv, "--json", str(js), "--cache", str(tmp_path / "cache")])
    assert results["errors"] == {}
    assert results["exit_code"] == 0
    (row,) = results["speed"]["throughput"]
    assert row["train_images_per_s"] > 0
    assert "## 3. Speed and memory" in out.read_text()


# --------------------------------------------------------------------------------------
# the photos section: relabel's default RGB config on CIFAR-10


def test_model_code_digest_covers_every_file_of_a_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    names = [rel for rel, _ in detection.module_sources("relabel.training")]
    assert names == sorted(names)
    assert {"__init__.py", "augment.py", "resnet.py", "embed.py"} <= set(names)
    assert detection.MODEL_MODULES == ("relabel.training", "relabel.data")
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text("A = 1\n")
    (package / "helper.py").write_text("B = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = detection.model_code_digest(("fakepkg",))
    assert detection.model_code_digest(("fakepkg",)) == before  # deterministic
    (package / "helper.py").write_text("B = 2\n")  # not the package's __init__
    assert detection.model_code_digest(("fakepkg",)) != before
    assert detection.model_code_digest(("no_such_module_here",)) != before


def test_decode_clock_times_the_decoding_and_passes_every_line_on(
    monkeypatch: pytest.MonkeyPatch,
):
    ticks = iter([10.0, 12.5, 20.0, 30.0])
    monkeypatch.setattr(detection.time, "perf_counter", lambda: next(ticks))
    seen: list[str] = []
    clock = detection.DecodeClock(seen.append)
    assert clock.measured is None
    clock("decoding 100 images once to 32x32x3")
    clock("decoded 100 images in 2.5 s")
    clock("fold 1/5: epoch 1/20")
    clock("decoded 3 images in 1 s")  # no start: not counted
    assert clock.measured == pytest.approx(2.5) and clock.count == 1
    assert len(seen) == 4


def _photo_run(**over) -> dict:
    run = {
        "folds": 5,
        "epochs": 20,
        "default_epochs": True,
        "epochs_run": [20] * 5,
        "final_model": True,
        "oof_accuracy": 0.76,
        "whole_seconds": 14 * 60.0,
        "folds_seconds": 11 * 60.0,
        "fold_seconds": [150.0] * 5,
        "decode_seconds": 30.0,
        "final_model_seconds": 170.0,
        "images_per_second": 900.0,
        "seconds": 1000.0,
        "reused": False,
        "measured": "2026-12-03 10:00 UTC",
        "key": "k",
        "config": {
            "architecture": "resnet_small",
            "optimizer": "sgd",
            "schedule": "one_cycle",
            "learning_rate": 0.1,
            "batch_size": 128,
            "l2": 5e-4,
            "label_smoothing": 0.0,
            "flip": "horizontal",
            "translation": 0.125,
            "epochs": 20,
            "validation_fraction": 0.0,
            "tta": True,
            "ensemble": 1,
            "cache_images": True,
        },
    }
    return {**run, **over}


def _photos(**over) -> dict:
    ph = {
        "dataset": "cifar10",
        "n": 10_000,
        "image": "32x32x3",
        "default_method": "noise_posterior",
        "confirmed": 54,
        "targets": dict(photos.TARGETS),
        "plan": dataclasses.asdict(photos.PhotoPlan()),
        "skipped": [],
        "errors": {},
        "user": _photo_run(),
        "throughput": {
            "n": 4000,
            "epochs": 3,
            "image": "32x32x3",
            "batch_size": 128,
            "architecture": "resnet_small",
            "rows": [
                {
                    "cache_images": c,
                    "what": photos.FEEDS[c],
                    "images_per_second": ips,
                    "seconds": 30.0,
                    "decode_seconds": d,
                    "epochs_run": 3,
                }
                for c, ips, d in ((False, 300.0, None), (True, 900.0, 2.0))
            ],
            "ratio": 3.0,
        },
    }
    return {**ph, **over}


def _photo_checks(results: dict) -> dict[str, tuple[str, bool | None]]:
    return {
        what: (measured, ok) for what, measured, ok in report.checks(results) if "photos" in what
    }


def test_photos_report_passes_when_the_targets_are_met():
    results = _results()
    results["photos"] = _photos()
    checks = _photo_checks(results)
    verdicts = [ok for _, ok in checks.values()]
    assert verdicts.count(True) == 3 and False not in verdicts  # the user run's 3 targets
    assert any(m == "14.0 min" for m, _ in checks.values())
    flat = " ".join(report.render(results).split())
    assert "## 4. Photos (CIFAR-10): relabel's default RGB config" in flat
    assert "`resnet_small`, sgd with a `one_cycle` schedule" in flat
    assert "The whole run took 14.0 min, within the 15.0 min target" in flat
    assert "the folds alone 11.0 min, within the 15.0 min target" in flat
    assert "out-of-fold accuracy 0.760, at least the 0.750 target" in flat
    assert "Decoding once trains 3.00x as many images per second" in flat
    assert "BELOW" not in flat.split("## 4. Photos")[1]
    assert "confirmed errors" not in flat  # detection on these images is the protocol's


def test_photos_report_states_every_loss_plainly():
    ph = _photos(
        user=_photo_run(whole_seconds=19.5 * 60, folds_seconds=16 * 60.0, oof_accuracy=0.70)
    )
    ph["throughput"]["rows"][1]["images_per_second"] = 240.0
    ph["throughput"]["ratio"] = 0.8
    results = _results()
    results["photos"] = ph
    checks = _photo_checks(results)
    assert [ok for _, ok in checks.values()].count(False) == 3
    assert ("19.5 min", False) in checks.values()
    flat = " ".join(report.render(results).split())
    assert "The whole run took 19.5 min, OVER the 15.0 min target by 4.5 min" in flat
    assert "the folds alone 16.0 min, OVER the 15.0 min target by 1.0 min" in flat
    assert "out-of-fold accuracy 0.700, BELOW the 0.750 target" in flat
    assert "Decoding once is SLOWER than decoding every epoch: 240 vs 300" in flat
    assert "| **FAIL** |" in report.render(results)


def test_photos_report_shows_how_relabel_train_spent_its_cpu():
    train = {
        "seconds": 800.0,
        "user_cpu_s": 900.0,
        "kernel_cpu_s": 300.0,
        "kernel_share": 0.25,
        "cores_busy": 1.5,
        "peak_gib": 2.5,
        "minor_faults_per_s": 12345.0,
        "rc": 0,
    }
    results = _results()
    results["photos"] = _photos(user=_photo_run(cli={"init": {**train}, "train": train}))
    flat = " ".join(report.render(results).split())
    assert (
        "| `relabel train` as a user runs it (its own process, the final model included) |" in flat
    )
    assert "| CPU time: user + kernel (kernel share) | 15.0 min + 5.0 min (25.0% kernel) |" in flat
    assert "| cores busy on average (CPU time / wall time) | 1.50 |" in flat
    assert "| minor page faults per second | 12,345 |" in flat
    results["photos"] = _photos()  # a library-call run (older results): no CPU rows
    assert "kernel share" not in report.render(results)


def test_photos_report_only_reports_off_scale_or_reused_runs():
    small = _photo_run(folds=2, default_epochs=False, whole_seconds=60 * 60.0, reused=True)
    ph = _photos(user=small, throughput=None)
    results = _results()
    results["photos"] = ph
    checks = _photo_checks(results)
    assert [ok for _, ok in checks.values()] == [None] * 3
    assert ("60.0 min (timing of a run on 2026-12-03 10:00 UTC, reused)", None) in checks.values()
    flat = " ".join(report.render(results).split())
    assert "not at the targets' scale" in flat
    assert "The timing was measured on 2026-12-03 10:00 UTC and reused" in flat
    # a skipped section renders its reason, and no checks
    bare = _results()
    bare["photos"] = {"skipped": ["cifar10: not found"], "errors": {}}
    assert "Skipped: cifar10: not found" in report.render(bare)
    assert _photo_checks(bare) == {}


def test_photo_run_summary_from_train_oof_info():
    info = {
        "seconds": 100.0,
        "train_seconds": 95.0,
        "oof_accuracy": 0.7,
        "epochs": 20,
        "plan_epochs": None,
        "epochs_run": [20, 20],
        "folds": 2,
        "final_model": True,
        "key": "abc",
        "fingerprint": {"model": {"architecture": "resnet_small"}, "training": {"tta": True}},
        "reused": True,
        "train_call_seconds": 90.0,
        "decode_seconds": 5.0,
        "fold_seconds": [30.0, 31.0],
        "fold_images_per_second": [100.0, None],
        "final_model_seconds": 20.0,
        "final_model_images_per_second": 120.0,
        "measured": "2026-12-03 10:00 UTC",
    }
    s = photos.run_summary(info)
    assert s["folds_seconds"] == pytest.approx(66.0) and s["whole_seconds"] == 90.0
    assert s["default_epochs"] is True and s["images_per_second"] == 100.0
    assert s["reused"] is True and s["measured"] == "2026-12-03 10:00 UTC"
    assert s["config"]["architecture"] == "resnet_small" and s["config"]["tta"] is True
    assert photos.run_summary({**info, "plan_epochs": 3})["default_epochs"] is False
    old = {k: v for k, v in info.items() if k not in ("plan_epochs", "fold_seconds")}
    assert photos.run_summary(old)["default_epochs"] is False  # an older harness's info
    assert photos.run_summary(old)["folds_seconds"] is None


def _rgb_dataset(root: Path, n: int = 60, size: int = 8) -> datasets.BenchDataset:
    """A CIFAR-10-like dataset of ``n`` tiny RGB JPEGs: class colours, reference probs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    labels = np.arange(n) % 10
    (root / "img").mkdir(parents=True, exist_ok=True)
    ids, paths = [], []
    for i, y in enumerate(labels):
        colour = np.array([25 * y, 255 - 25 * y, (80 * y) % 256])
        pixels = np.clip(rng.normal(colour, 30, (size, size, 3)), 0, 255).astype(np.uint8)
        path = root / "img" / f"{i:03d}.jpg"
        Image.fromarray(pixels, mode="RGB").save(path)
        ids.append(f"cifar10_{i:05d}")
        paths.append(str(path))
    ds = datasets.BenchDataset(
        "cifar10", root, ids, paths, labels, datasets.CIFAR10_CLASSES, [size, size], 3
    )
    probs = rng.dirichlet(np.ones(10), n)
    probs[np.arange(n), labels] += 1.0
    ds.reference_probs = probs / probs.sum(axis=1, keepdims=True)
    ds.confirmed, ds.correctable = np.array([0, 7, 13]), {0: 1}
    return ds


def _votes(ds: datasets.BenchDataset) -> np.ndarray:
    """CIFAR-10H-like votes: every 7th image (of 9 classes) has 3 votes for the next class."""
    counts = np.zeros((ds.n, 10), dtype=np.int64)
    counts[np.arange(ds.n), ds.labels] = 40
    every7 = np.flatnonzero(np.arange(ds.n) % 7 == 0)
    counts[every7, (ds.labels[every7] + 1) % 10] = 3
    return counts


def _fake_train_oof(ds, given, plan, workdir, *, reuse=False, progress=None):
    """detection.train_oof without training: the given labels, made soft."""
    probs = np.full((ds.n, 10), 0.02)
    probs[np.arange(ds.n), given] = 0.82
    epochs = plan.epochs or 20
    info = {
        "seconds": 12.0,
        "train_seconds": 11.0,
        "oof_accuracy": 1.0,
        "epochs": epochs,
        "plan_epochs": plan.epochs,
        "epochs_run": [epochs] * plan.folds,
        "folds": plan.folds,
        "final_model": plan.final_model,
        "key": "fake",
        "fingerprint": {"model": {"architecture": "resnet_small"}, "training": {}},
        "reused": reuse,
        "train_call_seconds": 10.0,
        "decode_seconds": 1.0,
        "fold_seconds": [4.0] * plan.folds,
        "fold_images_per_second": [50.0] * plan.folds,
        "final_model_seconds": 2.0 if plan.final_model else None,
        "measured": "2026-12-03 10:00 UTC",
    }
    return probs, info


def _fake_sizes(ds, n_images, epochs, workdir):
    """photo_sizes.sizes without training: a rate per side."""
    rates = {32: 800.0, 64: 200.0, 128: 50.0}
    rows = [
        {
            "side": s,
            "images_per_second": r,
            "minutes_per_1000": photo_sizes.minutes_per_1000(r, 15, 5),
        }
        for s, r in rates.items()
    ]
    return {
        "n": n_images,
        "epochs": 2,
        "run_epochs": 15,
        "folds": 5,
        "architecture": "resnet_small",
        "rows": rows,
    }


def test_minutes_per_1000_images_count_every_model_of_a_run():
    # 5 folds on 800 images each and the final model on 1,000: 5,000 image-epochs per epoch
    assert photo_sizes.minutes_per_1000(100.0, 15, 5) == pytest.approx(15 * 5000 / 100 / 60)
    assert photo_sizes.minutes_per_1000(None, 15, 5) is None


def _fake_user_train(ds, workdir, *, folds=5, epochs=None, model=None):
    """user_run.user_train without processes: the fake run's figures plus CPU figures."""
    probs, info = _fake_train_oof(ds, ds.labels, detection.TrainPlan(epochs, folds, True), workdir)
    cpu = {"seconds": 10.0, "user_cpu_s": 3.0, "kernel_cpu_s": 1.0, "kernel_share": 0.25}
    cpu |= {"cores_busy": 0.4, "peak_gib": 1.0, "minor_faults_per_s": 10.0, "rc": 0}
    return probs, {**info, "init": {**cpu, "seconds": 1.0}, "train": cpu}


def test_photos_section_wiring_update_and_reuse_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """--sections photos --update: the other sections kept, every part run and rendered."""
    ds = _rgb_dataset(tmp_path / "data")
    monkeypatch.setattr(datasets, "load", lambda name, data, cache: ds)
    monkeypatch.setattr(detection, "train_oof", _fake_train_oof)
    monkeypatch.setattr(user_run, "user_train", _fake_user_train)
    monkeypatch.setattr(photo_sizes, "sizes", _fake_sizes)
    monkeypatch.delenv(photo_sizes.WEIGHTS_ENV, raising=False)
    rates = iter([100.0, 250.0])

    def fake_rate(paths, labels, n_classes, settings):
        return {
            "cache_images": settings.cache_images,
            "what": "x",
            "seconds": 1.0,
            "images_per_second": next(rates),
            "decode_seconds": None,
            "epochs_run": 2,
        }

    monkeypatch.setattr(photos, "_feed_rate", fake_rate)
    plan = dataclasses.replace(
        bench_main.QUICK, photos_train=True, photos_epochs=None, photos_throughput=(30, 2)
    )
    monkeypatch.setitem(bench_main.PLANS, "quick", plan)
    earlier = _results()
    earlier["review"] = {"skipped": "earlier"}
    earlier["meta"]["sections"]["review"] = {"command": "python -m benchmarks --quick"}
    js, out = tmp_path / "results.json", tmp_path / "BENCHMARKS.md"
    js.write_text(json.dumps(earlier), encoding="utf-8")
    argv = ["--quick", "--sections", "photos", "--update", "--out", str(out), "--json", str(js)]
    results = bench_main.run([*argv, "--cache", str(tmp_path / "cache"), "--reuse-oof"])
    assert results["errors"] == {} and results["review"] == earlier["review"]
    assert set(results["meta"]["sections"]) == {"review", "photos"}
    assert results["meta"]["sections"]["photos"]["digest"]  # its own provenance
    ph = results["photos"]
    assert ph["errors"] == {} and ph["skipped"] == [
        "the long run (twice the epochs) is off (--no-photos-long)"
    ]
    assert ph["user"]["final_model"] and ph["user"]["default_epochs"]
    assert ph["user"]["folds_seconds"] == pytest.approx(21.0)  # 5 folds x 4 s + decoding 1 s
    assert "original" not in ph and "human" not in ph  # detection is the protocol's
    assert ph["throughput"]["n"] == 30 and ph["throughput"]["ratio"] == pytest.approx(2.5)
    assert ph["throughput"]["architecture"] == "resnet_small"  # the photo defaults of init
    assert ph["user"]["cli"]["train"]["kernel_share"] == pytest.approx(0.25)
    assert not any(n.startswith("photos: out-of-fold") for n in results["notes"])  # never reused
    saved = json.loads(js.read_text())
    text = out.read_text()
    assert "## 4. Photos (CIFAR-10)" in text
    assert "The sections below come from 2 runs" in text
    assert "> **Stale** (review): no provenance recorded (computed by" in text
    assert "| CPU time: user + kernel (kernel share) | 0.1 min + 0.0 min (25.0% kernel) |" in text
    assert "| 128x128 | 50 | 25.0 min |" in text  # 15 epochs x 5,000 image-epochs at 50/s
    assert "Not measured: set RELABEL_BENCH_WEIGHTS" in text
    # a later --update of another section keeps the photos
    later = _results()
    later["meta"].update(command="python -m benchmarks --quick --update", sections={})
    bench_main.keep_earlier_sections(later, js, ["review"])
    assert later["photos"] == saved["photos"] and "photos" in later["meta"]["sections"]
    assert bench_main.FULL.photos_train and not bench_main.FULL.photos_long


def test_photos_section_smoke_trains_the_default_config(
    tmp_path: Path, trains: dict, test_engine: str
):
    """The photos runner end to end on 60 tiny JPEGs: 2 folds, 1 epoch, never reused.

    The user run is `relabel init` and `relabel train` in their own processes, trained by
    the test engine (the child inherits ``RELABEL_ENGINE``): the section's wiring, the
    project's photo config and its timings are what is checked here (Keras on the photo defaults is
    ``tests/test_photos.py``'s). The throughput rows measure Keras' ``fit_model`` itself,
    with and without the decode cache: those train Keras (2 fits of 40 images).
    """
    ds = _rgb_dataset(tmp_path / "data")
    plan = photos.PhotoPlan(epochs=1, folds=2, long=False, throughput=(40, 2), sizes=(20, 2))
    out = photos.run(ds, plan, photos.start(ds, plan), workdir=tmp_path / "w")
    assert out["errors"] == {}
    u = out["user"]
    assert u["folds"] == 2 and u["epochs"] == 1 and u["default_epochs"] is False
    assert u["config"]["architecture"] == "resnet_small"  # the photo defaults of init
    assert u["config"]["validation_fraction"] == 0.0 and u["config"]["tta"] is True
    assert u["whole_seconds"] > 0 and u["final_model_seconds"] > 0
    assert u["decode_seconds"] is not None and len(u["fold_seconds"]) == 2
    assert u["folds_seconds"] == pytest.approx(sum(u["fold_seconds"]) + u["decode_seconds"])
    rows = out["throughput"]["rows"]
    assert [r["cache_images"] for r in rows] == [False, True]
    assert rows[0]["decode_seconds"] is None and rows[1]["decode_seconds"] is not None
    assert out["throughput"]["ratio"] > 0
    again = dataclasses.replace(plan, throughput=None, sizes=None)
    reused = photos.run(ds, again, photos.start(ds, again), workdir=tmp_path / "w", reuse=True)
    # the user run measures the time a user waits: it trains again, even with reuse
    assert not reused["user"]["reused"] and reused["user"]["measured"]
    assert not photos.reuse_note(reused) and not photos.reuse_note(out)
    assert [r["side"] for r in out["sizes"]["rows"]] == [32, 64, 128]
    assert all(r["images_per_second"] > 0 for r in out["sizes"]["rows"])
    assert "skipped" in out["embed"]  # no weights file named
    train = u["cli"]["train"]
    assert train["rc"] == 0 and train["user_cpu_s"] > 0 and 0 <= train["kernel_share"] < 1
    results = _results()
    results["photos"] = out
    assert all(ok is None for _, ok in _photo_checks(results).values())  # not at scale
    assert "## 4. Photos (CIFAR-10)" in report.render(results)


def test_reviewers_section_compares_from_the_figures():
    """The reviewers section's sentences follow the figures they are given."""
    from benchmarks import report_reviewers

    def cycle(n, acc, wrong, left, tasks=90, corrected=40, gold=0):
        return {
            "cycle": n,
            "tasks": tasks,
            "gold_tasks": gold,
            "answers": 3 * tasks,
            "resolved": 80,
            "resolved_accuracy": acc,
            "corrected": corrected,
            "wrong_versions": wrong,
            "unresolved": 2,
            "tasks_per_correction": tasks / corrected,
            "answers_per_correction": 3 * tasks / corrected,
            "noise_left": left / 1797,
            "mislabeled_left": left,
        }

    rv = {
        "dataset": "digits",
        "noise": "1>7:0.3",
        "seed": 0,
        "cycles": 1,
        "accuracy": [0.95, 0.85, 0.6],
        "holdout": 300,
        "gold_fraction": 0.05,
        "arms": [
            {"arm": "majority", "initial_noise": 0.09, "cycles": [cycle(1, 0.90, 8, 60)]},
            {"arm": "dawid_skene", "initial_noise": 0.09, "cycles": [cycle(1, 0.95, 4, 50)]},
            {
                "arm": "dawid_skene + 5% gold",
                "initial_noise": 0.09,
                "cycles": [cycle(1, 0.97, 2, 40, tasks=95, gold=5)],
            },
            {
                "arm": "majority, no floor",
                "initial_noise": 0.09,
                "cycles": [cycle(1, 0.90, 8, 61, tasks=120)],
            },
        ],
    }
    text = "\n".join(report_reviewers.render(rv))
    assert "95.0% of the time, higher than majority's 90.0%" in text
    assert "With 5 gold task(s) mixed in" in text
    assert "fewest mislabelled samples were left by dawid_skene + 5% gold (40" in text
    assert "majority sent 90 task(s) for 40 correction(s) with it and 120" in text
    rv["arms"][1]["cycles"][0]["resolved_accuracy"] = 0.80
    assert "lower than majority's" in "\n".join(report_reviewers.render(rv))


def test_ray_section_compares_and_estimates_from_the_figures():
    """The Ray section's ratios and estimates follow the figures they are given."""
    from benchmarks import ray_executor, report_ray

    same = {"max_abs_diff": 0.0, "same_ranking": True}
    r = {
        "dataset": "digits",
        "n": 1797,
        "folds": 4,
        "epochs": 5,
        "cores": 2,
        "ray_version": "2.60.0",
        "ray_start_s": 6.0,
        "local_s": 40.0,
        "ray_serial_s": 60.0,
        "ray_parallel_s": 50.0,
        "ray_parallel_fold_fit_s": [18.0, 19.0, 18.5, 18.0],
        "overhead_s": 20.0,
        "fold_s": 10.0,
        "serial_vs_local": same,
        "parallel_vs_local": {"max_abs_diff": 2e-6, "same_ranking": False},
        "estimate": ray_executor.estimate(10.0, 4, 20.0),
    }
    text = "\n".join(report_ray.render(r))
    assert "| ray, one fold at a time (2 CPUs per fold) | 60.0 | 1.50x slower than |" in text
    assert "| ray, one fold per CPU (2 at once) | 50.0 | 1.25x slower than |" in text
    assert "largest difference 0.0e+00, the same ranking" in text
    assert "**a different ranking**" in text
    assert "overhead on this run is 20.0 s (50% of the local run)" in text
    # 10 s x ceil(4 / N) + 20 s against 10 x 4 + 20 = 60 s on one worker.
    assert [(e["workers"], e["seconds"]) for e in r["estimate"]] == [
        (1, 60.0),
        (2, 40.0),
        (4, 30.0),
        (8, 30.0),
    ]
    assert "| 4 | 30 | 2.00x |" in text
    assert "photos section" not in text
    r["local_s"], r["ray_parallel_s"] = 40.0, 20.0
    assert "2.00x faster than" in "\n".join(report_ray.render(r))
    assert "Not measured: `no ray`" in "\n".join(report_ray.render({"error": "no ray"}))


def _scale_size(n: int, k: int, seconds: float, peak: float) -> dict:
    steps = {
        name: {"seconds": seconds, "cpu_s": seconds / 2, "peak_gib": peak, "rc": 0}
        for name in ("init", "import-run", "score", "status", "export", "history", "report")
    }
    return {
        "n": n,
        "classes": k,
        "steps": steps,
        "history_call": {"open_s": 0.2, "query_s": 0.003, "rows": 1},
        "detection": {"n": n, "planted": n // 20, "precision_at_k": 0.59, "top5_precision": 0.6},
        "detection_sample": {
            "n": 10_000,
            "planted": 500,
            "precision_at_k": 0.58,
            "top5_precision": 0.59,
        },
    }


def test_scale_section_renders_every_step_and_checks_the_targets_at_1m():
    from benchmarks import report_scale, scale

    sc = {
        "targets": scale.TARGETS,
        "target_peak_gib": scale.TARGET_PEAK_GIB,
        "sizes": [
            _scale_size(100_000, 10, 1.0, 0.5),
            _scale_size(1_000_000, 10, 4.0, 1.5),
            _scale_size(100_000, 1000, 9.0, 2.0),
        ],
    }
    checks = {what: (measured, ok) for what, measured, ok in report_scale.checks(sc)}
    assert checks["scale: `relabel status` at 1,000,000 x 10 within 5 s"] == (
        "4.0 s (2.0 s CPU)",
        True,
    )
    assert not checks[
        "scale: `relabel history` of one sample (the whole command) at 1,000,000 x 10 within 0.1 s"
    ][1]  # the CLI's start alone is more
    assert checks["scale: peak memory of any step at 1,000,000 x 10 within 4 GiB"][1]
    text = "\n".join(report_scale.render(sc))
    assert (
        "| `relabel score` (ranking, lanes, Parquet out) | 1.0 s (0.5 s CPU) | 4.0 s (2.0 s "
        in text
    )
    assert "4.0x CPU for 10x rows" in text
    assert "**100,000 samples x 1,000 classes:**" in text
    assert "the ranking does not change with size" in text
    sc["sizes"][1]["steps"]["score"] = {"seconds": 99.0, "cpu_s": 1.0, "peak_gib": 5.0, "rc": 0}
    checks = {what: ok for what, _, ok in report_scale.checks(sc)}
    assert (
        checks["scale: `relabel score` (ranking, lanes, Parquet out) at 1,000,000 x 10 within 30 s"]
        is False
    )
    assert checks["scale: peak memory of any step at 1,000,000 x 10 within 4 GiB"] is False
    small = {**sc, "sizes": sc["sizes"][:1]}  # below 1M: reported, never a pass
    assert all(ok is None for _, _, ok in report_scale.checks(small))
