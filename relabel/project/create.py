"""Creating a project from a dataset (``relabel init``) and opening an existing one.

:func:`init_project` validates every row before anything is written, then writes the
config, the list of skipped rows (with ``skip_invalid``) and the label store, whose
creation is the commit point: an init killed at any moment can simply be run again.

With ``trust_paths`` (``relabel init --trust-paths``) no image is opened: the paths may be
URLs that Label Studio reads (``s3://``, ``gs://``, ``https://``). The store records it
(:data:`TRUSTED_PATHS_META`); such a project is scored on imported runs
(:mod:`relabel.project.imported`), and training refuses URLs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from relabel import config as config_mod
from relabel import data as dataset_mod
from relabel.config import Config, DatasetConfig, TrainingConfig
from relabel.errors import ConfigError, DatasetError, NotWritableError, Problem, ProjectError
from relabel.infra.lock import LOCK_FILE, create_lock_file, project_lock
from relabel.project import names
from relabel.project.runs import RUNS_DIR
from relabel.store import DB_FILE, Store, writable_problem

log = logging.getLogger("relabel.project")  # one logger for the facade

SKIPPED_FILE = "skipped.csv"
#: The store's ``meta`` key of ``dataset.path`` as init read it.
DATASET_PATH_META = "dataset_path"
#: The store's ``meta`` key set to ``"1"`` by ``init --trust-paths`` (no image was opened).
TRUSTED_PATHS_META = "trusted_paths"


@dataclass(frozen=True)
class InitResult:
    """What :meth:`Project.init` did."""

    project_dir: Path
    n_samples: int
    classes: list[str]
    skipped: int
    skipped_file: Path | None


@dataclass(frozen=True)
class InitOptions:
    """The options of ``relabel init`` that override the config (None: keep it)."""

    images: Path | None = None
    manifest: Path | pd.DataFrame | None = None
    classes: list[str] | None = None
    name: str | None = None
    folds: int | None = None
    image_size: list[int] | None = None
    channels: int | None = None
    skip_invalid: bool = False
    check_images: bool = True
    trust_paths: bool = False

    @property
    def frame(self) -> pd.DataFrame | None:
        """The manifest when it was given as a DataFrame."""
        return self.manifest if isinstance(self.manifest, pd.DataFrame) else None


def trusted_paths(store: Store) -> bool:
    """Whether the project was created with ``init --trust-paths`` (no image opened)."""
    return store.get_meta(TRUSTED_PATHS_META) == "1"


def open_parts(root: Path, *, readonly: bool = False) -> tuple[Config, Store]:
    """Load a project's config and open its label store, checking that the classes agree.

    Parameters
    ----------
    root : Path
        The project folder.
    readonly : bool
        Open the label store read-only.

    Returns
    -------
    config, store

    Raises
    ------
    ConfigError, ProjectError
        No ``relabel.toml``, no label store (run ``relabel init``), or ``dataset.classes``
        changed after init.
    """
    config = config_mod.load(root)
    db = root / DB_FILE
    if not db.is_file():
        raise ProjectError(f"{root}: not initialised (no {DB_FILE}); run: relabel init {root}")
    store = Store.open(db, readonly=readonly)
    try:
        _check_fixed_at_init(root, config, store)
    except ConfigError:
        store.close()
        raise
    return config, store


def _check_fixed_at_init(root: Path, config: Config, store: Store) -> None:
    """Refuse a ``relabel.toml`` whose classes or dataset path changed after init: the
    store's samples, labels and image paths were fixed then, and an edit would otherwise
    be silently ignored (a store older than the check has no dataset path recorded)."""
    toml = root / config_mod.CONFIG_FILE
    stored = store.classes
    if stored != config.dataset.classes:
        raise ConfigError(
            f"{toml}: dataset.classes was changed after init "
            f"(now {config.dataset.classes}, the label store has {stored}); classes are "
            f"fixed at init: set dataset.classes back to {stored}"
        )
    path = store.get_meta(DATASET_PATH_META)
    if path is not None and path != config.dataset.path:
        raise ConfigError(
            f"{toml}: dataset.path was changed after init (now {config.dataset.path!r}, "
            f"init read {path!r}); the samples and their image paths were fixed at init, so "
            f"the change would be ignored: set dataset.path back to {path!r} (for images "
            "that moved or a new dataset, create a new project with relabel init)"
        )


def check_writable(root: Path, command: str) -> None:
    """Refuse a command that writes when this process cannot write the project.

    Checked before the lock is taken and the store opened, so that a read-only project (a
    mounted snapshot, files without write permission) is left exactly as it was: the
    folder, the label store, the lock file and ``runs/``.

    Raises
    ------
    NotWritableError
        Naming the folder and what is read-only.
    """
    problem = writable_problem(root / DB_FILE)
    if problem is None:
        parts = (root / LOCK_FILE, root / RUNS_DIR)
        blocked = [p.name for p in parts if p.exists() and not os.access(p, os.W_OK)]
        problem = f"{', '.join(blocked)} read-only" if blocked else None
    if problem is not None:
        raise NotWritableError(
            f"{root} is not writable ({problem}); {command} writes to the project, so "
            "nothing was done. The commands that only read still work: status, export, "
            "history, score, annotators, report --out elsewhere"
        )


@contextmanager
def open_locked(root: Path, command: str) -> Iterator[tuple[Config, Store]]:
    """Take the project's lock, then open it for writing; close and release after.

    The lock comes first: only its holder opens the store read-write, and so only its
    holder migrates an older schema. Before the lock: the folder must be a project (else
    the lock would add a file to a folder that is not one) that this process can write.

    Parameters
    ----------
    root : Path
        The project folder.
    command : str
        What takes the lock (``"relabel train"``), for a process that finds it held.

    Yields
    ------
    config, store

    Raises
    ------
    ConfigError, ProjectError
        Not a project (see :func:`open_parts`).
    NotWritableError
        The project cannot be written (:func:`check_writable`).
    ProjectLockedError
        Another relabel process holds the lock.
    """
    config_mod.load(root)
    if not (root / DB_FILE).is_file():
        raise ProjectError(f"{root}: not initialised (no {DB_FILE}); run: relabel init {root}")
    check_writable(root, command)
    with project_lock(root, command):
        config, store = open_parts(root)
        try:
            yield config, store
        finally:
            store.close()


def _infer_image_shape(path: str) -> tuple[list[int], int]:
    """Default image size and channels from one image: its size clamped to [16, 128]."""
    from PIL import Image

    with Image.open(path) as img:
        width, height = img.size
        channels = 1 if img.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
    clamp = lambda v: int(min(max(v, 16), 128))  # noqa: E731
    return [clamp(height), clamp(width)], channels


def _dataset(
    root: Path, config: Config, opts: InitOptions
) -> tuple[DatasetConfig, TrainingConfig, Path]:
    """The dataset and training sections with the options applied, and the data's path."""
    ds = config.dataset
    if opts.frame is not None:  # no file: dataset.path stays empty
        ds = replace(ds, source="manifest", path="")
    elif opts.images is not None or opts.manifest is not None:
        source = "folder" if opts.images is not None else "manifest"
        ds = replace(ds, source=source, path=str(Path(opts.images or opts.manifest).resolve()))  # type: ignore[arg-type]
    if not ds.path and opts.frame is None:
        raise ConfigError("give --images DIR or --manifest FILE (or dataset.path in relabel.toml)")
    data_path = Path(ds.path) if Path(ds.path).is_absolute() else root / ds.path
    if opts.classes:
        ds = replace(ds, classes=list(opts.classes))
    training = config.training
    if opts.folds is not None:
        training = replace(training, folds=opts.folds)
    return ds, training, data_path


