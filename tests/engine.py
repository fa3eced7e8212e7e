"""A fast, deterministic training engine for plumbing tests (``RELABEL_ENGINE``).

Plumbing tests (init, push, pull, cycles, reports, the CLI) need out-of-fold probabilities
that behave like a model's, not a model worth measuring. This engine fits a multinomial
logistic regression on each image's pixels (decoded by relabel's one decoder, downsampled
to 8x8) in place of the Keras model: the cross-validation around it is relabel's own
(:func:`relabel.training.crossval.cross_validated_probabilities` with a fold runner, as
Ray's executor plugs in): the same stratified folds, the saved and reused folds of a run
that failed, the "folds" progress. On the digits it finds class-pair noise as a CNN does,
in about a second and with no TensorFlow. The same inputs give the same probabilities.

Select it with ``RELABEL_ENGINE=tests.engine:ENGINE`` (:data:`SPEC`; the ``test_engine``
fixture of ``tests/conftest.py``); child processes started with that environment use it
too. Tests that are about training keep the real engine.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from relabel.data.images import decode_many
from relabel.infra.atomic import write_bytes
from relabel.infra.progress import count
from relabel.project.engine import Engine
from relabel.training import crossval
from relabel.training.crossval import CrossValResult
from relabel.training.fit import FitInfo

#: ``RELABEL_ENGINE``'s value that selects this engine.
SPEC = "tests.engine:ENGINE"

#: The side of the downsampled images the regression sees.
SIDE = 8


def _features(paths: Sequence[str], settings: Any, images: np.ndarray | None) -> np.ndarray:
    """Each image as ``SIDE x SIDE x channels`` pixels in [0, 1], flattened."""
    if images is None:
        images = decode_many(
            list(map(str, paths)), (SIDE, SIDE), settings.channels, settings.max_pixels
        )
    x = np.asarray(images, dtype=np.float32) / 255.0
    if x.shape[1] != SIDE:
        step = max(1, x.shape[1] // SIDE)
        x = x[:, ::step, ::step][:, :SIDE, :SIDE]
    return x.reshape(len(x), -1)


def _model(seed: int) -> LogisticRegression:
    return LogisticRegression(C=1.0, max_iter=200, random_state=seed)


def _fit(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> Any:
    # One BLAS thread: on a busy 2-core machine OpenBLAS's spinning threads make this
    # small fit 100x slower (5 s instead of 0.05 s on the digits).
    with threadpool_limits(1):
        model = _model(seed).fit(x, y)
    model.n_classes_total_ = n_classes
    return model


def _probs(model: Any, x: np.ndarray) -> np.ndarray:
    out = np.zeros((len(x), model.n_classes_total_), np.float32)
    out[:, model.classes_] = model.predict_proba(x)
    return out


def _info(n: int, accuracy: float, seconds: float) -> FitInfo:
    return FitInfo(n, 0, 1, 1, 0.0, accuracy, None, None, seconds, n / max(seconds, 1e-9))


def _fold_runner(
    files: list[str],
    y: np.ndarray,
    n_classes: int,
    settings: Any,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    pending: Sequence[int],
    finished: Any,
    progress: Any,
    images: np.ndarray | None = None,
) -> None:
    """A fold runner (:data:`relabel.training.crossval.FoldRunner`): a regression per fold.

    The held-out samples' embeddings are what the regression's linear layer reads: their
    downsampled pixels.
    """
    x = _features(files, settings, images)
    for k in pending:
        train, held = splits[k]
        t0 = time.perf_counter()
        model = _fit(x[train], y[train], n_classes, settings.seed + k)
        probs = _probs(model, x[held])
        acc = float((probs.argmax(1) == y[held]).mean())
        info = _info(len(train), acc, time.perf_counter() - t0)
        tag = f"fold {k + 1}/{settings.folds}"
        count(progress, tag, 1, 1, f"{tag}: fitted (test engine), accuracy {acc:.3f}")
        info = crossval.fold_done(k, y[held], probs, [info], info.seconds)
        finished(k, info, probs, x[held])
        _signal_after(k)


class _Finalizer:
    """An object whose finalizer runs when a signal arrives (a Ctrl-C Python ignores)."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the handler runs here, inside the finalizer: the error is ignored


def _signal_after(k: int) -> None:
    """``RELABEL_TEST_SIGNAL=HOW:N``: after fold N (1-based), the process is signalled as a
    user or a scheduler would (the interruption tests of ``tests/test_reliability3.py``).

    ``term``: SIGTERM. ``int``: SIGINT (Ctrl-C). ``ignored``: Ctrl-C arrives while a
    finalizer runs, where Python only prints "Exception ignored" (between two Keras folds).
    ``converted``: Ctrl-C arrives in native code that turns it into an error of its own
    (TensorFlow inside an epoch).
    """
    how, _, fold = os.environ.get("RELABEL_TEST_SIGNAL", "").partition(":")
    if not how or int(fold) != k + 1:
        return
    if how in ("term", "int"):
        os.kill(os.getpid(), signal.SIGTERM if how == "term" else signal.SIGINT)
        time.sleep(0.2)
    elif how == "ignored":
        holder = [_Finalizer()]
        holder.clear()
    elif how == "converted":
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        except KeyboardInterrupt:
            raise RuntimeError("pybind11::error_already_set: KeyboardInterrupt") from None


def cross_validate(
    paths: Sequence[str],
    y: np.ndarray,
    n_classes: int,
    settings: Any,
    progress: Any = None,
    *,
    images: np.ndarray | None = None,
    checkpoints: Path | None = None,
) -> CrossValResult:
    """relabel's cross-validation with a regression per fold (see the module)."""
    return crossval.cross_validated_probabilities(
        paths,
        y,
        n_classes,
        settings,
        progress,
        images=images,
        runner=_fold_runner,
        checkpoints=checkpoints,
    )


def train_final(
    paths: Sequence[str],
    y: np.ndarray,
    n_classes: int,
    settings: Any,
    out_path: Path,
    progress: Any = None,
    *,
    images: np.ndarray | None = None,
) -> FitInfo:
    """One regression on every sample, pickled to ``out_path``."""
    started = time.perf_counter()
    x = _features(paths, settings, images)
    model = _fit(x, np.asarray(y, dtype=np.int64), n_classes, settings.seed)
    write_bytes(Path(out_path), pickle.dumps(model))
    accuracy = float((_probs(model, x).argmax(1) == y).mean())
    return _info(len(y), accuracy, time.perf_counter() - started)


def predict(model_path: Path, paths: Sequence[str], settings: Any) -> np.ndarray:
    """The saved regression's probabilities of ``paths``."""
    model = pickle.loads(Path(model_path).read_bytes())
    return _probs(model, _features(paths, settings, None))


def embed(
    paths: Sequence[str], settings: Any, progress: Any = None, *, images: np.ndarray | None = None
) -> np.ndarray:
    """The downsampled pixels themselves, as features."""
    return _features(paths, settings, images)


ENGINE = Engine("test", cross_validate, train_final, embed, predict)
