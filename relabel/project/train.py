"""A training run: cross-validated out-of-fold probabilities and a final model.

:func:`train_run` checks the settings and every image before anything is written, then
writes the run under a hidden ``runs/.RUN.partial/`` folder renamed when complete
(:func:`relabel.infra.atomic.atomic_path`), so a failed or killed run leaves no run folder
that looks finished. relabel.training is used only through the names it exports.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel import data as dataset_mod
from relabel.config import Config
from relabel.data.image_stats import IMAGE_STATS_FILE, ImageStatistics, save_image_stats
from relabel.errors import ConfigError
from relabel.infra.allocator import keep_freed_memory
from relabel.infra.atomic import atomic_path, partial_path
from relabel.infra.progress import Progress
from relabel.project.engine import Engine, engine_for
from relabel.project.eta import RunShape, TrainingClock
from relabel.project.pool import pool_samples, predict_pool
from relabel.project.runs import (
    EMBEDDINGS_FILE,
    FINAL_EMBEDDINGS_FILE,
    FOLD_CHECKPOINTS,
    IMAGE_CACHE,
    MODEL_FILE,
    RUNS_DIR,
    new_run_id,
    run_dir,
    settings_dict,
    write_embeddings,
    write_run_files,
)
from relabel.project.samples import active_samples, label_indices
from relabel.store import Store

log = logging.getLogger("relabel.project")  # one logger for the facade


@dataclass(frozen=True)
class TrainResult:
    """What :meth:`Project.train` did."""

    run_id: str
    run_dir: Path
    n_samples: int
    oof_accuracy: float
    oof_macro_f1: float
    seconds: float
    folds: list[dict[str, Any]] = field(default_factory=list)


def _log_progress(message: str) -> None:
    log.info("%s", message)


def train_settings(config: Config, root: Path) -> Any:
    """The :class:`relabel.training.TrainSettings` for a project's config.

    Parameters
    ----------
    config : Config
        The project's config.
    root : Path
        The project folder (relative paths in the config are under it).

    Returns
    -------
    relabel.training.TrainSettings
    """
    from relabel import training

    return training.TrainSettings.from_config(config, root)


def check_images(config: Config, samples: pd.DataFrame, progress: Progress | None = None) -> None:
    """Check that every image to train on is still there and readable, before a run.

    Parameters
    ----------
    config : Config
        The project's config (``dataset.max_pixels``).
    samples : pandas.DataFrame
        The samples to train on (``sample_id``, ``path``).
    progress : callable, optional
        Receives one-line progress messages.

    Raises
    ------
    DatasetError
        Listing every sample whose image is missing, unreadable or too large now
        (nothing was written).
    """
    from relabel.errors import DatasetError, Problem

    paths = samples["path"].tolist()
    if progress is not None:
        progress(f"checking {len(paths)} images")
    reasons = dataset_mod.check_image_files(
        paths, max_pixels=config.dataset.max_pixels, progress=progress
    )
    problems = [
        Problem(f"sample {sid}", f"{why}: {path}", path)
        for sid, path, why in zip(samples["sample_id"], paths, reasons, strict=True)
        if why
    ]
    if problems:
        raise DatasetError(
            f"{len(problems)} image(s) changed since init and cannot be trained on; "
            "nothing was written (restore them, or exclude the samples):",
            problems,
        )


def check_local_files(root: Path, store: Store, samples: pd.DataFrame) -> None:
    """Refuse to train on images that are URLs (``relabel init --trust-paths``), before
    anything is written: relabel decodes local files only.

    Raises
    ------
    ImagesNotLocalError
        Naming how many samples are URLs and the first one, and what to do instead.
    """
    from relabel.errors import ImagesNotLocalError
    from relabel.project.create import trusted_paths

    urls = samples.loc[samples["path"].map(dataset_mod.is_url), ["sample_id", "path"]]
    if urls.empty:
        return
    first = urls.iloc[0]
    how = (
        " (the project was created with relabel init --trust-paths)" if trusted_paths(store) else ""
    )
    raise ImagesNotLocalError(
        f"{root}: {len(urls)} of {len(samples)} active samples have images that are not "
        f"local files{how}, first sample {first['sample_id']} at {first['path']}; relabel "
        "trains on local files only, so nothing was trained or written. "
        "Train your model where the images are and record its out-of-fold probabilities "
        f"with: relabel import-run {root} --probs probs.npy"
    )


@dataclass(frozen=True)
class _Job:
    """What one run fits: the samples' paths and labels, with the run's settings."""

    root: Path
    config: Config
    paths: list[str]
    y: np.ndarray
    settings: Any
    progress: Progress
    final_model: bool
    sample_ids: list[str] = field(default_factory=list)
    pool: pd.DataFrame | None = None

    @property
    def n_classes(self) -> int:
        """The number of classes (the model's outputs)."""
        return len(self.config.dataset.classes)


def _fit_embed(job: _Job, folder: Path, images: Any, engine: Engine) -> tuple[Any, Any]:
    """``model.mode = "embed"``: backbone features (kept as ``embeddings.npy``, float16),
    then a head (fitted on the float32 features)."""
    from relabel.training import embed

    features = engine.embed(job.paths, job.settings, job.progress, images=images)
    write_embeddings(folder / EMBEDDINGS_FILE, features)
    cv = embed.cross_validated_probabilities(
        features, job.y, job.n_classes, job.settings, job.progress
    )
    fit = None
    if job.final_model:
        fit = embed.train_final_model(
            job.paths,
            features,
            job.y,
            job.n_classes,
            job.settings,
            folder / MODEL_FILE,
            job.progress,
        )
    return cv, fit


def _fit(job: _Job, folder: Path) -> tuple[Any, Any]:
    """Cross-validate (and fit the final model) by the config's ``model.mode``.

    The images are decoded once into ``folder/images.npy`` (deleted at the end) and every
    fold reads them from there, their statistics kept as ``folder/image_stats.npz``
    (:mod:`relabel.data.image_stats`). The out-of-fold embeddings the cross-validation
    returns are written by :func:`relabel.project.runs.write_run_files`; in ``embed`` mode
    the backbone's features are kept as ``folder/embeddings.npy`` here.
    """
    from relabel import training

    engine = engine_for(job.config)
    cache = folder / IMAGE_CACHE
    s, progress = job.settings, job.progress
    stats = ImageStatistics(len(job.paths))  # image health, in the same decoding pass
    try:
        images = None
        if s.cache_images:
            images = training.decode_images(job.paths, s, cache, progress, on_chunk=stats)
            save_image_stats(folder / IMAGE_STATS_FILE, np.asarray(job.sample_ids), stats.result())
        if job.config.model.mode == "embed":
            return _fit_embed(job, folder, images, engine)
        checkpoints = job.root / RUNS_DIR / FOLD_CHECKPOINTS
        cv = engine.cross_validate(
            job.paths, job.y, job.n_classes, s, progress, images=images, checkpoints=checkpoints
        )
        fit = None
        if job.final_model:
            progress("final model on all samples")
            fit = engine.train_final(
                job.paths, job.y, job.n_classes, s, folder / MODEL_FILE, progress, images=images
            )
            _final_embeddings(job, folder, engine, images)
        return cv, fit
    finally:
        images = None
        cache.unlink(missing_ok=True)


def _final_embeddings(job: _Job, folder: Path, engine: Engine, images: Any) -> None:
    """The final model's embeddings of every sample (one space for all samples, where the
    out-of-fold ones come from one model per fold), as ``final_embeddings.npy``."""
    if engine.final_embeddings is None or not (folder / MODEL_FILE).is_file():
        return
    job.progress("final model: embeddings of every sample")
    _, embeddings = engine.final_embeddings(
        folder / MODEL_FILE, job.paths, job.settings, None, images=images
    )
    if embeddings is not None:
        write_embeddings(folder / FINAL_EMBEDDINGS_FILE, embeddings)


def _write_run(
    job: _Job, store: Store, samples: pd.DataFrame, cycle: int | None
) -> tuple[str, Path, dict[str, Any]]:
    """Record, fit and write one run; return its id, folder and metrics.

    The run is recorded in the store as ``running``, then ``done`` with its metrics, or
    ``failed`` (its partial folder removed) when anything goes wrong, a kill excepted.
    """
    run_id = new_run_id(store)
    folder = run_dir(job.root, run_id)
    partial_path(folder).mkdir(parents=True, exist_ok=True)
    store.start_run(run_id, "train", settings_dict(job.config), cycle)
    started = time.perf_counter()
    try:
        with atomic_path(folder) as partial:
            cv, fit = _fit(job, partial)
            classes = job.config.dataset.classes
            if job.pool is not None and not job.pool.empty:
                job.progress(f"final model: {len(job.pool)} unlabelled samples of the pool")
                engine = engine_for(job.config)
                predict_pool(partial, engine, job.settings, job.pool, classes)
            seconds = time.perf_counter() - started
            metrics = write_run_files(partial, samples, job.y, classes, cv, fit, seconds)
        # Finished folds are kept only for a run that failed, to be reused by the next.
        shutil.rmtree(job.root / RUNS_DIR / FOLD_CHECKPOINTS, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial_path(folder), ignore_errors=True)
        store.finish_run(run_id, {}, status="failed")
        raise
    store.finish_run(run_id, metrics)
    return run_id, folder, metrics


def check_folds(config: Config, samples: pd.DataFrame) -> None:
    """Refuse more cross-validation folds than the smallest class has samples to train on
    (stratified folds need one of each class per fold), before anything is written.

    Raises
    ------
    ConfigError
        Naming ``training.folds``, the smallest class and its count.
    """
    counts = samples["label"].value_counts()
    folds = config.training.folds
    smallest = min(config.dataset.classes, key=lambda c: (int(counts.get(c, 0)), c))
    n = int(counts.get(smallest, 0))
    if n < folds:
        fix = (
            f"set training.folds to at most {n}"
            if n >= 2
            else "a class needs at least 2 samples to be cross-validated"
        )
        raise ConfigError(
            f"training.folds = {folds}, but class {smallest!r} has {n} active sample(s), "
            f"fewer than the folds (each fold holds out some of every class): {fix}"
        )


def clean_stale_runs(root: Path, store: Store, progress: Progress) -> list[str]:
    """Close the runs a killed process left ``running``: marked failed, partial folder
    removed, said through ``progress``. Their finished folds stay for the next run.

    Called by :func:`train_run`, whose caller holds the project lock: no other process can
    be training this project, so a run still ``running`` is one whose process is gone.
    """
    stale = store.running_runs()
    for run_id in stale:
        shutil.rmtree(partial_path(run_dir(root, run_id)), ignore_errors=True)
        store.finish_run(run_id, {"error": "the process was killed"}, status="failed")
        progress(
            f"run {run_id} was left unfinished by a process that was killed: marked failed, "
            "its partial files removed (its finished folds are reused)"
        )
    return stale


def train_run(
    root: Path,
    config: Config,
    store: Store,
    *,
    progress: Progress | None = None,
    cycle: int | None = None,
    final_model: bool = True,
) -> TrainResult:
    """Cross-validate on the current labels and save out-of-fold probabilities.

    Parameters
    ----------
    root : Path
        The project folder.
    config : Config
        Its config.
    store : Store
        Its label store.
    progress : callable, optional
        Receives one-line progress messages (default: logged at INFO).
    cycle : int, optional
        The cycle this run belongs to.
    final_model : bool
        Also fit one model on all samples and save it as ``model.keras``; it predicts the
        unlabelled pool (:mod:`relabel.project.pool`). The folds and the final model train
        on the labelled samples only.

    Returns
    -------
    TrainResult
    """
    keep_freed_memory()  # before the first batch: fewer page faults, less kernel time
    from relabel import training

    progress = progress or _log_progress
    samples = active_samples(store)
    pool = pool_samples(store) if final_model else None  # predicted by the final model
    every = samples if pool is None or pool.empty else pd.concat([samples, pool])
    check_local_files(Path(root), store, every)
    y = label_indices(config.dataset.classes, samples["label"])
    settings = train_settings(config, root)
    training.check_settings(settings)  # before anything is written
    check_folds(config, samples)
    check_images(config, every, progress)
    paths = samples["path"].tolist()
    executor = training.Executor.from_config(config)
    if executor.is_ray:
        from relabel.training import on_ray

        on_ray.check_ready(executor, paths, settings)
    clean_stale_runs(Path(root), store, progress)  # after the checks: they write nothing
    shape = RunShape(settings.folds, settings.epochs, len(samples), final_model, settings.ensemble)
    progress = TrainingClock(progress, shape)  # "about 14 min on this machine", then an ETA
    ids = samples["sample_id"].tolist()
    job = _Job(Path(root), config, paths, y, settings, progress, final_model, ids, pool)
    run_id, folder, metrics = _write_run(job, store, samples, cycle)
    return TrainResult(
        run_id,
        folder,
        len(samples),
        metrics["oof_accuracy"],
        metrics["oof_macro_f1"],
        metrics["seconds"],
        metrics["folds"],
    )
