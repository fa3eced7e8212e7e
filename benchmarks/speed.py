"""Speed: scoring against cleanlab, training and inference throughput, Label Studio push/pull.

(The Label Studio figures are the benchmark's own ``studio`` section since it measures each
image mode; :func:`studio_speed` runs them.)

* Scoring: :func:`benchmarks.bench_scoring.main` (relabel's ``score_samples`` against
  cleanlab's ``find_label_issues`` on the same seeded 1M x K probabilities).
* Throughput: relabel's CNN trained for a few epochs on a dataset's image files (no
  validation slice, so every epoch runs); images/s of the epochs after the first (which
  includes building the graph), and of prediction.
* Label Studio: :func:`benchmarks.bench_studio.main` (push and pull of N tasks against a
  local server), when that module and a Label Studio server venv are there.

The wall time of a full 5-fold cycle on MNIST is measured by the detection section (its
MNIST original-label run trains the folds and the final model, as a cycle's train step).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.datasets import BenchDataset

log = logging.getLogger(__name__)


def scoring_speed(n: int, classes: Sequence[int], repeat: int) -> dict[str, Any]:
    """relabel's scoring vs cleanlab's ``find_label_issues``, via ``bench_scoring.main``."""
    from benchmarks import bench_scoring

    argv = ["--n", str(n), "--classes", *(str(k) for k in classes), "--repeat", str(repeat)]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = bench_scoring.main(argv)
    log.info("bench_scoring:\n%s", buf.getvalue())
    result["command"] = "python benchmarks/bench_scoring.py " + " ".join(argv)
    return result


def throughput(ds: BenchDataset, *, epochs: int = 3, limit: int | None = None) -> dict[str, Any]:
    """Training and inference images/s of relabel's CNN on ``ds``'s image files.

    Parameters
    ----------
    ds : BenchDataset
        Images to train on (all of them, or the first ``limit``).
    epochs : int
        Epochs to train (at least 2: the first one is reported apart).
    """
    from relabel import training

    paths = ds.paths[:limit] if limit else ds.paths
    labels = ds.labels[: len(paths)]
    settings = training.TrainSettings(
        image_size=tuple(ds.image_size),
        channels=ds.channels,
        epochs=max(2, epochs),
        validation_fraction=0.0,
    )
    stamps: list[float] = []
    start = time.perf_counter()

    def tick(message: str) -> None:
        if "epoch" in message:
            stamps.append(time.perf_counter())

    model, fit = training.fit_model(
        paths, labels, len(ds.classes), settings, progress=tick, tag="throughput"
    )
    if len(stamps) < 2:  # the progress messages changed: fall back to the whole fit
        steady = fit.seconds / max(fit.epochs_run, 1)
        first = steady
    else:
        first = stamps[0] - start
        steady = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    training.predict_probabilities(model, paths[: min(len(paths), 256)], settings)  # warm-up
    started = time.perf_counter()
    training.predict_probabilities(model, paths, settings)
    predict_s = time.perf_counter() - started
    return {
        "dataset": ds.name,
        "n": len(paths),
        "image": f"{ds.image_size[0]}x{ds.image_size[1]}x{ds.channels}",
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "first_epoch_s": first,
        "epoch_s": steady,
        "train_images_per_s": len(paths) / steady,
        "predict_s": predict_s,
        "predict_images_per_s": len(paths) / predict_s,
    }


def studio_speed(argv: Sequence[str]) -> dict[str, Any]:
    """Push and pull of tasks against a local Label Studio, via ``bench_studio.main``.

    Raises
    ------
    ModuleNotFoundError
        ``benchmarks/bench_studio.py`` is not there.
    """
    module = importlib.import_module("benchmarks.bench_studio")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = module.main(list(argv))
    log.info("bench_studio:\n%s", buf.getvalue())
    result = dict(result) if isinstance(result, dict) else {"result": result}
    result["command"] = "python benchmarks/bench_studio.py " + " ".join(argv)
    return result
