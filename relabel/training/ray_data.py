"""The worker side of the Ray executor (:mod:`relabel.training.on_ray`) and Ray Data.

What runs on Ray's workers besides a fold's fit: reading the driver's decode cache (or
decoding again), moving models as ``.keras`` bytes, and the Ray Data tasks that predict a
fold's held-out images (probabilities and embeddings, as
:func:`relabel.training.crossval.cross_validate_fold` computes them) or embed images with
a frozen backbone (``model.mode = "embed"``). :func:`map_images` maps such a task over an
image list and gathers its outputs in the list's order.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from relabel.errors import TrainingError
from relabel.training import embed as embed_mod
from relabel.training.executor import Executor
from relabel.training.images import ImageSource, decode_files, images_of
from relabel.training.keras_env import quiet_keras_warnings
from relabel.training.model_io import load_model, save_model
from relabel.training.predict import as_float16, predict_batch

__all__ = [
    "DATA_BATCH",
    "LOADED",
    "cache_of",
    "embed_batch",
    "env_options",
    "map_images",
    "model_bytes",
    "predict",
    "worker_images",
]

#: Rows of one Ray Data batch of prediction or embedding.
DATA_BATCH = 512


def env_options(executor: Executor) -> dict[str, Any]:
    """The Ray options that carry the executor's ``runtime_env`` (none when it has none)."""
    return {"runtime_env": dict(executor.runtime_env)} if executor.runtime_env else {}


def cache_of(images: np.ndarray | None) -> str | None:
    """The decode cache's file, when the images are a memory-mapped ``.npy``."""
    filename = getattr(images, "filename", None)
    return None if filename is None else os.path.abspath(filename)


def _open_cache(cache: str | None, expected: tuple[int, ...]) -> np.ndarray | None:
    """The driver's decode cache, memory-mapped, if this worker reads it with that shape."""
    if cache is None:
        return None
    try:
        array = np.load(cache, mmap_mode="r")
    except (OSError, ValueError):
        return None
    return array if tuple(array.shape) == expected else None


@contextlib.contextmanager
def worker_images(files: list[str], settings: Any, cache: str | None) -> Iterator[ImageSource]:
    """The images on a worker: the driver's decode cache if readable here, else decoded."""
    array = _open_cache(cache, (len(files), *settings.image_size, settings.channels))
    if array is not None and settings.cache_images:
        yield ImageSource(files, array)
        return
    with images_of(files, settings, None, None) as source:
        yield source


def model_bytes(model: Any) -> bytes:
    """A model as the bytes of its ``.keras`` file (what a fold's task returns)."""
    with tempfile.TemporaryDirectory(prefix="relabel-ray-") as tmp:
        path = Path(tmp) / "model.keras"
        save_model(model, path)
        return path.read_bytes()


def _load_model(blob: bytes) -> Any:
    with tempfile.TemporaryDirectory(prefix="relabel-ray-") as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(blob)
        return load_model(path)


#: What a Ray Data task loads once per worker process and reuses for the next batches: the
#: models of the fold being predicted, or the embedding backbone. One entry at a time, so
#: a worker holds one fold's models; cleared before a worker trains (Keras' clear_session).
LOADED: dict[str, Any] = {}


def _loaded(key: str, load: Callable[[], Any]) -> Any:
    """The object ``load`` makes, made once per worker process for ``key``."""
    if key not in LOADED:
        LOADED.clear()
        LOADED[key] = load()
    return LOADED[key]


def _batch_images(
    batch: dict[str, np.ndarray], settings: Any, cache: str | None, n_images: int
) -> np.ndarray:
    """A Ray Data batch's images (``row`` and ``path`` columns) as float32 in [0, 1],
    exactly as the local run reads them: from the decode cache when this worker reads it,
    else decoded here by THE decoder (:func:`relabel.data.images.decode_image`), as the
    decode cache and the streaming pipeline do."""
    array = _open_cache(cache, (n_images, *settings.image_size, settings.channels))
    if array is not None:
        decoded = array[np.asarray(batch["row"])]
    else:
        decoded = decode_files([str(p) for p in batch["path"]], settings)
    return np.asarray(decoded, dtype=np.float32) / 255.0


