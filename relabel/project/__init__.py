"""A relabel project: the folder, its config, its label store and its runs.

:class:`Project` is the library facade the CLI calls: :meth:`Project.init` validates a
dataset and creates the project, :meth:`Project.train` computes out-of-fold probabilities
and a final model, :meth:`Project.score` ranks samples, :meth:`Project.status`,
:meth:`Project.export` and :meth:`Project.history` report.

Folder layout::

    PROJECT/relabel.toml      the config (no secrets)
    PROJECT/relabel.db        the SQLite label store
    PROJECT/runs/<run_id>/    oof.npz (out-of-fold probabilities), model.keras, metrics.json
    PROJECT/skipped.csv       rows skipped by ``init --skip-invalid``
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel import config as config_mod
from relabel import data as dataset_mod
from relabel.config import Config
from relabel.errors import ConfigError, NotTrainedError, ProjectError, StoreError
from relabel.infra.lock import create_lock_file, project_lock
from relabel.infra.progress import Progress
from relabel.ranking import scores as scoring
from relabel.review.cycles import cycle_history
from relabel.store import DB_FILE, Store

log = logging.getLogger(__name__)

RUNS_DIR = "runs"
#: The decoded images of a training run (deleted when the run ends).
IMAGE_CACHE = "images.npy"
#: The backbone features of an ``embed`` run.
EMBEDDINGS_FILE = "embeddings.npy"
#: Under ``runs/``: the folds a failed run finished, reused by the next run on the same
#: labels and settings (:mod:`relabel.training.checkpoints`); removed when a run succeeds.
FOLD_CHECKPOINTS = ".folds"
SKIPPED_FILE = "skipped.csv"
SCORE_COLUMNS = [
    "sample_id",
    "path",
    "given_label",
    "predicted_label",
    "p_given",
    "p_predicted",
    "max_confidence",
    "margin",
    "entropy",
    "suspicion",
    "p_error",
    "rank",
    "lane",
]


@dataclass(frozen=True)
class InitResult:
    """What :meth:`Project.init` did."""

    project_dir: Path
    n_samples: int
    classes: list[str]
    skipped: int
    skipped_file: Path | None


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


@dataclass(frozen=True)
class RankedSamples:
    """Scores of the current labels against a run's out-of-fold probabilities.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scored sample (:data:`SCORE_COLUMNS`, in rank order).
    scores : relabel.ranking.scores.Scores
        The raw arrays, in sample (``ord``) order.
    probs : numpy.ndarray
        The out-of-fold probabilities, in sample order.
    run_id : str
        The run the probabilities come from.
    stale : bool
        True when labels changed after that run trained (retrain for fresh probabilities).
    """

    table: pd.DataFrame
    scores: Any
    probs: np.ndarray
    run_id: str
    stale: bool


def _log_progress(message: str) -> None:
    log.info("%s", message)


def _infer_image_shape(path: str) -> tuple[list[int], int]:
    """Default image size and channels from one image: its size clamped to [16, 128]."""
    from PIL import Image

    with Image.open(path) as img:
        width, height = img.size
        channels = 1 if img.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
    clamp = lambda v: int(min(max(v, 16), 128))  # noqa: E731
    return [clamp(height), clamp(width)], channels


def _run_id(store: Store) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-v{store.max_version()}"


class Project:
    """An opened relabel project. Use :meth:`open` or :meth:`init`; close when done."""

    def __init__(self, root: Path, config: Config, store: Store) -> None:
        self.root = Path(root)
        self.config = config
        self.store = store

    # -- life cycle ---------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, *, readonly: bool = False) -> Project:
        """Open an existing project folder.

        Parameters
        ----------
        root : Path
            The project folder.
        readonly : bool
            Open the label store read-only (commands that only read never write).

        Raises
        ------
        ConfigError, ProjectError
            No ``relabel.toml`` or no label store (run ``relabel init``).
        """
        root = Path(root)
        config = config_mod.load(root)
        db = root / DB_FILE
        if not db.is_file():
            raise ProjectError(f"{root}: not initialised (no {DB_FILE}); run: relabel init {root}")
        store = Store.open(db, readonly=readonly)
        stored = store.classes
        if stored != config.dataset.classes:
            store.close()
            raise ConfigError(
                f"{root / config_mod.CONFIG_FILE}: dataset.classes was changed after init "
                f"(now {config.dataset.classes}, the label store has {stored}); classes are "
                f"fixed at init: set dataset.classes back to {stored}"
            )
        return cls(root, config, store)

    def close(self) -> None:
        """Close the label store."""
        self.store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def init(
        cls,
        root: Path,
        *,
        images: Path | None = None,
        manifest: Path | None = None,
        classes: list[str] | None = None,
        name: str | None = None,
        folds: int | None = None,
        image_size: list[int] | None = None,
        channels: int | None = None,
        skip_invalid: bool = False,
        check_images: bool = True,
    ) -> InitResult:
        """Validate a dataset and create a project from it.

        The project folder may already hold a ``relabel.toml`` (a checked-in project such as
        the bundled ``projects/digits``): its ``dataset`` section then says where the data
        is, and options given here override it. Nothing is written unless every row is
        valid, or ``skip_invalid`` is set (then the skipped rows go to ``skipped.csv``).

        Raises
        ------
        ProjectError
            The project is already initialised.
        DatasetError
            Invalid rows (without ``skip_invalid``) or an unusable dataset.
        """
        root = Path(root)
        if (root / DB_FILE).exists():
            raise ProjectError(f"{root}: already initialised ({DB_FILE} exists)")
        config_file = root / config_mod.CONFIG_FILE
        existing = config_file.is_file()
        config = config_mod.load(root) if existing else Config(name=name or root.resolve().name)
        ds = config.dataset
        if images is not None or manifest is not None:
            source = "folder" if images is not None else "manifest"
            ds = replace(ds, source=source, path=str(Path(images or manifest).resolve()))  # type: ignore[arg-type]
        if not ds.path:
            raise ConfigError(
                "give --images DIR or --manifest FILE (or dataset.path in relabel.toml)"
            )
        data_path = Path(ds.path) if Path(ds.path).is_absolute() else root / ds.path
        if classes:
            ds = replace(ds, classes=list(classes))
        training = config.training if folds is None else replace(config.training, folds=folds)
        records, problems = dataset_mod.load_records(
            images=data_path if ds.source == "folder" else None,
            manifest=data_path if ds.source == "manifest" else None,
        )
        validated = dataset_mod.validate_records(
            records,
            folds=training.folds,
            classes=ds.classes or None,
            check_images=check_images,
            max_pixels=ds.max_pixels,
        )
        problems = sorted(problems + validated.problems, key=lambda p: (p.row is None, p.row or 0))
        if problems and not skip_invalid:
            from relabel.errors import DatasetError

            raise DatasetError(
                f"{len(problems)} invalid row(s); nothing was written "
                "(fix them, or pass --skip-invalid to leave them out):",
                problems,
            )
        if existing:
            size, chans = ds.image_size, ds.channels
        else:
            size, chans = _infer_image_shape(validated.records[0].path)
        ds = replace(ds, image_size=list(image_size or size), channels=channels or chans)
        if not existing and ds.channels == 3:
            model, training = config_mod.photo_defaults(config.model, training)
            config = replace(config, model=model)
        ds = replace(ds, classes=validated.classes)
        config = config_mod.validate(
            replace(config, dataset=ds, training=training), str(config_file)
        )
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
            Store.create(
                root / DB_FILE,
                validated.classes,
                ((r.sample_id, r.path, r.label) for r in validated.records),
            ).close()
        return InitResult(
            root, len(validated.records), validated.classes, len(problems), skipped_file
        )

    # -- training ---------------------------------------------------------------------------
    def train_settings(self) -> Any:
        """The :class:`relabel.training.TrainSettings` for this project's config."""
        from relabel import training

        return training.TrainSettings.from_config(self.config, self.root)

    def active_samples(self) -> pd.DataFrame:
        """Current labels of the samples used for training (not excluded), in order."""
        labels = self.store.labels()
        return labels[labels["status"] == "active"].reset_index(drop=True)

    def label_indices(self, labels: pd.Series) -> np.ndarray:
        """Class names to indices in model-output order."""
        index = {c: i for i, c in enumerate(self.config.dataset.classes)}
        return labels.map(index).to_numpy(dtype=np.int64)

    def train(
        self,
        *,
        progress: Progress | None = None,
        cycle: int | None = None,
        final_model: bool = True,
    ) -> TrainResult:
        """Cross-validate on the current labels and save out-of-fold probabilities.

        Parameters
        ----------
        progress : callable, optional
            Receives one-line progress messages (default: logged at INFO).
        cycle : int, optional
            The cycle this run belongs to.
        final_model : bool
            Also fit one model on all samples and save it as ``model.keras``.

        Returns
        -------
        TrainResult
        """
        from relabel import training

        progress = progress or _log_progress
        samples = self.active_samples()
        y = self.label_indices(samples["label"])
        settings = self.train_settings()
        training.check_settings(settings)  # before anything is written
        self.check_images(samples, progress)
        executor = training.Executor.from_config(self.config)
        if executor.is_ray:
            from relabel.training import on_ray

            on_ray.check_ready(executor, samples["path"].tolist(), settings)
        run_id = _run_id(self.store)
        run_dir = self.root / RUNS_DIR / run_id
        # Written under a hidden name and renamed when complete: a failed or killed run
        # leaves no run folder that looks finished.
        partial = self.root / RUNS_DIR / f".{run_id}.partial"
        partial.mkdir(parents=True, exist_ok=True)
        self.store.start_run(run_id, "train", self._settings_dict(), cycle)
        started = time.perf_counter()
        try:
            n_classes = len(self.config.dataset.classes)
            paths = samples["path"].tolist()
            cv, fit = self._fit(paths, y, n_classes, settings, partial, progress, final_model)
            metrics = self._write_run(partial, samples, y, cv, fit, time.perf_counter() - started)
            partial.rename(run_dir)
            # Finished folds are kept only for a run that failed, to be reused by the next.
            shutil.rmtree(self.root / RUNS_DIR / FOLD_CHECKPOINTS, ignore_errors=True)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            self.store.finish_run(run_id, {}, status="failed")
            raise
        self.store.finish_run(run_id, metrics)
        return TrainResult(
            run_id,
            run_dir,
            len(samples),
            metrics["oof_accuracy"],
            metrics["oof_macro_f1"],
            metrics["seconds"],
            metrics["folds"],
        )

    def check_images(self, samples: pd.DataFrame, progress: Progress | None = None) -> None:
        """Check that every image to train on is still there and readable, before a run.

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
            paths, max_pixels=self.config.dataset.max_pixels, progress=progress
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

    def _write_run(
        self,
        run_dir: Path,
        samples: pd.DataFrame,
        y: np.ndarray,
        cv: Any,
        fit: Any,
        seconds: float,
    ) -> dict[str, Any]:
        """Write a run's ``oof.npz`` and ``metrics.json``; return the metrics."""
        from sklearn.metrics import f1_score

        probs = np.asarray(cv.probabilities, dtype=np.float32)
        np.savez_compressed(
            run_dir / "oof.npz",
            sample_ids=samples["sample_id"].to_numpy(dtype=str),
            labels=y,
            probs=probs,
            classes=np.asarray(self.config.dataset.classes, dtype=str),
        )
        pred = probs.argmax(axis=1)
        metrics = {
            "n_samples": len(samples),
            "oof_accuracy": float((pred == y).mean()),
            "oof_macro_f1": float(f1_score(y, pred, average="macro")),
            "seconds": seconds,
            "folds": [_as_dict(f) for f in getattr(cv, "folds", [])],
            "final_model": _as_dict(fit) if fit is not None else None,
        }
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
        return metrics

    def _fit(
        self,
        paths: list[str],
        y: np.ndarray,
        n_classes: int,
        settings: Any,
        run_dir: Path,
        progress: Progress,
        final_model: bool,
    ) -> tuple[Any, Any]:
        """Cross-validate (and fit the final model) by the config's ``model.mode``.

        The images are decoded once into ``run_dir/images.npy`` (deleted at the end) and
        every fold reads them from there; in ``embed`` mode the backbone's features are
        kept as ``run_dir/embeddings.npy``.
        """
        from relabel import training
        from relabel.training import embed

        cross_validate, train_final, embed_images = self._engine()
        cache = run_dir / IMAGE_CACHE
        try:
            images = (
                training.decode_images(paths, settings, cache, progress)
                if settings.cache_images
                else None
            )
            if self.config.model.mode == "embed":
                features = embed_images(paths, settings, progress, images=images)
                np.save(run_dir / EMBEDDINGS_FILE, features)
                cv = embed.cross_validated_probabilities(features, y, n_classes, settings, progress)
                fit = None
                if final_model:
                    fit = embed.train_final_model(
                        paths, features, y, n_classes, settings, run_dir / "model.keras", progress
                    )
                return cv, fit
            checkpoints = self.root / RUNS_DIR / FOLD_CHECKPOINTS
            cv = cross_validate(
                paths, y, n_classes, settings, progress, images=images, checkpoints=checkpoints
            )
            fit = None
            if final_model:
                progress("final model on all samples")
                fit = train_final(
                    paths, y, n_classes, settings, run_dir / "model.keras", progress, images=images
                )
            return cv, fit
        finally:
            images = None
            cache.unlink(missing_ok=True)

    def _engine(self) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
        """The cross-validation, final-model and embedding functions of the config's
        ``training.executor``: relabel's own, or their Ray versions bound to the executor."""
        from relabel import training
        from relabel.training import embed

        executor = training.Executor.from_config(self.config)
        if not executor.is_ray:
            return (
                training.cross_validated_probabilities,
                training.train_final_model,
                embed.embed_images,
            )
        from relabel.training import on_ray

        return (
            functools.partial(on_ray.cross_validated_probabilities, executor=executor),
            functools.partial(on_ray.train_final_model, executor=executor),
            functools.partial(on_ray.embed_images, executor=executor),
        )

    def _settings_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "model": c.model.__dict__,
            "training": c.training.__dict__,
            "image_size": c.dataset.image_size,
            "channels": c.dataset.channels,
        }

    # -- scoring ----------------------------------------------------------------------------
    def latest_probabilities(self) -> tuple[dict[str, Any], pd.DataFrame, np.ndarray]:
        """The newest training run, the current labels of its samples and its probabilities.

        Returns
        -------
        run, samples, probs
            ``samples`` are the current labels of the run's samples that are still active,
            aligned row for row with ``probs``.

        Raises
        ------
        NotTrainedError
            No finished training run.
        """
        run = self.store.latest_run("train")
        if run is None:
            raise NotTrainedError(
                f"{self.root}: no trained run yet; run: relabel train {self.root}"
            )
        oof_file = self.root / RUNS_DIR / run["run_id"] / "oof.npz"
        if not oof_file.is_file():
            raise NotTrainedError(f"{oof_file}: missing; retrain with: relabel train {self.root}")
        with np.load(oof_file) as data:
            ids = data["sample_ids"].astype(str)
            probs = data["probs"]
        labels = self.active_samples().set_index("sample_id", drop=False)
        keep = np.isin(ids, labels.index.to_numpy())
        samples = labels.loc[ids[keep]].reset_index(drop=True)
        return run, samples, probs[keep]

    def _neighbour_labels(self, run_id: str, sample_ids: pd.Series, y: np.ndarray) -> np.ndarray:
        """The current labels of each sample's nearest neighbours in the run's embeddings."""
        from relabel.ranking.neighbours import neighbour_label_distribution

        run_dir = self.root / RUNS_DIR / run_id
        features_file = run_dir / EMBEDDINGS_FILE
        if not features_file.is_file():
            raise NotTrainedError(
                f'{features_file}: missing; scoring.probabilities = "knn" needs a run of '
                f'model.mode = "embed": relabel train {self.root}'
            )
        with np.load(run_dir / "oof.npz") as data:
            row_of = {sid: i for i, sid in enumerate(data["sample_ids"].astype(str))}
        features = np.load(features_file)[[row_of[sid] for sid in sample_ids]]
        n_classes = len(self.config.dataset.classes)
        return neighbour_label_distribution(features, y, n_classes, self.config.scoring.knn_k)

    @staticmethod
    def _error_probability(method: str, scores: Any, y: np.ndarray, probs: np.ndarray) -> Any:
        """The estimated probability that each label is wrong (the noise posterior)."""
        if method == scoring.DEFAULT_METHOD:
            return scores.suspicion
        return scoring.noise_posterior(y, probs)

    def rank(self) -> RankedSamples:
        """Score the current labels against the newest run's out-of-fold probabilities."""
        run, samples, probs = self.latest_probabilities()
        y = self.label_indices(samples["label"])
        s = self.config.scoring
        if s.probabilities == "knn":
            probs = self._neighbour_labels(run["run_id"], samples["sample_id"], y)
        scores = scoring.score_samples(
            y, probs, method=s.method, uncertain_threshold=s.uncertain_threshold
        )
        classes = np.asarray(self.config.dataset.classes, dtype=object)
        table = pd.DataFrame(
            {
                "sample_id": samples["sample_id"].to_numpy(),
                "path": samples["path"].to_numpy(),
                "given_label": classes[scores.given],
                "predicted_label": classes[scores.predicted],
                "p_given": scores.p_given,
                "p_predicted": scores.p_predicted,
                "max_confidence": scores.max_confidence,
                "margin": scores.margin,
                "entropy": scores.entropy,
                "suspicion": scores.suspicion,
                "p_error": self._error_probability(s.method, scores, y, probs),
                "rank": scores.rank,
                "lane": scores.lane,
            }
        )
        stale = int(run["labels_version"]) != self.store.max_version()
        if stale:
            log.warning(
                "labels changed after run %s trained; retrain for fresh probabilities",
                run["run_id"],
            )
        return RankedSamples(table, scores, probs, run["run_id"], stale)

    def score(self, out: Path | None = None, *, with_probs: bool = False) -> RankedSamples:
        """Rank samples and optionally write the ranking to CSV or Parquet (by extension).

        Parameters
        ----------
        out : Path, optional
            ``.csv`` or ``.parquet`` file to write, in rank order.
        with_probs : bool
            Add one ``prob:<class>`` column per class.
        """
        ranked = self.rank()
        if out is not None:
            table = ranked.table
            if with_probs:
                probs = pd.DataFrame(
                    ranked.probs, columns=[f"prob:{c}" for c in self.config.dataset.classes]
                )
                table = pd.concat([table, probs], axis=1)
            write_table(table.sort_values("rank", kind="stable"), Path(out))
        return ranked

    # -- reports ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Samples, classes, class balance, estimated errors, confused pairs and cycles.

        Returns
        -------
        dict
            JSON-serialisable; the estimates are present only after a training run;
            ``cycles`` is :func:`relabel.review.cycles.cycle_history`.
        """
        labels = self.store.labels()
        classes = self.config.dataset.classes
        active = labels[labels["status"] == "active"]
        out: dict[str, Any] = {
            "project": self.config.name,
            "samples": len(labels),
            "active": len(active),
            "excluded": int((labels["status"] == "excluded").sum()),
            "changed": int((labels["label"] != labels["original_label"]).sum()),
            "classes": classes,
            "class_balance": {c: int((active["label"] == c).sum()) for c in classes},
            "original_balance": {c: int((labels["original_label"] == c).sum()) for c in classes},
        }
        run = self.store.latest_run("train")
        if run is not None:
            ranked = self.rank()
            joint = ranked.scores.joint
            pairs = [
                {
                    "given": classes[i],
                    "likely": classes[j],
                    "estimated": int(joint.errors_per_pair[i, j]),
                }
                for i in range(len(classes))
                for j in range(len(classes))
                if i != j and joint.errors_per_pair[i, j] > 0
            ]
            pairs.sort(key=lambda p: (-p["estimated"], p["given"], p["likely"]))
            out["run"] = {
                "run_id": run["run_id"],
                "oof_accuracy": run["metrics"].get("oof_accuracy"),
                "stale": ranked.stale,
            }
            out["estimated_errors"] = int(joint.n_label_errors)
            out["estimated_errors_per_class"] = {
                c: int(joint.errors_per_class[i]) for i, c in enumerate(classes)
            }
            out["confused_pairs"] = pairs[:10]
            out["lanes"] = {
                k: int((ranked.table["lane"] == k).sum())
                for k in ("label_issue", "uncertain", "ok")
            }
        out["cycles"] = cycle_history(self.store, self.config.review)
        return out

    def export(self, out: Path) -> int:
        """Write the current manifest: ``id,path,label,original_label,changed_in_cycle,status``.

        Returns
        -------
        int
            Rows written.
        """
        labels = self.store.labels()
        table = labels.rename(columns={"sample_id": "id"})[
            ["id", "path", "label", "original_label", "changed_in_cycle", "status"]
        ]
        write_table(table, Path(out))
        return len(table)

    def history(self, sample_id: str) -> list[dict[str, Any]]:
        """One sample's label history, oldest first, as dicts."""
        return [v.__dict__ for v in self.store.history(sample_id)]

    def annotators(self) -> pd.DataFrame:
        """Each reviewer's quality, from every answer pulled
        (see :mod:`relabel.review.annotators`)."""
        from relabel.review.annotators import annotator_table

        return annotator_table(self.store, self.config.dataset.classes)


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return dict(vars(obj))


def write_table(table: pd.DataFrame, out: Path) -> Path:
    """Write a table as CSV or Parquet, chosen by the file extension.

    The file is written under a temporary name beside ``out`` and renamed when complete, so
    a failed write leaves no partial file (and no new folder).

    Raises
    ------
    ConfigError
        The extension is not ``.csv``/``.parquet``, or ``out`` cannot be written.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"{out}: output must end in .csv or .parquet")
    created = [p for p in reversed(out.parent.parents) if not p.exists()]
    created += [out.parent] if not out.parent.exists() else []
    tmp = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
        tmp.replace(out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{out}: cannot write the output file ({reason})") from exc
    return out


__all__ = ["InitResult", "Project", "RankedSamples", "StoreError", "TrainResult", "write_table"]
