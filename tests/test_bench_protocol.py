"""The benchmark protocol: intervals, paired verdicts, the halves, provenance and --check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from benchmarks import __main__ as bench_main
from benchmarks import checking, evaluate, provenance, settings, stats
from benchmarks.datasets import BenchDataset

# --------------------------------------------------------------------------------------
# stats


def _seed(n: int, rate: float, signal: float, rng: np.random.Generator) -> stats.SeedRankings:
    err = rng.random(n) < rate
    good = err * signal + rng.normal(0, 1, n)
    return stats.SeedRankings(
        err, {"good": good, "copy": good.copy(), "noise": rng.random(n), "worse": good * 0.0}
    )


def test_each_figure_on_the_full_sample_is_the_one_computed_by_hand():
    rng = np.random.default_rng(1)
    seeds = [_seed(800, 0.1, 1.5, rng) for _ in range(3)]
    result = evaluate.evaluate_half(seeds, "good", checked=50, top_fraction=0.05)
    for name in ("good", "noise"):
        figs = result["rankings"][name]
        for s, auc, p_top, p_k, hits in zip(
            seeds,
            figs["auroc"]["per_seed"],
            figs["p_top"]["per_seed"],
            figs["p_at_k"]["per_seed"],
            figs["hits_checked"]["per_seed"],
            strict=True,
        ):
            order = stats.order_of(s.scores[name])
            assert auc == pytest.approx(roc_auc_score(s.is_error, s.scores[name]))
            assert p_top == pytest.approx(s.is_error[order[:40]].mean())
            assert p_k == pytest.approx(s.is_error[order[: s.is_error.sum()]].mean())
            assert hits == s.is_error[order[:50]].sum()
        for est in figs.values():
            assert est["low"] <= est["mean"] <= est["high"]


def test_a_tie_is_a_tie_and_a_win_needs_an_interval_above_zero():
    rng = np.random.default_rng(2)
    seeds = [_seed(2000, 0.05, 3.0, rng) for _ in range(3)]
    versus = evaluate.evaluate_half(seeds, "good", None, 0.05)["vs_default"]
    same = versus["copy"]["p_top"]
    assert same["mean"] == same["low"] == same["high"] == 0.0 and same["verdict"] == "tie"
    assert versus["noise"]["p_top"]["verdict"] == "higher"
    assert versus["noise"]["p_top"]["low"] > 0
    assert stats.verdict(stats.Estimate(0.01, -0.001, 0.02, (0.01,))) == "tie"
    assert stats.verdict(stats.Estimate(-0.01, -0.02, -0.001, (-0.01,))) == "lower"


def test_intervals_are_deterministic():
    rng = np.random.default_rng(3)
    seeds = [_seed(500, 0.1, 1.0, rng)]
    a = evaluate.evaluate_half(seeds, "good", None, 0.05)
    b = evaluate.evaluate_half(seeds, "good", None, 0.05)
    assert a == b


# --------------------------------------------------------------------------------------
# the protocol's label settings


def _dataset(n_per_class: int = 40, k: int = 4, confirmed: int = 6) -> BenchDataset:
    labels = np.repeat(np.arange(k), n_per_class)
    return BenchDataset(
        name="toy",
        root=Path("."),
        ids=[str(i) for i in range(labels.size)],
        paths=[f"{i}.png" for i in range(labels.size)],
        labels=labels,
        classes=tuple(str(c) for c in range(k)),
        image_size=[8, 8],
        channels=1,
        reference_probs=None,
        confirmed=np.arange(0, labels.size, labels.size // confirmed)[:confirmed],
        correctable={},
    )


def test_halves_split_every_class_and_the_confirmed_errors_evenly_by_a_fixed_seed():
    ds = _dataset()
    tuning = settings.split_halves(ds, 2026)
    assert np.array_equal(tuning, settings.split_halves(ds, 2026))
    assert not np.array_equal(tuning, settings.split_halves(ds, 7))
    for c in range(4):
        assert abs(int(tuning[ds.labels == c].sum()) - 20) <= 1
    assert abs(int(tuning[ds.confirmed].sum()) - 3) <= 1


def test_asymmetric_noise_flips_the_rate_of_each_class_along_its_confusions():
    labels = np.repeat(np.arange(3), 100)
    confusions = np.array([[0, 1.0, 0], [0, 0, 1.0], [0.5, 0.5, 0]])
    given = settings.asymmetric_labels(labels, confusions, 0.05, seed=0)
    assert np.array_equal(given, settings.asymmetric_labels(labels, confusions, 0.05, seed=0))
    for c in range(3):
        assert int((given[labels == c] != c).sum()) == 5
    assert set(given[(labels == 0) & (given != 0)]) == {1}
    assert set(given[(labels == 2) & (given != 2)]) <= {0, 1}


def test_the_declared_protocol_reads_and_names_tuning_and_heldout_rows():
    declared = settings.load_protocol()
    assert declared.top_fraction == 0.05 and declared.split_seed == 2026
    keys = [s.key for s in declared.settings]
    assert "cifar10/original" in keys and "cifar10/human-sampled" in keys
    assert all(len(s.seeds) >= 3 for s in declared.settings if s.key == "cifar10/original")
    mnist = next(s for s in declared.settings if s.dataset == "mnist")
    assert mnist.halves == ("heldout",)  # nothing is chosen on MNIST


# --------------------------------------------------------------------------------------
# provenance and --check


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "relabel" / "ranking").mkdir(parents=True)
    (root / "relabel" / "ranking" / "scores.py").write_text("A = 1\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    return root


def test_a_section_is_current_until_its_code_changes(tmp_path: Path):
    root = _repo(tmp_path)
    record = provenance.record("speed", "python -m benchmarks --full", 0.0, False, root)
    assert provenance.staleness("speed", record, root) is None
    assert record["commit"] and not record["dirty"] and record["calibration"]["matmul_s"] > 0
    (root / "relabel" / "ranking" / "scores.py").write_text("A = 2\n")
    why = provenance.staleness("speed", record, root)
    assert why and "relabel/ranking/scores.py" in why
    assert provenance.staleness("speed", None, root) == "no provenance recorded"


def _quick_run(tmp_path: Path) -> tuple[Path, Path, dict]:
    """The quick protocol on the digits, trained by the test engine (3 seeds, 2 settings)."""
    out, js = tmp_path / "B.md", tmp_path / "B.json"
    argv = ["--quick", "--sections", "protocol", "--out", str(out), "--json", str(js)]
    results = bench_main.run([*argv, "--cache", str(tmp_path / "cache")])
    return out, js, results


def test_quick_protocol_renders_every_ranking_with_intervals_and_checks(
    tmp_path: Path, test_engine: str
):
    out, js, results = _quick_run(tmp_path)
    assert results["exit_code"] == 0 and results["errors"] == {}
    p = results["protocol"]
    assert p["scale"] == "quick" and not p["missing"]
    assert [s["seeds"] for s in p["settings"]] == [[0, 1, 2], [0, 1, 2]]
    for s in p["settings"]:
        assert set(s["halves"]) == {"tuning", "heldout"}
        for half in s["halves"].values():
            assert {"cleanlab_quality", p["default"], "self_confidence"} <= set(half["rankings"])
            for name, d in half["vs_default"].items():
                assert d["p_top"]["verdict"] in ("higher", "tie", "lower"), name
    prov = results["meta"]["sections"]["protocol"]
    assert prov["engine"] == test_engine and prov["scale"] == "quick"
    text = out.read_text()
    assert "QUICK: the digits at small scale" in text
    assert f"with the training engine `{test_engine}`" in text
    assert "```toml" in text and "[[settings]]" in text  # the protocol file, printed
    # the figures half of --check: the report is the JSON rendered ...
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- benchmarks:how-well -->\nold\n<!-- /benchmarks:how-well -->\n")
    assert checking.check("figures", json_path=js, out=out, readme=readme) == [
        "README.md: block 'how-well' is not the one BENCHMARKS.json gives (run `python -m "
        "benchmarks --from-json BENCHMARKS.json` to rewrite it)"
    ]
    assert checking.write_readme_blocks(json.loads(js.read_text()), readme)
    assert "Held-out settings (QUICK scale" in readme.read_text()
    assert checking.check("figures", json_path=js, out=out, readme=readme) == []
    # ... and a figure edited by hand is caught
    edited = text.replace(f"{p['settings'][0]['noise_rate']:.3f}", "0.999", 1)
    assert edited != text
    out.write_text(edited)
    [problem] = checking.check("figures", json_path=js, out=out, readme=readme)
    assert "is not B.json rendered" in problem


def test_check_passes_on_fresh_digests_and_fails_on_an_altered_one(tmp_path: Path):
    root = _repo(tmp_path)
    results = {"meta": {"sections": {"speed": provenance.record("speed", "c", 0.0, True, root)}}}
    js = tmp_path / "B.json"
    js.write_text(json.dumps(results))
    assert checking.check("stale", json_path=js, root=root) == []
    results["meta"]["sections"]["speed"]["digest"] = "0" * 16
    js.write_text(json.dumps(results))
    [problem] = checking.check("stale", json_path=js, root=root)
    assert problem.startswith("section speed is stale: its code changed since")


def test_the_published_benchmarks_are_the_json_rendered():
    """make test's half of --check: BENCHMARKS.md and README's blocks are BENCHMARKS.json's."""
    assert checking.check("figures") == []


