"""Project configuration: ``relabel.toml``.

A project is a folder holding ``relabel.toml`` (this package), ``relabel.db`` (the SQLite
label store, :mod:`relabel.store`) and ``runs/`` (training artifacts). The config names the
Label Studio connection by environment variable NAMES only: the token itself never reaches a
file.

* :mod:`relabel.config.models`: the typed settings model, one frozen dataclass per section,
  every key with its default and description;
* :mod:`relabel.config.choices`: the values some keys accept;
* :mod:`relabel.config.rules`: what a value must be beyond its type (ranges, the training
  settings shared with :class:`relabel.training.TrainSettings`, Ray) and the photo defaults;
* :mod:`relabel.config.io`: :func:`load`, :func:`save` and :func:`dumps` of the file;
* :mod:`relabel.config.messages`: pydantic's errors told as relabel's messages.

Every key is checked on load: an unknown key, a wrong type or an out-of-range value raises
:class:`~relabel.errors.ConfigError` naming the file, the key and the value.
"""

from relabel.config.choices import (
    ARCHITECTURES,
    BUILT_IN_ARCHITECTURES,
    CLASS_WEIGHTS,
    CONSENSUS_METHODS,
    EXECUTORS,
    FLIPS,
    IMAGE_MODES,
    IMAGENET,
    KERAS_APPLICATIONS,
    LANES,
    LOSSES,
    MODEL_MODES,
    OPTIMIZERS,
    RAY_RESOURCE_KEYS,
    RESNET_SMALL,
    SCHEDULES,
    SMALL_CNN,
)
from relabel.config.io import dumps, from_toml, load, save
from relabel.config.models import (
    CONFIG_FILE,
    SECTIONS,
    Config,
    DatasetConfig,
    KeyDoc,
    ModelConfig,
    PoolConfig,
    ReviewConfig,
    ScoringConfig,
    StudioConfig,
    TrainingConfig,
    describe_keys,
)
from relabel.config.rules import (
    DATASET_TRAIN_FIELDS,
    EXECUTOR_FIELDS,
    PHOTO_EPOCHS,
    PHOTO_LABEL_SMOOTHING,
    photo_defaults,
    train_fields,
    train_problems,
    train_values,
    validate,
)
from relabel.errors import ConfigError

__all__ = [
    "ARCHITECTURES",
    "BUILT_IN_ARCHITECTURES",
    "CLASS_WEIGHTS",
    "CONFIG_FILE",
    "CONSENSUS_METHODS",
    "DATASET_TRAIN_FIELDS",
    "EXECUTORS",
    "EXECUTOR_FIELDS",
    "FLIPS",
    "IMAGENET",
    "IMAGE_MODES",
    "KERAS_APPLICATIONS",
    "LANES",
    "LOSSES",
    "MODEL_MODES",
    "OPTIMIZERS",
    "PHOTO_EPOCHS",
    "PHOTO_LABEL_SMOOTHING",
    "RAY_RESOURCE_KEYS",
    "RESNET_SMALL",
    "SCHEDULES",
    "SECTIONS",
    "SMALL_CNN",
    "Config",
    "ConfigError",
    "DatasetConfig",
    "KeyDoc",
    "ModelConfig",
    "PoolConfig",
    "ReviewConfig",
    "ScoringConfig",
    "StudioConfig",
    "TrainingConfig",
    "describe_keys",
    "dumps",
    "from_toml",
    "load",
    "photo_defaults",
    "save",
    "train_fields",
    "train_problems",
    "train_values",
    "validate",
]
