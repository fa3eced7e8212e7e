"""Fitting one model: compile, schedule, class weights, callbacks, and THE call of
Keras' ``model.fit`` (:func:`keras_fit`).

Determinism: every fit clears the Keras session and seeds Keras
(``keras.utils.set_random_seed``), and every shuffle, augmentation and split is seeded;
with TensorFlow's op determinism (turned on by :func:`relabel.training.keras_env.import_keras`)
the same files, labels, settings and seed give bit-identical models on the same machine
and library versions.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relabel.errors import TrainingError
from relabel.infra import failpoints
from relabel.infra.progress import Progress, count
from relabel.training.images import ImageSource, check_files_exist, images_of, naming_bad_images
from relabel.training.keras_env import keras_module, quiet_keras_warnings
from relabel.training.model_io import save_model
from relabel.training.models import build_model, check_settings
from relabel.training.settings import InvalidSettingsError, TrainSettings

if TYPE_CHECKING:
    import keras

__all__ = [
    "WARMUP_SHARE",
    "FitInfo",
    "check_inputs",
    "class_weights",
    "compile_model",
    "fit_model",
    "fit_positions",
    "keras_fit",
    "learning_rate_schedule",
    "train_final_model",
    "validation_split",
]

logger = logging.getLogger(__name__)

#: Share of the steps of a one-cycle schedule spent warming up.
WARMUP_SHARE = 0.15


@dataclass(frozen=True)
class FitInfo:
    """What happened while fitting one model.

    Attributes
    ----------
    n_train : int
        Images the model was trained on.
    n_val : int
        Images of the early-stopping validation slice (0 when there was none).
    epochs_run : int
        Epochs actually run.
    best_epoch : int
        1-based epoch whose weights were kept (the last one without validation).
    train_loss : float
        Training loss of the kept epoch.
    train_accuracy : float
        Training accuracy of the kept epoch (augmented images, dropout on).
    val_loss : float | None
        Validation loss of the kept epoch, ``None`` without validation.
    val_accuracy : float | None
        Validation accuracy of the kept epoch, ``None`` without validation.
    seconds : float
        Wall-clock time of the fit.
    images_per_second : float
        Training throughput: images fitted per second over the epochs run (validation
        included in the time).
    """

    n_train: int
    n_val: int
    epochs_run: int
    best_epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float
    images_per_second: float = math.nan


def learning_rate_schedule(settings: TrainSettings, total_steps: int) -> Any:
    """The learning rate or built-in Keras schedule of ``settings`` over ``total_steps``."""
    schedules = keras_module().optimizers.schedules
    lr = settings.learning_rate
    total_steps = max(1, total_steps)
    if settings.schedule == "cosine":
        return schedules.CosineDecay(lr, decay_steps=total_steps, alpha=0.0)
    if settings.schedule == "one_cycle":
        warmup = max(1, round(WARMUP_SHARE * total_steps))
        return schedules.CosineDecay(
            lr / 25,
            decay_steps=max(1, total_steps - warmup),
            alpha=0.0,
            warmup_target=lr,
            warmup_steps=warmup,
        )
    return lr


def compile_model(model: keras.Model, settings: TrainSettings, total_steps: int = 1) -> None:
    """Compile ``model`` with the loss, optimizer and schedule of ``settings``."""
    keras = keras_module()
    if settings.loss == "focal":
        loss = keras.losses.CategoricalFocalCrossentropy(
            gamma=settings.focal_gamma, label_smoothing=settings.label_smoothing
        )
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=settings.label_smoothing)
    rate = learning_rate_schedule(settings, total_steps)
    if settings.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
    else:
        optimizer = keras.optimizers.Adam(rate)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[keras.metrics.CategoricalAccuracy(name="acc")],
        jit_compile=False,
    )


def check_inputs(paths: Sequence[Any], labels: Any, n_classes: int) -> tuple[list[str], np.ndarray]:
    """The image files as strings and the labels as int64, checked.

    Raises
    ------
    TrainingError
        Labels of another length than the paths, not integers or out of range; no
        images; a missing file.
    InvalidSettingsError
        Fewer than 2 classes.
    """
    files = [os.fspath(p) for p in paths]
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(files):
        raise TrainingError(f"got {len(files)} image paths but labels of shape {y.shape}")
    if len(files) == 0:
        raise TrainingError("no images to train on")
    if not np.issubdtype(y.dtype, np.integer):
        raise TrainingError(f"labels must be integer class indices, got dtype {y.dtype}")
    if n_classes < 2:
        raise InvalidSettingsError(f"a classifier needs at least 2 classes, got {n_classes}")
    if y.min() < 0 or y.max() >= n_classes:
        raise TrainingError(
            f"labels must be in [0, {n_classes - 1}], found {int(y.min())}..{int(y.max())}"
        )
    check_files_exist(files)
    return files, y.astype(np.int64)


def validation_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(labels)-1`` into (fit, validation), stratified if possible."""
    from sklearn.model_selection import train_test_split

    n = len(labels)
    positions = np.arange(n)
    n_val = min(n - 1, round(fraction * n))
    if fraction <= 0 or n_val < 1:
        return positions, positions[:0]
    try:
        fit, val = train_test_split(
            positions, test_size=n_val, stratify=labels, random_state=seed, shuffle=True
        )
    except ValueError:
        # A class too small to appear on both sides, or fewer slots than classes.
        logger.debug("validation slice not stratified: classes too small")
        fit, val = train_test_split(positions, test_size=n_val, random_state=seed, shuffle=True)
    return np.sort(fit), np.sort(val)


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """sklearn's "balanced" weights; classes absent from ``labels`` get weight 1."""
    counts = np.bincount(labels, minlength=n_classes)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {k: float(w) for k, w in enumerate(weights)}


