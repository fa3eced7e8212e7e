"""relabel.toml: what is saved loads back unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from relabel import config as config_mod


@pytest.mark.parametrize(
    "name",
    [
        "plain",
        'cr\rlf\r\ntab\tquote"back\\slash',
        "unicode: é 日本 ☃ \u00a0 \U0001f600",
        "control \x00 \x1f \x7f and 'single' quotes",
    ],
)
def test_project_name_and_classes_round_trip_through_save_and_load(
    tmp_path: Path, name: str
) -> None:
    classes = [name, f"class\r{name}", 'a "quoted"\tclass', "ünïcødé"]
    config = config_mod.Config(name=name, dataset=config_mod.DatasetConfig(classes=classes))
    config.dataset.path = f"C:\\data\\{name}"
    config_mod.save(config, tmp_path)
    loaded = config_mod.load(tmp_path)
    assert loaded == config
    assert loaded.name == name and loaded.dataset.classes == classes


def test_saved_file_keeps_short_lists_on_one_line(tmp_path: Path) -> None:
    config = config_mod.Config(name="x", dataset=config_mod.DatasetConfig(classes=["a", "b"]))
    text = config_mod.save(config, tmp_path).read_text(encoding="utf-8")
    assert "image_size = [32, 32]\n" in text and 'classes = ["a", "b"]\n' in text
