"""Bring your own outputs: ``relabel import-run`` / ``Project.add_run`` and
``relabel init --trust-paths`` (a DataFrame manifest, URL paths).

A run imported from any model is written like a trained one and then scored, reported and
exported like one; every bad input is refused with an error naming the file and its row or
column, and nothing is written (no run folder, no run in the store).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import relabel
from relabel.errors import (
    DatasetError,
    ExitCode,
    ImagesNotLocalError,
    ProjectLockedError,
    RunImportError,
)
from relabel.infra.lock import project_lock
from relabel.project import Project
from relabel.project import outputs as outputs_mod
from relabel.project.runs import trained_as_configured
from tests.clirun import relabel_in_process
from tests.imagefiles import write_png

CLASSES = ["cat", "dog", "fox"]
N = 30
#: Rows whose given label the planted probabilities contradict (the model says the next class).
PLANTED = (3, 11, 22)


def _frame(n: int = N) -> pd.DataFrame:
    """A manifest of URL paths (never opened), labels cycling through the classes."""
    return pd.DataFrame(
        {
            "id": [f"s{i:03d}" for i in range(n)],
            "path": [f"s3://bucket/images/{i:03d}.jpg" for i in range(n)],
            "label": [CLASSES[i % 3] for i in range(n)],
        }
    )


def _probs(n: int = N) -> np.ndarray:
    """Confident, correct probabilities, except the planted rows (the next class)."""
    truth = np.arange(n) % 3
    truth[list(PLANTED)] = (truth[list(PLANTED)] + 1) % 3
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=n) * 0.1 + np.eye(3)[truth] * 0.9
    return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def url_project(tmp_path: Path) -> Path:
    """A project of URL paths created from a DataFrame with trusted paths."""
    root = tmp_path / "proj"
    result = Project.init(root, manifest=_frame(), folds=2, trust_paths=True)
    assert result.n_samples == N and result.classes == CLASSES
    return root


def _nothing_written(root: Path) -> None:
    runs = root / "runs"
    assert not runs.exists() or not any(runs.iterdir()), sorted(runs.iterdir())
    with Project.open(root, readonly=True) as p:
        assert p.store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def _oof(root: Path, run_id: str) -> Any:
    return np.load(root / "runs" / run_id / "oof.npz")


# -- the round trip --------------------------------------------------------------------------


def test_add_run_round_trip_then_score_status_export_report(url_project: Path) -> None:
    probs = _probs()
    emb = np.random.default_rng(1).normal(size=(N, 8)).astype(np.float32)
    with relabel.Project.open(url_project) as p:
        run_id = p.add_run(probs, emb, model_name="vit-b16")
        order = p.active_samples()["sample_id"].tolist()
        run = p.store.latest_run("train")
        assert trained_as_configured(run, p.config)  # a cycle reuses it while labels hold
    assert run["run_id"] == run_id
    assert run["settings"]["source"] == "imported"
    assert run["settings"]["model_name"] == "vit-b16"
    folder = url_project / "runs" / run_id
    with _oof(url_project, run_id) as oof:
        assert oof["sample_ids"].tolist() == order
        np.testing.assert_array_equal(oof["probs"], probs)
        assert oof["probs"].dtype == np.float32
        assert oof["classes"].tolist() == CLASSES
        np.testing.assert_array_equal(oof["labels"], np.arange(N) % 3)
    stored = np.load(folder / "embeddings.npy", mmap_mode="r")
    assert isinstance(stored, np.memmap) and stored.dtype == np.float16
    np.testing.assert_allclose(stored, emb, rtol=1e-3, atol=1e-3)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["source"] == "imported" and metrics["n_samples"] == N
    assert metrics["oof_accuracy"] == pytest.approx(1 - len(PLANTED) / N)

    ranking = url_project.parent / "ranking.csv"
    ran = relabel_in_process(["score", str(url_project), "--out", str(ranking)])
    assert ran.returncode == 0, ran.stderr
    table = pd.read_csv(ranking)
    top = set(table.sort_values("rank")["sample_id"].head(len(PLANTED)))
    assert top == {f"s{i:03d}" for i in PLANTED}
    assert table["path"].str.startswith("s3://bucket/").all()

    ran = relabel_in_process(["status", str(url_project), "--json"])
    assert ran.returncode == 0, ran.stderr
    status = json.loads(ran.stdout)
    assert status["run"]["run_id"] == run_id and status["run"]["source"] == "imported"
    assert status["run"]["model_name"] == "vit-b16"
    assert status["estimated_errors"] >= 1
    text = relabel_in_process(["status", str(url_project)])
    assert "(imported vit-b16)" in text.stdout

    export = url_project.parent / "export.csv"
    ran = relabel_in_process(["export", str(url_project), "--out", str(export)])
    assert ran.returncode == 0, ran.stderr
    assert pd.read_csv(export)["path"].tolist() == _frame()["path"].tolist()

    ran = relabel_in_process(["report", str(url_project)])
    assert ran.returncode == 0, ran.stderr
    assert run_id in (url_project / "report" / "report.html").read_text()


def test_the_cli_imports_npy_files_and_the_newest_run_is_scored(
    url_project: Path, tmp_path: Path
) -> None:
    np.save(tmp_path / "first.npy", np.full((N, 3), 1 / 3, dtype=np.float64))
    np.save(tmp_path / "probs.npy", _probs())
    np.save(tmp_path / "emb.npy", np.ones((N, 4), dtype=np.float32))
    first = relabel_in_process(
        ["import-run", str(url_project), "--probs", str(tmp_path / "first.npy")]
    )
    assert first.returncode == 0, first.stderr
    ran = relabel_in_process(
        [
            "import-run",
            str(url_project),
            "--probs",
            str(tmp_path / "probs.npy"),
            "--embeddings",
            str(tmp_path / "emb.npy"),
            "--model-name",
            "effnet",
        ]
    )
    assert ran.returncode == 0, ran.stderr
    assert "imported, effnet" in ran.stdout and f"{N} samples" in ran.stdout
    with Project.open(url_project, readonly=True) as p:
        ranked = p.rank()
        np.testing.assert_array_equal(ranked.probs, _probs())
        assert ranked.run_id in ran.stdout and not ranked.stale


def test_an_imported_run_replaces_a_trained_one(tmp_path: Path, test_engine: str) -> None:
    lines = ["id,path,label"]
    for i in range(12):
        write_png(tmp_path / "img" / f"{i}.png", i)
        lines.append(f"s{i:02d},img/{i}.png,{CLASSES[i % 3]}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    root = tmp_path / "local"
    Project.init(root, manifest=tmp_path / "m.csv", folds=2)
    with Project.locked(root, "test") as p:
        trained = p.train(final_model=False).run_id
        probs = np.eye(3, dtype=np.float32)[np.arange(12) % 3]
        imported = p.add_run(probs, model_name="mine")
        assert p.rank().run_id == imported != trained
        assert p.status()["run"]["source"] == "imported"


# -- bad inputs: a clear error naming the file and row or column, nothing written ------------


def _write_npy(name: str, array: np.ndarray) -> Any:
    return lambda d: (np.save(d / name, array), {"probs": d / name})[1]


def _with_ids(ids: list[str], probs: np.ndarray | None = None) -> Any:
    def make(d: Path) -> dict[str, Any]:
        pd.DataFrame({"sample_id": ids}).to_csv(d / "ids.csv", index=False)
        p = _probs()[: len(ids)] if probs is None else probs
        np.save(d / "probs.npy", p)
        return {"probs": d / "probs.npy", "ids": d / "ids.csv"}

    return make


def _bad(row: int, value: float, column: int = 0, logits: bool = False) -> Any:
    probs = _probs().astype(np.float64)
    probs[row, column] = value
    return lambda d: (
        np.save(d / "probs.npy", probs),
        {"probs": d / "probs.npy", "logits": logits},
    )[1]


def _parquet(frame: pd.DataFrame) -> Any:
    return lambda d: (frame.to_parquet(d / "probs.parquet"), {"probs": d / "probs.parquet"})[1]


def _emb(array: np.ndarray) -> Any:
    def make(d: Path) -> dict[str, Any]:
        np.save(d / "probs.npy", _probs())
        np.save(d / "emb.npy", array)
        return {"probs": d / "probs.npy", "embeddings": d / "emb.npy"}

    return make


IDS = [f"s{i:03d}" for i in range(N)]
NAN_EMB = np.ones((N, 4), dtype=np.float32)
NAN_EMB[7, 2] = np.nan
BIG_EMB = np.ones((N, 4), dtype=np.float32)
BIG_EMB[9, 0] = 1e6
CLASS_FRAME = pd.DataFrame(_probs(), columns=CLASSES)

BAD_INPUTS = {
    "more rows than active samples": (
        _write_npy("probs.npy", np.vstack([_probs(), _probs()[:1]])),
        r"probs\.npy: 31 rows, but the project has 30 active samples.*active_samples\(\)",
    ),
    "too few columns": (
        _write_npy("probs.npy", _probs()[:, :2]),
        r"probs\.npy: 2 columns, but the project has 3 classes \['cat', 'dog', 'fox'\]",
    ),
    "one-dimensional": (_write_npy("probs.npy", _probs()[:, 0]), r"probs\.npy: .*must be 2-D"),
    "not numbers": (
        _write_npy("probs.npy", np.full((N, 3), "a")),
        r"probs\.npy: probabilities must be numbers",
    ),
    "NaN": (_bad(17, np.nan, 1), r"probs\.npy: row 17 \(sample 's017'\): .*'dog' .* is NaN"),
    "infinite": (_bad(4, np.inf, 2), r"probs\.npy: row 4 \(sample 's004'\): .*'fox'.* infinite"),
    "negative": (_bad(8, -0.2), r"probs\.npy: row 8 \(sample 's008'\): .*negative.*--logits"),
    "row sum": (
        _bad(12, 0.7),
        r"probs\.npy: row 12 \(sample 's012'\): the probabilities sum to .*, not 1.*--logits",
    ),
    "NaN logits": (_bad(5, np.nan, 0, True), r"probs\.npy: row 5 .*logit of class 'cat'.*NaN"),
    "ids count": (
        _with_ids(IDS[:-1], _probs()),
        r"ids\.csv: 29 ids \(its first line is the header\), but probs\.npy has 30 rows",
    ),
    "unknown id": (
        _with_ids([*IDS[:-1], "nobody"]),
        r"ids\.csv: line 31: sample 'nobody' is unknown",
    ),
    "duplicate id": (
        _with_ids([*IDS[:-1], "s002"]),
        r"ids\.csv: line 31: duplicate id 's002' \(first at line 4\)",
    ),
    "empty id": (_with_ids(["", *IDS[1:]]), r"ids\.csv: line 2: empty id"),
    "missing ids": (_with_ids(IDS[1:]), r"ids\.csv: 1 active sample\(s\) have no row: 's000'"),
    "ids columns": (
        lambda d: (
            pd.DataFrame({"a": IDS, "b": IDS}).to_csv(d / "ids.csv", index=False),
            np.save(d / "probs.npy", _probs()),
            {"probs": d / "probs.npy", "ids": d / "ids.csv"},
        )[2],
        r"ids\.csv: needs a sample_id column, or a single column",
    ),
    "parquet unknown class": (
        _parquet(CLASS_FRAME.rename(columns={"fox": "wolf"})),
        r"probs\.parquet: column\(s\) \['wolf'\] are not classes; class column\(s\) \['fox'\]",
    ),
    "parquet text column": (
        _parquet(CLASS_FRAME.assign(dog="x")),
        r"probs\.parquet: column 'dog' must be numbers",
    ),
    "parquet ids twice": (
        lambda d: {**_parquet(CLASS_FRAME.assign(sample_id=IDS))(d), "ids": IDS},
        r"probs\.parquet: has a sample_id column and ids were given too",
    ),
    "wrong suffix": (
        lambda d: ((d / "probs.csv").write_text("a\n"), {"probs": d / "probs.csv"})[1],
        r"probs\.csv: probabilities must be a \.npy or \.parquet file",
    ),
    "missing file": (lambda d: {"probs": d / "nope.npy"}, r"nope\.npy: file not found"),
    "embeddings rows": (
        _emb(np.ones((N - 1, 4), np.float32)),
        r"emb\.npy: 29 rows, but the probabilities have 30 rows",
    ),
    "embeddings NaN": (_emb(NAN_EMB), r"emb\.npy: row 7 \(sample 's007'\) holds a NaN"),
    "embeddings float16": (_emb(BIG_EMB), r"emb\.npy: row 9 .*beyond float16's range"),
    "embeddings 1-D": (_emb(np.ones(N, np.float32)), r"emb\.npy: embeddings must be 2-D"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_a_bad_input_is_named_and_nothing_is_written(
    case: str, url_project: Path, tmp_path: Path
) -> None:
    make, message = BAD_INPUTS[case]
    kwargs = make(tmp_path)
    with relabel.Project.open(url_project) as p, pytest.raises(RunImportError, match=message) as e:
        p.add_run(**kwargs)
    assert e.value.exit_code == ExitCode.INVALID_INPUT
    assert "nothing was written" in str(e.value)
    _nothing_written(url_project)


def test_the_cli_says_which_row_and_exits_6(url_project: Path, tmp_path: Path) -> None:
    kwargs = _bad(12, 0.7)(tmp_path)
    ran = relabel_in_process(["import-run", str(url_project), "--probs", str(kwargs["probs"])])
    assert ran.returncode == ExitCode.INVALID_INPUT
    assert "row 12 (sample 's012')" in ran.stderr and "--logits" in ran.stderr
    assert "Traceback" not in ran.stderr
    _nothing_written(url_project)


def test_error_attributes_name_the_row_and_column(url_project: Path) -> None:
    probs = _probs()
    probs[6, 0] = np.nan
    with Project.open(url_project) as p, pytest.raises(RunImportError) as e:
        p.add_run(probs)
    assert (e.value.source, e.value.row) == ("probs", 6)
    with Project.open(url_project) as p, pytest.raises(RunImportError) as e:
        p.add_run(CLASS_FRAME.drop(columns="dog"))
    assert e.value.column == "dog"


# -- logits, Parquet, ids ------------------------------------------------------------------


def test_logits_are_softmaxed_stably(url_project: Path) -> None:
    probs = _probs().astype(np.float64)
    logits = np.log(probs) + np.linspace(-5, 800, N)[:, None]  # large offsets: exp overflows
    with relabel.Project.open(url_project) as p:
        run_id = p.add_run(logits, logits=True)
    with _oof(url_project, run_id) as oof:
        np.testing.assert_allclose(oof["probs"], probs, rtol=1e-5, atol=1e-6)
    with relabel.Project.open(url_project) as p:
        with pytest.raises(RunImportError, match=r"row 0 \(sample .s000.\): .*negative.*--logits"):
            p.add_run(logits)
        assert p.store.latest_run()["settings"]["logits"] is True


def test_parquet_columns_by_class_name_and_sample_id_rows(
    url_project: Path, tmp_path: Path
) -> None:
    probs = _probs()
    perm = np.random.default_rng(2).permutation(N)
    frame = pd.DataFrame(probs[perm][:, ::-1], columns=CLASSES[::-1])  # fox, dog, cat
    frame.insert(1, "sample_id", np.asarray(IDS)[perm])
    frame.to_parquet(tmp_path / "probs.parquet")
    with Project.open(url_project) as p:
        run_id = p.add_run(tmp_path / "probs.parquet")
    with _oof(url_project, run_id) as oof:
        assert oof["sample_ids"].tolist() == IDS
        np.testing.assert_array_equal(oof["probs"], probs)


def test_an_ids_file_reorders_rows_and_embeddings(url_project: Path, tmp_path: Path) -> None:
    probs = _probs()
    emb = np.arange(N * 2, dtype=np.float32).reshape(N, 2)
    perm = np.random.default_rng(3).permutation(N)
    pd.DataFrame({"id": np.asarray(IDS)[perm]}).to_csv(tmp_path / "ids.csv", index=False)
    np.save(tmp_path / "probs.npy", probs[perm])
    np.save(tmp_path / "emb.npy", emb[perm])
    ran = relabel_in_process(
        [
            "import-run",
            str(url_project),
            "--probs",
            str(tmp_path / "probs.npy"),
            "--ids",
            str(tmp_path / "ids.csv"),
            "--embeddings",
            str(tmp_path / "emb.npy"),
        ]
    )
    assert ran.returncode == 0, ran.stderr
    with Project.open(url_project, readonly=True) as p:
        run_id = p.store.latest_run()["run_id"]
    with _oof(url_project, run_id) as oof:
        assert oof["sample_ids"].tolist() == IDS
        np.testing.assert_array_equal(oof["probs"], probs)
    stored = np.load(url_project / "runs" / run_id / "embeddings.npy")
    np.testing.assert_array_equal(stored, emb.astype(np.float16))


def test_float32_probabilities_in_order_are_not_copied(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", _probs())
    given = outputs_mod.read_probs(tmp_path / "p.npy", CLASSES)
    rows = outputs_mod.row_ids(given, None, pd.Series(IDS), pd.Series(IDS))
    checked = outputs_mod.checked_probs(given, rows, CLASSES)
    assert isinstance(checked, np.memmap) and checked is given.values


def test_the_api_holds_the_lock(url_project: Path) -> None:
    with (
        project_lock(url_project, "another"),
        relabel.Project.open(url_project) as p,
        pytest.raises(ProjectLockedError),
    ):
        p.add_run(_probs())
    _nothing_written(url_project)


# -- init --trust-paths, DataFrame manifests, training refused ---------------------------------


def test_init_trust_paths_accepts_urls_without_opening_them(tmp_path: Path) -> None:
    frame = _frame(12)
    frame["path"] = [f"https://example.org/img/{i}.jpg" for i in range(12)]
    frame.to_csv(tmp_path / "m.csv", index=False)
    plain = relabel_in_process(["init", str(tmp_path / "a"), "--manifest", str(tmp_path / "m.csv")])
    assert plain.returncode == ExitCode.INVALID_INPUT and "https://example.org/img/0.jpg" in (
        plain.stderr
    )
    root = tmp_path / "b"
    ran = relabel_in_process(
        ["init", str(root), "--manifest", str(tmp_path / "m.csv"), "--trust-paths", "--folds", "2"]
    )
    assert ran.returncode == 0, ran.stderr
    with Project.open(root, readonly=True) as p:
        assert p.store.labels()["path"].tolist() == frame["path"].tolist()
        assert p.store.get_meta("trusted_paths") == "1"
        assert p.config.dataset.image_size == [32, 32]  # the default: no image was opened


def test_init_from_a_dataframe_resolves_against_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(6):
        write_png(tmp_path / "img" / f"{i}.png", i)
    frame = pd.DataFrame(
        {"path": [f"img/{i}.png" for i in range(6)], "label": [i % 2 for i in range(6)]}
    )
    monkeypatch.chdir(tmp_path)
    result = Project.init(tmp_path / "p", manifest=frame, folds=2)
    assert result.classes == ["0", "1"] and result.n_samples == 6
    with Project.open(tmp_path / "p", readonly=True) as p:
        assert p.store.labels()["path"].tolist() == [
            str((tmp_path / "img" / f"{i}.png").resolve()) for i in range(6)
        ]
        assert p.config.dataset.path == "" and p.store.get_meta("trusted_paths") is None
    broken = frame.assign(path=[p if i != 1 else "" for i, p in enumerate(frame["path"])])
    with pytest.raises(DatasetError, match="DataFrame row 1: empty path"):
        Project.init(tmp_path / "q", manifest=broken, folds=2)
    assert not (tmp_path / "q").exists()


def test_training_refuses_url_images(url_project: Path, test_engine: str) -> None:
    ran = relabel_in_process(["train", str(url_project)])
    assert ran.returncode == ExitCode.INVALID_INPUT
    assert "not local files" in ran.stderr and "--trust-paths" in ran.stderr
    assert "relabel import-run" in ran.stderr
    with Project.locked(url_project, "test") as p, pytest.raises(ImagesNotLocalError):
        p.train()
    _nothing_written(url_project)


def test_a_20k_round_trip(tmp_path: Path) -> None:
    n = 20_000
    root = tmp_path / "big"
    Project.init(root, manifest=_frame(n), folds=2, trust_paths=True)
    probs = _probs(n)
    np.save(tmp_path / "probs.npy", probs)
    np.save(tmp_path / "emb.npy", np.ones((n, 16), dtype=np.float32))
    with relabel.Project.open(root) as p:
        p.add_run(tmp_path / "probs.npy", tmp_path / "emb.npy")
        ranked = p.rank()
    assert len(ranked.table) == n
    flagged = set(ranked.table.loc[ranked.table["lane"] == "label_issue", "sample_id"])
    assert {f"s{i:03d}" for i in PLANTED} <= flagged
