"""A relabel project: the folder, its config, its label store and its runs.

:class:`Project` is the library facade the CLI calls: :meth:`Project.init` validates a
dataset and creates the project, :meth:`Project.train` computes out-of-fold probabilities
and a final model, :meth:`Project.score` ranks samples, :meth:`Project.status`,
:meth:`Project.export` and :meth:`Project.history` report; :meth:`Project.add_run`
records a run from any model's out-of-fold outputs. Each method delegates to one
function of a module named for its topic: :mod:`~relabel.project.create` (init, open),
:mod:`~relabel.project.train`, :mod:`~relabel.project.imported` (with
:mod:`~relabel.project.outputs`, the checks of imported outputs), :mod:`~relabel.project.ranking`,
:mod:`~relabel.project.reports`, :mod:`~relabel.project.runs` (a run folder's files),
:mod:`~relabel.project.samples` and :mod:`~relabel.project.tables` (``write_table``).

Folder layout::

    PROJECT/relabel.toml      the config (no secrets)
    PROJECT/relabel.db        the SQLite label store
    PROJECT/runs/<run_id>/    oof.npz (out-of-fold probabilities), model.keras, metrics.json,
                              embeddings.npy, image_stats.npz (pixel statistics, for
                              Project.issues); an imported run has no model.keras
    PROJECT/skipped.csv       rows skipped by ``init --skip-invalid``
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel.config import Config
from relabel.errors import StoreError
from relabel.infra.progress import Progress
from relabel.project import create, gains, imported, ranking, reports, runs, train
from relabel.project import issues as project_issues
from relabel.project import predict as predictions
from relabel.project import samples as project_samples
from relabel.project.create import SKIPPED_FILE, InitOptions, InitResult
from relabel.project.ranking import SCORE_COLUMNS, RankedSamples
from relabel.project.runs import (
    EMBEDDINGS_FILE,
    FINAL_EMBEDDINGS_FILE,
    FOLD_CHECKPOINTS,
    IMAGE_CACHE,
    RUNS_DIR,
)
from relabel.project.tables import write_table
from relabel.project.train import TrainResult
from relabel.store import Store

__all__ = [
    "EMBEDDINGS_FILE",
    "FINAL_EMBEDDINGS_FILE",
    "FOLD_CHECKPOINTS",
    "IMAGE_CACHE",
    "RUNS_DIR",
    "SCORE_COLUMNS",
    "SKIPPED_FILE",
    "InitResult",
    "Progress",
    "Project",
    "RankedSamples",
    "StoreError",
    "TrainResult",
    "write_table",
]


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
            No ``relabel.toml`` or no label store (run ``relabel init``), or
            ``dataset.classes`` changed after init.
        """
        config, store = create.open_parts(Path(root), readonly=readonly)
        return cls(Path(root), config, store)

    @classmethod
    @contextmanager
    def locked(cls, root: Path, command: str) -> Iterator[Project]:
        """Hold the project's lock and open the project for writing, in that order.

        The lock is taken before the store is opened (and migrated); a project this
        process cannot write is refused before either. See
        :func:`relabel.project.create.open_locked`.

        Parameters
        ----------
        root : Path
            The project folder.
        command : str
            What holds the lock (shown to a second process).

        Raises
        ------
        NotWritableError
            The folder, label store, lock file or ``runs/`` is read-only.
        ProjectLockedError
            Another relabel process holds the lock.
        """
        with create.open_locked(Path(root), command) as (config, store):
            yield cls(Path(root), config, store)

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
        manifest: Path | pd.DataFrame | None = None,
        classes: list[str] | None = None,
        name: str | None = None,
        folds: int | None = None,
        image_size: list[int] | None = None,
        channels: int | None = None,
        skip_invalid: bool = False,
        check_images: bool = True,
        trust_paths: bool = False,
    ) -> InitResult:
        """Validate a dataset and create a project from it.

        The project folder may already hold a ``relabel.toml`` (a checked-in project such as
        the bundled ``projects/digits``): its ``dataset`` section then says where the data
        is, and options given here override it. Nothing is written unless every row is
        valid, or ``skip_invalid`` is set (then the skipped rows go to ``skipped.csv``).
        See :func:`relabel.project.create.init_project`.

        ``manifest`` may be a pandas DataFrame with the columns of a manifest file
        (``path,label`` and an optional ``id``; relative paths resolve against the current
        folder). ``trust_paths`` opens no image: the paths may be URLs that Label Studio
        reads (``s3://``, ``gs://``, ``https://``); such a project is scored on runs
        imported with :meth:`add_run`, and :meth:`train` refuses URLs.

        Raises
        ------
        ProjectError
            The project is already initialised.
        DatasetError
            Invalid rows (without ``skip_invalid``) or an unusable dataset.
        """
        opts = InitOptions(
            images=images,
            manifest=manifest,
            classes=classes,
            name=name,
            folds=folds,
            image_size=image_size,
            channels=channels,
            skip_invalid=skip_invalid,
            check_images=check_images,
            trust_paths=trust_paths,
        )
        return create.init_project(Path(root), opts)

    # -- training ---------------------------------------------------------------------------
    def holdout(self) -> list[Any]:
        """The valid rows of the held-out manifest (``dataset.holdout``), as records."""
        return predictions.holdout_records(self.root, self.config)

    def predict(self, paths: Sequence[str], run_id: str | None = None) -> np.ndarray:
        """Class probabilities of images by a run's final model (default: the newest).

        Raises
        ------
        NotTrainedError
            No finished run, or the run has no final model.
        """
        return predictions.predict(self.root, self.config, self.store, paths, run_id)

    def embeddings(
        self, run_id: str | None = None, *, final: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """A run's sample ids and embeddings (default: the newest finished run).

        The out-of-fold embeddings: row ``i`` is the input of the final ``Dense`` layer of
        the fold model that predicted the run's out-of-fold probabilities of sample
        ``ids[i]``, averaged over the same test-time views (the backbone's features in
        ``model.mode = "embed"``).

        Parameters
        ----------
        run_id : str, optional
            The run; default the newest finished training run.
        final : bool
            The final model's embeddings (``final_embeddings.npy``), which relabel's own
            engines do not store (see :mod:`relabel.project.runs`).

        Returns
        -------
        sample_ids, embeddings : numpy.ndarray
            ``(n,)`` sample ids and the ``(n, d)`` float16 embeddings, memory-mapped
            read-only, row for row.

        Raises
        ------
        NotTrainedError
            No finished run (or ``run_id`` is not one).
        EmbeddingsMissingError
            The run has no embeddings file; the message says how to get one.
        """
        return runs.run_embeddings(self.root, self.store, run_id, final=final)

    def train_settings(self) -> Any:
        """The :class:`relabel.training.TrainSettings` for this project's config."""
        return train.train_settings(self.config, self.root)

    def active_samples(self) -> pd.DataFrame:
        """Current labels of the samples used for training (not excluded), in order."""
        return project_samples.active_samples(self.store)

    def label_indices(self, labels: pd.Series) -> np.ndarray:
        """Class names to indices in model-output order."""
        return project_samples.label_indices(self.config.dataset.classes, labels)

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
        return train.train_run(
            self.root,
            self.config,
            self.store,
            progress=progress,
            cycle=cycle,
            final_model=final_model,
        )

    def add_run(
        self,
        probs: np.ndarray | pd.DataFrame | str | os.PathLike[str],
        embeddings: np.ndarray | str | os.PathLike[str] | None = None,
        ids: Sequence[str] | str | os.PathLike[str] | None = None,
        *,
        model_name: str | None = None,
        logits: bool = False,
    ) -> str:
        """Record a run from any model's out-of-fold outputs (``relabel import-run``).

        The run is written like a trained one (``oof.npz``, ``metrics.json`` and, with
        embeddings, a float16 ``embeddings.npy``) and then scored, pushed and reported
        like one. Nothing is written unless every check passes. See
        :func:`relabel.project.imported.import_run`.

        Parameters
        ----------
        probs : numpy.ndarray, pandas.DataFrame or path
            ``(n, k)`` probabilities (or logits) as an array or ``.npy`` file, columns in
            the project's class order (``config.dataset.classes``); or a ``.parquet``
            file or DataFrame with one column per class name (and optionally
            ``sample_id``).
        embeddings : numpy.ndarray or path, optional
            ``(n, d)`` features, rows in the order of ``probs``.
        ids : sequence of str or path, optional
            The sample of each row (a CSV with a ``sample_id`` column, or one column).
            Without ids the rows are the samples of :meth:`active_samples`, in its order.
        model_name : str, optional
            Recorded with the run.
        logits : bool
            The values are logits: a stable softmax turns them into probabilities.

        Returns
        -------
        str
            The new run's id.

        Raises
        ------
        RunImportError
            A shape, class, id or value that does not fit, naming the file and its row or
            column.
        """
        result = imported.import_run(
            self.root,
            self.config,
            self.store,
            probs,
            embeddings,
            ids,
            model_name=model_name,
            logits=logits,
        )
        return result.run_id

    def check_images(self, samples: pd.DataFrame, progress: Progress | None = None) -> None:
        """Check that every image to train on is still there and readable, before a run.

        Raises
        ------
        DatasetError
            Listing every sample whose image is missing, unreadable or too large now
            (nothing was written).
        """
        train.check_images(self.config, samples, progress)

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
        return ranking.latest_probabilities(self.root, self.store)

    def rank(self) -> RankedSamples:
        """Score the current labels against the newest run's out-of-fold probabilities."""
        return ranking.rank(self.root, self.config, self.store)

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
            ranking.write_ranking(ranked, self.config.dataset.classes, Path(out), with_probs)
        return ranked

    def issues(self, run_id: str | None = None, *, embeddings: bool = True) -> pd.DataFrame:
        """Dataset issues beyond wrong labels, one row per sample of a run (docs/issues.md).

        Parameters
        ----------
        run_id : str, optional
            The run; default the newest training run.
        embeddings : bool
            Use the run's embeddings (near duplicates, outliers); False gives only the
            types that need none (image health, exact duplicates, label issues).

        Returns
        -------
        pandas.DataFrame
            ``sample_id``, ``path``, ``given_label`` and the columns of
            :func:`relabel.findings.find_issues`.

        Raises
        ------
        EmbeddingsMissingError
            The run has no ``embeddings.npy`` (retrain with ``relabel train``).
        NotTrainedError
            No such run.
        """
        return project_issues.project_issues(
            self.root, self.config, self.store, run_id, embeddings=embeddings
        )

    # -- reports ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Samples, classes, class balance, estimated errors, confused pairs and cycles.

        Returns
        -------
        dict
            JSON-serialisable; the estimates (and ``errors_left``) are present only after
            a training run; ``learning_curve`` as :meth:`stopping`; ``cycles`` is
            :func:`relabel.review.cycles.cycle_history`.
        """
        return reports.status(self.root, self.config, self.store)

    def stopping(self, ranked: RankedSamples | None = None) -> dict[str, Any]:
        """What more review is expected to buy: the label errors left (with a 95 % interval)
        and the errors the next cycle is expected to find, and the learning curve's gain
        for the next batch of labels (see :mod:`relabel.review.stopping`).

        Parameters
        ----------
        ranked : RankedSamples, optional
            The newest ranking when the caller has it.

        Returns
        -------
        dict
            ``errors_left`` (None before the first run) and ``learning_curve``.
        """
        return gains.estimate(self.root, self.config, self.store, ranked)

    def export(self, out: Path) -> int:
        """Write the current manifest: ``id,path,label,original_label,changed_in_cycle,status,
        drop`` (``drop``: dropped by an issue review).

        Returns
        -------
        int
            Rows written.
        """
        return reports.export(self.store, Path(out))

    def history(self, sample_id: str) -> list[dict[str, Any]]:
        """One sample's label history, oldest first, as dicts."""
        return reports.history(self.store, sample_id)

    def task_history(self, sample_id: str) -> list[dict[str, Any]]:
        """One sample's Label Studio tasks, oldest first, and how each ended
        (see :func:`relabel.project.reports.task_history`)."""
        return reports.task_history(self.store, sample_id)

    def annotators(self) -> pd.DataFrame:
        """Each reviewer's quality, from every answer pulled
        (see :mod:`relabel.review.annotators`)."""
        return reports.annotators(self.store, self.config.dataset.classes)
