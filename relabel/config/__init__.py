"""Project configuration: ``relabel.toml``.

A project is a folder holding ``relabel.toml`` (this module), ``relabel.db`` (the SQLite
label store, :mod:`relabel.store`) and ``runs/`` (training artifacts). The config names the
Label Studio connection by environment variable NAMES only: the token itself never reaches a
file.

Every key is checked on load: an unknown key, a wrong type or an out-of-range value raises
:class:`~relabel.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import math
import numbers
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from relabel.errors import ConfigError
from relabel.ranking import DEFAULT_METHOD, SCORING_METHODS

CONFIG_FILE = "relabel.toml"

#: Epochs and label smoothing of the photo (RGB) defaults, see :func:`photo_defaults`.
PHOTO_EPOCHS = 15
PHOTO_LABEL_SMOOTHING = 0.0

LANES = ("label_issue", "uncertain", "all")
MODEL_MODES = ("train", "embed")
IMAGE_MODES = ("upload", "local-files", "url", "inline")
#: How a task's answers are resolved (``review.consensus``).
CONSENSUS_METHODS = ("majority", "dawid_skene")

#: The architectures relabel builds itself (:mod:`relabel.training`); they take no weights.
SMALL_CNN = "small_cnn"
RESNET_SMALL = "resnet_small"
BUILT_IN_ARCHITECTURES = (SMALL_CNN, RESNET_SMALL)
#: The ``keras.applications`` models (Keras 3) accepted as ``model.architecture``: a static
#: list, so that loading a config never imports TensorFlow (a test checks it against Keras).
KERAS_APPLICATIONS = (
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "NASNetLarge",
    "NASNetMobile",
    "ResNet101",
    "ResNet101V2",
    "ResNet152",
    "ResNet152V2",
    "ResNet50",
    "ResNet50V2",
    "VGG16",
    "VGG19",
    "Xception",
)
ARCHITECTURES = (*BUILT_IN_ARCHITECTURES, *KERAS_APPLICATIONS)
#: The ``model.weights`` value that asks for ImageNet weights (Keras downloads them once).
IMAGENET = "imagenet"
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine", "one_cycle")
CLASS_WEIGHTS = ("none", "balanced")
LOSSES = ("crossentropy", "focal")
FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")


@dataclass
class DatasetConfig:
    """Where the samples came from and how images are read.

    Attributes
    ----------
    source : str
        ``"folder"`` (one sub-folder per class) or ``"manifest"`` (CSV/Parquet ``path,label[,id]``).
    path : str
        The images folder or manifest file the project was created from (absolute).
    classes : list of str
        The class names, in the order of the model's outputs.
    image_size : list of int
        ``[height, width]`` images are resized to for training.
    channels : int
        1 (grayscale) or 3 (RGB).
    holdout : str
        Optional manifest of a trusted held-out split (never relabelled), used to measure
        accuracy after each cycle. Empty: accuracy is out-of-fold agreement with the labels.
    max_pixels : int
        The largest image accepted, in pixels (width x height); a larger one is an invalid
        row at ``init`` and before training.
    """

    source: str = "manifest"
    path: str = ""
    classes: list[str] = field(default_factory=list)
    image_size: list[int] = field(default_factory=lambda: [32, 32])
    channels: int = 3
    holdout: str = ""
    max_pixels: int = 100_000_000


@dataclass
class ModelConfig:
    """``[model]``: the Keras model, its optimisation and regularisation.

    Every field but ``mode`` is also a field of :class:`relabel.training.TrainSettings`,
    which is built from this class, :class:`TrainingConfig` and three fields of
    :class:`DatasetConfig` (:func:`train_fields`); :func:`train_problems` checks them all.

    Attributes
    ----------
    mode : str
        ``"train"`` trains ``architecture`` on every fold; ``"embed"`` runs every image
        once through the frozen ``keras.applications`` backbone ``architecture`` (with
        ``weights``) and fits a logistic regression per fold.
    architecture : str
        ``"small_cnn"``, ``"resnet_small"`` or a ``keras.applications`` model name
        (:data:`KERAS_APPLICATIONS`, e.g. ``"MobileNetV2"``, ``"EfficientNetB0"``).
    weights : str
        A ``keras.applications`` backbone's no-top weights: a local file (relative to the
        project), or ``"imagenet"`` (Keras downloads them once). Empty: random weights.
        With weights the backbone is frozen and only the head is trained.
    optimizer : str
        ``"adam"`` or ``"sgd"`` (Nesterov momentum 0.9).
    schedule : str
        Learning-rate schedule over the whole fit: ``"constant"``, ``"cosine"`` (cosine
        decay to 0) or ``"one_cycle"`` (linear warm-up over the first 15 % of the steps to
        ``learning_rate``, then cosine decay to 0).
    label_smoothing : float
        Label smoothing of the cross-entropy, in [0, 0.5).
    batch_size : int
        Images per batch.
    learning_rate : float
        Peak learning rate.
    dropout : float
        Dropout rate before the last dense layer, in [0, 1).
    l2 : float
        L2 kernel regularization of the layers relabel builds (not of a backbone's own
        layers); 0 turns it off.
    class_weight : str
        ``"none"`` or ``"balanced"`` (``n_samples / (n_classes * count)`` per class).
    loss : str
        ``"crossentropy"`` or ``"focal"`` (categorical focal cross-entropy).
    focal_gamma : float
        Focusing parameter of the focal loss.
    flip : str
        Random flips: ``"none"``, ``"horizontal"``, ``"vertical"`` or
        ``"horizontal_and_vertical"``.
    translation : float
        Random shift, as a fraction of height and width, in [0, 1); 0 turns it off.
    rotation : float
        Random rotation, as a fraction of a full turn, in [0, 1); 0 turns it off.
    contrast : float
        Random contrast factor, in [0, 1); 0 turns it off.
    """

    mode: str = "train"
    architecture: str = SMALL_CNN
    weights: str = ""
    optimizer: str = "adam"
    schedule: str = "constant"
    label_smoothing: float = 0.0
    batch_size: int = 64
    learning_rate: float = 1e-3
    dropout: float = 0.25
    l2: float = 1e-4
    class_weight: str = "none"
    loss: str = "crossentropy"
    focal_gamma: float = 2.0
    flip: str = "none"
    translation: float = 0.0
    rotation: float = 0.0
    contrast: float = 0.0


@dataclass
class TrainingConfig:
    """``[training]``: cross-validation and the training loop.

    Attributes
    ----------
    folds : int
        Number of cross-validation folds (at least 2).
    epochs : int
        Most epochs per fit (early stopping may stop sooner).
    patience : int
        Early-stopping patience in epochs on the validation loss; the weights of the best
        epoch are restored.
    validation_fraction : float
        Fraction of each training set held out (stratified) for early stopping, in
        [0, 0.5); 0 trains every epoch on everything without early stopping.
    seed : int
        Seed of every random choice.
    tta : bool
        Test-time augmentation: average the predictions of each image and of its flips
        (the flips of ``model.flip``); without flips it changes nothing.
    ensemble : int
        Models per fold (seeds ``seed``, ``seed + 1000``, ...) whose predictions are averaged.
    cache_images : bool
        Decode and resize every image once into a uint8 array and train from it; false
        streams and decodes the files again every epoch.
    executor : str
        Where the folds, the final model, the embedding and the out-of-fold prediction
        run: ``"local"`` (in this process, one after another) or ``"ray"`` (a Ray task per
        fold and Ray Data over the images; needs ``pip install relabel[ray]``).
    ray_address : str
        The Ray cluster of ``executor = "ray"``: ``"auto"`` (the cluster this machine is a
        node of), ``"ray://host:10001"`` (a remote cluster), or empty for a local Ray
        started by relabel for the run.
    ray_resources : dict
        Ray resources of each fold's task and of the final model's: ``num_cpus``,
        ``num_gpus`` and ``memory`` (bytes), e.g. ``{ num_cpus = 4, num_gpus = 1 }``.
    ray_max_retries : int
        Times Ray re-runs a fold whose worker process died before the run fails.
    """

    folds: int = 5
    epochs: int = 15
    patience: int = 3
    validation_fraction: float = 0.1
    seed: int = 0
    tta: bool = False
    ensemble: int = 1
    cache_images: bool = True
    executor: str = "local"
    ray_address: str = ""
    ray_resources: dict[str, float] = field(default_factory=lambda: {"num_cpus": 1})
    ray_max_retries: int = 3


#: The fields of :class:`TrainingConfig` that say where training runs, not how: they are
#: not training settings (not in :func:`train_fields`, not in a run's fingerprint).
EXECUTOR_FIELDS = ("executor", "ray_address", "ray_resources", "ray_max_retries")
EXECUTORS = ("local", "ray")
#: The Ray task options ``training.ray_resources`` may set.
RAY_RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")


#: The fields of :class:`DatasetConfig` that are training settings too.
DATASET_TRAIN_FIELDS = ("image_size", "channels", "max_pixels")


def train_fields() -> dict[str, str]:
    """The fields of :class:`relabel.training.TrainSettings`, each with its config section.

    ``dataset.image_size`` and ``dataset.channels`` first, then every field of
    ``[model]`` but ``mode``, every field of ``[training]`` and ``dataset.max_pixels``.
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


