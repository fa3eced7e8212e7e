"""TensorFlow and Keras, imported lazily and quietly: the only import of either in relabel.

Importing :mod:`relabel.training` is cheap: TensorFlow and Keras are imported the first
time a function needs them (:func:`import_keras`), so ``relabel --help`` and the commands
that never train stay fast. That first import turns on TensorFlow's op determinism (a
process-wide setting) and drops TensorFlow's start-up notices from stderr.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from relabel.errors import TrainingError

__all__ = [
    "import_keras",
    "keras_cache_dir",
    "keras_module",
    "quiet_keras_warnings",
    "tf_module",
]

# Lines TensorFlow writes to the stderr file descriptor while it is imported that say
# nothing useful to a relabel user; every other line is passed through.
_IMPORT_NOISE = (
    "oneDNN custom operations are on",
    "All log messages before absl::InitializeLog() is called",
)


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

    Raises
    ------
    TrainingError
        ``KERAS_BACKEND`` names another backend than TensorFlow.
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


def tf_module() -> Any:
    """The ``tensorflow`` module (imported by :func:`import_keras`)."""
    return import_keras()[0]


def keras_module() -> Any:
    """The ``keras`` module (imported by :func:`import_keras`)."""
    return import_keras()[1]


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights (``$KERAS_HOME/models``, default ``~/.keras``).

    ``KERAS_HOME`` is read by Keras when it is imported; where that folder is not
    writable Keras falls back to ``/tmp/.keras``.
    """
    import_keras()
    from keras.src.backend import config as keras_config

    home = os.path.expanduser(keras_config.keras_home())
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return Path(home) / "models"


@contextlib.contextmanager
def quiet_keras_warnings() -> Iterator[None]:
    """Hide warnings Keras raises about itself, not about the user's data or settings."""
    with warnings.catch_warnings():
        # e.g. "shuffle=True was passed, but will be ignored" for tf.data input.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"keras\.")
        # numpy 2 about TensorFlow's __array__ (keras get_weights/set_weights).
        warnings.filterwarnings(
            "ignore", message=r"__array__ implementation doesn't accept a copy keyword"
        )
        yield
