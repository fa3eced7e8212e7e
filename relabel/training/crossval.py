"""Cross-validation: stratified folds, one model (or an ensemble) per fold, and the
out-of-fold probabilities assembled from every fold's held-out predictions.

The folds run one after another in this process, or somewhere else through a
:data:`FoldRunner` (Ray's: :class:`relabel.training.on_ray.FoldsOnRay`); finished folds are
saved as they finish and reused by a later call (:mod:`relabel.training.checkpoints`).

The pass that predicts a fold's held-out samples also gives their embeddings (the input
of the model's final ``Dense`` layer, the first ensemble member's;
:func:`relabel.training.predict.predict_positions`): the out-of-fold embeddings are
assembled beside the probabilities, as float16.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relabel.errors import TrainingError
from relabel.infra.progress import Progress, count
from relabel.training.checkpoints import FoldCheckpoints, fingerprint
from relabel.training.fit import FitInfo, check_inputs, fit_positions
from relabel.training.images import ImageSource, images_of
from relabel.training.keras_env import keras_module
from relabel.training.models import check_settings
from relabel.training.predict import as_float16, predict_positions
from relabel.training.settings import InvalidSettingsError, TrainSettings

if TYPE_CHECKING:
    import keras

__all__ = [
    "CrossValResult",
    "FoldFailedError",
    "FoldInfo",
    "FoldRunner",
    "assemble",
    "cross_validate_fold",
    "cross_validated_probabilities",
    "fold_done",
    "fold_models",
    "fold_seeds",
    "stratified_folds",
]

logger = logging.getLogger(__name__)

#: The (train, held-out) positions of each fold.
Splits = list[tuple[np.ndarray, np.ndarray]]


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
#: calls ``finished(k, info, probabilities, embeddings=None)`` for each fold as it is done
#: (``embeddings``: the held-out samples' ``(n_heldout, d)`` embeddings, when the runner's
#: models give them), and raises :class:`FoldFailedError` naming the folds that failed.
FoldRunner = Callable[..., None]
#: What a runner calls when fold ``k`` is done: ``finished(k, info, probs, embeddings)``.
Finished = Callable[[int, "FoldInfo", np.ndarray, "np.ndarray | None"], None]


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
    embeddings : numpy.ndarray | None
        ``(n, d)`` float16; row ``i`` is the input of the final ``Dense`` layer of the
        model that predicted row ``i`` of ``probabilities``, averaged over the same
        test-time views (the first member's, with an ensemble). None when a fold's model
        gave none (a runner or model without them).
    """

    probabilities: np.ndarray
    fold_of_sample: np.ndarray
    folds: tuple[FoldInfo, ...] = field(default_factory=tuple)
    accuracy: float = 0.0
    seconds: float = 0.0
    embeddings: np.ndarray | None = None


class _Embeddings:
    """The out-of-fold embeddings, filled in fold by fold (float16, allocated with the
    first fold's, so only one copy is held); given up when a fold has none."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.rows: np.ndarray | None = None
        self.folds: set[int] = set()
        self.lacking = False

    def add(self, k: int, heldout: np.ndarray, embeddings: np.ndarray | None) -> None:
        """Fold ``k``'s held-out embeddings (None: the run has no embeddings)."""
        if embeddings is None or embeddings.ndim != 2 or len(embeddings) != len(heldout):
            self.lacking = True
        elif self.rows is None and not self.lacking:
            self.rows = np.zeros((self.n, embeddings.shape[1]), np.float16)
        if self.lacking or self.rows is None or embeddings.shape[1] != self.rows.shape[1]:
            self.lacking, self.rows = True, None
            return
        self.rows[heldout] = embeddings
        self.folds.add(k)

    def result(self, folds: int) -> np.ndarray | None:
        """The ``(n, d)`` embeddings when every fold gave its own, else None."""
        return None if self.lacking or len(self.folds) != folds else self.rows


def stratified_folds(y: np.ndarray, settings: TrainSettings) -> Splits:
    """The (train, held-out) positions of each fold, stratified and seeded.

    Raises
    ------
    InvalidSettingsError
        The labels cannot be split into ``settings.folds`` folds.
    """
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


def fold_seeds(settings: TrainSettings, fold: int) -> list[int]:
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
    Every sample is predicted exactly once, by models that never saw it. The same pass
    gives each sample's embedding (:attr:`CrossValResult.embeddings`).

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
        The images of ``paths`` already decoded by
        :func:`relabel.training.images.decode_images`; decoded here (once, to a
        temporary file) when None and ``settings.cache_images`` is on.
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
    files, y = check_inputs(paths, labels, n_classes)
    check_settings(settings)
    started = time.perf_counter()
    splits = stratified_folds(y, settings)
    saved = FoldCheckpoints(checkpoints, fingerprint(files, y, n_classes, settings))
    embedded = _Embeddings(len(y))
    done = _saved_folds(saved, splits, settings, progress, embedded)

    def finished(
        k: int, info: FoldInfo, predicted: np.ndarray, embeddings: np.ndarray | None = None
    ) -> None:
        embeddings = None if embeddings is None else as_float16(embeddings)
        saved.save(k, splits[k][1], predicted, dataclasses.asdict(info), embeddings)
        done[k] = (info, predicted)
        embedded.add(k, splits[k][1], embeddings)
        message = _fold_message(info, settings.folds)
        if progress is None:
            logger.info(message)
        count(progress, "folds", len(done), settings.folds, message)

    pending = [k for k in range(len(splits)) if k not in done]
    args = (files, y, n_classes, settings, splits, pending, finished, progress, images)
    if pending and runner is not None:
        _run_elsewhere(runner, saved, args)
    elif pending:
        _run_here(*args)
    result = assemble(splits, done, y, n_classes, started)
    return dataclasses.replace(result, embeddings=embedded.result(len(splits)))


