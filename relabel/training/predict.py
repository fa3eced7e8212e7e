"""Predicting class probabilities, averaged over test-time views (``TrainSettings.tta``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relabel.errors import TrainingError
from relabel.infra.progress import Progress
from relabel.training.images import ImageSource, check_files_exist, naming_bad_images
from relabel.training.keras_env import keras_module, quiet_keras_warnings, tf_module
from relabel.training.model_io import load_model
from relabel.training.settings import TrainSettings

if TYPE_CHECKING:
    import keras

__all__ = ["predict_batch", "predict_positions", "predict_probabilities", "tta_views"]


def tta_views(settings: TrainSettings) -> list[Callable[[Any], Any]]:
    """The test-time views of a batch: itself, then its flips when ``settings.tta``."""
    tf = tf_module()
    views: list[Callable[[Any], Any]] = [lambda x: x]
    if settings.tta and settings.flip in ("horizontal", "horizontal_and_vertical"):
        views.append(lambda x: tf.reverse(x, axis=[2]))
    if settings.tta and settings.flip in ("vertical", "horizontal_and_vertical"):
        views.append(lambda x: tf.reverse(x, axis=[1]))
    if settings.tta and settings.flip == "horizontal_and_vertical":
        views.append(lambda x: tf.reverse(x, axis=[1, 2]))
    return views


def predict_positions(
    model: keras.Model, source: ImageSource, positions: np.ndarray, settings: TrainSettings
) -> np.ndarray:
    """Probabilities of the images at ``positions``, averaged over the test-time views."""
    n_classes = int(model.output_shape[-1])
    if not len(positions):
        return np.zeros((0, n_classes), np.float32)
    total = np.zeros((len(positions), n_classes), np.float64)
    views = tta_views(settings)
    for view in views:
        ds = source.dataset(positions, None, n_classes, settings, training=False, seed=0)
        with naming_bad_images(source.files, settings), quiet_keras_warnings():
            total += model.predict(ds.map(view), verbose=0)
    return np.asarray(total / len(views), dtype=np.float32)


def predict_batch(model: keras.Model, x: np.ndarray, settings: TrainSettings) -> np.ndarray:
    """Probabilities of a batch of images (float32 in [0, 1]), averaged over the views.

    What :func:`predict_positions` computes for images held in memory (the Ray Data
    workers of :mod:`relabel.training.on_ray` predict with it).
    """
    n_classes = int(model.output_shape[-1])
    total = np.zeros((len(x), n_classes), np.float64)
    views = tta_views(settings)
    with quiet_keras_warnings():
        for view in views:
            total += model.predict(view(x), batch_size=settings.batch_size, verbose=0)
    return np.asarray(total / len(views), dtype=np.float32)


def predict_probabilities(
    model_path: Path | keras.Model,
    paths: Sequence[str | os.PathLike[str]],
    settings: TrainSettings,
    progress: Progress | None = None,
) -> np.ndarray:
    """Class probabilities of images by a saved (or in-memory) model.

    Parameters
    ----------
    model_path : pathlib.Path | keras.Model
        A ``.keras`` file written by :func:`relabel.training.fit.train_final_model`, or
        a model.
    paths : Sequence[str | os.PathLike]
        Image files to predict.
    settings : TrainSettings
        Image size, channels and batch size the model was trained with.
    progress : relabel.infra.progress.Progress | None
        Called once before predicting.

    Returns
    -------
    numpy.ndarray
        ``(len(paths), n_classes)`` float32 probabilities.

    Raises
    ------
    TrainingError
        The model file cannot be loaded or does not fit the settings, or an image is
        missing or unreadable.
    """
    if isinstance(model_path, keras_module().Model):
        model = model_path
        where = "the model"
    else:
        where = str(model_path)
        model = load_model(model_path)
    expected = (*settings.image_size, settings.channels)
    if tuple(model.input_shape[1:]) != expected:
        raise TrainingError(
            f"{where} takes images of shape {tuple(model.input_shape[1:])}, but the settings "
            f"say {expected} (image_size and channels)"
        )
    files = [os.fspath(p) for p in paths]
    check_files_exist(files)
    if progress is not None:
        progress(f"predicting {len(files)} images")
    return predict_positions(model, ImageSource(files), np.arange(len(files)), settings)
