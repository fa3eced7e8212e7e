"""The Ray executor: a Ray task per fold, Ray Data over the images.

With ``training.executor = "ray"`` (:class:`relabel.training.executor.Executor`):

* each pending fold of a cross-validation is one Ray task with the resources of
  ``training.ray_resources``, retried by Ray when its worker process dies; it returns the
  fold's trained model(s), which stay in Ray's object store;
* each fold's held-out images are then predicted by Ray Data (``map_batches`` over the
  image list, as tasks in Ray's pooled worker processes, each of which loads the fold's
  models once; :mod:`relabel.training.ray_data`), probabilities and embeddings in one
  pass, as soon as the fold is trained, and the fold's result is handed back (and
  saved, see :mod:`relabel.training.checkpoints`) while the other folds still train;
* the final model is one more Ray task; embedding (``model.mode = "embed"``) is Ray Data.

The workers compute exactly what the local executor computes: the same functions of
:mod:`relabel.training`, the same seeds, the same decoded images (read from the run's
decode cache when the worker can read it, decoded again on the worker when it cannot).
The images must be readable by every worker at the same path (a shared file system
mounted at the same place on every node); :func:`check_workers_can_read` asks every node
before any work is sent and refuses with a clear error.

The three entry points have the signatures of their local counterparts plus the
executor: :func:`cross_validated_probabilities` (the folds; the local
:func:`relabel.training.cross_validated_probabilities` with a Ray fold runner, so saving
and reusing finished folds is the same code), :func:`train_final_model` and
:func:`embed_images`. Ray is the optional extra ``relabel[ray]``, imported when one of
them runs; without it they raise :class:`~relabel.errors.TrainingError` saying how to
install it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relabel.errors import ExecutorUnavailableError, TrainingError
from relabel.infra import failpoints
from relabel.infra.progress import Progress
from relabel.training import crossval
from relabel.training import embed as embed_mod
from relabel.training.crossval import CrossValResult, Finished, FoldFailedError
from relabel.training.executor import Executor
from relabel.training.fit import FitInfo, check_inputs, fit_positions
from relabel.training.model_io import write_model_file
from relabel.training.models import check_settings, weights_file
from relabel.training.ray_data import (
    LOADED,
    cache_of,
    embed_batch,
    env_options,
    map_images,
    model_bytes,
    predict,
    worker_images,
)
from relabel.training.settings import InvalidSettingsError

__all__ = [
    "FoldsOnRay",
    "check_ready",
    "check_workers_can_read",
    "connect",
    "cross_validated_probabilities",
    "embed_images",
    "predict",
    "train_final_model",
]

#: Image files every node checks before any work is sent to the cluster.
CHECK_SAMPLE = 16
SHARED_PATHS = (
    'with training.executor = "ray" the images, the weights file and the project folder '
    "must be readable by every Ray worker at the same path (a shared file system mounted "
    "at the same place on every node), and relabel[ray] installed on every node"
)

logger = logging.getLogger(__name__)


def import_ray() -> Any:
    """Import Ray, or say how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ExecutorUnavailableError(
            'training.executor = "ray" needs Ray: pip install "relabel[ray]"'
        ) from exc
    return ray


def connect(executor: Executor) -> Any:
    """Ray, connected to the executor's cluster (a local one started when none is named).

    Returns
    -------
    module
        The ``ray`` module, initialised. A Ray already initialised in this process (by the
        caller, a notebook, a test) is used as it is.
    """
    ray = import_ray()
    if not ray.is_initialized():
        _init(ray, executor.address or "local")
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


def _init(ray: Any, address: str) -> None:
    """Start a new local Ray (``"local"``, whatever ``RAY_ADDRESS`` says) or join a
    cluster, quietly."""
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError by version
        where = "a local Ray" if address == "local" else f"the Ray cluster at {address}"
        raise ExecutorUnavailableError(
            f"cannot start or reach {where} (training.ray_address): {exc}"
        ) from exc


def _shared(path: str) -> str:
    """A path as every worker must see it: absolute."""
    return os.path.abspath(path)


def _unreadable(paths: Sequence[str]) -> list[str]:
    """The paths this worker cannot read (a Ray task, run on each node)."""
    return [path for path in paths if not os.access(path, os.R_OK)]


