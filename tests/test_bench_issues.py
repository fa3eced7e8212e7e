"""The issues benchmark: the planted cases, the figures, the report and a smoke run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import benchmarks.__main__ as bench_main
from benchmarks import datasets, issues, planting, report, report_issues
from relabel.findings import image_statistics


def _photo(seed: int, side: int = 32) -> np.ndarray:
    """A textured colour image: smooth gradients, a few shapes and mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    base = np.stack(
        [
            80 + 100 * xx * rng.uniform(0.3, 1),
            60 + 120 * yy * rng.uniform(0.3, 1),
            90 + 80 * (xx * yy) * rng.uniform(0.3, 1),
        ],
        axis=2,
    )
    for _ in range(3):
        y0, x0 = rng.integers(0, side - 8, 2)
        base[y0 : y0 + 8, x0 : x0 + 8] = rng.uniform(20, 235, 3)
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def _dataset(root: Path, n: int = 60) -> datasets.BenchDataset:
    """``n`` 32x32 RGB JPEGs, CIFAR-10's classes, labels in turn."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    ids, paths = [], []
    for i in range(n):
        path = root / "img" / f"{i:03d}.jpg"
        Image.fromarray(_photo(i)).save(path, quality=95)
        ids.append(f"cifar10_{i:05d}")
        paths.append(str(path))
    labels = np.arange(n) % 10
    return datasets.BenchDataset(
        "cifar10", root, ids, paths, labels, datasets.CIFAR10_CLASSES, [32, 32], 3
    )


def _digits(n: int = 8) -> np.ndarray:
    """MNIST-like digits: a bright stroke on black."""
    out = np.zeros((n, 28, 28), dtype=np.uint8)
    for i in range(n):
        out[i, 4:24, 10 + i % 5 : 14 + i % 5] = 255
    return out


def _stats(pixels: np.ndarray) -> dict[str, float]:
    h, w = pixels.shape[:2]
    batch = planting._resized(pixels, 32, 32)[None] if (h, w) != (32, 32) else pixels[None]
    s = image_statistics(batch, np.array([[h, w]]))
    return {k: float(v[0]) for k, v in s.items() if k != "content_hash"}


# --------------------------------------------------------------------------------------
# the planted images


def _shift_of(dup: np.ndarray, src: np.ndarray) -> tuple[int, int] | None:
    """The (dy, dx) that moves ``src`` onto ``dup`` away from the edges, if any."""
    for dy in range(-4, 5):
        for dx in range(-4, 5):
            if np.array_equal(dup[4:-4, 4:-4], src[4 + dy : 28 + dy, 4 + dx : 28 + dx]):
                return dy, dx
    return None


@pytest.mark.parametrize("how", planting.TRANSFORMS)
def test_a_near_duplicate_differs_from_its_source_but_is_close_in_pixels(how: str):
    rng = np.random.default_rng(0)
    others = [_photo(100 + k).astype(int) for k in range(20)]
    for seed in range(5):
        src = _photo(seed)
        dup = planting.near_duplicate(src, how, rng)
        assert dup.shape == src.shape and dup.dtype == np.uint8
        diff = np.abs(dup.astype(int) - src.astype(int)).mean()
        assert diff > 0  # a change ...
        # ... that leaves it nearer its source than any other image
        assert diff < min(np.abs(dup.astype(int) - o).mean() for o in others)
        if how == "shift":
            dy, dx = _shift_of(dup, src) or (0, 0)
            assert 2 <= abs(dy) <= 4 and 2 <= abs(dx) <= 4
        else:
            assert diff < 25
    with pytest.raises(ValueError, match="unknown near-duplicate"):
        planting.near_duplicate(_photo(0), "rotate", rng)


def test_each_unhealthy_kind_is_what_it_claims():
    src = _photo(3)
    before = _stats(src)
    dark, bright = (planting.unhealthy(src, k) for k in ("dark", "bright"))
    assert _stats(dark)["brightness"] < 0.12 < before["brightness"]
    assert _stats(bright)["brightness"] > 0.9 > before["brightness"]
    blurred = planting.unhealthy(src, "blurry")
    assert _stats(blurred)["sharpness"] < before["sharpness"] / 3
    flat = planting.unhealthy(src, "low_information")
    assert (flat == flat[0, 0]).all() and _stats(flat)["entropy"] < 2
    grey = planting.unhealthy(src, "grayscale")
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert before["colorfulness"] > 0.02 and _stats(grey)["colorfulness"] < 0.02
    sizes = {planting.unhealthy(src, "odd_size", i).shape[:2] for i in range(4)}
    assert sizes == set(planting.ODD_SIZES)
    with pytest.raises(ValueError, match="unknown health kind"):
        planting.unhealthy(src, "purple")


def test_outliers_are_grey_digits_or_noise_at_the_set_size():
    rng = np.random.default_rng(0)
    digit = planting.outlier_image(_digits(1)[0], rng)
    assert digit.shape == (32, 32, 3) and (digit[..., 0] == digit[..., 2]).all()
    assert digit.max() == 255 and digit.min() == 0
    noise = planting.outlier_image(None, rng)
    assert noise.shape == (32, 32, 3) and len(np.unique(noise)) > 100


def test_mnist_digits_need_the_data_folder(tmp_path: Path):
    with pytest.raises(datasets.DataUnavailableError, match="t10k-images"):
        planting.mnist_digits(tmp_path, 5)


def test_the_planted_truth_lines_up_with_the_files(tmp_path: Path):
    ds = _dataset(tmp_path / "data")
    plan = planting.IssuePlan(duplicates=9, outliers=8, unhealthy=2, seed=1)
    p = planting.plant(ds, _digits(), plan, tmp_path / "planted")
    n_health = 2 * len(planting.HEALTH_KINDS)
    assert p.n == ds.n + 6 + 8 and len(p.holdout_ids) == 3  # thirds: 3 + 3 train, 3 held
    for column in (p.paths, p.labels, p.kind, p.detail, p.partner):
        assert len(column) == p.n
    assert len(set(p.ids)) == p.n and not set(p.ids) & set(p.holdout_ids)
    assert p.ids[0] == ds.ids[0] and p.paths[0] == ds.paths[0]  # init's size comes from it
    assert all(Path(path).is_file() for path in [*p.paths, *p.holdout_paths])
    health = np.flatnonzero(np.isin(p.kind, planting.HEALTH_KINDS))
    assert health.size == n_health and (health < ds.n).all()  # in place of their source
    assert (p.labels[health] == ds.labels[health]).all()
    dups = np.flatnonzero(p.kind == "duplicate")
    src = p.partner[dups]
    assert (p.kind[src] == "").all() and not set(src) & set(p.holdout_partner)
    assert (p.labels[dups] != p.labels[src]).sum() == 3  # a third relabelled
    assert (p.holdout_labels == p.labels[p.holdout_partner]).all()
    assert set(p.detail[dups]) <= set(planting.TRANSFORMS)
    base = [np.asarray(Image.open(path).convert("RGB"), dtype=int) for path in ds.paths]
    for row, source in zip(dups, src, strict=True):  # its source, changed a little
        a = np.asarray(Image.open(p.paths[row]).convert("RGB"), dtype=int)
        dist = [np.abs(a - b).mean() for b in base]
        assert dist[source] > 0
        if p.detail[row] == "shift":
            assert _shift_of(a, base[source]) is not None
        else:
            assert int(np.argmin(dist)) == source
    outliers = p.kind == "outlier"
    assert outliers.sum() == 8 and (p.detail[outliers] == "noise").sum() == 2
    assert (p.partner[~(p.kind == "duplicate")] == -1).all()
    again = planting.plant(ds, _digits(), plan, tmp_path / "again")
    assert again.ids == p.ids and (again.labels == p.labels).all()  # deterministic
    with pytest.raises(ValueError, match="too few"):
        planting.plant(ds, _digits(), planting.IssuePlan(duplicates=60), tmp_path / "x")


# --------------------------------------------------------------------------------------
# the figures


def _truth_table(p: planting.Planted) -> pd.DataFrame:
    """What a perfect ``relabel issues`` would say of ``p`` (shuffled rows)."""
    n = p.n
    set_id = np.full(n, -1)
    dups = np.flatnonzero(p.kind == "duplicate")
    for s, (row, src) in enumerate(zip(dups, p.partner[dups], strict=True)):
        set_id[[row, src]] = s
    conflict = np.zeros(n, bool)
    relabelled = dups[p.labels[dups] != p.labels[p.partner[dups]]]
    conflict[relabelled] = conflict[p.partner[relabelled]] = True
    leak = np.zeros(n, bool)
    leak[p.holdout_partner] = True
    table = {
        "sample_id": p.ids,
        "given_label": [datasets.CIFAR10_CLASSES[y] for y in p.labels],
        "duplicate_set": set_id,
        "duplicate_flag": set_id >= 0,
        "duplicate_score": np.where(set_id >= 0, 0.8, 0.1),
        "duplicate_conflict": conflict,
        "duplicate_crosses_holdout": leak,
        "outlier_flag": p.kind == "outlier",
        "outlier_score": np.where(p.kind == "outlier", 5.0, 0.0) + np.arange(n) * 1e-3,
    }
    for kind in planting.HEALTH_KINDS:
        table[f"{kind}_flag"] = p.kind == kind
    return pd.DataFrame(table).sample(frac=1.0, random_state=0)


def test_figures_of_a_perfect_finder_are_all_right_and_one_mistake_counts(tmp_path: Path):
    ds = _dataset(tmp_path / "data")
    p = planting.plant(
        ds,
        _digits(),
        planting.IssuePlan(duplicates=9, outliers=8, unhealthy=2),
        tmp_path / "planted",
    )
    figures = issues.evaluate(p, _truth_table(p))
    d = figures["duplicates"]
    assert d["planted_pairs"] == d["found_pairs"] == d["predicted_pairs"] == 6
    assert d["precision"] == d["recall"] == 1.0
    assert d["conflict_marked"] == d["conflict_pairs"] == 3 and d["same_label_marked_conflict"] == 0
    assert d["holdout_marked"] == d["holdout_pairs"] == 3 and d["holdout_false_marks"] == 0
    assert d["unplanted_flagged"] == d["unplanted_sets"] == 0 and d["top_unplanted_sets"] == []
    assert sum(found for found, _ in d["recall_by_transform"].values()) == 6
    o = figures["outliers"]
    assert o["precision"] == o["recall"] == o["relabel"]["auroc"] == 1.0
    assert o["recall_by_origin"] == {"mnist": [6, 6], "noise": [2, 2]}
    assert all(h["precision"] == h["recall"] == 1.0 for h in figures["health"].values())
    # two plain images copied of each other, and a dark flag on an MNIST digit
    table = _truth_table(p).set_index("sample_id", drop=False)
    sources = {*p.partner.tolist(), *p.holdout_partner.tolist()}
    plain = [i for i, k in enumerate(p.kind) if k == "" and i not in sources][-2:]
    pair = [p.ids[i] for i in plain]
    table.loc[pair, ["duplicate_set", "duplicate_flag", "duplicate_score"]] = [99, True, 0.9]
    digit = p.ids[int(np.flatnonzero(p.detail == "mnist")[0])]
    table.loc[digit, "dark_flag"] = True
    table.loc[p.ids[plain[0]], "dark_flag"] = True
    figures = issues.evaluate(p, table.reset_index(drop=True))
    d = figures["duplicates"]
    assert d["predicted_pairs"] == 7 and d["precision"] == pytest.approx(6 / 7)
    assert d["unplanted_flagged"] == 2 and d["unplanted_sets"] == 1
    assert d["top_unplanted_sets"][0]["ids"] == pair
    dark = figures["health"]["dark"]
    assert dark["flagged"] == 3 and dark["precision"] == pytest.approx(2 / 3)
    assert dark["unmodified_flagged"] == 1 and dark["other_planted_flagged"] == 1
    with pytest.raises(ValueError, match="rows for"):
        issues.evaluate(p, table.iloc[1:])


# --------------------------------------------------------------------------------------
# the report


def _duplicate_figures(precision: float) -> dict:
    return {
        "planted_pairs": 200,
        "found_pairs": 190,
        "predicted_pairs": round(190 / precision),
        "precision": precision,
        "recall": 0.95,
        "recall_by_transform": {t: [47, 50] for t in planting.TRANSFORMS},
        "sets": 210,
        "conflict_pairs": 100,
        "conflict_found": 95,
        "conflict_marked": 95,
        "same_label_found": 95,
        "same_label_marked_conflict": 0,
        "holdout_pairs": 100,
        "holdout_marked": 0,
        "holdout_false_marks": 0,
        "unplanted": 9400,
        "unplanted_flagged": 4,
        "unplanted_sets": 1,
        "other_planted_flagged": 2,
        "top_unplanted_sets": [
            {
                "ids": ["cifar10_00001", "cifar10_00002"],
                "labels": ["cat", "dog"],
                "score": 0.91,
                "conflict": True,
            }
        ],
    }


def _section(scale: str, precision: float = 0.97) -> dict:
    binary = {
        "planted": 50,
        "flagged": 48,
        "true_flags": 47,
        "precision": 47 / 48,
        "recall": 0.94,
        "unmodified_flagged": 1,
        "unmodified": 9000,
        "false_positive_rate": 1 / 9000,
        "other_planted_flagged": 0,
    }
    return {
        "dataset": "cifar10",
        "n_base": 10_000,
        "n": 10_400,
        "holdout": 100,
        "scale": scale,
        "plan": {"seed": 0, "duplicates": 300, "outliers": 200, "unhealthy": 50},
        "targets": dict(issues.TARGETS),
        "health_kinds": list(planting.HEALTH_KINDS),
        "planted": {"duplicate": 200, "outlier": 200, **dict.fromkeys(planting.HEALTH_KINDS, 50)},
        "embedding_dim": 256,
        "datalab": "not run",
        "run": {
            "folds": 5,
            "epochs": None,
            "architecture": "resnet_small",
            "embeddings": "final model",
            "oof_accuracy": 0.81,
            "train": {"seconds": 900.0},
            "issues": {"seconds": 12.5, "user_cpu_s": 20.0, "kernel_cpu_s": 1.0, "peak_gib": 1.2},
        },
        "cleanlab_ood": {"seconds": 3.0},
        "duplicates": _duplicate_figures(precision),
        "outliers": {
            **binary,
            "planted": 200,
            "relabel": {"auroc": 0.95, "precision_at_planted": 0.8},
            "cleanlab_ood": {"auroc": 0.9, "precision_at_planted": 0.7},
            "recall_by_origin": {"mnist": [140, 150], "noise": [50, 50]},
        },
        "health": {kind: dict(binary) for kind in planting.HEALTH_KINDS},
    }


def test_the_section_renders_its_figures_and_judges_targets_at_full_scale_only():
    full = _section("full", precision=0.9)
    checks = {what: (measured, ok) for what, measured, ok in report_issues.checks(full)}
    precision = checks["issues: planted near-duplicate pairs, precision >= 0.95"]
    assert precision == ("0.900 (190 found of 200 planted; 211 pairs share a set)", False)
    assert checks["issues: planted near-duplicate pairs, recall >= 0.95"][1] is True
    dark = checks["issues: planted `dark` images, precision and recall >= 0.9"]
    assert dark == ("precision 0.979, recall 0.940 (47 of 50 planted, 48 flagged)", True)
    assert len(checks) == 2 + len(planting.HEALTH_KINDS)
    quick = report_issues.checks(_section("quick"))
    assert quick and all(ok is None for _, _, ok in quick)
    assert all("quick scale" in what for what, _, _ in quick)
    text = "\n".join(report_issues.render(full))
    assert (
        report_issues.HEADING in text and "the 256-d embeddings (final model): **12.5 s**" in text
    )
    assert "| duplicate (pairs) | near copy in training, same set as its source | 200 |" in text
    assert "| 190 | 0.900 | 0.950 | 4 images (0.04 %) | >= 0.95 / 0.95 | 2 |" in text
    assert "| dark | darkened to 8 % brightness | 50 | 48 | 47 | 0.979 | 0.940 |" in text
    assert "0 of the 100 sources whose near copy is held out" in text
    assert "of which 200 in training (100 of them relabelled: conflicting labels) and 100" in text
    assert "1 sets hold unmodified images only: copies within the cifar10 test" in text
    assert "thumbnail moved past the near-copy threshold is missed" in text
    assert "- `cifar10_00001` (cat), `cifar10_00002` (dog): score 0.910; labels conflict" in text
    assert "relabel's AUROC is 0.050 above cleanlab's" in text
    worse = _section("full")
    worse["outliers"]["relabel"]["auroc"] = 0.85
    assert "relabel's AUROC is 0.050 below cleanlab's" in "\n".join(report_issues.render(worse))
    skipped = report_issues.render({"skipped": ["no cifar10"]})
    assert skipped[-2] == "Skipped: no cifar10" and report_issues.checks({"skipped": []}) == []


def test_the_section_is_wired_into_the_report_and_its_checks():
    results = {
        "meta": {
            "mode": "full",
            "command": "python -m benchmarks --full",
            "date": "2026-01-01 00:00 UTC",
            "machine": {"cpu": "x", "cores": 2, "memory_gb": 1.0, "os": "l", "load_start": "0"},
            "versions": {"python": "3.11"},
            "data": None,
            "sections": {},
        },
        "errors": {},
        "notes": [],
        "issues": _section("full"),
    }
    text = report.render(results)
    assert report_issues.HEADING in text
    rows = report.acceptance_rows(results, {})
    assert any(r[0].startswith("issues: planted `blurry`") and r[2] == "pass" for r in rows)
    assert "issues" in bench_main.SECTIONS and "issues" in report.CHECKED_SECTIONS


# --------------------------------------------------------------------------------------
# the section, end to end


def test_issues_section_smoke_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_engine: str
):
    """``python -m benchmarks --quick --sections issues`` at a tiny scale: planting, the
    user run (`relabel init`, `relabel train`, `relabel issues`, each in its own process,
    trained by the test engine, which the children inherit) and the report."""
    ds = _dataset(tmp_path / "data", n=60)
    monkeypatch.setattr(datasets, "load", lambda name, data, cache: ds)
    monkeypatch.setattr(planting, "mnist_digits", lambda data, n, seed=0: _digits(n))
    plan = bench_main.dataclasses.replace(
        bench_main.QUICK, issues_sizes=(None, 6, 4, 2), issues_epochs=1, issues_folds=2
    )
    monkeypatch.setitem(bench_main.PLANS, "quick", plan)
    js, out = tmp_path / "results.json", tmp_path / "BENCHMARKS.md"
    argv = ["--quick", "--sections", "issues", "--out", str(out), "--json", str(js)]
    results = bench_main.run([*argv, "--cache", str(tmp_path / "cache")])
    assert results["errors"] == {}
    iss = results["issues"]
    assert iss["n"] == 60 + 4 + 4 and iss["holdout"] == 2 and iss["scale"] == "quick"
    assert iss["planted"]["duplicate"] == 4 and iss["planted"]["dark"] == 2
    run = iss["run"]
    assert run["folds"] == 2 and run["final_model"] and run["epochs"] == 1
    assert run["issues"]["rc"] == 0 and run["issues"]["seconds"] > 0
    assert iss["embedding_dim"] > 0 and "seconds" in iss["cleanlab_ood"]
    assert set(iss["health"]) == set(planting.HEALTH_KINDS)
    d = iss["duplicates"]
    assert d["planted_pairs"] == 4 and d["holdout_pairs"] == 2
    assert 0 <= d["found_pairs"] <= 4 and set(iss["summary"]) >= {"duplicate", "outlier"}
    assert iss["outliers"]["planted"] == 4 and iss["outliers"]["cleanlab_ood"]["auroc"] is not None
    # Datalab and cleanvision with the `bench` extra, else a "not run" that says why
    dl, cv = iss["datalab"], iss["cleanvision"]
    assert "duplicates" in dl or dl["error"].startswith("not run")
    assert "health" in cv or cv["error"].startswith("not run")
    assert [r["embeddings"] for r in iss["search"]] == ["planting", "synthetic"]
    assert iss["search"][1]["n"] == issues.SEARCH_SIZES["quick"]
    assert results["meta"]["sections"]["issues"]["digest"]
    saved = json.loads(js.read_text())
    assert saved["issues"]["duplicates"] == json.loads(json.dumps(d))
    text = out.read_text()
    assert report_issues.HEADING in text and "(reported)" in text


# --------------------------------------------------------------------------------------
# the other tools: Datalab, cleanvision, the duplicate search's time


def _small_planting() -> planting.Planted:
    """Eight rows: four unmodified, two near copies of rows 0 and 1, an outlier, a dark
    image."""
    kind = ["", "", "", "", "duplicate", "duplicate", "outlier", "dark"]
    return planting.Planted(
        ids=[f"s{i}" for i in range(8)],
        paths=[f"/img/{i}.png" for i in range(8)],
        labels=np.array([0, 1, 2, 3, 0, 2, 1, 3]),
        kind=np.array(kind, dtype=object),
        detail=np.array(["", "", "", "", "jpeg", "shift", "mnist", ""], dtype=object),
        partner=np.array([-1, -1, -1, -1, 0, 1, -1, -1]),
        holdout_ids=[],
        holdout_paths=[],
        holdout_labels=np.zeros(0, np.int64),
        holdout_partner=np.zeros(0, np.int64),
    )


def test_datalab_like_near_duplicate_lists_are_measured_as_relabels_sets():
    p = _small_planting()
    # row 4 found with its source, row 5 missed, rows 2-3 a false pair, and a pair of
    # planted rows of other types (not counted)
    neighbours = [[4], [], [3], [2], [0], [], [7], [6]]
    set_id = issues.sets_from_neighbours(neighbours)
    assert set_id.tolist() == [0, -1, 1, 1, 0, -1, 2, 2]
    assert issues.sets_from_neighbours([[], []]).tolist() == [-1, -1]
    pairs = issues.pair_figures(p, set_id)
    assert pairs["planted_pairs"] == 2 and pairs["found_pairs"] == 1
    assert pairs["predicted_pairs"] == 2 and pairs["precision"] == pairs["recall"] == 0.5
    assert pairs["recall_by_transform"]["jpeg"] == [1, 1]
    assert pairs["recall_by_transform"]["shift"] == [0, 1]
    found = {
        "near_duplicate": pd.DataFrame({"near_duplicate_sets": neighbours}),
        "outlier": pd.DataFrame(
            {  # lower is more outlying: the planted outlier lowest, one unmodified flagged
                "is_outlier_issue": [False, False, False, True, False, False, True, False],
                "outlier_score": [0.9, 0.8, 0.7, 0.3, 0.9, 0.9, 0.1, 0.5],
            }
        ),
    }
    figures = issues.datalab_figures(p, found)
    assert figures["duplicates"] == pairs
    o = figures["outliers"]
    assert o["auroc"] == o["precision_at_planted"] == 1.0
    assert o["flagged"] == 2 and o["precision"] == 0.5 and o["recall"] == 1.0


def test_cleanvision_types_map_to_relabels_health_kinds():
    p = _small_planting()
    rows = {path: i for i, path in enumerate(p.paths)}
    flagged = pd.DataFrame(
        {
            "is_dark_issue": [False] * 7 + [True],
            "is_light_issue": [False, True] + [False] * 6,
            "is_odd_size_issue": [False] * 3 + [True] + [False] * 4,
            "is_odd_aspect_ratio_issue": [False] * 2 + [True] + [False] * 5,
        },
        index=list(rows),
    ).drop(index=p.paths[3])  # a file cleanvision left out is not flagged
    flags = issues.cleanvision_flags(flagged, p.paths)
    assert set(flags) == set(planting.HEALTH_KINDS)
    assert flags["bright"].tolist() == [False, True] + [False] * 6
    assert flags["odd_size"].tolist() == [False, False, True] + [False] * 5
    assert not flags["grayscale"].any() and flags["dark"][7]
    health = issues.health_of_flags(p, flags)
    assert health["dark"]["precision"] == health["dark"]["recall"] == 1.0
    assert health["bright"]["planted"] == 0 and health["bright"]["unmodified_flagged"] == 1


def test_without_datalab_or_cleanvision_each_says_not_run(monkeypatch: pytest.MonkeyPatch):
    # import fails as when not installed, also for submodules an earlier test imported
    for name in [m for m in sys.modules if m.split(".")[0] in ("cleanlab", "cleanvision")]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("cleanlab", "cleanvision"):
        monkeypatch.setitem(sys.modules, name, None)
    emb = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    found, info = issues.datalab_issues(emb)
    assert found is None and info["error"].startswith("not run: cleanlab's Datalab")
    assert "bench" in info["error"]
    images, missing = issues.cleanvision_issues(["a.png"])
    assert images is None and missing["error"].startswith("not run: cleanvision")
    assert issues.cleanlab_outliers(emb)[0] is None
    monkeypatch.setitem(issues.SEARCH_SIZES, "quick", 400)
    real, synthetic = issues.search_timing(emb, "quick")
    assert real["n"] == 20 and real["datalab"]["error"].startswith("not run")
    assert synthetic["n"] == 400 and synthetic["dtype"] == "float16"
    assert synthetic["relabel"]["planted_found"] == [50, 50]
    assert synthetic["relabel"]["seconds"] >= 0 and "cpu_seconds" in synthetic["relabel"]
    # the section: no Datalab figures, and a line that says why
    section = _section("full")
    section["datalab"], section["cleanvision"] = info, missing
    figures = issues.key_figures(section)
    assert not any("datalab" in k or "cleanvision" in k for k in figures)
    text = "\n".join(report_issues.render(section))
    assert "**Against cleanlab's Datalab**: not run: cleanlab's Datalab" in text
    assert "**Image health against cleanvision**: not run: cleanvision is not" in text
    assert "Datalab" not in " ".join(what for what, _, _ in report_issues.checks(section))


def test_datalab_is_skipped_at_the_synthetic_size_when_it_would_take_too_long(
    monkeypatch: pytest.MonkeyPatch,
):
    def slow(emb: np.ndarray, probs=None, labels=None, types=()):
        frames = {"near_duplicate": pd.DataFrame({"near_duplicate_sets": [[]] * len(emb)})}
        return frames, {"seconds": 10.0, "cpu_seconds": 12.0, "version": "x"}

    monkeypatch.setattr(issues, "datalab_issues", slow)
    monkeypatch.setitem(issues.SEARCH_SIZES, "quick", 300)
    emb = np.random.default_rng(1).normal(size=(30, 8)).astype(np.float32)
    real, synthetic = issues.search_timing(emb, "quick")
    assert real["datalab"]["seconds"] == 10.0 and real["datalab"]["sets"] == 0
    # 10 s at 30 rows predicts 1,000 s at 300: over the limit
    assert "predicts about 1000 s at 300" in synthetic["datalab"]["skipped"]
    assert synthetic["relabel"]["planted_found"][1] == 50
    text = "\n".join(report_issues._search({"plan": {"seed": 0}, "search": [real, synthetic]}))
    assert "| planting 0's (8-d float32) | 30 | " in text and "predicts about 1000 s" in text


def _versus_section(dup_gap: list[float], auroc_gap: list[float]) -> dict:
    """A full section of three plantings with Datalab and cleanvision figures whose paired
    differences from relabel's are ``dup_gap`` (precision and recall) and ``auroc_gap``."""
    section = _section("full")
    tool_health = {
        k: {"precision": 0.9, "recall": 0.5, "true_flags": 25, "flagged": 28}
        for k in planting.HEALTH_KINDS
    }
    plantings = []
    for seed, (dg, ag) in enumerate(zip(dup_gap, auroc_gap, strict=True)):
        one = json.loads(json.dumps(section))
        d, o = one["duplicates"], one["outliers"]
        one["datalab"] = {
            "seconds": 3.0,
            "cpu_seconds": 4.0,
            "version": "2.9",
            "duplicates": {**d, "precision": d["precision"] - dg, "recall": d["recall"] - dg},
            "outliers": {
                **o,
                "auroc": o["relabel"]["auroc"] - ag,
                "precision_at_planted": 0.5,
            },
        }
        one["cleanvision"] = {
            "seconds": 5.0,
            "cpu_seconds": 5.0,
            "version": "0.3",
            "health": tool_health,
        }
        plantings.append({"seed": seed, **issues.key_figures(one)})
    section.update(plantings=plantings, datalab=one["datalab"], cleanvision=one["cleanvision"])
    names = list(plantings[0])[1:]
    section["over_plantings"] = {k: issues.spread([p.get(k) for p in plantings]) for k in names}
    return section