@functools.cache
def _progress_callback_class() -> type:
    """The Keras callback that reports every epoch through ``progress`` (made once)."""
    keras = keras_module()

    class ProgressCallback(keras.callbacks.Callback):
        """Reports every epoch through ``progress`` and remembers the history."""

        def __init__(
            self, tag: str, epochs: int, progress: Progress | None, n_images: int = 0
        ) -> None:
            super().__init__()
            self.tag = tag
            self.epochs = epochs
            self.progress = progress
            self.n_images = n_images
            self.history: list[dict[str, float]] = []
            self.epoch_seconds: list[float] = []
            self._epoch_started = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch_started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            seconds = time.perf_counter() - self._epoch_started
            self.epoch_seconds.append(seconds)
            values = {k: float(v) for k, v in (logs or {}).items()}
            self.history.append(values)
            shown = " ".join(
                f"{key}={values[key]:.4f}"
                for key in ("loss", "acc", "val_loss", "val_acc")
                if key in values
            )
            rate = f" {self.n_images / seconds:.0f} img/s" if self.n_images and seconds else ""
            message = f"{self.tag}: epoch {epoch + 1}/{self.epochs} {shown}{rate}"
            if self.progress is None:
                logger.debug(message)
            count(self.progress, self.tag, epoch + 1, self.epochs, message)

        def images_per_second(self) -> float:
            """Images per second over the epochs run, the first (tracing) one left out."""
            timed = self.epoch_seconds[1:] or self.epoch_seconds
            if not timed or not self.n_images:
                return math.nan
            return self.n_images * len(timed) / sum(timed)

    return ProgressCallback


def keras_fit(
    model: keras.Model,
    train: Any,
    *,
    validation: Any | None,
    epochs: int,
    class_weight: dict[int, float] | None,
    callbacks: list[Any],
) -> None:
    """Run Keras' ``model.fit``: THE one place relabel trains a Keras model.

    Every path that trains reaches Keras through this function: :func:`fit_model`, each
    fold of a cross-validation (in this process or in a Ray task), the final model. The
    test suite refuses training in tests that do not ask for it, in this process and in
    child processes (``RELABEL_REFUSE=training``, see :func:`relabel.infra.failpoints.refuse`
    and ``tests/conftest.py``), so a new way into ``model.fit`` must come through here.

    Parameters
    ----------
    model : keras.Model
        A compiled model.
    train, validation : tf.data.Dataset
        Batches of (images, one-hot labels); ``validation`` may be None.
    epochs : int
        Most epochs (a callback may stop sooner).
    class_weight : dict[int, float] | None
        Per-class loss weights.
    callbacks : list
        Keras callbacks.
    """
    failpoints.refuse("training")
    model.fit(
        train,
        validation_data=validation,
        epochs=epochs,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=0,
    )