def _predict_batch(
    batch: dict[str, np.ndarray], blobs: Any, settings: Any, cache: str | None, n_images: int
) -> dict[str, np.ndarray]:
    """Ray Data task: a batch's probabilities by one fold's models and the first model's
    embeddings (``emb``, float16, when it gives them), ensemble and views averaged as
    :func:`relabel.training.crossval.cross_validate_fold` does."""
    import ray

    models = _loaded(blobs.hex(), lambda: [_load_model(blob) for blob in ray.get(blobs)])
    x = _batch_images(batch, settings, cache, n_images)
    total = np.zeros((len(x), int(models[0].output_shape[-1])), np.float64)
    embeddings = None
    for member, model in enumerate(models):
        probs, features = predict_batch(model, x, settings, embed=member == 0)
        total += probs
        embeddings = features if member == 0 else embeddings
    out = {"row": np.asarray(batch["row"]), "out": (total / len(models)).astype(np.float32)}
    return out if embeddings is None else {**out, "emb": as_float16(embeddings)}


def embed_batch(
    batch: dict[str, np.ndarray], settings: Any, cache: str | None, n_images: int
) -> dict[str, np.ndarray]:
    """Ray Data task: the frozen backbone's pooled features of a batch's images."""
    model = _loaded(f"embed {settings!r}", lambda: embed_mod.embedding_model(settings))
    x = _batch_images(batch, settings, cache, n_images)
    with quiet_keras_warnings():
        out = model.predict(x, batch_size=settings.batch_size, verbose=0)
    return {"row": np.asarray(batch["row"]), "out": np.asarray(out, dtype=np.float32)}


# --------------------------------------------------------------------------- driver side


def _data_options(ray: Any, executor: Executor) -> dict[str, Any]:
    """Ray Data options of the prediction and embedding tasks.

    Tasks, not actors: they run in Ray's pooled worker processes, which have TensorFlow
    imported already (they trained the folds) and keep the loaded models between batches
    (:data:`LOADED`), so a fold's prediction costs no process start.
    """
    cpus = float(executor.resources.get("num_cpus", 1) or 0)
    total = float(ray.cluster_resources().get("CPU", 1))
    most = max(1, int(total // cpus)) if cpus else 1
    options: dict[str, Any] = {
        "compute": ray.data.TaskPoolStrategy(size=most),
        **env_options(executor),
    }
    options.update(executor.resources)
    return options


def map_images(
    ray: Any,
    fn: Callable[..., dict[str, np.ndarray]],
    kwargs: dict[str, Any],
    files: list[str],
    rows: np.ndarray,
    executor: Executor,
) -> dict[str, np.ndarray]:
    """Map ``fn`` over the images at ``rows`` with Ray Data.

    Returns
    -------
    dict[str, numpy.ndarray]
        Each column ``fn`` returns besides ``row`` (``out``, and ``emb`` when given),
        its rows in ``rows`` order.

    Raises
    ------
    TrainingError
        Ray Data returned no rows (an internal error).
    """
    import pandas as pd

    rows = np.asarray(rows, dtype=np.int64)
    frame = pd.DataFrame({"row": rows, "path": [files[i] for i in rows]})
    # One block per batch, so that the batches run in parallel (one frame is one block).
    blocks = [frame.iloc[at : at + DATA_BATCH] for at in range(0, len(frame), DATA_BATCH)]
    mapped = ray.data.from_pandas(blocks or [frame]).map_batches(
        fn,
        fn_kwargs=kwargs,
        batch_size=DATA_BATCH,
        batch_format="numpy",
        **_data_options(ray, executor),
    )
    where = {int(r): i for i, r in enumerate(rows)}
    outs: dict[str, np.ndarray] = {}
    for batch in mapped.iter_batches(batch_format="numpy", batch_size=None):
        at = [where[int(r)] for r in batch["row"]]
        for name, values in batch.items():
            if name != "row":
                if name not in outs:
                    outs[name] = np.empty((len(rows), *values.shape[1:]), values.dtype)
                outs[name][at] = values
    if "out" not in outs:
        raise TrainingError("internal error: Ray Data returned no rows")
    return outs


def predict(
    ray: Any,
    blobs: Any,
    files: list[str],
    rows: np.ndarray,
    settings: Any,
    cache: str | None,
    executor: Executor,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities of the images at ``rows`` by the models of ``blobs`` (an object ref),
    and the first model's float16 embeddings of them (None when it gives none)."""
    kwargs = {"blobs": blobs, "settings": settings, "cache": cache, "n_images": len(files)}
    outs = map_images(ray, _predict_batch, kwargs, files, rows, executor)
    return outs["out"], outs.get("emb")
