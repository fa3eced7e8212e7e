"""`relabel init`: every bad input is reported with its row or file, exits non-zero and
writes nothing (unless --skip-invalid)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from relabel.cli import main
from relabel.errors import ExitCode
from relabel.store import Store
from tests.imagefiles import write_folder_dataset, write_manifest_dataset, write_png


def run_init(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["init", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def assert_nothing_written(project: Path) -> None:
    assert not project.exists(), f"{project} was created: {list(project.rglob('*'))}"


def edit_manifest(manifest: Path, line: int, new: str) -> None:
    lines = manifest.read_text().splitlines()
    lines[line - 1] = new
    manifest.write_text("\n".join(lines) + "\n")


def test_valid_manifest_creates_project(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data")
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3")
    assert code == 0, out
    assert (tmp_path / "proj" / "relabel.toml").is_file()
    assert (tmp_path / "proj" / "relabel.db").is_file()
    assert "12 samples, 2 classes" in out


def test_valid_folder_creates_project(tmp_path: Path) -> None:
    images = write_folder_dataset(tmp_path / "images", classes=("a", "b", "c"))
    code, out = run_init(str(tmp_path / "proj"), "--images", str(images), "--folds", "3")
    assert code == 0, out
    assert "18 samples, 3 classes" in out


def test_missing_file(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data")
    edit_manifest(manifest, 3, "s001,img/nope.png,cat")
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT
    assert "manifest.csv line 3" in out and "file not found" in out and "nope.png" in out
    assert_nothing_written(tmp_path / "proj")


def test_corrupt_image(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data")
    (tmp_path / "data" / "img" / "cat_002.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT
    assert "manifest.csv line 4" in out and "cat_002.png" in out
    assert_nothing_written(tmp_path / "proj")


def test_truncated_image(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data")
    img = tmp_path / "data" / "img" / "dog_007.png"
    write_png(img, 7, size=64)
    img.write_bytes(img.read_bytes()[:-40])
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT
    assert "manifest.csv line 9" in out and "dog_007.png" in out
    assert_nothing_written(tmp_path / "proj")


def test_not_an_image(tmp_path: Path) -> None:
    images = write_folder_dataset(tmp_path / "images")
    (images / "cat" / "notes.png").write_text("hello")
    code, out = run_init(str(tmp_path / "proj"), "--images", str(images), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT
    assert "notes.png" in out and "not an image" in out
    assert_nothing_written(tmp_path / "proj")


def test_empty_label_is_an_unlabelled_sample_of_the_pool(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data")
    edit_manifest(manifest, 5, "s003,img/cat_003.png,")
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3")
    assert code == 0, out
    with Store.open(tmp_path / "proj" / "relabel.db", readonly=True) as store:
        assert store.pool()["sample_id"].tolist() == ["s003"]
        assert "s003" not in set(store.labels()["sample_id"])


def test_empty_id(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data")
    edit_manifest(manifest, 5, ",img/cat_003.png,cat")
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT
    assert "manifest.csv line 5: empty id" in out
    assert_nothing_written(tmp_path / "proj")


def test_unknown_label(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data")
    edit_manifest(manifest, 6, "s004,img/cat_004.png,cow")
    code, out = run_init(
        str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3", "--classes", "cat,dog"
    )
    assert code == ExitCode.INVALID_INPUT
    assert "manifest.csv line 6: unknown label 'cow'" in out
    assert_nothing_written(tmp_path / "proj")


def test_duplicate_id(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data")
    edit_manifest(manifest, 4, "s001,img/cat_002.png,cat")
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT
    assert "manifest.csv line 4: duplicate id 's001' (first at manifest.csv line 3)" in out
    assert_nothing_written(tmp_path / "proj")


def test_fewer_than_two_classes(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data", classes=("cat",))
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT
    assert "at least 2 classes" in out
    assert_nothing_written(tmp_path / "proj")


def test_class_with_too_few_samples_for_folds(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data", per_class=4)
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "5")
    assert code == ExitCode.INVALID_INPUT
    assert "class 'cat' has 4 valid sample(s), fewer than the 5 cross-validation folds" in out
    assert_nothing_written(tmp_path / "proj")


def test_missing_column(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label\na.png,cat\n")
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest))
    assert code == ExitCode.INVALID_INPUT
    assert "m.csv: missing column(s) path" in out
    assert_nothing_written(tmp_path / "proj")


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data", per_class=8)
    edit_manifest(manifest, 3, "s001,img/nope.png,cat")
    edit_manifest(manifest, 5, ",img/cat_003.png,cat")
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT
    assert "2 invalid row(s)" in out and "line 3" in out and "line 5" in out


def test_skip_invalid_lists_skipped_rows(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data", per_class=8)
    edit_manifest(manifest, 3, "s001,img/nope.png,cat")
    edit_manifest(manifest, 5, ",img/cat_003.png,cat")
    proj = tmp_path / "proj"
    code, out = run_init(str(proj), "--manifest", str(manifest), "--folds", "3", "--skip-invalid")
    assert code == 0, out
    assert "14 samples" in out and "skipped 2 invalid row(s)" in out
    skipped = pd.read_csv(proj / "skipped.csv")
    assert skipped["where"].tolist() == ["manifest.csv line 3", "manifest.csv line 5"]


def test_skip_invalid_cannot_skip_dataset_problems(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data", per_class=3)
    edit_manifest(manifest, 3, "s001,img/nope.png,cat")
    code, out = run_init(
        str(tmp_path / "proj"), "--manifest", str(manifest), "--folds", "3", "--skip-invalid"
    )
    assert code == ExitCode.INVALID_INPUT
    assert "class 'cat' has 2 valid sample(s)" in out
    assert_nothing_written(tmp_path / "proj")


def test_init_twice_refused(tmp_path: Path) -> None:
    manifest = write_manifest_dataset(tmp_path / "data")
    proj = str(tmp_path / "proj")
    assert run_init(proj, "--manifest", str(manifest), "--folds", "3")[0] == 0
    db = (tmp_path / "proj" / "relabel.db").read_bytes()
    code, out = run_init(proj, "--manifest", str(manifest), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT and "already initialised" in out
    assert (tmp_path / "proj" / "relabel.db").read_bytes() == db


@pytest.mark.parametrize("suffix", [".parquet"])
def test_parquet_manifest_names_rows(tmp_path: Path, suffix: str) -> None:
    csv = write_manifest_dataset(tmp_path / "data")
    frame = pd.read_csv(csv, dtype=str)
    frame.loc[2, "path"] = ""
    pq = tmp_path / "data" / f"manifest{suffix}"
    frame.to_parquet(pq)
    code, out = run_init(str(tmp_path / "proj"), "--manifest", str(pq), "--folds", "3")
    assert code == ExitCode.INVALID_INPUT
    assert f"manifest{suffix} row 3: empty path" in out
    assert_nothing_written(tmp_path / "proj")