def check_workers_can_read(ray: Any, paths: Sequence[str], executor: Executor) -> None:
    """Ask every alive Ray node whether it can read a sample of ``paths``.

    Raises
    ------
    relabel.errors.ExecutorUnavailableError
        A node cannot read one of them: the message names the node and the file.
    """
    if not paths:
        return
    picks = np.unique(np.linspace(0, len(paths) - 1, min(CHECK_SAMPLE, len(paths))).astype(int))
    sample = [paths[i] for i in picks]
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    task = ray.remote(_unreadable)
    refs = [
        task.options(
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
            **env_options(executor),
        ).remote(sample)
        for n in nodes
    ]
    for node, ref in zip(nodes, refs, strict=True):
        where = node.get("NodeManagerAddress", node["NodeID"])
        try:
            missing = ray.get(ref)
        except Exception as exc:  # relabel not importable there, the node lost, ...
            raise ExecutorUnavailableError(
                f"the Ray node {where} cannot run relabel's check ({_why(exc, executor)}): "
                f"{SHARED_PATHS}"
            ) from exc
        if missing:
            raise ExecutorUnavailableError(
                f"the Ray worker on node {where} cannot read {missing[0]} ({len(missing)} "
                f"of the {len(sample)} files checked there): {SHARED_PATHS}"
            )


def check_ready(
    executor: Executor, paths: Sequence[str | os.PathLike[str]], settings: Any
) -> tuple[Any, list[str]]:
    """Connect to the executor's Ray and check that every node reads the images.

    What each entry point does first; a caller that must not write anything before
    knowing (``relabel train``) calls it up front.

    Returns
    -------
    ray, files
        The ``ray`` module, connected, and the image paths as the workers read them
        (absolute).

    Raises
    ------
    relabel.errors.ExecutorUnavailableError
        Ray is not installed, or a node cannot read the images or the weights file.
    TrainingError
        The cluster cannot be reached.
    """
    ray = connect(executor)
    files = [_shared(os.fspath(p)) for p in paths]
    check_workers_can_read(ray, _with_weights(files, settings), executor)
    return ray, files


# --------------------------------------------------------------------------- Ray tasks


def _train_fold(
    files: list[str],
    y: np.ndarray,
    n_classes: int,
    settings: Any,
    k: int,
    train_idx: np.ndarray,
    cache: str | None,
) -> tuple[list[bytes], tuple[list[FitInfo], float]]:
    """Fit fold ``k``'s model(s) on a worker: ``.keras`` bytes, fits and seconds."""
    started = time.perf_counter()
    LOADED.clear()  # training clears Keras' session: no model loaded before may outlive it
    epoch = lambda _message: failpoints.hit(f"ray_fold_{k + 1}")  # noqa: E731 (fault tests)
    blobs, fits = [], []
    with worker_images(files, settings, cache) as source:
        for model, info in crossval.fold_models(
            source, y, n_classes, settings, k, train_idx, epoch
        ):
            blobs.append(model_bytes(model))
            fits.append(info)
    return blobs, (fits, time.perf_counter() - started)


def _train_final(
    files: list[str], y: np.ndarray, n_classes: int, settings: Any, cache: str | None
) -> tuple[bytes, FitInfo]:
    """Fit the final model on every image on a worker; return it as ``.keras`` bytes."""
    LOADED.clear()
    with worker_images(files, settings, cache) as source:
        model, info = fit_positions(
            source, y, np.arange(len(y)), n_classes, settings, settings.seed, "final", None
        )
    return model_bytes(model), info


def cross_validated_probabilities(
    paths: Sequence[str | os.PathLike[str]],
    labels: np.ndarray,
    n_classes: int,
    settings: Any,
    progress: Progress | None = None,
    *,
    executor: Executor,
    images: np.ndarray | None = None,
    checkpoints: Path | None = None,
) -> CrossValResult:
    """:func:`relabel.training.cross_validated_probabilities` with each fold a Ray task.

    The same splits, seeds and results as locally; the held-out images of each fold are
    predicted by Ray Data as soon as the fold is trained.

    Raises
    ------
    relabel.training.FoldFailedError
        A fold failed (its worker died more than ``executor.max_retries`` times, or the
        fit raised); it is named, and every other fold was finished (and saved) first.
    TrainingError
        Ray is not installed or not reachable, or a worker cannot read the images.
    """
    return crossval.cross_validated_probabilities(
        paths,
        labels,
        n_classes,
        settings,
        progress,
        images=images,
        runner=FoldsOnRay(executor),
        checkpoints=checkpoints,
    )