def fit_model(
    paths: Sequence[str | os.PathLike[str]],
    labels: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    *,
    seed: int | None = None,
    tag: str = "fit",
    progress: Progress | None = None,
    images: np.ndarray | None = None,
) -> tuple[keras.Model, FitInfo]:
    """Train one model, with early stopping on a stratified validation slice.

    Clears the Keras session and seeds Keras with ``seed`` first, so the result depends
    only on the arguments.

    Parameters
    ----------
    paths : Sequence[str | os.PathLike]
        Image files.
    labels : numpy.ndarray
        Integer class of each image, in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    settings : TrainSettings
        Model and training settings.
    seed : int | None
        Seed of this fit; defaults to ``settings.seed``.
    tag : str
        Prefix of the progress messages, e.g. ``"fold 2/5"``.
    progress : relabel.infra.progress.Progress | None
        Called with one line per epoch.
    images : numpy.ndarray | None
        The images of ``paths`` already decoded by
        :func:`relabel.training.images.decode_images`; decoded here (once, to a
        temporary file) when None and ``settings.cache_images`` is on.

    Returns
    -------
    tuple[keras.Model, FitInfo]
        The trained model (weights of the best validation epoch) and what happened.

    Raises
    ------
    TrainingError
        Bad inputs, a missing or unreadable image, or a failed fit.
    """
    files, y = check_inputs(paths, labels, n_classes)
    check_settings(settings)
    seed = settings.seed if seed is None else seed
    with images_of(files, settings, images, progress) as source:
        return fit_positions(source, y, np.arange(len(y)), n_classes, settings, seed, tag, progress)


def fit_positions(
    source: ImageSource,
    y: np.ndarray,
    positions: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    seed: int,
    tag: str,
    progress: Progress | None,
) -> tuple[keras.Model, FitInfo]:
    """Train one model on the images of ``source`` at ``positions`` (labels ``y``).

    What :func:`fit_model` and every fold of a cross-validation run: clear the session,
    seed, split off the validation slice, build, compile and fit (:func:`keras_fit`).
    """
    keras = keras_module()
    started = time.perf_counter()
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    fit_rel, val_rel = validation_split(y[positions], settings.validation_fraction, seed)
    fit_pos, val_pos = positions[fit_rel], positions[val_rel]
    train_ds = source.dataset(fit_pos, y, n_classes, settings, training=True, seed=seed)
    val_ds = None
    if len(val_pos):
        val_ds = source.dataset(val_pos, y, n_classes, settings, training=False, seed=seed)
    model = build_model(n_classes, settings, data_augments=source.array is not None)
    compile_model(model, settings, math.ceil(len(fit_pos) / settings.batch_size) * settings.epochs)
    reporter = _progress_callback_class()(tag, settings.epochs, progress, len(fit_pos))
    stopper = None
    if val_ds is not None:
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=settings.patience, restore_best_weights=True
        )
    balanced = settings.class_weight == "balanced"
    with naming_bad_images(source.files, settings), quiet_keras_warnings():
        keras_fit(
            model,
            train_ds,
            validation=val_ds,
            epochs=settings.epochs,
            class_weight=class_weights(y[fit_pos], n_classes) if balanced else None,
            callbacks=[reporter] if stopper is None else [reporter, stopper],
        )
    info = _fit_info(reporter, stopper, len(fit_pos), len(val_pos), started)
    return model, info


def _fit_info(reporter: Any, stopper: Any, n_train: int, n_val: int, started: float) -> FitInfo:
    """The :class:`FitInfo` of a finished fit, from its callbacks."""
    history = reporter.history
    best = len(history) - 1
    if stopper is not None and history:
        best = int(stopper.best_epoch)
    kept = history[best] if history else {}
    return FitInfo(
        n_train=n_train,
        n_val=n_val,
        epochs_run=len(history),
        best_epoch=best + 1,
        train_loss=kept.get("loss", math.nan),
        train_accuracy=kept.get("acc", math.nan),
        val_loss=kept.get("val_loss") if stopper is not None else None,
        val_accuracy=kept.get("val_acc") if stopper is not None else None,
        seconds=time.perf_counter() - started,
        images_per_second=reporter.images_per_second(),
    )


def train_final_model(
    paths: Sequence[str | os.PathLike[str]],
    labels: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    out_path: Path,
    progress: Progress | None = None,
    *,
    images: np.ndarray | None = None,
) -> FitInfo:
    """Train one model on all samples and save it as a ``.keras`` file.

    A stratified validation slice is still held out for early stopping.

    Parameters
    ----------
    paths : Sequence[str | os.PathLike]
        Image files.
    labels : numpy.ndarray
        Integer class of each image, in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    settings : TrainSettings
        Model and training settings (seed ``settings.seed``).
    out_path : pathlib.Path
        Where to save the model; must end in ``.keras``. Written atomically.
    progress : relabel.infra.progress.Progress | None
        Called with one line per epoch.
    images : numpy.ndarray | None
        The images of ``paths`` already decoded by
        :func:`relabel.training.images.decode_images`.

    Returns
    -------
    FitInfo
        What happened during the fit.
    """
    out_path = Path(out_path)
    if out_path.suffix != ".keras":
        raise InvalidSettingsError(f"model file {out_path} must end in .keras")
    model, info = fit_model(
        paths, labels, n_classes, settings, tag="final", progress=progress, images=images
    )
    save_model(model, out_path)
    return info