def _at_least(low: float) -> tuple[Any, str]:
    return (lambda v: v >= low), f"must be at least {low:g}"


def _within(low: float, high: float) -> tuple[Any, str]:
    return (lambda v: low <= v < high), f"must be in [{low:g}, {high:g})"


#: One rule per training setting: (check, what it says when broken).
_TRAIN_RULES: dict[str, tuple[Any, str]] = {
    "image_size": (
        lambda v: (
            len(v) == 2
            and all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in v)
            and min(v) >= 4
        ),
        "must be [height, width], each an integer >= 4",
    ),
    "channels": ((lambda v: v in (1, 3)), "must be 1 or 3"),
    "max_pixels": _at_least(1),
    "optimizer": ((lambda v: v in OPTIMIZERS), "must be one of " + ", ".join(OPTIMIZERS)),
    "schedule": ((lambda v: v in SCHEDULES), "must be one of " + ", ".join(SCHEDULES)),
    "label_smoothing": _within(0, 0.5),
    "batch_size": _at_least(1),
    "learning_rate": ((lambda v: v > 0), "must be positive"),
    "dropout": _within(0, 1),
    "l2": _at_least(0),
    "class_weight": ((lambda v: v in CLASS_WEIGHTS), "must be one of " + ", ".join(CLASS_WEIGHTS)),
    "loss": ((lambda v: v in LOSSES), "must be one of " + ", ".join(LOSSES)),
    "focal_gamma": _at_least(0),
    "flip": ((lambda v: v in FLIPS), "must be one of " + ", ".join(FLIPS)),
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


