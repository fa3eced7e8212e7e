"""The rules between the values of a config: ranges, the training settings, Ray.

The types are the model's (:mod:`relabel.config.models`); what a value must be beyond its
type is checked here, by :func:`validate` when ``relabel.toml`` loads or is saved. The
training rules (:func:`train_problems`) are also the ONE check of
:class:`relabel.training.TrainSettings`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any, Final

from relabel.config.choices import (
    ARCHITECTURES,
    BUILT_IN_ARCHITECTURES,
    CLASS_WEIGHTS,
    FLIPS,
    LOSSES,
    OPTIMIZERS,
    RAY_RESOURCE_KEYS,
    SCHEDULES,
)
from relabel.config.models import CONFIG_FILE, Config, ModelConfig, TrainingConfig
from relabel.errors import ConfigError

#: Epochs and label smoothing of the photo (RGB) defaults, see :func:`photo_defaults`.
PHOTO_EPOCHS: Final = 15
PHOTO_LABEL_SMOOTHING: Final = 0.0

#: The fields of :class:`TrainingConfig` that say where training runs, not how: they are
#: not training settings (not in :func:`train_fields`, not in a run's fingerprint).
EXECUTOR_FIELDS: Final = ("executor", "ray_address", "ray_resources", "ray_max_retries")
#: The fields of :class:`DatasetConfig` that are training settings too.
DATASET_TRAIN_FIELDS: Final = ("image_size", "channels", "max_pixels")


def train_fields() -> dict[str, str]:
    """The fields of :class:`relabel.training.TrainSettings`, each with its config section.

    ``dataset.image_size`` and ``dataset.channels`` first, then every field of
    ``[model]`` but ``mode``, every field of ``[training]`` but the executor's
    (:data:`EXECUTOR_FIELDS`) and ``dataset.max_pixels``.
    """
    out = {"image_size": "dataset", "channels": "dataset"}
    out.update({f.name: "model" for f in fields(ModelConfig) if f.name != "mode"})
    out.update(
        {f.name: "training" for f in fields(TrainingConfig) if f.name not in EXECUTOR_FIELDS}
    )
    out["max_pixels"] = "dataset"
    return out


def train_values(config: Config) -> dict[str, Any]:
    """The training settings of a config, by :func:`train_fields` name (values as stored)."""
    return {
        name: getattr(getattr(config, section), name) for name, section in train_fields().items()
    }


Rule = tuple[Callable[[Any], bool], str]


def _at_least(low: float) -> Rule:
    return (lambda v: v >= low), f"must be at least {low:g}"


def _within(low: float, high: float) -> Rule:
    return (lambda v: low <= v < high), f"must be in [{low:g}, {high:g})"


def _one_of(choices: tuple[str, ...]) -> Rule:
    return (lambda v: v in choices), "must be one of " + ", ".join(choices)


#: The largest side of ``dataset.image_size``: larger inputs exhaust memory long before a
#: model could use them (a 10000 x 10000 RGB image is 1.2 GB as float32).
MAX_IMAGE_SIDE: Final = 1024


def _image_size(value: Any) -> bool:
    return (
        len(value) == 2
        and all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in value)
        and min(value) >= 4
        and max(value) <= MAX_IMAGE_SIDE
    )


#: One rule per training setting: (check, what it says when broken).
_TRAIN_RULES: dict[str, Rule] = {
    "image_size": (
        _image_size,
        f"must be [height, width], each an integer from 4 to {MAX_IMAGE_SIDE}",
    ),
    "channels": ((lambda v: v in (1, 3)), "must be 1 or 3"),
    "max_pixels": _at_least(1),
    "optimizer": _one_of(OPTIMIZERS),
    "schedule": _one_of(SCHEDULES),
    "label_smoothing": _within(0, 0.5),
    "batch_size": _at_least(1),
    "learning_rate": ((lambda v: v > 0), "must be positive"),
    "dropout": _within(0, 1),
    "l2": _at_least(0),
    "class_weight": _one_of(CLASS_WEIGHTS),
    "loss": _one_of(LOSSES),
    "focal_gamma": _at_least(0),
    "flip": _one_of(FLIPS),
    "translation": _within(0, 1),
    "rotation": _within(0, 1),
    "contrast": _within(0, 1),
    "folds": _at_least(2),
    "epochs": _at_least(1),
    "patience": _at_least(0),
    "validation_fraction": _within(0, 0.5),
    "ensemble": _at_least(1),
}


def train_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Check training settings: the ONE validator of ``[model]``, ``[training]`` and
    ``relabel.training.TrainSettings``.

    Parameters
    ----------
    values : Mapping
        Settings by :func:`train_fields` name (``weights``: empty or None for none).

    Returns
    -------
    list of (str, str)
        ``(name, "must be ..., got ...")`` for every broken rule; empty when all hold.
        Whether a weights file exists (and whether ImageNet weights can be downloaded) is
        checked when training starts (:func:`relabel.training.check_settings`).
    """
    problems = []
    for name, (ok, says) in _TRAIN_RULES.items():
        value = values[name]
        try:
            good = bool(ok(value))
        except TypeError:
            good = False
        if not good:
            problems.append((name, f"{says}, got {value!r}"))
    architecture, weights = values["architecture"], values["weights"]
    if architecture not in ARCHITECTURES:
        problems.append(
            (
                "architecture",
                f"{architecture!r} is not a known architecture; valid names are: "
                + ", ".join(ARCHITECTURES),
            )
        )
    elif weights and architecture in BUILT_IN_ARCHITECTURES:
        problems.append(
            (
                "weights",
                f"{weights!r} were given, but architecture {architecture!r} takes no weights "
                "file; choose a keras.applications architecture or drop the weights setting",
            )
        )
    return problems


