"""``Project.issues`` and ``relabel issues`` on a project trained by the test engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relabel import Project
from relabel.data.image_stats import IMAGE_STATS_FILE, load_image_stats
from relabel.data.images import decode_many
from relabel.demo import digits
from relabel.errors import EmbeddingsMissingError, ExitCode
from relabel.findings import find_issues, image_statistics
from relabel.project.runs import EMBEDDINGS_FILE, oof_sample_ids
from tests.clirun import relabel_in_process
from tests.test_reliability import set_key


@pytest.fixture
def trained(tmp_path: Path, test_engine: str) -> tuple[Path, Path]:
    """A digits project trained once; returns the project and its run folder."""
    data = digits.write_digits(tmp_path / "data", size=16, seed=0)
    Project.init(tmp_path / "p", manifest=data.manifest, folds=3)
    with Project.open(tmp_path / "p") as project:
        result = project.train(final_model=False)
    return tmp_path / "p", result.run_dir


def _write_embeddings(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """An ``embeddings.npy`` as an embed run writes it (float16, rows as ``oof.npz``):
    the images at 8x8, with sample 1 a copy of sample 0 and sample 2 far from everything."""
    ids = oof_sample_ids(run / "oof.npz")
    with Project.open(run.parents[1]) as project:
        paths = project.active_samples().set_index("sample_id").loc[ids, "path"].tolist()
    emb = decode_many(paths, (8, 8), 1).reshape(len(paths), -1).astype(np.float16)
    emb[1] = emb[0]
    emb[2] = np.random.default_rng(0).normal(size=emb.shape[1]) * 100
    np.save(run / EMBEDDINGS_FILE, emb)
    return ids, emb


def test_training_keeps_image_statistics_of_its_decoding_pass(trained: tuple[Path, Path]) -> None:
    project, run = trained
    ids, stats = load_image_stats(run / IMAGE_STATS_FILE)
    assert list(ids) == list(oof_sample_ids(run / "oof.npz"))
    with Project.open(project) as p:
        samples = p.active_samples().set_index("sample_id").loc[ids]
        size = tuple(p.config.dataset.image_size)
        channels = p.config.dataset.channels
    pixels = decode_many(samples["path"].tolist()[:50], size, channels)
    again = image_statistics(pixels, np.tile([16, 16], (50, 1)))
    for key, values in again.items():
        np.testing.assert_allclose(stats[key][:50], values)


def test_project_issues_finds_planted_duplicate_and_outlier(trained: tuple[Path, Path]) -> None:
    project, run = trained
    ids, _ = _write_embeddings(run)
    with Project.open(project) as p:
        table = p.issues()
        labels = p.active_samples().set_index("sample_id").loc[ids[:2], "label"]
    assert len(table) == len(ids) and list(table["sample_id"]) == list(ids)
    assert table["duplicate_set"][0] == table["duplicate_set"][1] >= 0
    assert table["duplicate_conflict"][0] == (labels.iloc[0] != labels.iloc[1])
    assert table["outlier_flag"][2]
    assert {"dark_flag", "blurry_flag", "label_issue_flag"} <= set(table.columns)


def test_cli_prints_counts_and_writes_a_row_per_sample(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    project, run = trained
    ids, _ = _write_embeddings(run)
    out = tmp_path / "issues.csv"
    ran = relabel_in_process(["issues", str(project), "--out", str(out)])
    assert ran.returncode == 0, ran.stderr
    assert "duplicate_sets" in ran.stdout and "outlier" in ran.stdout
    table = pd.read_csv(out)
    assert list(table["sample_id"]) == list(ids)
    assert {"duplicate_score", "duplicate_flag", "duplicate_set", "outlier_score"} <= set(table)


def test_a_run_without_embeddings_exits_6_and_writes_nothing(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    project, run = trained
    (run / EMBEDDINGS_FILE).unlink(missing_ok=True)  # a run trained before runs kept them
    out = tmp_path / "issues.csv"
    ran = relabel_in_process(["issues", str(project), "--out", str(out)])
    assert ran.returncode == ExitCode.INVALID_INPUT == 6
    assert "no embeddings" in ran.stderr and "relabel train" in ran.stderr
    assert not out.exists()
    with Project.open(project) as p, pytest.raises(EmbeddingsMissingError, match="retrain"):
        p.issues()
    ran = relabel_in_process(["issues", str(project), "--out", str(out), "--without-embeddings"])
    assert ran.returncode == 0, ran.stderr
    table = pd.read_csv(out)
    assert "outlier_flag" not in table and "dark_flag" in table and "duplicate_set" in table


def test_health_without_kept_statistics_and_a_holdout_copy(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    project, run = trained
    kept = load_image_stats(run / IMAGE_STATS_FILE)[1]
    (run / IMAGE_STATS_FILE).unlink()  # a run trained before statistics were kept
    ids = oof_sample_ids(run / "oof.npz")
    with Project.open(project) as p:
        first = p.active_samples().set_index("sample_id").loc[ids[3]]
    held = tmp_path / "held"
    held.mkdir()
    (held / "h0.png").write_bytes(Path(first["path"]).read_bytes())
    (held / "holdout.csv").write_text(f"id,path,label\nh0,h0.png,{first['label']}\n")
    set_key(project, "dataset", "holdout", f'"{held / "holdout.csv"}"')
    with Project.open(project) as p:
        table = p.issues(embeddings=False)
    assert table["duplicate_crosses_holdout"][3] and table["duplicate_flag"][3]
    assert "held-out image" in table["reasons"][3]
    crossing = set(np.flatnonzero(table["duplicate_crosses_holdout"]))
    same_set = set(np.flatnonzero(table["duplicate_set"] == table["duplicate_set"][3]))
    assert crossing == ({3} if table["duplicate_set"][3] < 0 else same_set)
    expected = find_issues(image_stats=kept)  # statistics from pixels = those kept
    for t in ("dark", "blurry", "low_information", "odd_size"):
        np.testing.assert_allclose(table[f"{t}_score"], expected[f"{t}_score"])


def test_a_near_copy_of_a_held_out_image_crosses_the_split(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    from PIL import Image

    project, run = trained
    ids = oof_sample_ids(run / "oof.npz")
    with Project.open(project) as p:
        source = p.active_samples().set_index("sample_id").loc[ids[5]]
    pixels = np.asarray(Image.open(source["path"]).convert("L"), dtype=np.float64)
    held = tmp_path / "held"
    held.mkdir()
    near = np.clip(np.rint(pixels * 0.9 + 8), 0, 255).astype(np.uint8)  # not the same pixels
    Image.fromarray(near).save(held / "h0.png")
    (held / "holdout.csv").write_text(f"id,path,label\nh0,h0.png,{source['label']}\n")
    set_key(project, "dataset", "holdout", f'"{held / "holdout.csv"}"')
    with Project.open(project) as p:
        table = p.issues(embeddings=False)
    assert table["duplicate_crosses_holdout"][5] and table["duplicate_flag"][5]
    assert "held-out image" in table["reasons"][5]
    assert int(table["duplicate_crosses_holdout"].sum()) <= 3  # the copy, not every digit
