"""Predicting class probabilities, averaged over test-time views (``TrainSettings.tta``).

The same pass can also return each image's embedding: the input of the model's final
``Dense`` layer (its classification head), averaged over the same views. The model is then
run as one with two outputs, the probabilities and that input (:func:`with_embeddings`):
the same layers, weights and batches, so the probabilities are those of the model alone.
"""

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

__all__ = [
    "as_float16",
    "predict_batch",
    "predict_positions",
    "predict_probabilities",
    "predict_with_embeddings",
    "tta_views",
    "with_embeddings",
]

#: The largest finite float16: embeddings are stored as float16, clipped to it.
FLOAT16_MAX = float(np.finfo(np.float16).max)


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


def with_embeddings(model: keras.Model) -> keras.Model | None:
    """``model`` with a second output, the input of its final ``Dense`` layer.

    None when its last layer is not a ``Dense`` one (a model relabel did not build). The
    new model shares the layers and weights of ``model`` and compiles its prediction the
    same way (``jit_compile``), so its first output is what ``model`` predicts.
    """
    keras = keras_module()
    head = model.layers[-1] if model.layers else None
    if not isinstance(head, keras.layers.Dense) or len(model.outputs) != 1:
        return None
    both = keras.Model(model.inputs, [model.outputs[0], head.input], name=f"{model.name}_emb")
    both.jit_compile = model.jit_compile
    return both


def as_float16(embeddings: np.ndarray) -> np.ndarray:
    """Embeddings as float16, clipped to its finite range (how runs store them)."""
    return np.clip(embeddings, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)


def _averaged(
    run: Callable[[Callable[[Any], Any]], Any], settings: TrainSettings, two: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The mean over the test-time views of ``run(view)``'s probabilities (and, when
    ``two``, of its embeddings), each summed in float64 as the views come."""
    views = tta_views(settings)
    # float64 zeros plus a float32 array: float64, exactly as np.zeros(...) += would give.
    total: Any = np.float64(0.0)
    embedded: Any = np.float64(0.0)
    for view in views:
        out = run(view)
        probs, features = (out[0], out[1]) if two else (out, None)
        total = total + probs
        if features is not None:
            embedded = embedded + features
    mean = np.asarray(total / len(views), dtype=np.float32)
    return mean, np.asarray(embedded / len(views), np.float32) if two else None


def predict_positions(
    model: keras.Model,
    source: ImageSource,
    positions: np.ndarray,
    settings: TrainSettings,
    *,
    embed: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities of the images at ``positions``, averaged over the test-time views.

    With ``embed``, their embeddings too (float32, averaged over the same views), from
    the same pass; None when the model has no final ``Dense`` layer or ``embed`` is off.
    """
    n_classes = int(model.output_shape[-1])
    if not len(positions):
        return np.zeros((0, n_classes), np.float32), None
    both = with_embeddings(model) if embed else None

    def run(view: Callable[[Any], Any]) -> Any:
        ds = source.dataset(positions, None, n_classes, settings, training=False, seed=0)
        with naming_bad_images(source.files, settings), quiet_keras_warnings():
            return (model if both is None else both).predict(ds.map(view), verbose=0)

    return _averaged(run, settings, both is not None)


def predict_batch(
    model: keras.Model, x: np.ndarray, settings: TrainSettings, *, embed: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities (and with ``embed``, embeddings) of a batch of images (float32 in
    [0, 1]), averaged over the views.

    What :func:`predict_positions` computes for images held in memory (the Ray Data
    workers of :mod:`relabel.training.on_ray` predict with it).
    """
    both = with_embeddings(model) if embed else None

    def run(view: Callable[[Any], Any]) -> Any:
        chosen = model if both is None else both
        return chosen.predict(view(x), batch_size=settings.batch_size, verbose=0)

    with quiet_keras_warnings():
        return _averaged(run, settings, both is not None)


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
    return predict_with_embeddings(model_path, paths, settings, progress, embed=False)[0]


def predict_with_embeddings(
    model_path: Path | keras.Model,
    paths: Sequence[str | os.PathLike[str]],
    settings: TrainSettings,
    progress: Progress | None = None,
    *,
    images: np.ndarray | None = None,
    embed: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities and embeddings of images by a saved (or in-memory) model, in one pass.

    What the final model's embeddings of every sample (``final_embeddings.npy``) are made
    with: one inference pass over the images (``images``: their decode cache, when the
    run has one) and the same test-time views as the out-of-fold predictions.

    Parameters
    ----------
    model_path, paths, settings, progress
        As :func:`predict_probabilities`.
    images : numpy.ndarray | None
        The decoded images of ``paths`` (:func:`relabel.training.images.decode_images`).
    embed : bool
        Also return the embeddings (the input of the final ``Dense`` layer).

    Returns
    -------
    probabilities, embeddings : numpy.ndarray
        ``(n, n_classes)`` float32, and ``(n, d)`` float32 (None when ``embed`` is off or
        the model has no final ``Dense`` layer).
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
    if images is None:
        check_files_exist(files)
    if progress is not None:
        progress(f"predicting {len(files)} images")
    source = ImageSource(files, images)
    return predict_positions(model, source, np.arange(len(files)), settings, embed=embed)
