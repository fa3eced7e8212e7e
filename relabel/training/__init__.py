"""Train Keras image classifiers and compute out-of-fold class probabilities.

This package is the only part of relabel that imports TensorFlow and Keras. Importing it
is cheap: TensorFlow and Keras are imported the first time a function here needs them
(see :func:`import_keras`), so ``relabel --help`` and the commands that never train
stay fast.

Images are decoded and resized ONCE per run into a uint8 array (:func:`decode_images`,
memory-mapped from a ``.npy`` file, so memory stays flat), and every epoch of every fold
reads batches from it; random flips and shifts are applied to those batches in numpy
(:mod:`relabel.training.augment`). With ``TrainSettings.cache_images = False`` a
``tf.data`` pipeline decodes the files again every epoch instead (:func:`make_dataset`).

Determinism: every function here seeds Keras (``keras.utils.set_random_seed``), seeds
every shuffle, augmentation and split, and turns on TensorFlow's op determinism (a
process-wide setting) when TensorFlow is first imported. The same files, labels,
settings and seed give bit-identical probabilities on the same machine and library
versions.

Models
------
``small_cnn`` (the default of grayscale projects) is a small convolutional network that
trains in seconds on a CPU at small image sizes. ``resnet_small`` (the default of RGB
projects, :mod:`relabel.training.resnet`) is a residual CNN with batch norm for photos,
trained with SGD and a one-cycle schedule. Any name of ``keras.applications``
(``MobileNetV2``, ``EfficientNetB0``, ``ResNet50``, ...) builds that backbone without its
top, with average pooling, dropout and a dense softmax head. A backbone starts from
random weights unless ``TrainSettings.weights`` names a local weights file or
``"imagenet"`` (which Keras downloads once into :func:`keras_cache_dir`); then the
backbone is frozen (run in inference mode) and only the head is trained.
:mod:`relabel.training.embed` is the fast path: frozen backbone features and a K-fold
logistic regression.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relabel import config as config_mod
from relabel.config import (
    BUILT_IN_ARCHITECTURES,
    IMAGENET,
    KERAS_APPLICATIONS,
    OPTIMIZERS,
    RESNET_SMALL,
    SCHEDULES,
    SMALL_CNN,
)
from relabel.errors import ExitCode, TrainingError, WeightsNotFoundError
from relabel.infra.progress import Progress, count
from relabel.training.augment import flip_and_shift
from relabel.training.checkpoints import FoldCheckpoints, fingerprint
from relabel.training.executor import Executor

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

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
    "fit_model",
    "import_keras",
    "load_model",
    "make_dataset",
    "predict_probabilities",
    "save_model",
    "train_final_model",
]

logger = logging.getLogger(__name__)


#: The built-in architectures; every other accepted name is a ``keras.applications`` model
#: (:data:`relabel.config.KERAS_APPLICATIONS`).
ARCHITECTURES = BUILT_IN_ARCHITECTURES
#: Share of the steps of a one-cycle schedule spent warming up.
WARMUP_SHARE = 0.15

# Lines TensorFlow writes to the stderr file descriptor while it is imported that say
# nothing useful to a relabel user; every other line is passed through.
_IMPORT_NOISE = (
    "oneDNN custom operations are on",
    "All log messages before absl::InitializeLog() is called",
)


class InvalidSettingsError(TrainingError):
    """A training setting is out of range or names something that does not exist."""

    exit_code = ExitCode.INVALID_INPUT


class FoldFailedError(TrainingError):
    """Folds failed in a runner (after its retries); the others finished and were saved.

    Attributes
    ----------
    failed, finished : list[int]
        The 0-based folds that failed and those that finished.
    """

    def __init__(self, message: str, failed: Sequence[int], finished: Sequence[int]) -> None:
        super().__init__(message)
        self.failed = list(failed)
        self.finished = list(finished)


#: Runs the pending folds of a cross-validation somewhere else than in this process:
#: ``runner(files, y, n_classes, settings, splits, pending, finished, progress, images)``
#: calls ``finished(k, info, probabilities)`` for each fold as it is done, and raises
#: :class:`FoldFailedError` naming the folds that failed.
FoldRunner = Callable[..., None]


def _settings_post_init(self: Any) -> None:
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
            "invalid training settings: " + "; ".join(f"{name} {says}" for name, says in problems)
        )


def _settings_from_config(cls: type, config: config_mod.Config, root: Path | None = None) -> Any:
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


def _settings_fields() -> list[tuple[str, Any, Any]]:
    """The fields of ``TrainSettings``, from the config dataclasses (no list of its own)."""
    sections = {
        "dataset": config_mod.DatasetConfig(),
        "model": config_mod.ModelConfig(),
        "training": config_mod.TrainingConfig(),
    }
    types = {
        f.name: f.type
        for cls in (config_mod.DatasetConfig, config_mod.ModelConfig, config_mod.TrainingConfig)
        for f in dataclasses.fields(cls)
    }
    out: list[tuple[str, Any, Any]] = []
    for name, section in config_mod.train_fields().items():
        if name == "image_size":
            out.append((name, "tuple[int, int]", dataclasses.field()))
        elif name == "channels":
            out.append((name, "int", dataclasses.field()))
        elif name == "weights":
            out.append((name, "str | None", dataclasses.field(default=None)))
        else:
            default = getattr(sections[section], name)
            out.append((name, types[name], dataclasses.field(default=default)))
    return out


TrainSettings = dataclasses.make_dataclass(
    "TrainSettings",
    _settings_fields(),
    frozen=True,
    namespace={
        "__post_init__": _settings_post_init,
        "from_config": classmethod(_settings_from_config),
        "__module__": __name__,
        "__doc__": """How to build, train and cross-validate a classifier.

    ONE settings model: the fields are those of :func:`relabel.config.train_fields`:
    ``image_size`` (``(height, width)``, every image is resized to it; aspect ratio is
    not kept) and ``channels`` (1 or 3) first, then every field of
    :class:`relabel.config.ModelConfig` but ``mode``, every field of
    :class:`relabel.config.TrainingConfig` and ``max_pixels``
    (:class:`relabel.config.DatasetConfig`), with the same defaults and meanings (see
    there), checked by the same rules (:func:`relabel.config.train_problems`).
    ``weights`` is ``None`` for random weights. ``TrainSettings.from_config(config, root)``
    builds the settings of a project.

    In the decode cache, images larger than :data:`LARGE_IMAGE_PIXELS` are decoded at
    reduced size (:func:`relabel.data.images.read_image`), one or two at a time, so that
    memory does not follow the source resolution.

    Raises
    ------
    InvalidSettingsError
        A setting is out of range or names an unknown architecture.
    """,
    },
)


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


@dataclass(frozen=True)
class FoldInfo:
    """One fold of a cross-validation.

    Attributes
    ----------
    fold : int
        1-based fold number.
    n_heldout : int
        Images predicted by this fold's model.
    heldout_accuracy : float
        Accuracy of those predictions against the given (possibly wrong) labels.
    fit : FitInfo
        How the fold's model was fitted.
    seconds : float
        Wall-clock time of the fold (fit and prediction).
    members : int
        Models trained for this fold (``TrainSettings.ensemble``); ``fit`` is the first.
    """

    fold: int
    n_heldout: int
    heldout_accuracy: float
    fit: FitInfo
    seconds: float
    members: int = 1


@dataclass(frozen=True)
class CrossValResult:
    """Out-of-fold probabilities of a cross-validation.

    Attributes
    ----------
    probabilities : numpy.ndarray
        ``(n, n_classes)`` float32; row ``i`` was predicted by the model of the fold that
        held sample ``i`` out, so it never saw sample ``i``.
    fold_of_sample : numpy.ndarray
        ``(n,)`` int32, the 1-based fold that held each sample out.
    folds : tuple[FoldInfo, ...]
        Per-fold details.
    accuracy : float
        Accuracy of the out-of-fold predictions against the given labels.
    seconds : float
        Wall-clock time of the whole cross-validation.
    """

    probabilities: np.ndarray
    fold_of_sample: np.ndarray
    folds: tuple[FoldInfo, ...] = field(default_factory=tuple)
    accuracy: float = 0.0
    seconds: float = 0.0


# --------------------------------------------------------------------------- imports


@contextlib.contextmanager
def _filtered_stderr_fd() -> Iterator[None]:
    """Capture what is written to file descriptor 2 and re-emit it without known noise."""
    try:
        fd = 2
        os.fstat(fd)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(fd)
        os.dup2(captured.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [
                line
                for line in text.splitlines(keepends=True)
                if not any(noise in line for noise in _IMPORT_NOISE)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


@functools.cache
def import_keras() -> tuple[Any, Any]:
    """Import TensorFlow and Keras once, quietly, with op determinism turned on.

    Sets ``KERAS_BACKEND=tensorflow`` and ``TF_CPP_MIN_LOG_LEVEL=2`` unless already set,
    drops TensorFlow's start-up notices from stderr, and calls
    ``tf.config.experimental.enable_op_determinism()`` (a process-wide setting).

    Returns
    -------
    tuple
        The ``tensorflow`` and ``keras`` modules.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _filtered_stderr_fd():
        import keras as keras_module
        import tensorflow as tf_module
    if keras_module.backend.backend() != "tensorflow":
        raise TrainingError(
            f"relabel needs the TensorFlow backend of Keras, but KERAS_BACKEND is "
            f"{keras_module.backend.backend()!r}; unset it or set it to 'tensorflow'"
        )
    tf_module.get_logger().setLevel(logging.ERROR)
    tf_module.config.experimental.enable_op_determinism()
    return tf_module, keras_module