def validate(config: Config, file: str = CONFIG_FILE) -> Config:
    """Check every rule of a config; return it unchanged or raise ConfigError.

    The training settings (:func:`train_problems`) are checked here too, so that a
    mistake in ``[model]`` or ``[training]`` is found when ``relabel.toml`` loads.

    Parameters
    ----------
    config : Config
        A config whose types pydantic has checked.
    file : str
        The file named in the message.

    Raises
    ------
    ConfigError
        Every broken rule, each naming the file, the key and the value.
    """
    problems = [
        f"{train_fields()[name]}.{name} {says}"
        for name, says in train_problems(train_values(config))
    ]
    problems += _config_problems(config)
    if problems:
        raise ConfigError(f"{file}: " + f"; {file}: ".join(problems))
    return config


def _model_problems(config: Config) -> list[tuple[bool, str]]:
    """The rules between ``[model]`` and ``[scoring]`` (embeddings and k-NN)."""
    m, s = config.model, config.scoring
    return [
        (s.knn_k >= 1, f"scoring.knn_k must be at least 1, got {s.knn_k}"),
        (
            m.mode != "embed" or bool(m.weights),
            'model.mode = "embed" needs pretrained weights: set model.weights to '
            'a local weights file of the backbone or to "imagenet"',
        ),
        (
            s.probabilities != "knn" or m.mode == "embed",
            'scoring.probabilities = "knn" needs embeddings: set model.mode = '
            '"embed" (or scoring.probabilities = "model")',
        ),
        (
            m.mode != "embed" or m.architecture not in BUILT_IN_ARCHITECTURES,
            'model.mode = "embed" needs a keras.applications backbone as '
            f'model.architecture (e.g. "MobileNetV2"), got {m.architecture!r}',
        ),
    ]


