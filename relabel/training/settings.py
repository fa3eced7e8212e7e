"""How to build, train and cross-validate a classifier: :class:`TrainSettings`.

ONE settings model: the fields of :class:`TrainSettings` are those of
:func:`relabel.config.train_fields`, with the defaults of the config's sections, checked
by the same rules (:func:`relabel.config.train_problems`); a test holds the two together.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from relabel import config as config_mod
from relabel.config import IMAGENET, SMALL_CNN
from relabel.errors import ExitCode, TrainingError

__all__ = ["InvalidSettingsError", "TrainSettings"]


class InvalidSettingsError(TrainingError):
    """A training setting is out of range or names something that does not exist."""

    exit_code = ExitCode.INVALID_INPUT


@dataclass(frozen=True)
class TrainSettings:
    """How to build, train and cross-validate a classifier.

    ``image_size`` and ``channels`` (``[dataset]``) come first and have no default; then
    every field of ``[model]`` but ``mode``, every field of ``[training]`` but where it
    runs (:data:`relabel.config.EXECUTOR_FIELDS`), and ``dataset.max_pixels``, with the
    defaults and meanings of :class:`relabel.config.ModelConfig`,
    :class:`relabel.config.TrainingConfig` and :class:`relabel.config.DatasetConfig`.
    ``TrainSettings.from_config(config, root)`` builds the settings of a project.

    Attributes
    ----------
    image_size : tuple[int, int]
        ``(height, width)`` every image is resized to (the aspect ratio is not kept); a
        list is turned into a tuple.
    channels : int
        1 (grey) or 3 (RGB).
    architecture : str
        ``"small_cnn"``, ``"resnet_small"`` or a ``keras.applications`` model name.
    weights : str | None
        A backbone's no-top weights: a local file or ``"imagenet"``; None (or empty) for
        random weights.
    optimizer : str
        ``"adam"`` or ``"sgd"`` (Nesterov momentum 0.9).
    schedule : str
        Learning-rate schedule: ``"constant"``, ``"cosine"`` or ``"one_cycle"``.
    label_smoothing : float
        Label smoothing of the cross-entropy, in [0, 0.5).
    batch_size : int
        Images per batch.
    learning_rate : float
        Peak learning rate.
    dropout : float
        Dropout rate before the last dense layer, in [0, 1).
    l2 : float
        L2 kernel regularization of the layers relabel builds; 0 turns it off.
    class_weight : str
        ``"none"`` or ``"balanced"``.
    loss : str
        ``"crossentropy"`` or ``"focal"``.
    focal_gamma : float
        Focusing parameter of the focal loss.
    flip : str
        Random flips: ``"none"``, ``"horizontal"``, ``"vertical"`` or
        ``"horizontal_and_vertical"``.
    translation : float
        Random shift, as a fraction of height and width, in [0, 1).
    rotation : float
        Random rotation, as a fraction of a full turn, in [0, 1).
    contrast : float
        Random contrast factor, in [0, 1).
    folds : int
        Cross-validation folds (at least 2).
    epochs : int
        Most epochs per fit (early stopping may stop sooner).
    patience : int
        Early-stopping patience in epochs on the validation loss.
    validation_fraction : float
        Share of each training set held out for early stopping, in [0, 0.5).
    seed : int
        Seed of every random choice.
    tta : bool
        Average the predictions of each image and of its flips.
    ensemble : int
        Models per fold (seeds ``seed``, ``seed + 1000``, ...), averaged.
    cache_images : bool
        Decode every image once into a uint8 array and train from it; false decodes the
        files again every epoch.
    max_pixels : int
        The largest image accepted, in pixels.

    Raises
    ------
    InvalidSettingsError
        A setting is out of range or names an unknown architecture.
    """

    image_size: tuple[int, int]
    channels: int
    architecture: str = SMALL_CNN
    weights: str | None = None
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
    folds: int = 5
    epochs: int = 15
    patience: int = 3
    validation_fraction: float = 0.1
    seed: int = 0
    tta: bool = False
    ensemble: int = 1
    cache_images: bool = True
    max_pixels: int = 100_000_000

    def __post_init__(self) -> None:
        try:
            size = tuple(int(v) for v in self.image_size)
        except (TypeError, ValueError):
            size = self.image_size
        object.__setattr__(self, "image_size", size)
        if self.weights is not None:
            object.__setattr__(self, "weights", os.fspath(self.weights) or None)
        problems = config_mod.train_problems(dataclasses.asdict(self))
        if problems:
            raise InvalidSettingsError(
                "invalid training settings: "
                + "; ".join(f"{name} {says}" for name, says in problems)
            )

    @classmethod
    def from_config(cls, config: config_mod.Config, root: Path | None = None) -> TrainSettings:
        """The settings of a (validated) project config.

        Parameters
        ----------
        config : relabel.config.Config
            The project's config.
        root : Path, optional
            The project folder: a relative ``model.weights`` file is taken from there.
        """
        values = config_mod.train_values(config)
        weights = values["weights"] or None
        if weights and root is not None and weights.strip().lower() != IMAGENET:
            # Absolute, so that a worker in another folder (a Ray node) reads the same file.
            weights = str((Path(root) / Path(weights).expanduser()).absolute())
        return cls(**{**values, "weights": weights})