def _validated(
    ds: DatasetConfig, folds: int, data_path: Path, opts: InitOptions
) -> tuple[dataset_mod.Validated, list[Problem]]:
    """Every row loaded and checked; the valid records and the problems, by row.

    Raises
    ------
    DatasetError
        Invalid rows without ``skip_invalid`` (nothing was written).
    """
    if opts.frame is not None:
        records, problems = dataset_mod.read_manifest_frame(opts.frame)
    else:
        records, problems = dataset_mod.load_records(
            images=data_path if ds.source == "folder" else None,
            manifest=data_path if ds.source == "manifest" else None,
        )
    validated = dataset_mod.validate_records(
        records,
        folds=folds,
        classes=ds.classes or None,
        check_images=opts.check_images and not opts.trust_paths,
        max_pixels=ds.max_pixels,
    )
    problems = sorted(problems + validated.problems, key=lambda p: (p.row is None, p.row or 0))
    if problems and not opts.skip_invalid:
        raise DatasetError(
            f"{len(problems)} invalid row(s); nothing was written "
            "(fix them, or pass --skip-invalid to leave them out):",
            problems,
        )
    return validated, problems


def _warn_about_names(
    ds: DatasetConfig, data_path: Path, validated: dataset_mod.Validated, opts: InitOptions
) -> None:
    """Warn about trimmed ids and labels, and labels that differ only by case
    (:mod:`relabel.project.names`), before anything is written."""
    found = []
    if opts.frame is not None:
        found = names.spaced_cells(opts.frame)
    elif ds.source == "manifest":
        found = names.spaced_cells(data_path)
    labels = {r.label for r in validated.records} | set(validated.classes)
    for warning in [*found, *names.case_twins(labels)]:
        log.warning("%s", warning)