@dataclass
class ScoringConfig:
    """How samples are ranked (see :mod:`relabel.ranking`).

    ``probabilities`` picks what the score ranks: ``"model"`` (the out-of-fold
    probabilities) or ``"knn"`` (the given labels of each sample's ``knn_k`` nearest
    neighbours in embedding space; ``model.mode = "embed"`` runs only).
    """

    method: str = DEFAULT_METHOD
    uncertain_threshold: float = 0.5
    probabilities: str = "model"
    knn_k: int = 10


@dataclass
class ReviewConfig:
    """What is sent to reviewers and how their answers are resolved.

    Attributes
    ----------
    budget : float
        Samples per cycle: a count (``>= 1``) or a fraction of the samples (``< 1``).
    lane : str
        ``label_issue``, ``uncertain`` or ``all``.
    uncertain_share : float
        Share of the budget given to the ``uncertain`` lane when ``lane = "label_issue"``.
    per_class_balance : bool
        Spread the budget over given classes in proportion to their estimated errors.
    fill_budget : bool
        With ``lane = "label_issue"``: when the lane (sized by the estimated number of
        label errors) has fewer eligible samples than the budget, fill the rest with the
        next most suspicious samples outside the ``uncertain`` lane.
    min_suspicion : float
        The floor of a filled slot (``fill_budget``): a sample outside the label-issue lane
        is sent only when its estimated error probability (the posterior probability that
        its label is wrong under the estimated noise,
        :func:`relabel.ranking.noise_posterior`)
        is at least this, so a filled slot costs at most ``1 / min_suspicion`` reviews per
        expected correction. 0 fills every slot.
    min_agreement : float
        Majority consensus: a label wins when its share of the non-skipped votes is
        strictly more than this.
    consensus : str
        How a task's answers become a label: ``majority`` (every vote counts the same) or
        ``dawid_skene`` (votes weighted by each reviewer's estimated confusion matrix,
        fitted on every answer in the store and anchored by gold tasks).
    min_posterior : float
        Dawid-Skene consensus: a label wins when its posterior is strictly more than this.
    reviewers_per_task : int
        Answers each task collects (Label Studio's overlap, ``maximum_annotations``). A
        task left unresolved (a tie, "Not sure", too little agreement) once all its answers
        are in gets one more reviewer, once.
    gold_fraction : float
        Share of each push made of gold tasks: samples whose label is trusted (confirmed
        by at least two reviewers who all agreed), shown exactly like the other tasks.
        Their answers measure each reviewer and never change a label.
    pre_annotate : bool
        Send the model's suggestion as a pre-annotation (an anchor for the reviewer).
    image_mode : str
        ``upload``, ``local-files``, ``url`` or ``inline``.
    min_reviews : int
        ``relabel cycle`` pulls and retrains only once this many new reviews exist.
    stop_hit_rate : float
        Stopping hint: the hit rate (corrected / reviewed) under which more cycles pay little.
    stop_errors_left : float
        Stopping hint: the estimated fraction of label errors left under which to stop.
    """

    budget: float = 0.05
    lane: str = "label_issue"
    uncertain_share: float = 0.0
    per_class_balance: bool = False
    fill_budget: bool = True
    min_suspicion: float = 0.1
    min_agreement: float = 0.5
    consensus: str = "majority"
    min_posterior: float = 0.5
    reviewers_per_task: int = 1
    gold_fraction: float = 0.0
    pre_annotate: bool = True
    image_mode: str = "upload"
    min_reviews: int = 0
    stop_hit_rate: float = 0.1
    stop_errors_left: float = 0.01