def _tf() -> Any:
    return import_keras()[0]


def _keras() -> Any:
    return import_keras()[1]


def available_architectures() -> list[str]:
    """Names accepted as ``TrainSettings.architecture`` (no Keras import needed).

    Returns
    -------
    list[str]
        ``"small_cnn"``, ``"resnet_small"`` and the ``keras.applications`` model names
        (:data:`relabel.config.ARCHITECTURES`).
    """
    return list(config_mod.ARCHITECTURES)


def _application(architecture: str) -> Callable[..., Any]:
    """The ``keras.applications`` function of an architecture name (checked by the settings)."""
    fn = getattr(_keras().applications, architecture, None)
    if architecture not in KERAS_APPLICATIONS or not callable(fn):
        raise InvalidSettingsError(
            f"architecture {architecture!r} is not a keras.applications model of this Keras "
            f"({_keras().__version__})"
        )
    return fn


def _weights_file(settings: TrainSettings) -> Path | str | None:
    """The checked local weights file of ``settings``, ``IMAGENET``, or None."""
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
    if _weights_file(settings) == IMAGENET:
        _imagenet_available(settings.architecture, settings.image_size)


@functools.cache
def _imagenet_available(architecture: str, image_size: tuple[int, int]) -> None:
    """Build the backbone with ImageNet weights once (Keras downloads them if needed)."""
    settings = TrainSettings(image_size, 3, architecture=architecture, weights=IMAGENET)
    build_backbone(settings)
    _keras().backend.clear_session()