def _final_config(
    root: Path,
    config: Config,
    ds: DatasetConfig,
    training: TrainingConfig,
    validated: dataset_mod.Validated,
    opts: InitOptions,
    existing: bool,
) -> Config:
    """The project's config: image size and channels (from the first image for a new
    project, with photo defaults for RGB), the validated classes; checked."""
    first = validated.records[0].path
    size, chans = ds.image_size, ds.channels
    if not existing and not opts.trust_paths:
        size, chans = _infer_image_shape(first)
    elif not existing and Path(first).is_file():  # trusted: a URL is never opened
        try:
            size, chans = _infer_image_shape(first)
        except Exception as exc:  # trusted paths are not checked: keep the defaults
            log.debug("trusted path %s not read (%s): default image size", first, exc)
    ds = replace(ds, image_size=list(opts.image_size or size), channels=opts.channels or chans)
    if not existing and ds.channels == 3:
        model, training = config_mod.photo_defaults(config.model, training)
        config = replace(config, model=model)
    ds = replace(ds, classes=validated.classes)
    config_file = str(root / config_mod.CONFIG_FILE)
    return config_mod.validate(replace(config, dataset=ds, training=training), config_file)


def _write_project(
    root: Path,
    config: Config,
    existing: bool,
    validated: dataset_mod.Validated,
    problems: list[Problem],
    trust_paths: bool = False,
) -> Path | None:
    """Write the skipped rows, the config and the label store, under the project lock.

    Returns
    -------
    Path or None
        The list of skipped rows, if any row was skipped.
    """
    root.mkdir(parents=True, exist_ok=True)
    create_lock_file(root)
    with project_lock(root, "relabel init"):
        if (root / DB_FILE).exists():
            raise ProjectError(f"{root}: already initialised ({DB_FILE} exists)")
        skipped_file = None
        if problems:
            skipped_file = dataset_mod.write_problems(problems, root / SKIPPED_FILE)
            log.warning("skipped %d invalid row(s), listed in %s", len(problems), skipped_file)
        if not existing or config != config_mod.load(root):
            config_mod.save(config, root)
        # The store is the commit point: written whole under a temporary name, then
        # renamed, so an init killed at any moment can simply be run again.
        with Store.create(
            root / DB_FILE,
            validated.classes,
            ((r.sample_id, r.path, r.label) for r in validated.records),
        ) as store:
            store.set_meta(DATASET_PATH_META, config.dataset.path)
            if trust_paths:
                store.set_meta(TRUSTED_PATHS_META, "1")
    return skipped_file


def init_project(root: Path, opts: InitOptions) -> InitResult:
    """Validate a dataset and create a project from it.

    The project folder may already hold a ``relabel.toml`` (a checked-in project such as
    the bundled ``projects/digits``): its ``dataset`` section then says where the data
    is, and the options override it. Nothing is written unless every row is valid, or
    ``opts.skip_invalid`` is set (then the skipped rows go to ``skipped.csv``). A manifest
    given as a DataFrame leaves ``dataset.path`` empty; with ``opts.trust_paths`` no
    image is opened (paths may be URLs) and the store records it.

    Parameters
    ----------
    root : Path
        The project folder (created if missing).
    opts : InitOptions
        The options of ``relabel init``.

    Returns
    -------
    InitResult

    Raises
    ------
    ProjectError
        The project is already initialised.
    DatasetError
        Invalid rows (without ``skip_invalid``) or an unusable dataset.
    ConfigError
        No dataset given, or an invalid config.
    """
    root = Path(root)
    if (root / DB_FILE).exists():
        raise ProjectError(f"{root}: already initialised ({DB_FILE} exists)")
    existing = (root / config_mod.CONFIG_FILE).is_file()
    config = config_mod.load(root) if existing else Config(name=opts.name or root.resolve().name)
    ds, training, data_path = _dataset(root, config, opts)
    validated, problems = _validated(ds, training.folds, data_path, opts)
    _warn_about_names(ds, data_path, validated, opts)
    config = _final_config(root, config, ds, training, validated, opts, existing)
    skipped_file = _write_project(root, config, existing, validated, problems, opts.trust_paths)
    n = len(validated.records)
    return InitResult(root, n, validated.classes, len(problems), skipped_file)
