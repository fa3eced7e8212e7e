"""Saving and loading models as ``.keras`` files, atomically (:mod:`relabel.infra.atomic`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from relabel.errors import TrainingError
from relabel.infra import atomic
from relabel.training.keras_env import keras_module, quiet_keras_warnings
from relabel.training.models import backbone_input_layer

if TYPE_CHECKING:
    import keras

__all__ = ["load_model", "save_model", "write_model_file"]

logger = logging.getLogger(__name__)


def load_model(model_path: Path) -> keras.Model:
    """Load a ``.keras`` file written by :func:`save_model` (without its optimizer).

    Raises
    ------
    TrainingError
        The file does not exist or cannot be loaded.
    """
    keras = keras_module()
    if not Path(model_path).is_file():
        raise TrainingError(f"model file {model_path} does not exist")
    backbone_input_layer()  # registers the custom layer for loading
    try:
        with quiet_keras_warnings():
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
    try:
        with atomic.atomic_path(out_path) as partial, quiet_keras_warnings():
            model.save(partial)
    except OSError as exc:
        raise TrainingError(f"cannot save model to {out_path}: {exc}") from exc
    logger.info("saved model to %s", out_path)


def write_model_file(out_path: Path, data: bytes) -> None:
    """Write a model's ``.keras`` bytes (made elsewhere, e.g. on a Ray worker) atomically.

    Raises
    ------
    TrainingError
        The file cannot be written.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic.write_bytes(out_path, data)
    except OSError as exc:
        raise TrainingError(f"cannot save model to {out_path}: {exc}") from exc
