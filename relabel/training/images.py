"""The images of a fit: the decode cache and the ``tf.data`` datasets that feed Keras.

Every image is decoded by THE decoder, :func:`relabel.data.images.decode_image`, on every
path: the decode cache, the streaming datasets, prediction, embedding and the Ray workers.

By default images are decoded and resized ONCE per run into a uint8 array
(:func:`decode_images`, memory-mapped from a ``.npy`` file, so memory stays flat), and
every epoch of every fold reads batches from it (:func:`array_dataset`); random flips and
shifts are applied to those batches in numpy (:mod:`relabel.training.augment`). With
``TrainSettings.cache_images = False`` the files are decoded again every epoch
(:func:`make_dataset`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relabel.data.images import (
    DECODE_THREADS,
    OnChunk,
    UnreadableImageError,
    decode_image,
    decode_many,
)
from relabel.errors import TrainingError
from relabel.infra.atomic import atomic_path
from relabel.infra.progress import Progress
from relabel.training.augment import flip_and_shift
from relabel.training.keras_env import tf_module
from relabel.training.settings import TrainSettings

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "ImageSource",
    "array_dataset",
    "check_files_exist",
    "decode_files",
    "decode_images",
    "images_of",
    "make_dataset",
    "naming_bad_images",
]

logger = logging.getLogger(__name__)


def check_files_exist(paths: Sequence[str]) -> None:
    """Refuse missing image files, naming the first five.

    Raises
    ------
    TrainingError
        Some files do not exist.
    """
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise TrainingError(f"{len(missing)} image file(s) not found: {shown}")


def decode_files(
    files: Sequence[str],
    settings: TrainSettings,
    into: np.ndarray | None = None,
    *,
    threads: int = DECODE_THREADS,
    on_chunk: OnChunk | None = None,
) -> np.ndarray:
    """Decode ``files`` by THE decoder into ``(n, height, width, channels)`` uint8.

    :func:`relabel.data.images.decode_many` (in ``threads`` threads, in order) at the
    image size, channels and ``max_pixels`` of ``settings``.

    Parameters
    ----------
    files : Sequence[str]
        Image files.
    settings : TrainSettings
        Image size, channels and ``max_pixels``.
    into : numpy.ndarray | None
        The array to fill (a memory-mapped file); a new one when None.
    threads : int
        Threads that read files at once.
    on_chunk : callable, optional
        The hook of :func:`relabel.data.images.decode_many` (e.g. image statistics).

    Raises
    ------
    TrainingError
        A file cannot be decoded (the message names it).
    """
    size, channels = settings.image_size, settings.channels
    try:
        return decode_many(
            files,
            size,
            channels,
            settings.max_pixels,
            into=into,
            threads=threads,
            on_chunk=on_chunk,
        )
    except UnreadableImageError as exc:
        raise TrainingError(str(exc)) from exc


def decode_images(
    paths: Sequence[str | os.PathLike[str]],
    settings: TrainSettings,
    out: Path | None = None,
    progress: Progress | None = None,
    on_chunk: OnChunk | None = None,
) -> np.ndarray:
    """Decode and resize every image once into a uint8 array: the decode cache.

    The array is ``(n, height, width, channels)`` uint8, row ``i`` the image of
    ``paths[i]`` exactly as training would read it (times 255). With ``out`` it is
    written to that ``.npy`` file chunk by chunk and returned memory-mapped read-only,
    so memory stays flat whatever the number of images; without ``out`` it is held in
    memory.

    Parameters
    ----------
    paths : Sequence[str | os.PathLike]
        Image files (PNG, JPEG, BMP or GIF).
    settings : TrainSettings
        Image size, channels and ``max_pixels``.
    out : pathlib.Path | None
        The ``.npy`` file to write (atomically: aside, then renamed).
    progress : relabel.infra.progress.Progress | None
        Called with one line when decoding starts and one when it ends.
    on_chunk : callable, optional
        The hook of :func:`relabel.data.images.decode_many` (e.g. image statistics).

    Returns
    -------
    numpy.ndarray
        The decoded images (a ``numpy.memmap`` with ``out``).

    Raises
    ------
    TrainingError
        A file is missing or cannot be decoded (the message names it).
    """
    files = [os.fspath(p) for p in paths]
    check_files_exist(files)
    shape = (len(files), *settings.image_size, settings.channels)
    started = time.perf_counter()
    if progress is not None:
        progress(f"decoding {len(files)} images once to {shape[1]}x{shape[2]}x{shape[3]}")
    if out is None:
        array = decode_files(files, settings, on_chunk=on_chunk)
    else:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as partial:
            filling = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
            decode_files(files, settings, into=filling, on_chunk=on_chunk)
            filling.flush()
            del filling
        array = np.load(out, mmap_mode="r")
    message = f"decoded {len(files)} images in {time.perf_counter() - started:.1f} s"
    (progress or logger.info)(message)
    return array


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
    the file paths and integer labels are held in memory; each batch's files are read
    and decoded (:func:`decode_files`) as it is needed, batches in parallel, in a
    deterministic order.

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
    tf = tf_module()
    files = [os.fspath(p) for p in paths]
    names = tf.constant(files, dtype=tf.string)
    if labels is None:
        ds = tf.data.Dataset.from_tensor_slices(names)
    else:
        y = np.asarray(labels)
        if y.shape != (len(files),):
            raise TrainingError(f"got {len(files)} image paths but labels of shape {y.shape}")
        ds = tf.data.Dataset.from_tensor_slices((names, tf.constant(y.astype(np.int32))))
    if training and files:
        seed = settings.seed if shuffle_seed is None else shuffle_seed
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(settings.batch_size)
    load = _batch_loader(settings)
    if labels is None:
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(
            lambda names, y: (load(names), tf.one_hot(y, n_classes, dtype=tf.float32)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def _batch_loader(settings: TrainSettings) -> Any:
    """A ``tf.data`` function: a batch of file names to float32 images in [0, 1]."""
    tf = tf_module()
    shape = (None, *settings.image_size, settings.channels)

    def decode(names: np.ndarray) -> np.ndarray:
        # One thread: tf.data already decodes batches in parallel.
        return decode_files([name.decode() for name in names], settings, threads=1)

    def load(names: Any) -> Any:
        images = tf.numpy_function(decode, [names], tf.uint8, stateful=False)
        images.set_shape(shape)
        return tf.cast(images, tf.float32) / 255.0

    return load


def _find_unreadable(paths: Sequence[str], settings: TrainSettings) -> tuple[str, str] | None:
    """Decode images one by one (only after a pipeline failed) to name the culprit."""
    for path in paths:
        try:
            decode_image(path, settings.image_size, settings.channels, settings.max_pixels)
        except UnreadableImageError as exc:
            return path, exc.reason
    return None


@contextlib.contextmanager
def naming_bad_images(paths: Sequence[str], settings: TrainSettings) -> Iterator[None]:
    """Turn TensorFlow's anonymous pipeline errors into a TrainingError naming the file.

    An image that cannot be decoded inside a ``tf.data`` pipeline surfaces as a
    TensorFlow error that does not say which file; the files are then decoded one by one
    to find it.
    """
    tf = tf_module()
    try:
        yield
    except tf.errors.OpError as exc:
        file_errors = (
            tf.errors.InvalidArgumentError,
            tf.errors.NotFoundError,
            tf.errors.PermissionDeniedError,
            tf.errors.DataLossError,
            tf.errors.UnknownError,
        )
        found = _find_unreadable(paths, settings) if isinstance(exc, file_errors) else None
        if found is None:
            raise TrainingError(f"TensorFlow failed: {exc.message.strip()}") from exc
        path, reason = found
        raise TrainingError(f"cannot read image {path}: {reason}") from exc


@dataclass(frozen=True)
class ImageSource:
    """The images of a fit: their files, and the decoded array when images are cached.

    Attributes
    ----------
    files : list[str]
        The image files.
    array : numpy.ndarray | None
        Their decode cache (:func:`decode_images`), or None to stream the files.
    """

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
        return array_dataset(self.array, positions, y, n_classes, settings, training, seed)


def array_dataset(
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
    tf = tf_module()
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
def images_of(
    files: list[str],
    settings: TrainSettings,
    images: np.ndarray | None,
    progress: Progress | None,
) -> Iterator[ImageSource]:
    """The images of ``files``: ``images`` if given, else decoded to a temporary cache.

    Raises
    ------
    TrainingError
        ``images`` does not have the shape of ``files`` at ``settings``.
    """
    if images is not None:
        expected = (len(files), *settings.image_size, settings.channels)
        if tuple(images.shape) != expected:
            raise TrainingError(
                f"decoded images have shape {tuple(images.shape)}, expected {expected}"
            )
        yield ImageSource(files, images)
    elif not settings.cache_images:
        yield ImageSource(files)
    else:
        with tempfile.TemporaryDirectory(prefix="relabel-images-") as tmp:
            array = decode_images(files, settings, Path(tmp) / "images.npy", progress)
            try:
                yield ImageSource(files, array)
            finally:
                del array