class FoldsOnRay:
    """A :data:`relabel.training.FoldRunner`: one Ray task per fold, Ray Data prediction.

    Parameters
    ----------
    executor : Executor
        The cluster, the resources of each fold's task and the retries.
    """

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def __call__(
        self,
        files: list[str],
        y: np.ndarray,
        n_classes: int,
        settings: Any,
        splits: Sequence[tuple[np.ndarray, np.ndarray]],
        pending: Sequence[int],
        finished: Finished,
        progress: Progress | None,
        images: np.ndarray | None = None,
    ) -> None:
        """Train the ``pending`` folds; call ``finished(k, info, probs, embeddings)`` as
        each is done."""
        executor = self.executor
        ray, files = check_ready(executor, files, settings)
        cache = cache_of(images)
        task = ray.remote(_train_fold).options(num_returns=2, **executor.task_options())
        files_ref, y_ref = ray.put(files), ray.put(y)
        submitted: dict[Any, tuple[int, Any]] = {}
        for k in pending:
            blobs, fits = task.remote(files_ref, y_ref, n_classes, settings, k, splits[k][0], cache)
            submitted[fits] = (k, blobs)
        _say(progress, f"{len(pending)} fold(s) sent to Ray, each with {dict(executor.resources)}")
        failed: dict[int, str] = {}
        waiting = list(submitted)
        try:
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1)
                k, blobs = submitted.pop(ready[0])  # the models are freed with the fold
                try:
                    fits, seconds = ray.get(ready[0])
                    started = time.perf_counter()
                    predicted, embeddings = predict(
                        ray, blobs, files, splits[k][1], settings, cache, executor
                    )
                except Exception as exc:  # the fit or the prediction failed, named below
                    failed[k] = _why(exc, executor)
                    _say(progress, f"fold {k + 1}/{settings.folds}: failed on Ray: {failed[k]}")
                    continue
                seconds += time.perf_counter() - started
                info = crossval.fold_done(k, y[splits[k][1]], predicted, fits, seconds)
                finished(k, info, predicted, embeddings)
        finally:
            for ref in waiting:
                ray.cancel(ref, force=True)
        if failed:
            _raise_failed(failed, [k for k in pending if k not in failed], settings.folds)


def _with_weights(files: list[str], settings: Any) -> list[str]:
    """The files every worker must read: the images and a local weights file."""
    weights = weights_file(settings)  # raises WeightsNotFoundError here, named
    if isinstance(weights, Path):
        return [*files, _shared(str(weights))]
    return files


def _why(exc: BaseException, executor: Executor) -> str:
    """What a failed fold's exception says, without Ray's traceback."""
    ray = import_ray()
    if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None:
        return f"{type(exc.cause).__name__}: {exc.cause}"
    if isinstance(exc, ray.exceptions.WorkerCrashedError | ray.exceptions.NodeDiedError):
        attempts = executor.max_retries + 1
        plural = "s" if attempts != 1 else ""
        return f"its worker died ({attempts} attempt{plural}, {type(exc).__name__})"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _raise_failed(failed: dict[int, str], finished: list[int], folds: int) -> None:
    names = "; ".join(f"fold {k + 1}/{folds}: {why}" for k, why in sorted(failed.items()))
    done = ", ".join(str(k + 1) for k in finished) or "none"
    raise FoldFailedError(
        f"{len(failed)} fold(s) failed on Ray: {names} (finished: {done})",
        sorted(failed),
        finished,
    )


def train_final_model(
    paths: Sequence[str | os.PathLike[str]],
    labels: np.ndarray,
    n_classes: int,
    settings: Any,
    out_path: Path,
    progress: Progress | None = None,
    *,
    executor: Executor,
    images: np.ndarray | None = None,
) -> FitInfo:
    """:func:`relabel.training.train_final_model` as one Ray task; the model is saved here.

    Raises
    ------
    TrainingError
        The fit failed on Ray, Ray is not there, or a worker cannot read the images.
    """
    out_path = Path(out_path)
    if out_path.suffix != ".keras":
        raise InvalidSettingsError(f"model file {out_path} must end in .keras")
    files, y = check_inputs(paths, labels, n_classes)
    check_settings(settings)
    ray, files = check_ready(executor, files, settings)
    task = ray.remote(_train_final).options(**executor.task_options())
    _say(progress, f"final model sent to Ray, with {dict(executor.resources)}")
    try:
        blob, info = ray.get(task.remote(files, y, n_classes, settings, cache_of(images)))
    except Exception as exc:
        raise TrainingError(f"the final model failed on Ray: {_why(exc, executor)}") from exc
    write_model_file(out_path, blob)
    return info


def embed_images(
    paths: Sequence[str | os.PathLike[str]],
    settings: Any,
    progress: Progress | None = None,
    *,
    executor: Executor,
    images: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`relabel.training.embed.embed_images` by Ray Data over the image list.

    Returns
    -------
    numpy.ndarray
        ``(n, features)`` float32, row ``i`` the features of ``paths[i]``.
    """
    embed_mod.check_embed_settings(settings)
    ray, files = check_ready(executor, paths, settings)
    _say(progress, f"embedding {len(files)} images with {settings.architecture} on Ray Data")
    kwargs = {"settings": settings, "cache": cache_of(images), "n_images": len(files)}
    return map_images(ray, embed_batch, kwargs, files, np.arange(len(files)), executor)["out"]


def _say(progress: Progress | None, message: str) -> None:
    (progress or logger.info)(message)