def _saved_folds(
    saved: FoldCheckpoints,
    splits: Splits,
    settings: TrainSettings,
    progress: Progress | None,
    embedded: _Embeddings,
) -> dict[int, tuple[FoldInfo, np.ndarray]]:
    """The folds finished by an earlier call on the same data and settings (their
    embeddings go to ``embedded``)."""
    done: dict[int, tuple[FoldInfo, np.ndarray]] = {}
    for k, (_, heldout_idx) in enumerate(splits):
        found = saved.load(k, heldout_idx)
        if found is not None:
            done[k] = (fold_info_from_dict(found[1]), found[0])
            embedded.add(k, heldout_idx, found[2])
            count(progress, "folds", len(done), settings.folds, f"fold {k + 1}: saved, reused")
    return done


def _run_elsewhere(runner: FoldRunner, saved: FoldCheckpoints, args: tuple[Any, ...]) -> None:
    """Run the pending folds with ``runner``; a failure says where the finished ones are.

    ``args`` are the runner's: files, labels, classes, settings, splits, pending folds,
    the ``finished`` callback, progress and the decoded images.
    """
    try:
        runner(*args)
    except FoldFailedError as exc:
        if saved.folder is None:
            raise
        raise FoldFailedError(
            f"{exc}; the finished folds are saved in {saved.folder}: run again to train "
            "only the rest",
            exc.failed,
            exc.finished,
        ) from exc


def _run_here(
    files: list[str],
    y: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    splits: Splits,
    pending: list[int],
    finished: Finished,
    progress: Progress | None,
    images: np.ndarray | None,
) -> None:
    """Run the pending folds one after another in this process."""
    with images_of(files, settings, images, progress) as source:
        for k in pending:
            train_idx, heldout_idx = splits[k]
            info, predicted, embeddings = cross_validate_fold(
                source, y, n_classes, settings, k, train_idx, heldout_idx, progress
            )
            finished(k, info, predicted, embeddings)
    keras_module().backend.clear_session()


def assemble(
    splits: Splits,
    done: dict[int, tuple[FoldInfo, np.ndarray]],
    y: np.ndarray,
    n_classes: int,
    started: float,
) -> CrossValResult:
    """The out-of-fold result from every fold's held-out probabilities.

    Raises
    ------
    TrainingError
        A sample was predicted by no fold (an internal error).
    """
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


def fold_info_from_dict(saved: dict[str, Any]) -> FoldInfo:
    """A :class:`FoldInfo` from its saved JSON form (``dataclasses.asdict``)."""
    return FoldInfo(**{**saved, "fit": FitInfo(**saved["fit"])})


def cross_validate_fold(
    source: ImageSource,
    y: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    k: int,
    train_idx: np.ndarray,
    heldout_idx: np.ndarray,
    progress: Progress | None,
) -> tuple[FoldInfo, np.ndarray, np.ndarray | None]:
    """Train fold ``k``'s model(s) and predict its held-out samples: the fold's details,
    probabilities (averaged over the ensemble) and the first member's embeddings."""
    fold_started = time.perf_counter()
    predicted = np.zeros((len(heldout_idx), n_classes), np.float64)
    fits: list[FitInfo] = []
    embeddings = None
    for model, fit_info in fold_models(source, y, n_classes, settings, k, train_idx, progress):
        first = not fits
        probs, features = predict_positions(model, source, heldout_idx, settings, embed=first)
        predicted += probs
        embeddings = features if first else embeddings
        fits.append(fit_info)
        del model
    predicted = (predicted / len(fits)).astype(np.float32)
    seconds = time.perf_counter() - fold_started
    return fold_done(k, y[heldout_idx], predicted, fits, seconds), predicted, embeddings


def fold_models(
    source: ImageSource,
    y: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    k: int,
    train_idx: np.ndarray,
    progress: Progress | None,
) -> Iterator[tuple[keras.Model, FitInfo]]:
    """Fit fold ``k``'s model(s) (one per ensemble member), one after another."""
    tag = f"fold {k + 1}/{settings.folds}"
    seeds = fold_seeds(settings, k)
    for member, seed in enumerate(seeds):
        member_tag = tag if len(seeds) == 1 else f"{tag} model {member + 1}/{len(seeds)}"
        yield fit_positions(source, y, train_idx, n_classes, settings, seed, member_tag, progress)


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