def _review_problems(config: Config) -> list[tuple[bool, str]]:
    """The ranges of ``[review]`` and ``scoring.uncertain_threshold``."""
    r, s = config.review, config.scoring
    return [
        (r.budget > 0, "review.budget must be > 0 (a count, or a fraction < 1)"),
        (
            r.budget < 1 or r.budget == int(r.budget),
            "review.budget >= 1 must be a whole number of samples",
        ),
        (0.0 <= r.uncertain_share <= 1.0, "review.uncertain_share must be in [0, 1]"),
        (0.0 <= r.min_agreement < 1.0, "review.min_agreement must be in [0, 1)"),
        (0.0 <= r.min_posterior < 1.0, "review.min_posterior must be in [0, 1)"),
        (0.0 <= r.min_suspicion <= 1.0, "review.min_suspicion must be in [0, 1]"),
        (0.0 <= r.gold_fraction < 1.0, "review.gold_fraction must be in [0, 1)"),
        (r.stop_when_gain_below >= 0, "review.stop_when_gain_below must be >= 0"),
        (
            r.stop_when_accuracy_gain_below >= 0,
            "review.stop_when_accuracy_gain_below must be >= 0",
        ),
        (
            1 <= r.reviewers_per_task <= 20,
            f"review.reviewers_per_task must be in 1..20, got {r.reviewers_per_task}",
        ),
        (
            0.0 < s.uncertain_threshold <= 1.0,
            "scoring.uncertain_threshold must be in (0, 1]",
        ),
    ]


def _config_problems(config: Config) -> list[str]:
    """The rules of the config that are not training settings."""
    d = config.dataset
    checks = [
        (len(d.classes) >= 2, f"dataset.classes needs at least 2 classes, got {d.classes!r}"),
        (len(set(d.classes)) == len(d.classes), f"dataset.classes has duplicates: {d.classes!r}"),
        (
            config.studio.retries >= 1,
            f"studio.retries must be at least 1, got {config.studio.retries}",
        ),
        (
            config.studio.max_tasks_per_project >= 1,
            "studio.max_tasks_per_project must be at least 1, got "
            f"{config.studio.max_tasks_per_project}",
        ),
        *_model_problems(config),
        *_review_problems(config),
    ]
    return [says for ok, says in checks if not ok] + _ray_problems(config.training)


def _ray_problems(t: TrainingConfig) -> list[str]:
    """The rules of ``training.ray_address`` and ``training.ray_resources``."""
    problems = []
    if t.ray_max_retries < 0:
        problems.append(f"training.ray_max_retries must be at least 0, got {t.ray_max_retries}")
    address = t.ray_address
    if address and address != "auto" and not address.startswith("ray://") and ":" not in address:
        problems.append(
            f'training.ray_address must be "auto", "ray://host:port", "host:port" or empty, '
            f"got {address!r}"
        )
    for key, value in t.ray_resources.items():
        if key not in RAY_RESOURCE_KEYS:
            problems.append(
                f"training.ray_resources: unknown key {key!r} "
                f"(known: {', '.join(RAY_RESOURCE_KEYS)})"
            )
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"training.ray_resources.{key} must be a number >= 0, got {value!r}")
        elif key != "memory" and value > 1 and value != int(value):
            problems.append(
                f"training.ray_resources.{key} above 1 must be a whole number (Ray's rule), "
                f"got {value!r}"
            )
    return problems


def photo_defaults(
    model: ModelConfig, training: TrainingConfig
) -> tuple[ModelConfig, TrainingConfig]:
    """The model and training defaults ``relabel init`` writes for an RGB (photo) project.

    A residual CNN with batch norm (``resnet_small``), random horizontal flips and
    translations (reflect padding), SGD with a one-cycle schedule, weight decay and a fixed
    number of epochs (no early stopping on noisy validation labels), with flip test-time
    augmentation. Chosen on fold 1 of CIFAR-10 with its original labels; measured on all
    folds and on the CIFAR-10H human-noise labels in BENCHMARKS.md ("Photos").
    """
    model = replace(
        model,
        architecture="resnet_small",
        optimizer="sgd",
        schedule="one_cycle",
        learning_rate=0.1,
        batch_size=128,
        dropout=0.0,
        l2=5e-4,
        label_smoothing=PHOTO_LABEL_SMOOTHING,
        flip="horizontal",
        translation=0.125,
    )
    training = replace(training, epochs=PHOTO_EPOCHS, validation_fraction=0.0, tta=True)
    return model, training