def test_the_section_compares_with_datalab_and_cleanvision_from_the_intervals():
    win = _versus_section([0.05, 0.06, 0.04], [0.02, 0.1, -0.05])
    over = win["over_plantings"]
    assert over["duplicate_precision_minus_datalab"]["mean"] == pytest.approx(0.05)
    checks = {what: (measured, ok) for what, measured, ok in report_issues.checks(win)}
    dups = checks[
        "issues: near-duplicate pairs, precision and recall at least Datalab's "
        "(mean paired difference >= 0), mean of 3 plantings"
    ]
    assert dups[1] is True and dups[0].startswith("precision +0.050 [")
    auroc = checks[
        "issues: outlier AUROC >= Datalab's on the same embeddings + 0.05, mean of 3 plantings"
    ]
    assert auroc[1] is False  # the interval's low end is below +0.05
    text = "\n".join(report_issues.render(win))
    row = "| near-duplicate pairs: precision | 0.970 | 0.920 [0.895, 0.945] | +0.050 [+0.025, "
    assert row in text
    assert "relabel is above Datalab's on near-duplicate pairs: precision, near-duplicate " in text
    assert "tied with Datalab's on outliers: AUROC" in text
    # cleanvision: relabel's precision 47/48 against 0.9 each time: no spread, a win
    assert "| `dark`: precision | 0.979 | 0.900 | +0.079 |" in text
    assert "above cleanvision's on `dark`: precision" in text
    assert "no verdict" not in text
    lose = _versus_section([-0.05, -0.06, -0.04], [0.2, 0.21, 0.19])
    checks = {what: ok for what, _, ok in report_issues.checks(lose)}
    assert [ok for what, ok in checks.items() if "Datalab" in what] == [False, True]
    assert "below Datalab's on near-duplicate pairs" in "\n".join(report_issues.render(lose))
    quick = report_issues.checks({**lose, "scale": "quick"})
    assert all(ok is None for what, _, ok in quick if "Datalab" in what)


def test_datalab_without_its_extra_says_not_run(monkeypatch: pytest.MonkeyPatch):
    """cleanlab installed without `datasets`: Datalab raises ImportError when it is made."""
    import cleanlab

    def no_extra(*args: object, **kwargs: object) -> None:
        raise ImportError("Datalab is not available due to missing dependencies")

    monkeypatch.setattr(cleanlab, "Datalab", no_extra, raising=False)
    emb = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    found, info = issues.datalab_issues(emb)
    assert found is None and info["error"].startswith("not run: cleanlab's Datalab lacks")
    assert "bench" in info["error"]
