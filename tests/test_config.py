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
    dataset = config_mod.DatasetConfig(classes=classes, path=f"C:\\data\\{name}")
    config = config_mod.Config(name=name, dataset=dataset)
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

    config = config_mod.Config(
        name="x",
        dataset=config_mod.DatasetConfig(classes=["a", "b"], max_pixels=1000),
        model=config_mod.ModelConfig(
            architecture="MobileNetV2", weights="weights/w.h5", dropout=0.5
        ),
        training=config_mod.TrainingConfig(folds=3),
    )
    settings = TrainSettings.from_config(config, tmp_path)
    assert settings.weights == str(tmp_path / "weights" / "w.h5")
    assert settings.image_size == (32, 32)
    for name, value in config_mod.train_values(config).items():
        if name not in ("weights", "image_size"):
            assert getattr(settings, name) == value, name
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, weights="ImageNet")
    )
    assert TrainSettings.from_config(config, tmp_path).weights == "ImageNet"
    model = dataclasses.replace(config.model, architecture="small_cnn", weights="")
    assert (
        TrainSettings.from_config(dataclasses.replace(config, model=model), tmp_path).weights
        is None
    )


# --- the typed model: pydantic's errors read as relabel's, naming file, key and value -----


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("training", "folds", '"five"', "training.folds: expected an integer, got 'five'"),
        ("training", "folds", "5.0", "training.folds: expected an integer, got 5.0"),
        ("training", "tta", "1", "training.tta: expected true or false, got 1"),
        ("model", "dropout", "true", "model.dropout: expected a number, got True"),
        ("model", "optimizer", "3", "model.optimizer: expected a string, got 3"),
        ("dataset", "classes", '"a,b"', "dataset.classes: expected a list, got 'a,b'"),
        ("dataset", "classes", '["a", 2]', "dataset.classes[1]: expected a string, got 2"),
        ("training", "ray_resources", "4", "training.ray_resources: expected a table"),
        ("review", "lane", '"best"', "review.lane: 'best' is not one of label_issue, uncertain"),
        ("review", "lane", "1", "review.lane: expected a string, got 1"),
        ("scoring", "method", '"loss"', "scoring.method: 'loss' is not one of noise_posterior"),
    ],
)
def test_wrong_types_and_unknown_keys_name_the_file_key_and_value(
    tmp_path: Path, section: str, key: str, value: str, message: str
) -> None:
    root = _saved(tmp_path, section, key, value)
    with pytest.raises(ConfigError) as info:
        config_mod.load(root)
    text = str(info.value)
    assert text.startswith(str(root / config_mod.CONFIG_FILE) + ": ") and message in text
    assert "pydantic" not in text and "validation error" not in text.lower()
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_an_unknown_key_lists_the_known_ones(tmp_path: Path) -> None:
    path = _saved(tmp_path, "review", "budget", "0.05") / config_mod.CONFIG_FILE
    path.write_text(path.read_text().replace("[review]\n", "[review]\nbudgets = 3\n"))
    with pytest.raises(ConfigError) as info:
        config_mod.load(tmp_path)
    assert str(info.value) == (
        f"{path}: unknown key 'review.budgets' (known: budget, consensus, fill_budget, "
        "gold_fraction, image_mode, lane, min_agreement, min_posterior, min_reviews, "
        "min_suspicion, per_class_balance, pre_annotate, reviewers_per_task, "
        "stop_errors_left, stop_hit_rate, stop_when_accuracy_gain_below, "
        "stop_when_gain_below, uncertain_share)"
    )


def test_every_problem_of_a_file_is_named_at_once(tmp_path: Path) -> None:
    root = _saved(tmp_path, "training", "folds", '"five"')
    path = root / config_mod.CONFIG_FILE
    path.write_text(path.read_text().replace("tta = false", 'tta = "no"'))
    with pytest.raises(ConfigError, match=r"training\.folds: .*; .*training\.tta: "):
        config_mod.load(root)


def test_a_section_that_is_not_a_table_is_named(tmp_path: Path) -> None:
    (tmp_path / config_mod.CONFIG_FILE).write_text('model = 5\n[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"relabel\.toml: \[model\] must be a table"):
        config_mod.load(tmp_path)


def test_a_config_built_in_code_is_checked_and_frozen() -> None:
    config = config_mod.Config(name="x", dataset=config_mod.DatasetConfig(classes=["a", "b"]))
    with pytest.raises(ConfigError, match=r"^model\.batch_size: expected an integer, got '64'$"):
        dataclasses.replace(config.model, batch_size="64")
    with pytest.raises(ConfigError, match=r"unknown key 'review\.lanes'"):
        config_mod.ReviewConfig(lanes="all")  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.batch_size = 32  # type: ignore[misc]
    bigger = dataclasses.replace(config.model, batch_size=32)
    assert bigger.batch_size == 32 and config.model.batch_size == 64
    assert config_mod.ModelConfig(learning_rate=1).learning_rate == 1.0  # an int is a number


def test_every_key_is_documented_and_the_choices_match_the_code() -> None:
    from typing import get_args

    from relabel.config.choices import ScoringMethod
    from relabel.ranking import SCORING_METHODS

    docs = config_mod.describe_keys()
    keys = [d.key for d in docs]
    sections = {
        name: [f.name for f in dataclasses.fields(cls)] for name, cls in config_mod.SECTIONS.items()
    }
    assert keys == ["project.name"] + [f"{s}.{k}" for s, names in sections.items() for k in names]
    assert all(len(d.description) > 10 for d in docs), [d.key for d in docs if not d.description]
    assert get_args(ScoringMethod) == SCORING_METHODS
    defaults = config_mod.Config(name="x")
    assert all(
        d.default == getattr(getattr(defaults, d.key.split(".")[0]), d.key.split(".")[1])
        for d in docs[1:]
    )