# --------------------------------------------------------------------------- data


def _decode_image(path: Any, settings: TrainSettings) -> Any:
    """One image file as a uint8 tensor of ``settings.image_size`` and channels."""
    tf = _tf()
    # Decode as RGB whatever the file holds: BMP and GIF cannot be decoded to one
    # channel directly, and this drops an alpha channel in every format.
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    if settings.channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.image.resize(image, settings.image_size, antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
    image.set_shape((*settings.image_size, settings.channels))
    return image


#: Images of more pixels are decoded at reduced size in the decode cache.
LARGE_IMAGE_PIXELS = 4_000_000


def _large_images(files: Sequence[str], settings: TrainSettings) -> np.ndarray:
    """A mask of the images too large to decode whole (their headers are read in threads)."""
    from concurrent.futures import ThreadPoolExecutor

    from relabel.data.images import image_pixels

    def pixels_of(file: str) -> int:
        try:
            return image_pixels(file, settings.max_pixels)
        except Exception:  # unreadable: TensorFlow's decoder reports it, naming the file
            return 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        pixels = list(pool.map(pixels_of, files))
    return np.asarray(pixels, dtype=np.int64).reshape(-1) > LARGE_IMAGE_PIXELS


def _decode_large_images(
    files: Sequence[str], rows: np.ndarray, settings: TrainSettings, array: np.ndarray
) -> None:
    """Decode large images at reduced size, one at a time, into ``array``'s ``rows``."""
    from relabel.data.images import read_image

    tf = _tf()

    def one(i: int) -> None:
        try:
            reduced = read_image(files[i], settings.image_size, settings.max_pixels)
        except (OSError, ValueError, SyntaxError) as exc:
            raise TrainingError(f"cannot read image {files[i]}: {exc}") from exc
        image = tf.constant(reduced)
        if settings.channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        image = tf.image.resize(image, settings.image_size, antialias=True)
        array[i] = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8).numpy()

    for i in rows.tolist():
        one(int(i))


def _load_image(path: Any, settings: TrainSettings) -> Any:
    """One image file as float32 in [0, 1]: exactly the decoded uint8 image / 255."""
    return _tf().cast(_decode_image(path, settings), _tf().float32) / 255.0


