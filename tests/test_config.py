"""relabel.toml: what is saved loads back unchanged."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from relabel import config as config_mod
from relabel.errors import ConfigError, ExitCode


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


# --- one settings model: [model] and [training] are checked when relabel.toml loads --------


def _saved(tmp_path: Path, section: str, key: str, value: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = config_mod.Config(name="x", dataset=config_mod.DatasetConfig(classes=["a", "b"]))
    path = config_mod.save(config, tmp_path)
    text = path.read_text(encoding="utf-8")
    start = text.index(f"[{section}]\n")
    line = text.index(f"\n{key} = ", start) + 1
    end = text.index("\n", line)
    path.write_text(text[:line] + f"{key} = {value}" + text[end:], encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("model", "architecture", '"ResNet9000"', "model.architecture 'ResNet9000' is not a known"),
        ("model", "weights", '"w.h5"', "architecture 'small_cnn' takes no weights file"),
        ("model", "optimizer", '"rmsprop"', "model.optimizer must be one of adam, sgd"),
        ("model", "schedule", '"step"', "model.schedule must be one of"),
        ("model", "batch_size", "0", "model.batch_size must be at least 1, got 0"),
        ("model", "learning_rate", "0.0", "model.learning_rate must be positive"),
        ("model", "dropout", "1.0", "model.dropout must be in [0, 1)"),
        ("model", "flip", '"diagonal"', "model.flip must be one of"),
        ("model", "rotation", "-0.1", "model.rotation must be in [0, 1)"),
        ("training", "folds", "1", "training.folds must be at least 2, got 1"),
        ("training", "patience", "-1", "training.patience must be at least 0"),
        ("dataset", "image_size", "[2, 32]", "dataset.image_size must be [height, width]"),
    ],
)
def test_model_and_training_values_are_refused_when_the_config_loads(
    tmp_path: Path, section: str, key: str, value: str, message: str
) -> None:
    root = _saved(tmp_path, section, key, value)
    with pytest.raises(ConfigError) as info:
        config_mod.load(root)
    assert message in str(info.value) and "relabel.toml" in str(info.value)
    assert info.value.exit_code == ExitCode.INVALID_INPUT


def test_loading_a_config_imports_no_tensorflow(tmp_path: Path) -> None:
    good = _saved(tmp_path / "good", "model", "architecture", '"MobileNetV2"')
    bad = _saved(tmp_path / "bad", "model", "architecture", '"MobileNetV9"')
    code = f"""
import sys
from relabel import config
assert config.load({str(good)!r}).model.architecture == "MobileNetV2"
try:
    config.load({str(bad)!r})
except config.ConfigError as exc:
    assert "MobileNetV9" in str(exc)
else:
    raise SystemExit("not refused")
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_train_settings_are_the_config_fields_and_nothing_else(tmp_path: Path) -> None:
    from relabel.training import TrainSettings

    names = [f.name for f in dataclasses.fields(TrainSettings)]
    assert names == list(config_mod.train_fields())
    model = {f.name for f in dataclasses.fields(config_mod.ModelConfig)} - {"mode"}
    training = {f.name for f in dataclasses.fields(config_mod.TrainingConfig)}
    training -= set(config_mod.EXECUTOR_FIELDS)  # where training runs, not how
    assert set(names) == model | training | set(config_mod.DATASET_TRAIN_FIELDS)

    config = config_mod.Config(name="x", dataset=config_mod.DatasetConfig(classes=["a", "b"]))
    config.model.architecture, config.model.weights = "MobileNetV2", "weights/w.h5"
    config.model.dropout, config.training.folds, config.dataset.max_pixels = 0.5, 3, 1000
    settings = TrainSettings.from_config(config, tmp_path)
    assert settings.weights == str(tmp_path / "weights" / "w.h5")
    assert settings.image_size == (32, 32)
    for name, value in config_mod.train_values(config).items():
        if name not in ("weights", "image_size"):
            assert getattr(settings, name) == value, name
    config.model.weights = "ImageNet"
    assert TrainSettings.from_config(config, tmp_path).weights == "ImageNet"
    config.model.architecture, config.model.weights = "small_cnn", ""
    assert TrainSettings.from_config(config, tmp_path).weights is None
