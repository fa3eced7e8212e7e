"""The fast path: a frozen pretrained backbone, then K-fold logistic regression.

``model.mode = "embed"`` runs every image once through a frozen ``keras.applications``
backbone (``TrainSettings.weights``: a local weights file, or ``"imagenet"``), keeps the
pooled features ("embeddings"), and fits a scikit-learn logistic regression per fold on
them: out-of-fold probabilities in seconds instead of K trainings. The final model is the
backbone with the logistic regression as its softmax head, saved as a ``.keras`` file, so
:func:`relabel.training.predict.predict_probabilities` uses it like any trained model.
The k-nearest-neighbour label agreement of the embeddings is
:func:`relabel.ranking.neighbours.neighbour_label_distribution`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relabel.errors import TrainingError
from relabel.infra.progress import Progress
from relabel.training.crossval import CrossValResult, FoldInfo, stratified_folds
from relabel.training.fit import FitInfo, check_inputs
from relabel.training.images import ImageSource, naming_bad_images
from relabel.training.keras_env import keras_module, quiet_keras_warnings
from relabel.training.model_io import save_model
from relabel.training.models import backbone_input_layer, build_backbone, check_settings
from relabel.training.settings import InvalidSettingsError, TrainSettings

__all__ = [
    "check_embed_settings",
    "cross_validated_probabilities",
    "embed_images",
    "embedding_model",
    "train_final_model",
]

logger = logging.getLogger(__name__)

#: Inverse regularisation strength of the logistic regression (on standardised features).
C = 0.1
MAX_ITER = 1000


def check_embed_settings(settings: TrainSettings) -> None:
    """:func:`relabel.training.models.check_settings`, and refuse a backbone without weights.

    Raises
    ------
    InvalidSettingsError
        ``settings.weights`` is not set.
    WeightsNotFoundError
        The weights file does not exist, or the ImageNet weights cannot be downloaded.
    """
    check_settings(settings)
    if settings.weights is None:
        raise InvalidSettingsError(
            f"model.mode = 'embed' needs pretrained weights for {settings.architecture}: "
            "set model.weights to a local weights file or to 'imagenet'"
        )


def embed_images(
    paths: Sequence[str | os.PathLike[str]],
    settings: TrainSettings,
    progress: Progress | None = None,
    *,
    images: np.ndarray | None = None,
) -> np.ndarray:
    """The pooled features of every image by the frozen backbone of ``settings``.

    Parameters
    ----------
    paths : Sequence[str | os.PathLike]
        Image files.
    settings : TrainSettings
        A ``keras.applications`` architecture with ``weights`` (file or ``"imagenet"``).
    progress : relabel.infra.progress.Progress | None
        Called with one line before and one after.
    images : numpy.ndarray | None
        The images already decoded by :func:`relabel.training.images.decode_images`.

    Returns
    -------
    numpy.ndarray
        ``(n, features)`` float32.
    """
    check_embed_settings(settings)
    files = [os.fspath(p) for p in paths]
    started = time.perf_counter()
    if progress is not None:
        progress(f"embedding {len(files)} images with {settings.architecture}")
    model = embedding_model(settings)
    source = ImageSource(files, images)
    ds = source.dataset(
        np.arange(len(files)), None, 2, settings, training=False, seed=settings.seed
    )
    with naming_bad_images(files, settings), quiet_keras_warnings():
        features = np.asarray(model.predict(ds, verbose=0), dtype=np.float32)
    message = (
        f"embedded {len(files)} images into {features.shape[1]} features "
        f"in {time.perf_counter() - started:.1f} s"
    )
    (progress or logger.info)(message)
    return features


def _backbone_graph(settings: TrainSettings) -> tuple[Any, Any]:
    """A fresh session's image input and the frozen backbone's pooled features of it."""
    keras = keras_module()
    keras.backend.clear_session()
    inputs = keras.Input((*settings.image_size, settings.channels), name="image")
    x = backbone_input_layer()(settings.architecture, name="backbone_input")(inputs)
    backbone, _ = build_backbone(settings)
    return inputs, backbone(x, training=False)


def embedding_model(settings: TrainSettings) -> Any:
    """The frozen backbone of ``settings`` with its input scaling: images to features."""
    inputs, features = _backbone_graph(settings)
    return keras_module().Model(inputs, features)


def _classifier(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), LogisticRegression(C=C, max_iter=MAX_ITER, random_state=seed)
    )


def _fit_predict(
    features: np.ndarray, y: np.ndarray, n_classes: int, fit_on: np.ndarray, seed: int
) -> tuple[Any, np.ndarray]:
    """Fit on the rows ``fit_on``; return the pipeline and its probabilities of all rows."""
    classifier = _classifier(seed).fit(features[fit_on], y[fit_on])
    proba = classifier.predict_proba(features)
    full = np.zeros((len(features), n_classes), np.float64)
    full[:, classifier.classes_] = proba  # a class absent from the fold keeps 0
    return classifier, full


def cross_validated_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    progress: Progress | None = None,
) -> CrossValResult:
    """Out-of-fold probabilities of a logistic regression on the embeddings.

    The folds are those of :func:`relabel.training.cross_validated_probabilities` (the
    same ``StratifiedKFold`` and seed).

    Parameters
    ----------
    features : numpy.ndarray
        ``(n, d)`` embeddings from :func:`embed_images`.
    labels : numpy.ndarray
        Given integer class of each sample.
    n_classes : int
        Number of classes.
    settings : TrainSettings
        Folds and seed.
    progress : relabel.infra.progress.Progress | None
        Called with one line per fold.

    Returns
    -------
    CrossValResult
    """
    y = np.asarray(labels, dtype=np.int64)
    if features.ndim != 2 or len(features) != len(y):
        raise TrainingError(f"got {len(features)} embeddings for {len(y)} labels")
    started = time.perf_counter()
    probabilities = np.full((len(y), n_classes), np.nan, dtype=np.float32)
    fold_of_sample = np.zeros(len(y), dtype=np.int32)
    folds = []
    for k, (train_idx, heldout_idx) in enumerate(stratified_folds(y, settings)):
        fold_started = time.perf_counter()
        _, full = _fit_predict(features, y, n_classes, train_idx, settings.seed + k)
        predicted = full[heldout_idx].astype(np.float32)
        probabilities[heldout_idx] = predicted
        fold_of_sample[heldout_idx] = k + 1
        seconds = time.perf_counter() - fold_started
        train_acc = float(np.mean(full[train_idx].argmax(axis=1) == y[train_idx]))
        fit = FitInfo(len(train_idx), 0, 1, 1, np.nan, train_acc, None, None, seconds)
        accuracy = float(np.mean(predicted.argmax(axis=1) == y[heldout_idx]))
        folds.append(FoldInfo(k + 1, len(heldout_idx), accuracy, fit, seconds))
        message = (
            f"fold {k + 1}/{settings.folds}: logistic regression in {seconds:.1f} s, "
            f"held-out accuracy {accuracy:.4f}"
        )
        (progress or logger.info)(message)
    return CrossValResult(
        probabilities=probabilities,
        fold_of_sample=fold_of_sample,
        folds=tuple(folds),
        accuracy=float(np.mean(probabilities.argmax(axis=1) == y)),
        seconds=time.perf_counter() - started,
    )


def train_final_model(
    paths: Sequence[str | os.PathLike[str]],
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    out_path: Path,
    progress: Progress | None = None,
) -> FitInfo:
    """Fit the logistic regression on every sample; save backbone + head as ``.keras``.

    The saved model takes images like every relabel model (``image_size``, channels, values
    in [0, 1]), standardises the backbone's features and applies the regression's softmax.

    Returns
    -------
    FitInfo
    """
    keras = keras_module()
    started = time.perf_counter()
    check_inputs(paths, labels, n_classes)
    y = np.asarray(labels, dtype=np.int64)
    classifier, full = _fit_predict(features, y, n_classes, np.arange(len(y)), settings.seed)
    scaler, regression = classifier[0], classifier[-1]
    coef = np.zeros((n_classes, features.shape[1]), np.float32)
    intercept = np.full(n_classes, -1e4, np.float32)  # classes never seen: probability 0
    rows = regression.coef_ if len(regression.classes_) > 2 else None
    if rows is None:  # binary: scikit-learn keeps one row, for class 1 against class 0
        rows = np.vstack([-regression.coef_[0] / 2, regression.coef_[0] / 2])
        bias = np.array([-regression.intercept_[0] / 2, regression.intercept_[0] / 2])
    else:
        bias = regression.intercept_
    coef[regression.classes_] = rows
    intercept[regression.classes_] = bias

    inputs, x = _backbone_graph(settings)
    x = keras.layers.Normalization(
        mean=scaler.mean_.astype(np.float32), variance=scaler.var_.astype(np.float32)
    )(x)
    head = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")
    outputs = head(x)
    model = keras.Model(inputs, outputs, name=f"{settings.architecture.lower()}_embed")
    head.set_weights([coef.T, intercept])

    save_model(model, out_path)
    train_acc = float(np.mean(full.argmax(axis=1) == y))
    seconds = time.perf_counter() - started
    if progress is not None:
        progress(f"final model: logistic regression on {len(y)} embeddings, saved {out_path}")
    return FitInfo(len(y), 0, 1, 1, np.nan, train_acc, None, None, seconds)