def make_dataset(
    paths: Sequence[str | os.PathLike[str]],
    labels: np.ndarray | None,
    n_classes: int,
    settings: TrainSettings,
    *,
    training: bool,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """A ``tf.data`` pipeline that streams images from disk.

    Each element is a batch of images ``(b, height, width, channels)`` float32 in [0, 1],
    paired with one-hot labels ``(b, n_classes)`` float32 when ``labels`` is given. Only
    the file paths and integer labels are held in memory; images are read, decoded and
    resized in parallel as batches are needed, in a deterministic order.

    Parameters
    ----------
    paths : Sequence[str | os.PathLike]
        Image files (PNG, JPEG, BMP or GIF; the first frame of an animated GIF).
    labels : numpy.ndarray | None
        Integer class of each image, or ``None`` for images only (prediction).
    n_classes : int
        Number of classes (width of the one-hot labels).
    settings : TrainSettings
        Image size, channels and batch size.
    training : bool
        Shuffle the files (re-shuffled every epoch) when true; keep their order otherwise.
    shuffle_seed : int | None
        Seed of the shuffle; defaults to ``settings.seed``.

    Returns
    -------
    tf.data.Dataset
        Batched, prefetched dataset.
    """
    tf = _tf()
    files = [os.fspath(p) for p in paths]
    if labels is None:
        ds = tf.data.Dataset.from_tensor_slices(tf.constant(files, dtype=tf.string))
    else:
        y = np.asarray(labels)
        if y.shape != (len(files),):
            raise TrainingError(f"got {len(files)} image paths but labels of shape {y.shape}")
        ds = tf.data.Dataset.from_tensor_slices(
            (tf.constant(files, dtype=tf.string), tf.constant(y.astype(np.int32)))
        )
    if training and files:
        seed = settings.seed if shuffle_seed is None else shuffle_seed
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    if labels is None:

        def load(path: Any) -> Any:
            return _load_image(path, settings)

    else:

        def load(path: Any, label: Any) -> Any:  # type: ignore[misc]
            return _load_image(path, settings), tf.one_hot(label, n_classes, dtype=tf.float32)

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(settings.batch_size).prefetch(tf.data.AUTOTUNE)


def _check_files_exist(paths: Sequence[str]) -> None:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise TrainingError(f"{len(missing)} image file(s) not found: {shown}")


def _find_unreadable(paths: Sequence[str], settings: TrainSettings) -> tuple[str, str] | None:
    """Decode images one by one (only after a pipeline failed) to name the culprit."""
    tf = _tf()
    for path in paths:
        try:
            _load_image(tf.constant(path), settings)
        except (tf.errors.OpError, ValueError) as exc:
            return path, getattr(exc, "message", str(exc)).strip().splitlines()[0]
    return None


@contextlib.contextmanager
def _naming_bad_images(paths: Sequence[str], settings: TrainSettings) -> Iterator[None]:
    """Turn TensorFlow's anonymous decoding errors into a TrainingError naming the file."""
    tf = _tf()
    try:
        yield
    except tf.errors.OpError as exc:
        file_errors = (
            tf.errors.InvalidArgumentError,
            tf.errors.NotFoundError,
            tf.errors.PermissionDeniedError,
            tf.errors.DataLossError,
        )
        found = _find_unreadable(paths, settings) if isinstance(exc, file_errors) else None
        if found is None:
            raise TrainingError(f"TensorFlow failed: {exc.message.strip()}") from exc
        path, reason = found
        raise TrainingError(f"cannot read image {path}: {reason}") from exc


def decode_images(
    paths: Sequence[str | os.PathLike[str]],
    settings: TrainSettings,
    out: Path | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Decode and resize every image once into a uint8 array.

    The array is ``(n, height, width, channels)`` uint8, row ``i`` the image of
    ``paths[i]`` exactly as training would read it (times 255). With ``out`` it is
    written to that ``.npy`` file batch by batch and returned memory-mapped read-only,
    so memory stays flat whatever the number of images; without ``out`` it is held in
    memory.

    Parameters
    ----------
    paths : Sequence[str | os.PathLike]
        Image files (PNG, JPEG, BMP or GIF).
    settings : TrainSettings
        Image size and channels.
    out : pathlib.Path | None
        The ``.npy`` file to write (written under a temporary name, then renamed).
    progress : relabel.infra.progress.Progress | None
        Called with one line when decoding starts and one when it ends.

    Returns
    -------
    numpy.ndarray
        The decoded images (a ``numpy.memmap`` with ``out``).

    Raises
    ------
    TrainingError
        A file is missing or cannot be decoded (the message names it).
    """
    tf = _tf()
    files = [os.fspath(p) for p in paths]
    _check_files_exist(files)
    shape = (len(files), *settings.image_size, settings.channels)
    started = time.perf_counter()
    if progress is not None:
        progress(f"decoding {len(files)} images once to {shape[1]}x{shape[2]}x{shape[3]}")
    partial = None
    if out is None:
        array = np.empty(shape, dtype=np.uint8)
    else:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
    try:
        large = _large_images(files, settings)
        small = np.flatnonzero(~large)
        small_files = [files[i] for i in small]
        ds = tf.data.Dataset.from_tensor_slices(tf.constant(small_files or [""], dtype=tf.string))
        ds = ds.take(len(small_files)).map(
            lambda path: _decode_image(path, settings),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        at = 0
        with _naming_bad_images(small_files, settings):
            for batch in ds.batch(256).prefetch(2):
                values = batch.numpy()
                array[small[at : at + len(values)]] = values
                at += len(values)
        _decode_large_images(files, np.flatnonzero(large), settings, array)
        if out is not None:
            array.flush()
            del array
            os.replace(partial, out)
            array = np.load(out, mmap_mode="r")
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    message = f"decoded {len(files)} images in {seconds:.1f} s"
    (progress or logger.info)(message)
    return array


@dataclass(frozen=True)
class _Images:
    """The images of a fit: their files, and the decoded array when images are cached."""

    files: list[str]
    array: np.ndarray | None = None

    def dataset(
        self,
        positions: np.ndarray,
        labels: np.ndarray | None,
        n_classes: int,
        settings: TrainSettings,
        *,
        training: bool,
        seed: int,
    ) -> tf.data.Dataset:
        """Batches of the images at ``positions`` (with one-hot labels when given)."""
        y = None if labels is None else np.asarray(labels)[positions]
        if self.array is None:
            files = [self.files[i] for i in positions]
            return make_dataset(files, y, n_classes, settings, training=training, shuffle_seed=seed)
        return _array_dataset(self.array, positions, y, n_classes, settings, training, seed)


def _array_dataset(
    array: np.ndarray,
    positions: np.ndarray,
    labels: np.ndarray | None,
    n_classes: int,
    settings: TrainSettings,
    training: bool,
    seed: int,
) -> tf.data.Dataset:
    """Batches read from a decoded uint8 array.

    When training, the order is reshuffled and the images are flipped and shifted
    (:func:`relabel.training.augment.flip_and_shift`) every epoch, from a random stream
    seeded by ``seed`` and the epoch.
    """
    tf = _tf()
    positions = np.asarray(positions, dtype=np.int64)
    order_of = np.arange(len(positions))
    epochs = iter(range(1 << 62))
    eye = np.eye(n_classes, dtype=np.float32)

    def batches() -> Iterator[Any]:
        order = order_of
        epoch = next(epochs)
        if training:
            order = np.random.default_rng([seed, epoch]).permutation(len(positions))
        rng = np.random.default_rng([seed, epoch, 1]) if training else None
        for start in range(0, len(order), settings.batch_size):
            chosen = order[start : start + settings.batch_size]
            batch = array[positions[chosen]]
            if rng is not None:
                batch = flip_and_shift(batch, rng, settings.flip, settings.translation)
            images = np.asarray(batch, dtype=np.float32) / 255.0
            yield images if labels is None else (images, eye[labels[chosen]])

    image_spec = tf.TensorSpec((None, *array.shape[1:]), tf.float32)
    signature = (
        image_spec if labels is None else (image_spec, tf.TensorSpec((None, n_classes), tf.float32))
    )
    ds = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return ds.prefetch(2)


@contextlib.contextmanager
def _images_of(
    files: list[str],
    settings: TrainSettings,
    images: np.ndarray | None,
    progress: Progress | None,
) -> Iterator[_Images]:
    """The images of ``files``: ``images`` if given, else decoded to a temporary cache."""
    if images is not None:
        expected = (len(files), *settings.image_size, settings.channels)
        if tuple(images.shape) != expected:
            raise TrainingError(
                f"decoded images have shape {tuple(images.shape)}, expected {expected}"
            )
        yield _Images(files, images)
    elif not settings.cache_images:
        yield _Images(files)
    else:
        with tempfile.TemporaryDirectory(prefix="relabel-images-") as tmp:
            array = decode_images(files, settings, Path(tmp) / "images.npy", progress)
            try:
                yield _Images(files, array)
            finally:
                del array


# --------------------------------------------------------------------------- model


@functools.cache
def _backbone_input_layer() -> type:
    """The Keras layer that feeds [0, 1] images to a ``keras.applications`` backbone."""
    keras = _keras()

    @keras.saving.register_keras_serializable(package="relabel")
    class BackboneInput(keras.layers.Layer):
        """Scale [0, 1] images to [0, 255], repeat gray to RGB, apply preprocess_input."""

        def __init__(self, architecture: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.architecture = architecture
            module = importlib.import_module(_application(architecture).__module__)
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
    layers = _keras().layers
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


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights (``$KERAS_HOME/models``, default ``~/.keras``).

    ``KERAS_HOME`` is read by Keras when it is imported; where that folder is not
    writable Keras falls back to ``/tmp/.keras``.
    """
    _keras()
    from keras.src.backend import config as keras_config

    home = os.path.expanduser(keras_config.keras_home())
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return Path(home) / "models"


def build_backbone(settings: TrainSettings) -> tuple[keras.Model, bool]:
    """The ``keras.applications`` backbone of ``settings``, without its top, average-pooled.

    It takes ``(height, width, 3)`` images preprocessed for it (see the ``BackboneInput``
    layer). With weights (a local file, or ``"imagenet"``, which Keras downloads once into
    :func:`keras_cache_dir`) it is frozen; otherwise it starts from random weights.

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
    application = _application(settings.architecture)
    weights = _weights_file(settings)
    height, width = settings.image_size
    imagenet = weights == IMAGENET
    try:
        backbone = application(
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
    if weights is None:
        return backbone, False
    if not imagenet:
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
    backbone.trainable = False
    return backbone, True


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
    keras = _keras()
    if n_classes < 2:
        raise InvalidSettingsError(f"a classifier needs at least 2 classes, got {n_classes}")
    regularizer = keras.regularizers.L2(settings.l2) if settings.l2 > 0 else None
    height, width = settings.image_size
    inputs = keras.Input((height, width, settings.channels), name="image")
    x = inputs
    for layer in _augmentation_layers(settings, data_augments):
        x = layer(x)

    if settings.architecture == RESNET_SMALL:
        from relabel.training.resnet import resnet_small

        x = resnet_small(keras, x, regularizer)
    elif settings.architecture == SMALL_CNN:
        # Three conv blocks; more (up to six) for big images, so the last feature map
        # is at most about 8 pixels on its short side.
        filters = (32, 64, 128, 128, 256, 256)
        side = min(height, width)
        blocks = 0
        while blocks < 3 or (side > 8 and blocks < len(filters)):
            x = keras.layers.Conv2D(
                filters[blocks],
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
        x = keras.layers.GlobalAveragePooling2D()(x)
    else:
        x = _backbone_input_layer()(settings.architecture, name="backbone_input")(x)
        backbone, frozen = build_backbone(settings)
        x = backbone(x, training=False) if frozen else backbone(x)

    if settings.dropout > 0:
        x = keras.layers.Dropout(settings.dropout)(x)
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", kernel_regularizer=regularizer, name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name=settings.architecture.lower())


def _learning_rate(settings: TrainSettings, total_steps: int) -> Any:
    """The learning rate or built-in Keras schedule of ``settings`` over ``total_steps``."""
    schedules = _keras().optimizers.schedules
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


def _compile(model: keras.Model, settings: TrainSettings, total_steps: int = 1) -> None:
    keras = _keras()
    if settings.loss == "focal":
        loss = keras.losses.CategoricalFocalCrossentropy(
            gamma=settings.focal_gamma, label_smoothing=settings.label_smoothing
        )
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=settings.label_smoothing)
    rate = _learning_rate(settings, total_steps)
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


# --------------------------------------------------------------------------- training


def _check_inputs(
    paths: Sequence[Any], labels: Any, n_classes: int
) -> tuple[list[str], np.ndarray]:
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
    _check_files_exist(files)
    return files, y.astype(np.int64)


def _validation_split(
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


def _class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """sklearn's "balanced" weights; classes absent from ``labels`` get weight 1."""
    counts = np.bincount(labels, minlength=n_classes)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {k: float(w) for k, w in enumerate(weights)}


@contextlib.contextmanager
def _quiet_keras_warnings() -> Iterator[None]:
    """Hide warnings Keras raises about itself, not about the user's data or settings."""
    with warnings.catch_warnings():
        # e.g. "shuffle=True was passed, but will be ignored" for tf.data input.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"keras\.")
        # numpy 2 about TensorFlow's __array__ (keras get_weights/set_weights).
        warnings.filterwarnings(
            "ignore", message=r"__array__ implementation doesn't accept a copy keyword"
        )
        yield


@functools.cache
def _progress_callback_class() -> type:
    keras = _keras()

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
        The images of ``paths`` already decoded by :func:`decode_images`; decoded here
        (once, to a temporary file) when None and ``settings.cache_images`` is on.

    Returns
    -------
    tuple[keras.Model, FitInfo]
        The trained model (weights of the best validation epoch) and what happened.

    Raises
    ------
    TrainingError
        Bad inputs, a missing or unreadable image, or a failed fit.
    """
    files, y = _check_inputs(paths, labels, n_classes)
    check_settings(settings)
    seed = settings.seed if seed is None else seed
    with _images_of(files, settings, images, progress) as source:
        return _fit(source, y, np.arange(len(y)), n_classes, settings, seed, tag, progress)


def _fit(
    source: _Images,
    y: np.ndarray,
    positions: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    seed: int,
    tag: str,
    progress: Progress | None,
) -> tuple[keras.Model, FitInfo]:
    """Train one model on the images of ``source`` at ``positions`` (labels ``y``)."""
    keras = _keras()
    started = time.perf_counter()
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    y_here = y[positions]
    fit_rel, val_rel = _validation_split(y_here, settings.validation_fraction, seed)
    fit_pos, val_pos = positions[fit_rel], positions[val_rel]
    train_ds = source.dataset(fit_pos, y, n_classes, settings, training=True, seed=seed)
    val_ds = (
        source.dataset(val_pos, y, n_classes, settings, training=False, seed=seed)
        if len(val_pos)
        else None
    )
    model = build_model(n_classes, settings, data_augments=source.array is not None)
    steps = math.ceil(len(fit_pos) / settings.batch_size) * settings.epochs
    _compile(model, settings, steps)

    reporter = _progress_callback_class()(tag, settings.epochs, progress, len(fit_pos))
    callbacks: list[Any] = [reporter]
    stopper = None
    if val_ds is not None:
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=settings.patience, restore_best_weights=True
        )
        callbacks.append(stopper)
    class_weight = (
        _class_weights(y[fit_pos], n_classes) if settings.class_weight == "balanced" else None
    )

    with _naming_bad_images(source.files, settings), _quiet_keras_warnings():
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=settings.epochs,
            class_weight=class_weight,
            callbacks=callbacks,
            verbose=0,
        )

    history = reporter.history
    best = len(history) - 1
    if stopper is not None and history:
        best = int(stopper.best_epoch)
    kept = history[best] if history else {}
    info = FitInfo(
        n_train=len(fit_pos),
        n_val=len(val_pos),
        epochs_run=len(history),
        best_epoch=best + 1,
        train_loss=kept.get("loss", math.nan),
        train_accuracy=kept.get("acc", math.nan),
        val_loss=kept.get("val_loss") if stopper is not None else None,
        val_accuracy=kept.get("val_acc") if stopper is not None else None,
        seconds=time.perf_counter() - started,
        images_per_second=reporter.images_per_second(),
    )
    return model, info


def _views(settings: TrainSettings) -> list[Callable[[Any], Any]]:
    """The test-time views of a batch: itself, then its flips when ``settings.tta``."""
    tf = _tf()
    views: list[Callable[[Any], Any]] = [lambda x: x]
    if settings.tta and settings.flip in ("horizontal", "horizontal_and_vertical"):
        views.append(lambda x: tf.reverse(x, axis=[2]))
    if settings.tta and settings.flip in ("vertical", "horizontal_and_vertical"):
        views.append(lambda x: tf.reverse(x, axis=[1]))
    if settings.tta and settings.flip == "horizontal_and_vertical":
        views.append(lambda x: tf.reverse(x, axis=[1, 2]))
    return views


def _predict(
    model: keras.Model, source: _Images, positions: np.ndarray, settings: TrainSettings
) -> np.ndarray:
    """Probabilities of the images at ``positions``, averaged over the test-time views."""
    n_classes = int(model.output_shape[-1])
    if not len(positions):
        return np.zeros((0, n_classes), np.float32)
    total = np.zeros((len(positions), n_classes), np.float64)
    views = _views(settings)
    for view in views:
        ds = source.dataset(positions, None, n_classes, settings, training=False, seed=0)
        with _naming_bad_images(source.files, settings), _quiet_keras_warnings():
            total += model.predict(ds.map(view), verbose=0)
    return np.asarray(total / len(views), dtype=np.float32)


def predict_batch(model: keras.Model, x: np.ndarray, settings: TrainSettings) -> np.ndarray:
    """Probabilities of a batch of images (float32 in [0, 1]), averaged over the views.

    What :func:`_predict` computes for images held in memory (the Ray Data workers of
    :mod:`relabel.training.on_ray` predict with it).
    """
    n_classes = int(model.output_shape[-1])
    total = np.zeros((len(x), n_classes), np.float64)
    views = _views(settings)
    with _quiet_keras_warnings():
        for view in views:
            total += model.predict(view(x), batch_size=settings.batch_size, verbose=0)
    return np.asarray(total / len(views), dtype=np.float32)


def _seeds(settings: TrainSettings, fold: int) -> list[int]:
    """Seeds of the ensemble members of fold ``fold`` (0-based)."""
    return [settings.seed + fold + 1000 * member for member in range(settings.ensemble)]


def cross_validated_probabilities(
    paths: Sequence[str | os.PathLike[str]],
    labels: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    progress: Progress | None = None,
    *,
    images: np.ndarray | None = None,
    runner: FoldRunner | None = None,
    checkpoints: Path | None = None,
) -> CrossValResult:
    """Out-of-fold class probabilities of every sample by stratified K-fold.

    The samples are split by ``StratifiedKFold(settings.folds, shuffle=True,
    random_state=settings.seed)``. For fold ``k`` a model is trained (seed
    ``settings.seed + k``; ``settings.ensemble`` models of seeds ``+ 1000`` apart) on the
    other folds, minus a stratified validation slice used for early stopping, and
    predicts the held-out fold (averaged over the ensemble and the test-time flips).
    Every sample is predicted exactly once, by models that never saw it.

    Parameters
    ----------
    paths : Sequence[str | os.PathLike]
        Image files.
    labels : numpy.ndarray
        Given integer class of each image, in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    settings : TrainSettings
        Model, training and cross-validation settings.
    progress : relabel.infra.progress.Progress | None
        Called with one line per epoch and per finished fold.
    images : numpy.ndarray | None
        The images of ``paths`` already decoded by :func:`decode_images`; decoded here
        (once, to a temporary file) when None and ``settings.cache_images`` is on.
    runner : FoldRunner | None
        Where the folds run: None, one after another in this process; or another
        executor's runner, such as Ray's (one task per fold, the held-out images
        predicted by Ray Data; see :mod:`relabel.training.on_ray`). Every runner gives
        the same probabilities.
    checkpoints : pathlib.Path | None
        A folder where each fold's result is written as it finishes, and read back by a
        later call on the same data and settings instead of training the fold again
        (:mod:`relabel.training.checkpoints`).

    Returns
    -------
    CrossValResult
        Out-of-fold probabilities and per-fold details.

    Raises
    ------
    TrainingError
        Bad inputs or settings, a missing or unreadable image, or a failed fit.
    FoldFailedError
        A runner's fold failed (named); the folds that finished were saved first.
    WeightsNotFoundError
        The backbone's weights file does not exist.
    """
    files, y = _check_inputs(paths, labels, n_classes)
    check_settings(settings)
    started = time.perf_counter()
    splits = _folds(y, settings)
    saved = FoldCheckpoints(checkpoints, fingerprint(files, y, n_classes, settings))
    done: dict[int, tuple[FoldInfo, np.ndarray]] = {}
    for k, (_, heldout_idx) in enumerate(splits):
        found = saved.load(k, heldout_idx)
        if found is not None:
            done[k] = (_fold_info(found[1]), found[0])
            count(progress, "folds", len(done), settings.folds, f"fold {k + 1}: saved, reused")

    def finished(k: int, info: FoldInfo, predicted: np.ndarray) -> None:
        saved.save(k, splits[k][1], predicted, dataclasses.asdict(info))
        done[k] = (info, predicted)
        message = _fold_message(info, settings.folds)
        if progress is None:
            logger.info(message)
        count(progress, "folds", len(done), settings.folds, message)

    pending = [k for k in range(len(splits)) if k not in done]
    if pending and runner is not None:
        try:
            runner(files, y, n_classes, settings, splits, pending, finished, progress, images)
        except FoldFailedError as exc:
            if checkpoints is None:
                raise
            raise FoldFailedError(
                f"{exc}; the finished folds are saved in {saved.folder}: run again to train "
                "only the rest",
                exc.failed,
                exc.finished,
            ) from exc
    elif pending:
        with _images_of(files, settings, images, progress) as source:
            for k in pending:
                train_idx, heldout_idx = splits[k]
                finished(
                    k,
                    *_cross_validate_fold(
                        source, y, n_classes, settings, k, train_idx, heldout_idx, progress
                    ),
                )
        _keras().backend.clear_session()
    return _assemble(splits, done, y, n_classes, started)


def _assemble(
    splits: list[tuple[np.ndarray, np.ndarray]],
    done: dict[int, tuple[FoldInfo, np.ndarray]],
    y: np.ndarray,
    n_classes: int,
    started: float,
) -> CrossValResult:
    """The out-of-fold result from every fold's held-out probabilities."""
    probabilities = np.full((len(y), n_classes), np.nan, dtype=np.float32)
    fold_of_sample = np.zeros(len(y), dtype=np.int32)
    for k, (_, heldout_idx) in enumerate(splits):
        probabilities[heldout_idx] = done[k][1]
        fold_of_sample[heldout_idx] = k + 1
    if np.isnan(probabilities).any() or (fold_of_sample == 0).any():
        raise TrainingError("internal error: some samples were not predicted by any fold")
    return CrossValResult(
        probabilities=probabilities,
        fold_of_sample=fold_of_sample,
        folds=tuple(done[k][0] for k in range(len(splits))),
        accuracy=float(np.mean(probabilities.argmax(axis=1) == y)),
        seconds=time.perf_counter() - started,
    )


def _fold_info(saved: dict[str, Any]) -> FoldInfo:
    """A :class:`FoldInfo` from its saved JSON form."""
    return FoldInfo(**{**saved, "fit": FitInfo(**saved["fit"])})


def _folds(y: np.ndarray, settings: TrainSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, held-out) positions of each fold, stratified and seeded."""
    from sklearn.model_selection import StratifiedKFold

    n = len(y)
    if settings.folds > n:
        raise InvalidSettingsError(f"cannot split {n} images into {settings.folds} folds")
    splitter = StratifiedKFold(n_splits=settings.folds, shuffle=True, random_state=settings.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            splits = list(splitter.split(np.zeros(n), y))
        except ValueError as exc:
            raise InvalidSettingsError(f"cannot make {settings.folds} folds: {exc}") from exc
    for warning in caught:
        logger.warning("%s", warning.message)
    return splits


def _cross_validate_fold(
    source: _Images,
    y: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    k: int,
    train_idx: np.ndarray,
    heldout_idx: np.ndarray,
    progress: Progress | None,
) -> tuple[FoldInfo, np.ndarray]:
    """Train fold ``k``'s model(s) and predict its held-out samples."""
    fold_started = time.perf_counter()
    predicted = np.zeros((len(heldout_idx), n_classes), np.float64)
    fits = []
    for model, fit_info in _fold_models(source, y, n_classes, settings, k, train_idx, progress):
        predicted += _predict(model, source, heldout_idx, settings)
        fits.append(fit_info)
        del model
    predicted = (predicted / len(fits)).astype(np.float32)
    seconds = time.perf_counter() - fold_started
    return fold_done(k, y[heldout_idx], predicted, fits, seconds), predicted


def _fold_models(
    source: _Images,
    y: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    k: int,
    train_idx: np.ndarray,
    progress: Progress | None,
) -> Iterator[tuple[keras.Model, FitInfo]]:
    """Fit fold ``k``'s model(s) (one per ensemble member), one after another."""
    tag = f"fold {k + 1}/{settings.folds}"
    seeds = _seeds(settings, k)
    for member, seed in enumerate(seeds):
        member_tag = tag if len(seeds) == 1 else f"{tag} model {member + 1}/{len(seeds)}"
        yield _fit(source, y, train_idx, n_classes, settings, seed, member_tag, progress)


def fold_done(
    k: int,
    heldout_labels: np.ndarray,
    predicted: np.ndarray,
    fits: Sequence[FitInfo],
    seconds: float,
) -> FoldInfo:
    """The :class:`FoldInfo` of a finished fold that took ``seconds`` (fit and prediction)."""
    return FoldInfo(
        fold=k + 1,
        n_heldout=len(heldout_labels),
        heldout_accuracy=float(np.mean(predicted.argmax(axis=1) == heldout_labels)),
        fit=fits[0],
        seconds=seconds,
        members=len(fits),
    )


def _fold_message(info: FoldInfo, folds: int) -> str:
    fit = info.fit
    return (
        f"fold {info.fold}/{folds}: done in {info.seconds:.1f} s, {fit.epochs_run} epochs "
        f"(best {fit.best_epoch}), {fit.images_per_second:.0f} img/s, "
        f"held-out accuracy {info.heldout_accuracy:.4f}"
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
        The images of ``paths`` already decoded by :func:`decode_images`.

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


def _write_atomically(out_path: Path, data: bytes) -> None:
    """Write ``data`` to ``out_path``: aside first, then renamed."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.stem + ".partial" + out_path.suffix)
    try:
        partial.write_bytes(data)
        os.replace(partial, out_path)
    except OSError as exc:
        raise TrainingError(f"cannot save model to {out_path}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


def load_model(model_path: Path) -> keras.Model:
    """Load a ``.keras`` file written by :func:`save_model` (without its optimizer).

    Raises
    ------
    TrainingError
        The file does not exist or cannot be loaded.
    """
    keras = _keras()
    if not Path(model_path).is_file():
        raise TrainingError(f"model file {model_path} does not exist")
    _backbone_input_layer()  # registers the custom layer for loading
    try:
        with _quiet_keras_warnings():
            return keras.models.load_model(model_path, compile=False)
    except Exception as exc:
        raise TrainingError(f"cannot load model file {model_path}: {exc}") from exc


def save_model(model: keras.Model, out_path: Path) -> None:
    """Save ``model`` to ``out_path`` (``.keras``) atomically: written aside, then renamed.

    Raises
    ------
    TrainingError
        The file cannot be written.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.stem + ".partial.keras")
    try:
        with _quiet_keras_warnings():
            model.save(partial)
        os.replace(partial, out_path)
    except OSError as exc:
        raise TrainingError(f"cannot save model to {out_path}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    logger.info("saved model to %s", out_path)


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
        A ``.keras`` file written by :func:`train_final_model`, or a model.
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
    keras = _keras()
    if isinstance(model_path, keras.Model):
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
    _check_files_exist(files)
    if progress is not None:
        progress(f"predicting {len(files)} images")
    return _predict(model, _Images(files), np.arange(len(files)), settings)
