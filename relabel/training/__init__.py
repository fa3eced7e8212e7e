"""Train Keras image classifiers and compute out-of-fold class probabilities.

This package is the only part of relabel that imports TensorFlow and Keras, and importing
it is cheap: they are imported the first time a function needs them
(:mod:`~relabel.training.keras_env`). One module per step:

* :mod:`~relabel.training.settings`: :class:`TrainSettings`, the one settings model;
* :mod:`~relabel.training.keras_env`: the lazy, quiet TensorFlow/Keras import;
* :mod:`~relabel.training.images`: the decode cache and the ``tf.data`` datasets (pixels
  from THE decoder, :func:`relabel.data.images.decode_image`);
* :mod:`~relabel.training.models`: the built-in CNNs and the ``keras.applications``
  backbones (:mod:`~relabel.training.resnet`; numpy augmentation in
  :mod:`~relabel.training.augment`);
* :mod:`~relabel.training.fit`: compiling and fitting one model, through
  :func:`relabel.training.fit.keras_fit`, the one call of Keras' ``model.fit``;
* :mod:`~relabel.training.crossval`: the folds and the out-of-fold probabilities and
  embeddings (saved folds in :mod:`~relabel.training.checkpoints`);
* :mod:`~relabel.training.predict`: prediction with test-time flips, and the embeddings
  (the input of the final ``Dense`` layer) from the same pass;
* :mod:`~relabel.training.model_io`: ``.keras`` files, written atomically;
* :mod:`~relabel.training.embed`: the fast path (frozen backbone features and a K-fold
  logistic regression);
* :mod:`~relabel.training.executor`, :mod:`~relabel.training.on_ray` and
  :mod:`~relabel.training.ray_data`: where the work runs (this process or a Ray cluster);
  the same results either way.

Determinism: the same files, labels, settings and seed give bit-identical probabilities on
the same machine and library versions (see :mod:`~relabel.training.fit`).
"""

from __future__ import annotations

from relabel.config import OPTIMIZERS, SCHEDULES
from relabel.training.crossval import (
    CrossValResult,
    FoldFailedError,
    FoldInfo,
    FoldRunner,
    cross_validated_probabilities,
)
from relabel.training.executor import Executor
from relabel.training.fit import FitInfo, fit_model, train_final_model
from relabel.training.images import decode_images, make_dataset
from relabel.training.keras_env import import_keras
from relabel.training.model_io import load_model, save_model
from relabel.training.models import (
    ARCHITECTURES,
    available_architectures,
    build_model,
    check_settings,
)
from relabel.training.predict import predict_probabilities, predict_with_embeddings
from relabel.training.settings import InvalidSettingsError, TrainSettings

__all__ = [
    "ARCHITECTURES",
    "OPTIMIZERS",
    "SCHEDULES",
    "CrossValResult",
    "Executor",
    "FitInfo",
    "FoldFailedError",
    "FoldInfo",
    "FoldRunner",
    "InvalidSettingsError",
    "TrainSettings",
    "available_architectures",
    "build_model",
    "check_settings",
    "cross_validated_probabilities",
    "decode_images",
    "fit_model",
    "import_keras",
    "load_model",
    "make_dataset",
    "predict_probabilities",
    "predict_with_embeddings",
    "save_model",
    "train_final_model",
]