def test_every_section_has_its_dependencies_declared():
    assert set(bench_main.SECTIONS) == set(provenance.DEPENDS)


def test_a_stitched_file_gives_make_bench_time_as_the_sum_of_its_measured_parts():
    from benchmarks import readme_blocks

    sections = {
        name: {"command": f"run {name}", "wall_seconds": 600.0} for name in provenance.DEPENDS
    }
    sections["protocol"]["wall_seconds"] = 60.0
    meta = {"mode": "full", "command": "x --update", "machine": {"cores": 2}, "sections": sections}
    runs = [{"reused": True, "train_seconds": 1800.0}, {"reused": False, "train_seconds": 900.0}]
    said = readme_blocks.run_time(meta, {"protocol": {"runs": runs}})
    others = 600 * (len(provenance.DEPENDS) - 1) + 60
    assert f"come from {len(provenance.DEPENDS)} run(s)" in said
    assert f"add up to {readme_blocks._duration(1800 + others)} on 2 cores" in said
    assert f"({readme_blocks._duration(1800)} of protocol trainings" in said
    # a section without its wall time: no sum is claimed
    del sections["ray"]["wall_seconds"]
    assert "no end-to-end `make bench` time" in readme_blocks.run_time(meta, {})


#: The modules each section's code starts from (``benchmarks/__main__.py`` calls them).
SECTION_ENTRY = {
    "protocol": ("protocol", "settings"),
    "review": ("review",),
    "reviewers": ("reviewers", "floor_probe"),
    "speed": ("speed", "bench_scoring"),
    "memory": ("memory",),
    "photos": ("photos",),
    "studio": ("speed", "bench_studio"),
    "ray": ("ray_executor",),
    "issues": ("issues",),
    "serve": ("serve",),
}


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(benchmarks modules, relabel paths) that benchmarks/``module``.py imports, anywhere."""
    import ast

    tree = ast.parse((provenance.ROOT / "benchmarks" / f"{module}.py").read_text())
    bench: set[str] = set()
    ours: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [a.name for a in node.names]
            if node.module == "benchmarks":
                bench.update(names)
            elif node.module.startswith("benchmarks."):
                bench.add(node.module.split(".")[1])
            elif node.module == "relabel":
                ours.update(f"relabel/{n}" for n in names)
            elif node.module.startswith("relabel."):
                ours.add("relabel/" + "/".join(node.module.split(".")[1:]))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("relabel."):
                    ours.add("relabel/" + "/".join(a.name.split(".")[1:]))
    return bench, ours


def _covered(path: str, declared: tuple[str, ...]) -> bool:
    root = provenance.ROOT
    if not (root / path).is_dir() and not (root / path).exists():
        path += ".py"  # a module, not a package
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in declared)


@pytest.mark.parametrize("section", sorted(SECTION_ENTRY))
def test_a_section_declares_every_file_its_code_imports(section: str):
    """What a section imports, from its entry modules on, is in its DEPENDS (or COMMON)."""
    declared = (*provenance.COMMON, *provenance.DEPENDS[section])
    todo = [*SECTION_ENTRY[section], "datasets"]
    seen: set[str] = set()
    missing: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        bench, ours = _imports(module)
        missing |= {
            f"benchmarks/{m}.py" for m in bench if not _covered(f"benchmarks/{m}", declared)
        }
        missing |= {p for p in ours if not _covered(p, declared)}
        todo += sorted(bench)
    assert not missing, f"{section} depends on {sorted(missing)} without declaring them"


def test_cleanlab_flagged_set_is_compared_with_the_default_cut_at_the_same_count():
    err = np.array([1, 1, 0, 0, 0, 1, 0, 0], bool)
    flag = np.array([1, 0, 1, 0, 0, 0, 0, 0], bool)  # 2 flagged, 1 right
    score = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.7, 0.0, 0.4])  # top 2: both errors
    f = evaluate.flagged_figures([err], [flag], [score])
    assert (f["flagged"], f["precision"], f["recall"]) == (2.0, 0.5, 1 / 3)
    assert (f["default_precision"], f["default_recall"]) == (1.0, 2 / 3)
    assert "default_precision" not in evaluate.flagged_figures([err], [flag])


def test_the_scoring_stages_timed_are_score_samples_own_steps():
    from benchmarks import bench_scoring
    from relabel.ranking import score_samples

    given, probs, _ = bench_scoring.make_probs(2000, 10, seed=3)
    times, (susp, order) = bench_scoring.stage_times(given, probs, repeat=1)
    assert list(times) == list(bench_scoring.STAGES) and all(t >= 0 for t in times.values())
    scores = score_samples(given, probs)
    np.testing.assert_array_equal(susp, scores.suspicion)
    np.testing.assert_array_equal(order, scores.order)


def test_knn_disagreement_looks_for_neighbours_within_the_fold_only():
    """Each fold's model embeds in its own space: neighbours never come from another fold."""
    from benchmarks import signals

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(40, 8)).astype(np.float16)
    emb = np.concatenate([emb, emb])  # the same points in both folds...
    labels = np.repeat([0, 1], 40)  # ...labelled 0 in fold 1 and 1 in fold 2
    probs = np.full((80, 2), 0.5)
    folds = np.repeat([1, 2], 40)
    within = signals.knn_disagreement(signals.RunOutputs(labels, probs, emb, folds), k=5)
    assert within is not None and np.all(within == 0.0)
    across = signals.knn_disagreement(signals.RunOutputs(labels, probs, emb), k=5)
    assert across is not None and across.mean() > 0.3  # the twin in the other fold disagrees
    labels[3] = 1  # one wrong label in fold 1: its fold-1 neighbours all say 0
    flagged = signals.knn_disagreement(signals.RunOutputs(labels, probs, emb, folds), k=5)
    assert flagged is not None and flagged[3] == 1.0 and flagged.argmax() == 3


