"""The benchmark harness: candidate rankings, detection measures, and a small quick-mode run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import __main__ as bench_main
from benchmarks import datasets, detection, human_noise, report
from relabel import metrics, scoring
from relabel.config import Config, ModelConfig, TrainingConfig
from relabel.demo import inject_noise
from relabel.errors import DatasetError

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


def test_heldout_settings_are_not_selection_settings():
    ds = _fake_dataset()
    counts = np.zeros((ds.n, 10), dtype=np.int64)
    counts[np.arange(ds.n), ds.labels] = 48
    counts[np.arange(ds.n), (ds.labels + 1) % 10] = np.arange(ds.n) % 4  # 0..3 wrong votes
    main = detection.main_settings(ds)
    held = detection.heldout_settings(ds, seeds=(1, 2), human_counts=counts)
    assert [(s.spec, s.seed) for s in main] == [
        ("sym:0.1", 0),
        ("sym:0.3", 0),
        ("3>5:0.3,1>9:0.3,4>7:0.3", 0),
    ]
    assert [(s.spec, s.seed) for s in held] == [
        ("sym:0.1", 1),
        ("sym:0.3", 1),
        ("3>5:0.3,1>9:0.3,4>7:0.3", 1),
        ("sym:0.1", 2),
        ("sym:0.3", 2),
        ("3>5:0.3,1>9:0.3,4>7:0.3", 2),
        ("2>0:0.3,9>1:0.3,6>3:0.3", 0),
        ("human-sampled", 0),
        ("human-worst", None),
    ]
    assert not {(s.spec, s.seed) for s in held} & {(s.spec, s.seed) for s in main}
    assert len({s.tag for s in main + held}) == len(main) + len(held)  # own work folders
    for s in held:
        assert np.array_equal(s.is_error, s.given != ds.labels)
    worst = held[-1]
    assert worst.is_error.sum() == (np.arange(ds.n) % 4 >= 2).sum()  # the 2-votes rule
    assert held[0].is_error.sum() == round(0.1 * ds.n)
    # relabel's CNN: every digits setting; on CIFAR-10 the human-noise ones, unless told not to
    human = {s.tag for s in held if s.spec in human_noise.SETTINGS}
    assert len(human) == 2
    assert bench_main._heldout_trained("cifar10", held) == human
    assert bench_main._heldout_trained("cifar10", held, human_cnn=False) == set()
    assert bench_main._heldout_trained("digits", held, human_cnn=False) == {s.tag for s in held}


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
    moved = Config(name="elsewhere")
    moved.dataset.path = "/somewhere/else/manifest.csv"
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


def _row(
    setting: str,
    cleanlab: tuple[int, float],
    methods: dict[str, tuple[float | None, float, float]],
    *,
    spec: str = "sym:0.1",
    seed: int | None = 0,
    accuracy: float = 0.9,
) -> dict:
    """A hand-made setting: ``methods[name] = (p_at_flagged, p_at_k, p_at_5pct)``."""
    flagged, precision = cleanlab
    return {
        "dataset": "digits",
        "source": SOURCE,
        "setting": setting,
        "spec": spec,
        "seed": seed,
        "n": 1000,
        "k": 100,
        "k5": 50,
        "accuracy": accuracy,
        "cleanlab": {"flagged": flagged, "precision": precision, "recall": 0.5, "hits": 1},
        "methods": {
            name: {
                "p_at_flagged": a,
                "p_at_k": b,
                "p_at_5pct": c,
                "recall_at_2k": 0.9,
                "auroc": 0.9,
            }
            for name, (a, b, c) in methods.items()
        },
        "confirmed": {},
        "notes": "",
        "seconds": 1.0,
    }


def _results(settings: list[dict], heldout: list[dict] | None = None) -> dict:
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
        },
        "errors": {},
        "notes": [],
        "detection": {
            "default_method": "noise_posterior",
            "settings": settings,
            "heldout": heldout or [],
            "skipped": [],
            "heldout_skipped": [],
            "heldout_pairs": {"digits": "4>9:0.3,2>7:0.3,0>6:0.3"},
            "train_note": "t",
        },
    }


def _same_cutoff_check(results: dict) -> tuple[str, str, bool | None]:
    [check] = [c for c in report.checks(results) if "at cleanlab's cutoff: precision" in c[0]]
    return check


def test_acceptance_compares_at_cleanlabs_cutoff_not_at_k():
    # p@k (0.99) above cleanlab's precision (0.90), but at cleanlab's cutoff 0.85: FAIL
    high_k = _row("a", (100, 0.90), {"noise_posterior": (0.85, 0.99, 0.9)})
    what, measured, ok = _same_cutoff_check(_results([high_k]))
    assert ok is False and measured == "0 of 1 settings"
    assert "p@k" not in what and "precision@k" not in what
    # p@k (0.50) below cleanlab, but at cleanlab's cutoff 0.95: pass
    low_k = _row("b", (100, 0.90), {"noise_posterior": (0.95, 0.50, 0.9)})
    assert _same_cutoff_check(_results([low_k]))[2] is True
    assert _same_cutoff_check(_results([low_k, high_k]))[1:] == ("1 of 2 settings", False)
    # a tie passes; nothing flagged is not compared
    tie = _row("c", (100, 0.90), {"noise_posterior": (0.90, 0.1, 0.1)})
    none = _row("d", (0, 0.0), {"noise_posterior": (None, 0.1, 0.1)})
    _, measured, ok = _same_cutoff_check(_results([tie, none]))
    assert ok is True and measured.startswith("1 of 1 settings")


def _losing_results() -> dict:
    main = [
        _row(
            "symmetric 10% (sym:0.1, seed 0)",
            (100, 0.90),
            {
                "noise_posterior": (0.95, 0.99, 0.90),
                "self_confidence": (0.97, 0.99, 0.95),
                "random": (0.1, 0.1, 0.1),
            },
        ),
        _row(
            "class pairs 30% (1>7:0.3,3>8:0.3,5>6:0.3, seed 0)",
            (120, 0.80),
            {
                "noise_posterior": (0.70, 0.95, 0.70),  # p@k above cleanlab, cutoff below
                "self_confidence": (0.60, 0.50, 0.60),
                "random": (0.1, 0.1, 0.1),
            },
            spec="1>7:0.3,3>8:0.3,5>6:0.3",
            accuracy=0.5,
        ),
    ]
    heldout = [
        _row(
            "symmetric 10% (sym:0.1, seed 1)",
            (100, 0.90),
            {
                "noise_posterior": (0.85, 0.95, 0.80),
                "self_confidence": (0.92, 0.90, 0.90),
                "random": (0.1, 0.1, 0.1),
            },
            seed=1,
        )
    ]
    return _results(main, heldout)


def test_report_states_losses_and_never_a_false_claim():
    text = report.render(_losing_results())
    flat = " ".join(text.split())
    # the old hard-coded claims are gone, true or not
    assert "at its own cutoff relabel is at least as precise" not in flat
    assert "at cleanlab's own cutoff the default is at least as precise" not in flat
    assert "a cutoff effect" not in flat
    assert "The default is the method with the best mean" not in flat
    # the selection settings: one loss at cleanlab's cutoff, stated with its figures
    assert "is at least as precise as cleanlab's `find_label_issues` on every one" not in flat
    assert "LESS precise than cleanlab's `find_label_issues` on 1 of 2 settings" in flat
    assert "p@flagged 0.700 vs cleanlab 0.800 on 120 flagged" in flat
    assert "12 true errors fewer than cleanlab among the same 120 samples" in flat
    assert "BELOW cleanlab's mean precision 0.850" in flat
    # held out: the default loses to self_confidence and to cleanlab, and the report says so
    assert "the default (noise_posterior) LOSES on the held-out settings" in flat
    assert "best: self_confidence 0.920 vs the default's 0.850" in flat
    assert "holds up" not in flat
    assert "at least as precise as cleanlab on 0 of 1, at least as precise as " in flat
    assert "self_confidence on 0 of 1, and both on 0 of 1" in flat
    assert "does NOT have the highest mean precision at cleanlab's cutoff over the 1 setting" in (
        flat
    )
    # the acceptance table: the same-cutoff check fails, the held-out one is reported
    assert "| 1 of 2 settings | **FAIL** |" in text
    assert "| 0 of 1 >= cleanlab; 0 of 1 >= self_confidence | (reported) |" in text
    # every table has the top-5% column
    assert "| method | p@flagged | precision@k | top 5% | recall@2k | AUROC |" in text
    assert "top 5% = 50 samples" in text
    # the results file is named
    assert "`build/benchmarks-quick.json`" in text


def test_report_says_the_default_holds_up_only_when_it_does():
    winning = _losing_results()
    det = winning["detection"]
    det["settings"] = det["settings"][:1]
    det["settings"][0]["methods"]["self_confidence"].update(p_at_flagged=0.93, p_at_5pct=0.85)
    det["heldout"][0]["methods"]["noise_posterior"]["p_at_flagged"] = 0.95
    det["heldout"][0]["methods"]["noise_posterior"]["p_at_5pct"] = 0.95
    flat = " ".join(report.render(winning).split())
    assert "LOSES" not in flat and "LESS precise" not in flat and "does NOT" not in flat
    assert "holds up on the held-out settings" in flat
    assert "is at least as precise as cleanlab's `find_label_issues` on every one of the 1" in (
        flat
    )
    assert "has the highest mean precision at cleanlab's cutoff of the 2 rankings" in flat
    assert _same_cutoff_check(winning)[2] is True


def test_from_json_rerenders_and_names_the_json(tmp_path: Path):
    src = tmp_path / "BENCHMARKS.json"
    src.write_text(json.dumps(_losing_results()), encoding="utf-8")
    results = bench_main.run(["--from-json", str(src)])
    assert results["exit_code"] == 0
    text = (tmp_path / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert f"`python -m benchmarks --from-json {src}" in text
    assert "Held out: settings not used to choose the default" in text


def test_update_keeps_the_sections_not_rerun_with_their_provenance(tmp_path: Path):
    earlier = _losing_results()
    earlier["review"] = {"cycles": "earlier review"}
    earlier["speed"] = {"cycle": {"seconds": 9.0}, "scoring": "earlier scoring"}
    earlier["errors"] = {"memory": "MemoryError: earlier"}
    src = tmp_path / "results.json"
    src.write_text(json.dumps(earlier), encoding="utf-8")
    now = _results([])
    now["meta"].update(command="python -m benchmarks --quick --update", sections={})
    bench_main.keep_earlier_sections(now, src, ["speed"])
    assert now["detection"] == earlier["detection"] and now["review"] == earlier["review"]
    assert "scoring" not in now.get("speed", {})  # speed is re-run: only the cycle time stays
    assert now["speed"]["cycle"] == {"seconds": 9.0}
    assert now["errors"] == {"memory": "MemoryError: earlier"}
    assert set(now["meta"]["sections"]) == {"detection", "review"}
    assert now["meta"]["sections"]["review"]["command"] == earlier["meta"]["command"]
    now["meta"]["sections"]["speed"] = {"command": now["meta"]["command"], "date": "d"}
    text = "\n".join(report._provenance(now["meta"]))
    assert "Sections come from more than one run" in text
    assert f"- review: `{earlier['meta']['command']}`" in text
    full = _results([])
    full["meta"]["mode"] = "full"
    with pytest.raises(SystemExit, match="quick results, not full"):
        bench_main.keep_earlier_sections(full, src, ["speed"])
    with pytest.raises(SystemExit, match="no earlier results"):
        bench_main.keep_earlier_sections(now, tmp_path / "missing.json", ["speed"])


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


def test_quick_mode_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trains: dict):
    """A scaled-down quick run: every section but review, the report and the JSON."""
    small = dataclasses.replace(
        bench_main.QUICK,
        digits_epochs=1,
        scoring_n=20_000,
        scoring_repeat=1,
        throughput=(("digits", 2, 600),),
        studio_tasks=0,
        memory_sizes=(300, 1800),
        heldout_seeds=(),  # held out: only the other class pairs (and CIFAR-10H on the pyx)
    )
    monkeypatch.setitem(bench_main.PLANS, "quick", small)
    out, js = tmp_path / "BENCHMARKS.md", tmp_path / "results.json"
    argv = ["--quick", "--sections", "detection,speed,memory", "--out", str(out)]
    results = bench_main.run([*argv, "--json", str(js), "--cache", str(tmp_path / "cache")])
    assert results["errors"] == {}
    assert results["exit_code"] == 0
    assert json.loads(js.read_text())["meta"]["mode"] == "quick"

    det = results["detection"]
    settings = det["settings"]
    digits = [s for s in settings if s["dataset"] == "digits"]
    assert len(digits) == 3 and all(s["source"].startswith("relabel ") for s in digits)
    assert len(settings) == 3 + (8 if HAVE_DATA else 0)
    for s in settings:
        assert s["methods"][scoring.DEFAULT_METHOD]["p_at_k"] > s["methods"]["random"]["p_at_k"]
        assert s["k5"] == detection.review_cut(s["n"])
        assert all("p_at_5pct" in m for m in s["methods"].values())
    heldout = det["heldout"]
    held_digits = [s for s in heldout if s["dataset"] == "digits"]
    assert [s["spec"] for s in held_digits] == [datasets.HELDOUT_PAIR_NOISE["digits"]]
    assert held_digits[0]["source"].startswith("relabel ")  # the digits held out are trained
    human = 2 if HAVE_CIFAR10H else 0
    assert len(heldout) == 1 + ((1 + 1 + human) if HAVE_DATA else 0)
    assert all(s["source"].startswith("reference") for s in heldout if s["dataset"] != "digits")
    assert results["speed"]["cycle"]["folds"] == 5  # the digits pair-noise run's cycle time
    case = results["speed"]["scoring"]["cases"][0]
    assert case["n"] == 20_000 and case["relabel_s"] > 0 and case["cleanlab_s"] > 0
    assert results["speed"]["throughput"][0]["train_images_per_s"] > 0
    mem = results["memory"]
    assert [r["n"] for r in mem["rows"]] == [300, 1800]
    assert mem["ratio"] < 1.5

    text = out.read_text()
    for heading in (
        "## Acceptance checks",
        "## 1. Detection quality",
        "### Held out: settings not used to choose the default",
        "## 3. Speed and memory",
        "## Machine, versions, command",
    ):
        assert heading in text
    assert str(js.resolve()) in text  # the results file is named
    checks = report.checks(results)
    assert any("at cleanlab's cutoff: precision in its top N" in what for what, _, _ in checks)
    # every figure of the summary table comes from the results
    first = digits[0]
    assert f"{first['cleanlab']['precision']:.3f}" in text
