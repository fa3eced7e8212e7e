"""The classifiers relabel trains: built-in CNNs and ``keras.applications`` backbones.

``small_cnn`` (the default of grey projects) is a small convolutional network that trains
in seconds on a CPU at small image sizes. ``resnet_small`` (the default of RGB projects,
:mod:`relabel.training.resnet`) is a residual CNN with batch norm for photos. Any name of
``keras.applications`` (``MobileNetV2``, ``EfficientNetB0``, ``ResNet50``, ...) builds that
backbone without its top, with average pooling, dropout and a dense softmax head. A
backbone starts from random weights unless ``TrainSettings.weights`` names a local weights
file or ``"imagenet"`` (which Keras downloads once into
:func:`relabel.training.keras_env.keras_cache_dir`); then the backbone is frozen (run in
inference mode) and only the head is trained.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relabel import config as config_mod
from relabel.config import (
    BUILT_IN_ARCHITECTURES,
    IMAGENET,
    KERAS_APPLICATIONS,
    RESNET_SMALL,
    SMALL_CNN,
)
from relabel.errors import TrainingError, WeightsNotFoundError
from relabel.training.keras_env import keras_cache_dir, keras_module
from relabel.training.settings import InvalidSettingsError, TrainSettings

if TYPE_CHECKING:
    import keras

__all__ = [
    "ARCHITECTURES",
    "available_architectures",
    "backbone_input_layer",
    "build_backbone",
    "build_model",
    "check_settings",
    "keras_application",
    "weights_file",
]

#: The built-in architectures; every other accepted name is a ``keras.applications`` model
#: (:data:`relabel.config.KERAS_APPLICATIONS`).
ARCHITECTURES = BUILT_IN_ARCHITECTURES
#: Filters of the conv blocks of ``small_cnn`` (three, and up to six for big images).
SMALL_CNN_FILTERS = (32, 64, 128, 128, 256, 256)


def available_architectures() -> list[str]:
    """Names accepted as ``TrainSettings.architecture`` (no Keras import needed).

    Returns
    -------
    list[str]
        ``"small_cnn"``, ``"resnet_small"`` and the ``keras.applications`` model names
        (:data:`relabel.config.ARCHITECTURES`).
    """
    return list(config_mod.ARCHITECTURES)


def keras_application(architecture: str) -> Callable[..., Any]:
    """The ``keras.applications`` function of an architecture name (checked by the settings).

    Raises
    ------
    InvalidSettingsError
        This Keras has no such model.
    """
    keras = keras_module()
    fn = getattr(keras.applications, architecture, None)
    if architecture not in KERAS_APPLICATIONS or not callable(fn):
        raise InvalidSettingsError(
            f"architecture {architecture!r} is not a keras.applications model of this Keras "
            f"({keras.__version__})"
        )
    return fn


def weights_file(settings: TrainSettings) -> Path | str | None:
    """The checked local weights file of ``settings``, ``"imagenet"``, or None.

    Raises
    ------
    WeightsNotFoundError
        The local weights file does not exist.
    """
    if settings.weights is None:
        return None
    if settings.weights.strip().lower() == IMAGENET:
        return IMAGENET
    path = Path(settings.weights).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"weights file {path} does not exist; give the local path of the no-top "
            f'weights file of {settings.architecture}, "imagenet" (downloaded once by '
            f"Keras into {keras_cache_dir()}), or leave weights unset to start from random "
            "weights"
        )
    return path


def check_settings(settings: TrainSettings) -> None:
    """Check what depends on the machine, before any long work.

    ``TrainSettings`` (like ``relabel.toml``) already checked every value
    (:func:`relabel.config.train_problems`); what is left is whether the weights exist.

    Parameters
    ----------
    settings : TrainSettings
        The settings to check.

    Raises
    ------
    WeightsNotFoundError
        The weights file does not exist, or the ImageNet weights cannot be downloaded.
    """
    if weights_file(settings) == IMAGENET:
        _imagenet_available(settings.architecture, settings.image_size)


@functools.cache
def _imagenet_available(architecture: str, image_size: tuple[int, int]) -> None:
    """Build the backbone with ImageNet weights once (Keras downloads them if needed)."""
    settings = TrainSettings(image_size, 3, architecture=architecture, weights=IMAGENET)
    build_backbone(settings)
    keras_module().backend.clear_session()


@functools.cache
def backbone_input_layer() -> type:
    """The Keras layer that feeds [0, 1] images to a ``keras.applications`` backbone.

    Registered with Keras (package ``relabel``) when first asked for, so that a saved
    model that holds it can be loaded.
    """
    keras = keras_module()

    @keras.saving.register_keras_serializable(package="relabel")
    class BackboneInput(keras.layers.Layer):
        """Scale [0, 1] images to [0, 255], repeat grey to RGB, apply preprocess_input."""

        def __init__(self, architecture: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.architecture = architecture
            module = importlib.import_module(keras_application(architecture).__module__)
            self._preprocess = module.preprocess_input

        def call(self, inputs: Any) -> Any:
            x = keras.ops.multiply(inputs, 255.0)
            if x.shape[-1] == 1:
                x = keras.ops.repeat(x, 3, axis=-1)
            return self._preprocess(x)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (*input_shape[:-1], 3)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "architecture": self.architecture}

    return BackboneInput


def _augmentation_layers(settings: TrainSettings, data_augments: bool = False) -> list[Any]:
    """The random augmentation layers of ``settings`` (flip and shift unless the data
    pipeline applies them)."""
    layers = keras_module().layers
    augment = []
    if settings.flip != "none" and not data_augments:
        augment.append(layers.RandomFlip(settings.flip))
    if settings.translation > 0 and not data_augments:
        augment.append(layers.RandomTranslation(settings.translation, settings.translation))
    if settings.rotation > 0:
        augment.append(layers.RandomRotation(settings.rotation))
    if settings.contrast > 0:
        augment.append(layers.RandomContrast(settings.contrast, value_range=(0.0, 1.0)))
    return augment


def build_backbone(settings: TrainSettings) -> tuple[keras.Model, bool]:
    """The ``keras.applications`` backbone of ``settings``, without its top, average-pooled.

    It takes ``(height, width, 3)`` images preprocessed for it (see
    :func:`backbone_input_layer`). With weights (a local file, or ``"imagenet"``, which
    Keras downloads once into :func:`relabel.training.keras_env.keras_cache_dir`) it is
    frozen; otherwise it starts from random weights.

    Returns
    -------
    tuple[keras.Model, bool]
        The backbone and whether it is frozen.

    Raises
    ------
    InvalidSettingsError
        Unknown architecture or an input size it refuses.
    WeightsNotFoundError
        The weights file does not exist, or the ImageNet weights cannot be downloaded.
    TrainingError
        The weights file does not fit the backbone.
    """
    application = keras_application(settings.architecture)
    weights = weights_file(settings)
    backbone = _application_model(application, settings, imagenet=weights == IMAGENET)
    if weights is None:
        return backbone, False
    if weights != IMAGENET:
        _load_backbone_weights(backbone, weights, settings)
    backbone.trainable = False
    return backbone, True


def _application_model(
    application: Callable[..., Any], settings: TrainSettings, *, imagenet: bool
) -> keras.Model:
    """The no-top, average-pooled ``keras.applications`` model, with ImageNet weights or
    random ones."""
    height, width = settings.image_size
    try:
        return application(
            include_top=False,
            weights="imagenet" if imagenet else None,
            input_shape=(height, width, 3),
            pooling="avg",
        )
    except ValueError as exc:
        raise InvalidSettingsError(
            f"cannot build {settings.architecture} for images of {height}x{width}: {exc}"
        ) from exc
    except Exception as exc:
        if not imagenet:
            raise
        raise WeightsNotFoundError(
            f"cannot download the ImageNet weights of {settings.architecture} ({exc}); "
            f"Keras downloads them once into {keras_cache_dir()} and needs internet for "
            "that: copy the no-top weights file there, or set model.weights to a local "
            "weights file of the backbone"
        ) from exc


def _load_backbone_weights(backbone: keras.Model, weights: Any, settings: TrainSettings) -> None:
    """Load a local weights file into the backbone, refusing one whose layers differ."""
    height, width = settings.image_size
    try:
        with warnings.catch_warnings():
            # Keras only warns when layers of the file do not match; refuse that.
            warnings.simplefilter("error", UserWarning)
            backbone.load_weights(weights)
    except Exception as exc:
        raise TrainingError(
            f"cannot load weights file {weights} into {settings.architecture} "
            f"(include_top=False, input {height}x{width}x3): {exc}"
        ) from exc


def _small_cnn(x: Any, settings: TrainSettings, regularizer: Any) -> Any:
    """The conv blocks and pooling of ``small_cnn`` on ``x``.

    Three conv blocks; more (up to six) for big images, so the last feature map is at
    most about 8 pixels on its short side.
    """
    keras = keras_module()
    side = min(settings.image_size)
    blocks = 0
    while blocks < 3 or (side > 8 and blocks < len(SMALL_CNN_FILTERS)):
        x = keras.layers.Conv2D(
            SMALL_CNN_FILTERS[blocks],
            3,
            padding="same",
            use_bias=False,
            kernel_regularizer=regularizer,
        )(x)
        # A short memory (momentum 0.8, not Keras' 0.99) makes the inference-mode
        # statistics usable after a few dozen steps, so early stopping on the
        # validation loss is not fooled in the first epochs of small datasets.
        x = keras.layers.BatchNormalization(momentum=0.8)(x)
        x = keras.layers.ReLU()(x)
        if side >= 2:
            x = keras.layers.MaxPooling2D()(x)
            side //= 2
        blocks += 1
    return keras.layers.GlobalAveragePooling2D()(x)


def build_model(
    n_classes: int, settings: TrainSettings, *, data_augments: bool = False
) -> keras.Model:
    """Build (but do not compile) a classifier of ``settings.architecture``.

    The model takes ``(height, width, channels)`` images in [0, 1] and outputs softmax
    probabilities. Random augmentation layers (flip, translation, rotation, contrast,
    each only when its setting is on) come first and act only in training.

    Parameters
    ----------
    n_classes : int
        Number of output classes (at least 2).
    settings : TrainSettings
        Architecture, image size, channels, weights, dropout, l2 and augmentation.
    data_augments : bool
        The training batches are already flipped and shifted
        (:mod:`relabel.training.augment`): leave out the flip and translation layers.

    Returns
    -------
    keras.Model
        The uncompiled model.

    Raises
    ------
    InvalidSettingsError
        Unknown architecture, too few classes, or an input size the backbone refuses.
    WeightsNotFoundError
        ``settings.weights`` is not an existing local file.
    TrainingError
        The weights file could not be loaded into the backbone.
    """
    keras = keras_module()
    if n_classes < 2:
        raise InvalidSettingsError(f"a classifier needs at least 2 classes, got {n_classes}")
    regularizer = keras.regularizers.L2(settings.l2) if settings.l2 > 0 else None
    inputs = keras.Input((*settings.image_size, settings.channels), name="image")
    x = inputs
    for layer in _augmentation_layers(settings, data_augments):
        x = layer(x)
    if settings.architecture == RESNET_SMALL:
        from relabel.training.resnet import resnet_small

        x = resnet_small(keras, x, regularizer)
    elif settings.architecture == SMALL_CNN:
        x = _small_cnn(x, settings, regularizer)
    else:
        x = backbone_input_layer()(settings.architecture, name="backbone_input")(x)
        backbone, frozen = build_backbone(settings)
        x = backbone(x, training=False) if frozen else backbone(x)
    if settings.dropout > 0:
        x = keras.layers.Dropout(settings.dropout)(x)
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", kernel_regularizer=regularizer, name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name=settings.architecture.lower())