# --------------------------------------------------------------------------------------
# issue 24's targets and the probability ideas, rendered from the figures


def _trainings(n: int = 600, k: int = 4, seeds: int = 3) -> tuple[list, np.ndarray]:
    """Synthetic trainings of the same labels: each seed's probabilities a noisy view."""
    from benchmarks import protocol
    from benchmarks.settings import LabelSetting, SettingSpec

    rng = np.random.default_rng(5)
    labels = rng.integers(0, k, n)
    is_error = rng.random(n) < 0.05
    truth = np.where(is_error, (labels + 1) % k, labels)
    spec = SettingSpec("cifar10", "original", "confirmed", tuple(range(seeds)), ("heldout",))
    runs = []
    for seed in range(seeds):
        logits = rng.normal(0, 1.0, (n, k))
        logits[np.arange(n), truth] += 1.5
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        setting = LabelSetting(spec, seed, labels, is_error)
        runs.append(protocol.Done(setting, probs, {"oof_accuracy": 0.7}))
    reference = np.full((n, k), 0.01)
    reference[np.arange(n), truth] = 0.97
    return runs, reference


def test_probability_ideas_rank_each_source_and_render_the_targets():
    from benchmarks import protocol, report_targets
    from relabel import scoring

    runs, reference = _trainings()
    half = np.arange(len(reference)) % 2 == 0
    masks = {"heldout": half}
    ideas = protocol.probability_ideas(runs, reference, masks, 0.05)
    sources = ["one training", "mean of 2 trainings", "mean of 3 trainings", "reference"]
    assert ideas["sources"] == sources
    h = ideas["halves"]["heldout"]
    acc = h["accuracy"]
    given = runs[0].setting.given
    own = np.mean([(d.probs[half].argmax(1) == given[half]).mean() for d in runs])
    assert acc["one training"] == pytest.approx(own)  # on the half, mean over the seeds
    assert acc["one training"] < acc["mean of 3 trainings"] <= acc["reference"]
    default = scoring.DEFAULT_METHOD
    ref = h["rankings"][f"{default}, reference"]["hits_checked"]
    # the reference knows every error: its top `checked` holds min(errors, checked) of them
    assert ref["mean"] == min(int(runs[0].setting.is_error[half].sum()), h["checked"])
    pairs = {(d["a"], d["b"]) for d in h["differences"]}
    assert (f"{default}, reference", f"{default}, one training") in pairs
    assert (f"{default}, reference", "cleanlab_quality, reference") in pairs
    # the rows of a full protocol, with the targets rendered from them
    spec = runs[0].setting.spec
    p = {
        "scale": "full",
        "default": default,
        "top_fraction": 0.05,
        "settings": [protocol.aggregate(spec, runs, masks, 0.05)],
        "probabilities": ideas,
        "runs": [{"train_seconds": 600.0}, {"train_seconds": 720.0}],
    }
    rows = report_targets.checks(p)
    hits, never = rows[0], rows[-1]
    assert hits[0].startswith("issue 24, cifar10/original (held out)")
    mean = p["settings"][0]["halves"]["heldout"]["rankings"][default]["hits_checked"]["mean"]
    assert hits[2] is (mean >= report_targets.HITS_TARGET)
    assert never[2] in (True, False)
    # settings not trained are rows that say so, never a pass
    missing = rows[1:-1]
    assert len(missing) == 4 and all(r[2] is None and "not measured" in r[1] for r in missing)
    text = "\n".join(report_targets.render(p))
    assert "### Issue 24's targets, and what was tried" in text
    assert "`fusion:noise_posterior+self_confidence`" in text
    assert f"{acc['reference']:.3f}" in text and "mean of 2 trainings" in text
    assert "(2 trainings, 11 min each on average when trained)" in text
    assert "upper bound" in text and "reference probabilities (accuracy" not in text
    # one seed: reported, not judged
    one = {**p, "settings": [protocol.aggregate(spec, runs[:1], masks, 0.05)]}
    assert report_targets.checks(one)[0][2] is None
    assert report_targets.checks({**p, "scale": "quick"}) == []