@dataclass
class StudioConfig:
    """The Label Studio connection, by environment variable NAMES (never the token).

    ``retries`` is the number of attempts per request when the server does not answer or
    answers with a transient error (delays of 0.5 s doubling up to 10 s between them).
    """

    url_env: str = "LABEL_STUDIO_URL"
    token_env: str = "LABEL_STUDIO_API_KEY"
    title: str = ""
    document_root: str = ""
    retries: int = 5


@dataclass
class Config:
    """A whole ``relabel.toml``."""

    name: str
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    studio: StudioConfig = field(default_factory=StudioConfig)

    def budget_count(self, n_samples: int, budget: float | None = None) -> int:
        """A review budget as a number of samples for a dataset of ``n_samples``.

        Parameters
        ----------
        n_samples : int
            The number of samples ranked.
        budget : float, optional
            A count (``>= 1``, or 0 for nothing) or a fraction in (0, 1) of the samples;
            default ``review.budget``.
        """
        b = self.review.budget if budget is None else budget
        if b <= 0:
            return 0
        return int(b) if b >= 1 else max(1, math.ceil(b * n_samples))


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


_SECTIONS: dict[str, type] = {
    "dataset": DatasetConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "scoring": ScoringConfig,
    "review": ReviewConfig,
    "studio": StudioConfig,
}

_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("dataset", "source"): ("folder", "manifest"),
    ("model", "mode"): MODEL_MODES,
    ("scoring", "probabilities"): ("model", "knn"),
    ("scoring", "method"): SCORING_METHODS,
    ("review", "lane"): LANES,
    ("review", "image_mode"): IMAGE_MODES,
    ("review", "consensus"): CONSENSUS_METHODS,
    ("training", "executor"): EXECUTORS,
}


