"""The settings model of ``relabel.toml``: one frozen dataclass per section.

Every key is a typed field with its default and a description (``Field(description=...)``,
read by :func:`describe_keys`). The classes are pydantic dataclasses: pydantic checks the
types when a config is built (from the file by :mod:`relabel.config.io`, or in code,
``dataclasses.replace`` included); scalar fields are strict (no ``"5"`` for ``5``, no
``true`` for a number; an integer is accepted for a float). The rules between values
(ranges, the training settings, Ray) are in :mod:`relabel.config.rules`.

A config is immutable: derive a changed one with ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, Final, TypeVar, dataclass_transform

import pydantic.dataclasses
from pydantic import ConfigDict, Field, SkipValidation, ValidationError

from relabel.config.choices import (
    SMALL_CNN,
    AcquisitionStrategy,
    Consensus,
    ExecutorName,
    ImageMode,
    Lane,
    ModelMode,
    ProbabilitySource,
    ScoringMethod,
    Source,
)
from relabel.config.messages import explain
from relabel.errors import ConfigError
from relabel.ranking import DEFAULT_METHOD

_T = TypeVar("_T")

#: The config file of a project folder.
CONFIG_FILE: Final = "relabel.toml"

#: Unknown keys are errors, never silently dropped.
_PYDANTIC = ConfigDict(extra="forbid")


@dataclass_transform(frozen_default=True, field_specifiers=(Field,))
def section(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a frozen pydantic dataclass whose type errors are ConfigErrors.

    Building one with a wrong type (``ModelConfig(batch_size="64")``) raises
    :class:`~relabel.errors.ConfigError` naming the key and the value, never pydantic's
    own message.
    """
    built: Any = pydantic.dataclasses.dataclass(frozen=True, config=_PYDANTIC)(cls)
    validating_init: Callable[..., None] = built.__init__

    @functools.wraps(validating_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        try:
            validating_init(self, *args, **kwargs)
        except ValidationError as exc:
            raise ConfigError(explain(exc, built, prefix=_SECTION_NAMES.get(built))) from None

    built.__init__ = __init__
    return built  # type: ignore[no-any-return]


@section
class DatasetConfig:
    """``[dataset]``: where the samples came from and how images are read."""

    source: Source = Field(
        "manifest",
        description='"folder" (one sub-folder per class) or "manifest" (CSV/Parquet '
        "with columns path,label and optional id).",
    )
    path: str = Field(
        "",
        strict=True,
        description="The images folder or manifest file the project was created from: "
        "relative to the project folder, or absolute.",
    )
    classes: list[str] = Field(
        default_factory=list,
        description="The class names, in the order of the model's outputs; fixed after init.",
    )
    # The items are checked by the training rule of image_size (relabel.config.rules), the
    # one check shared with relabel.training.TrainSettings.
    image_size: list[SkipValidation[int]] = Field(
        default_factory=lambda: [32, 32],
        description="[height, width] images are resized to for training, each at least 4.",
    )
    channels: int = Field(3, strict=True, description="1 (grayscale) or 3 (RGB).")
    holdout: str = Field(
        "",
        strict=True,
        description="Optional manifest of a trusted held-out split (never relabelled), used "
        "to measure accuracy after each cycle. Empty: accuracy is out-of-fold agreement "
        "with the labels.",
    )
    max_pixels: int = Field(
        100_000_000,
        strict=True,
        description="The largest image accepted, in pixels (width x height); a larger one "
        "is an invalid row at init and before training.",
    )


@section
class ModelConfig:
    """``[model]``: the Keras model, its optimisation and regularisation.

    Every field but ``mode`` is also a field of :class:`relabel.training.TrainSettings`
    (:func:`relabel.config.rules.train_fields`), checked by the same rules
    (:func:`relabel.config.rules.train_problems`).
    """

    mode: ModelMode = Field(
        "train",
        description='"train" trains architecture on every fold; "embed" runs every image '
        "once through the frozen keras.applications backbone architecture (with weights) "
        "and fits a logistic regression per fold.",
    )
    architecture: str = Field(
        SMALL_CNN,
        strict=True,
        description='"small_cnn", "resnet_small" or a keras.applications model name '
        '(relabel.config.KERAS_APPLICATIONS, e.g. "MobileNetV2", "EfficientNetB0").',
    )
    weights: str = Field(
        "",
        strict=True,
        description="A keras.applications backbone's no-top weights: a local file "
        '(relative to the project), or "imagenet" (Keras downloads them once). Empty: '
        "random weights. With weights the backbone is frozen and only the head is trained.",
    )
    optimizer: str = Field(
        "adam", strict=True, description='"adam" or "sgd" (Nesterov momentum 0.9).'
    )
    schedule: str = Field(
        "constant",
        strict=True,
        description='Learning-rate schedule over the whole fit: "constant", "cosine" (cosine '
        'decay to 0) or "one_cycle" (linear warm-up over the first 15 % of the steps to '
        "learning_rate, then cosine decay to 0).",
    )
    label_smoothing: float = Field(
        0.0, strict=True, description="Label smoothing of the cross-entropy, in [0, 0.5)."
    )
    batch_size: int = Field(64, strict=True, description="Images per batch.")
    learning_rate: float = Field(1e-3, strict=True, description="Peak learning rate.")
    dropout: float = Field(
        0.25, strict=True, description="Dropout rate before the last dense layer, in [0, 1)."
    )
    l2: float = Field(
        1e-4,
        strict=True,
        description="L2 kernel regularization of the layers relabel builds (not of a "
        "backbone's own layers); 0 turns it off.",
    )
    class_weight: str = Field(
        "none",
        strict=True,
        description='"none" or "balanced" (n_samples / (n_classes * count) per class).',
    )
    loss: str = Field(
        "crossentropy",
        strict=True,
        description='"crossentropy" or "focal" (categorical focal cross-entropy).',
    )
    focal_gamma: float = Field(
        2.0, strict=True, description="Focusing parameter of the focal loss."
    )
    flip: str = Field(
        "none",
        strict=True,
        description='Random flips: "none", "horizontal", "vertical" or "horizontal_and_vertical".',
    )
    translation: float = Field(
        0.0,
        strict=True,
        description="Random shift, as a fraction of height and width, in [0, 1); 0 turns it off.",
    )
    rotation: float = Field(
        0.0,
        strict=True,
        description="Random rotation, as a fraction of a full turn, in [0, 1); 0 turns it off.",
    )
    contrast: float = Field(
        0.0, strict=True, description="Random contrast factor, in [0, 1); 0 turns it off."
    )


@section
class TrainingConfig:
    """``[training]``: cross-validation, the training loop, and where it runs.

    The fields of :data:`relabel.config.rules.EXECUTOR_FIELDS` say where training runs,
    not how: they are not training settings.
    """

    folds: int = Field(5, strict=True, description="Cross-validation folds (at least 2).")
    epochs: int = Field(
        15, strict=True, description="Most epochs per fit (early stopping may stop sooner)."
    )
    patience: int = Field(
        3,
        strict=True,
        description="Early-stopping patience in epochs on the validation loss; the weights "
        "of the best epoch are restored.",
    )
    validation_fraction: float = Field(
        0.1,
        strict=True,
        description="Fraction of each training set held out (stratified) for early "
        "stopping, in [0, 0.5); 0 trains every epoch on everything without early stopping.",
    )
    seed: int = Field(0, strict=True, description="Seed of every random choice.")
    tta: bool = Field(
        False,
        strict=True,
        description="Test-time augmentation: average the predictions of each image and of "
        "its flips (the flips of model.flip); without flips it changes nothing.",
    )
    ensemble: int = Field(
        1,
        strict=True,
        description="Models per fold (seeds seed, seed + 1000, ...) whose predictions are "
        "averaged.",
    )
    cache_images: bool = Field(
        True,
        strict=True,
        description="Decode and resize every image once into a uint8 array and train from "
        "it; false streams and decodes the files again every epoch.",
    )
    executor: ExecutorName = Field(
        "local",
        description="Where the folds, the final model, the embedding and the out-of-fold "
        'prediction run: "local" (in this process, one after another) or "ray" (a Ray '
        "task per fold and Ray Data over the images; needs pip install relabel[ray]).",
    )
    ray_address: str = Field(
        "",
        strict=True,
        description='The Ray cluster of executor = "ray": "auto" (the cluster this machine '
        'is a node of), "ray://host:10001" (a remote cluster), or empty for a local Ray '
        "started by relabel for the run.",
    )
    # The values are checked by the Ray rules (relabel.config.rules), with their messages.
    ray_resources: dict[str, SkipValidation[float]] = Field(
        default_factory=lambda: {"num_cpus": 1},
        description="Ray resources of each fold's task and of the final model's: num_cpus, "
        "num_gpus and memory (bytes), e.g. { num_cpus = 4, num_gpus = 1 }.",
    )
    ray_max_retries: int = Field(
        3,
        strict=True,
        description="Times Ray re-runs a fold whose worker process died before the run fails.",
    )


@section
class ScoringConfig:
    """``[scoring]``: how samples are ranked (see :mod:`relabel.scoring`)."""

    method: ScoringMethod = Field(
        DEFAULT_METHOD,  # type: ignore[arg-type]
        description="The suspicion score: one of relabel.scoring.SCORING_METHODS.",
    )
    uncertain_threshold: float = Field(
        0.5,
        strict=True,
        description="Max-softmax under which a sample not suspected of a label error is "
        '"uncertain", in (0, 1].',
    )
    probabilities: ProbabilitySource = Field(
        "model",
        description='What the score ranks: "model" (the out-of-fold probabilities) or '
        '"knn" (the given labels of each sample\'s knn_k nearest neighbours in embedding '
        'space; model.mode = "embed" runs only).',
    )
    knn_k: int = Field(10, strict=True, description='Neighbours of "knn" (at least 1).')


@section
class ReviewConfig:
    """``[review]``: what is sent to reviewers and how their answers are resolved."""

    budget: float = Field(
        0.05,
        strict=True,
        description="Samples per push or cycle: a count (>= 1) or a fraction of the samples (< 1).",
    )
    lane: Lane = Field("label_issue", description='"label_issue", "uncertain" or "all".')
    uncertain_share: float = Field(
        0.0,
        strict=True,
        description='Share of the budget given to the "uncertain" lane when '
        'lane = "label_issue", in [0, 1].',
    )
    per_class_balance: bool = Field(
        False,
        strict=True,
        description="Spread the budget over the given classes in proportion to their "
        "candidates in the lane, instead of taking the most suspicious samples overall.",
    )
    fill_budget: bool = Field(
        True,
        strict=True,
        description='With lane = "label_issue": when the lane (sized by the estimated '
        "number of label errors) has fewer eligible samples than the budget, fill the rest "
        'with the next most suspicious samples outside the "uncertain" lane.',
    )
    min_suspicion: float = Field(
        0.1,
        strict=True,
        description="The floor of a filled slot (fill_budget): a sample outside the "
        "label-issue lane is sent only when its estimated error probability (the noise "
        "posterior, relabel.scoring.noise_posterior) is at least this, so a filled "
        "slot costs at most 1 / min_suspicion reviews per expected correction. 0 fills "
        "every slot.",
    )
    min_agreement: float = Field(
        0.5,
        strict=True,
        description="Majority consensus: a label wins when its share of the non-skipped "
        "votes is strictly more than this, in [0, 1).",
    )
    consensus: Consensus = Field(
        "majority",
        description='How a task\'s answers become a label: "majority" (every vote counts '
        'the same) or "dawid_skene" (votes weighted by each reviewer\'s estimated '
        "confusion matrix, fitted on every answer in the store and anchored by gold tasks).",
    )
    min_posterior: float = Field(
        0.5,
        strict=True,
        description="Dawid-Skene consensus: a label wins when its posterior is strictly "
        "more than this, in [0, 1).",
    )
    reviewers_per_task: int = Field(
        1,
        strict=True,
        description="Answers each task collects (Label Studio's overlap), 1 to 20. A task "
        'left unresolved (a tie, "Not sure", too little agreement) once all its answers '
        "are in gets one more reviewer, once.",
    )
    gold_fraction: float = Field(
        0.0,
        strict=True,
        description="Share of each push made of gold tasks, in [0, 1): samples whose label "
        "is trusted (confirmed by at least two reviewers who all agreed), shown exactly "
        "like the other tasks. Their answers measure each reviewer and never change a label.",
    )
    pre_annotate: bool = Field(
        True,
        strict=True,
        description="Send the model's suggestion as a pre-annotation (an anchor for the reviewer).",
    )
    image_mode: ImageMode = Field(
        "upload", description='"upload", "local-files", "url" or "inline".'
    )
    min_reviews: int = Field(
        0,
        strict=True,
        description="relabel cycle pulls and retrains only once this many tasks of the "
        "cycle have answers; 0: every task of the cycle.",
    )
    stop_hit_rate: float = Field(
        0.1,
        strict=True,
        description="Stopping hint: the hit rate (corrected / reviewed) under which more "
        "cycles pay little.",
    )
    stop_errors_left: float = Field(
        0.01,
        strict=True,
        description="Stopping hint: the estimated fraction of label errors left under "
        "which to stop.",
    )
    stop_when_gain_below: float = Field(
        0.0,
        strict=True,
        description="relabel cycle stops (exit code 8) instead of starting a cycle whose "
        "review budget is expected to find fewer label errors than this (relabel status: "
        '"next cycle expected to find"); 0: never.',
    )
    stop_when_accuracy_gain_below: float = Field(
        0.0,
        strict=True,
        description="relabel cycle stops (exit code 8) instead of starting a cycle when the "
        "learning curve of the runs (3 or more labelled counts) expects the next batch of "
        "labels (the review budget) to raise out-of-fold accuracy by less than this; 0: never.",
    )


@section
class StudioConfig:
    """``[studio]``: the Label Studio connection, by environment variable NAMES.

    The token itself never reaches a file.
    """

    url_env: str = Field(
        "LABEL_STUDIO_URL",
        strict=True,
        description="NAME of the environment variable holding the server URL.",
    )
    token_env: str = Field(
        "LABEL_STUDIO_API_KEY",
        strict=True,
        description="NAME of the environment variable holding the token (legacy token or "
        "personal access token).",
    )
    title: str = Field(
        "", strict=True, description='Label Studio project title (empty: "relabel: NAME").'
    )
    document_root: str = Field(
        "",
        strict=True,
        description='Label Studio\'s local-files document root (image_mode = "local-files").',
    )
    retries: int = Field(
        5,
        strict=True,
        description="Attempts per request when the server does not answer or answers with "
        "a transient error (delays of 0.5 s doubling up to 10 s between them), at least 1.",
    )
    max_tasks_per_project: int = Field(
        100_000,
        strict=True,
        description="Most tasks relabel puts in one Label Studio project (at least 1): a push "
        'that would go past it fills the project, then creates "TITLE (2)", "TITLE (3)", ... '
        "and pull reads them all.",
    )


@section
class PoolConfig:
    """``[pool]``: the unlabelled pool (manifest rows with an empty label) and how
    ``relabel push --type label`` chooses the samples to label next."""

    strategy: AcquisitionStrategy = Field(
        "mix",
        description='How to choose the unlabelled samples to label next: "random", "entropy", '
        '"margin", "coreset", "badge" or "mix" (relabel.ranking.acquisition); the ones that '
        "need embeddings use margin when the run has none.",
    )
    class_balance: bool = Field(
        False,
        strict=True,
        description="Spread each label push evenly over the predicted classes.",
    )


@section
class Config:
    """A whole ``relabel.toml``: ``[project] name`` and the seven sections."""

    name: str = Field(strict=True, description="The project's name ([project] name).")
    dataset: DatasetConfig = Field(default_factory=DatasetConfig, description="[dataset]")
    model: ModelConfig = Field(default_factory=ModelConfig, description="[model]")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="[training]")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="[scoring]")
    review: ReviewConfig = Field(default_factory=ReviewConfig, description="[review]")
    studio: StudioConfig = Field(default_factory=StudioConfig, description="[studio]")
    pool: PoolConfig = Field(default_factory=PoolConfig, description="[pool]")

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


#: The sections of ``relabel.toml`` after ``[project]``, in file order.
SECTIONS: dict[str, type] = {
    "dataset": DatasetConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "scoring": ScoringConfig,
    "review": ReviewConfig,
    "studio": StudioConfig,
    "pool": PoolConfig,
}
_SECTION_NAMES: dict[type, str] = {cls: name for name, cls in SECTIONS.items()}


@dataclasses.dataclass(frozen=True)
class KeyDoc:
    """One documented key of ``relabel.toml`` (see :func:`describe_keys`)."""

    key: str  #: ``section.key``
    default: Any  #: the default of :class:`Config` (before data-dependent init choices)
    description: str  #: what the key means and accepts


def describe_keys() -> list[KeyDoc]:
    """Every key of ``relabel.toml``, in file order, with its default and description."""
    docs = [KeyDoc("project.name", None, Config.__pydantic_fields__["name"].description or "")]
    for name, cls in SECTIONS.items():
        defaults = cls()
        for key, info in cls.__pydantic_fields__.items():  # type: ignore[attr-defined]
            docs.append(KeyDoc(f"{name}.{key}", getattr(defaults, key), info.description or ""))
    return docs