def _check_type(where: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return value
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, e.g. {{ num_cpus = 1 }}, got {value!r}")
        return dict(value)
    return value


def _section(file: str, name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: [{name}] must be a table")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"{file}: unknown key '{name}.{key}' (known: {', '.join(sorted(known))})"
            )
    values = {}
    for key, value in raw.items():
        where = f"{file}: {name}.{key}"
        values[key] = _check_type(where, value, getattr(defaults, key))
        choices = _CHOICES.get((name, key))
        if choices and values[key] not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    return replace(defaults, **values)


def validate(config: Config, file: str = CONFIG_FILE) -> Config:
    """Check every rule of a config; return it unchanged or raise ConfigError.

    The training settings (:func:`train_problems`) are checked here too, so that a
    mistake in ``[model]`` or ``[training]`` is found when ``relabel.toml`` loads.
    """
    problems = [
        f"{train_fields()[name]}.{name} {says}"
        for name, says in train_problems(train_values(config))
    ]
    problems += _config_problems(config)
    if problems:
        raise ConfigError(f"{file}: " + f"; {file}: ".join(problems))
    return config


def _config_problems(config: Config) -> list[str]:
    """The rules of the config that are not training settings."""
    d, r, s, m = config.dataset, config.review, config.scoring, config.model
    checks = [
        (len(d.classes) >= 2, f"dataset.classes needs at least 2 classes, got {d.classes!r}"),
        (len(set(d.classes)) == len(d.classes), f"dataset.classes has duplicates: {d.classes!r}"),
        (
            config.studio.retries >= 1,
            f"studio.retries must be at least 1, got {config.studio.retries}",
        ),
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
        (
            1 <= r.reviewers_per_task <= 20,
            f"review.reviewers_per_task must be in 1..20, got {r.reviewers_per_task}",
        ),
        (
            0.0 < s.uncertain_threshold <= 1.0,
            "scoring.uncertain_threshold must be in (0, 1]",
        ),
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


def load(project_dir: Path) -> Config:
    """Read and validate ``PROJECT/relabel.toml``.

    Parameters
    ----------
    project_dir : Path
        The project folder.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        The file is missing, not valid TOML, or a key is unknown, mistyped or out of range.
    """
    path = Path(project_dir) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found; is '{project_dir}' a relabel project? (relabel init)"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    project = raw.pop("project", {})
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        raise ConfigError(f"{path}: [project] needs a string 'name'")
    extra = set(project) - {"name"}
    if extra:
        raise ConfigError(f"{path}: unknown key(s) in [project]: {', '.join(sorted(extra))}")
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))} "
            f"(known: project, {', '.join(_SECTIONS)})"
        )
    sections = {
        name: _section(str(path), name, cls, raw.get(name, {})) for name, cls in _SECTIONS.items()
    }
    return validate(Config(name=project["name"], **sections), str(path))


def _toml_value(value: Any) -> str:
    """One value as TOML, escaped by ``tomli_w``; a list or table on one line."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }" if pairs else "{}"
    return tomli_w.dumps({"v": value}).removeprefix("v = ").rstrip("\n")


def dumps(config: Config) -> str:
    """The TOML text of a config (every key written, so the file documents itself)."""
    lines = [
        "# relabel project configuration. Every key is documented in the README.",
        "# The Label Studio token is NEVER stored here: [studio] names environment variables.",
        "",
        "[project]",
        f"name = {_toml_value(config.name)}",
    ]
    for name in _SECTIONS:
        lines += ["", f"[{name}]"]
        for key, value in asdict(getattr(config, name)).items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save(config: Config, project_dir: Path) -> Path:
    """Validate and write ``PROJECT/relabel.toml``; return its path."""
    validate(config)
    path = Path(project_dir) / CONFIG_FILE
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(dumps(config), encoding="utf-8")
    tmp.replace(path)
    return path
