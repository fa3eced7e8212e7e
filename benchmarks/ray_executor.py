"""Section ``ray``: the same 4-fold run on the digits with the local and the Ray executor.

Three runs of :func:`relabel.training.cross_validated_probabilities` on the same decoded
images, settings and seed:

* ``local``: the folds one after another in this process;
* ``ray, one fold at a time``: every fold a Ray task holding all the machine's cores, so the
  folds run one after another as locally and the difference is Ray's overhead (dispatch,
  worker start and TensorFlow import, the Ray Data prediction actors, transfers);
* ``ray, one fold per core``: a Ray task per fold with one core each, as many at once as
  there are cores (what a cluster of one-core workers does).

The overhead and the local fold time give the estimate of a run on N workers, each as
fast as this machine: ``fold time x ceil(folds / N) + overhead`` (the issue's
``folds / N`` rounded up: a fold is not split). The same estimate is made for the photos
section's 5-fold CIFAR-10 run from its measured fold time, when those results are there.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FOLDS = 4
WORKERS = (1, 2, 4, 8)


def _run(ds: Any, settings: Any, images: np.ndarray, executor: Any | None) -> tuple[float, Any]:
    from relabel import training
    from relabel.training import on_ray

    started = time.perf_counter()
    args = (ds.paths, ds.labels, len(ds.classes), settings)
    if executor is None:
        result = training.cross_validated_probabilities(*args, images=images)
    else:
        result = on_ray.cross_validated_probabilities(*args, images=images, executor=executor)
    return time.perf_counter() - started, result


def _same(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """How far two runs' probabilities and rankings are apart (like for like)."""
    from relabel.ranking import score_samples

    return {
        "max_abs_diff": float(np.abs(a - b).max()),
        "same_ranking": bool(
            np.array_equal(score_samples(labels, a).rank, score_samples(labels, b).rank)
        ),
    }


def estimate(fold_s: float, folds: int, overhead_s: float) -> list[dict[str, Any]]:
    """Estimated wall time on N workers: ``fold_s * ceil(folds / N) + overhead_s``."""
    serial = fold_s * folds + overhead_s
    rows = []
    for n in WORKERS:
        seconds = fold_s * math.ceil(folds / n) + overhead_s
        rows.append({"workers": n, "seconds": seconds, "speedup": serial / seconds})
    return rows


def run(
    ds: Any, epochs: int, photos: dict[str, Any] | None, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Measure the three runs on ``ds`` and the estimates; return the section's results."""
    import ray

    from relabel import training

    cores = os.cpu_count() or 1
    settings = training.TrainSettings(
        image_size=tuple(ds.image_size), channels=ds.channels, folds=FOLDS, epochs=epochs
    )
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        images = training.decode_images(ds.paths, settings, Path(tmp) / "images.npy")
        progress("ray: local run")
        local_s, local = _run(ds, settings, images, None)
        started = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        start_s = time.perf_counter() - started
        try:
            progress("ray: one fold at a time")
            whole = training.Executor(kind="ray", resources={"num_cpus": cores})
            serial_s, serial = _run(ds, settings, images, whole)
            progress("ray: one fold per core")
            parallel_s, parallel = _run(ds, settings, images, training.Executor(kind="ray"))
        finally:
            ray.shutdown()
    fold_s = float(np.mean([f.seconds for f in local.folds]))
    overhead_s = serial_s - local_s
    out: dict[str, Any] = {
        "dataset": ds.name,
        "n": len(ds.paths),
        "folds": FOLDS,
        "epochs": epochs,
        "cores": cores,
        "ray_version": ray.__version__,
        "ray_start_s": start_s,
        "local_s": local_s,
        "local_fold_s": [f.seconds for f in local.folds],
        "ray_serial_s": serial_s,
        "ray_parallel_s": parallel_s,
        "ray_parallel_fold_fit_s": [f.fit.seconds for f in parallel.folds],
        "overhead_s": overhead_s,
        "serial_vs_local": _same(serial.probabilities, local.probabilities, ds.labels),
        "parallel_vs_local": _same(parallel.probabilities, local.probabilities, ds.labels),
        "estimate": estimate(fold_s, FOLDS, overhead_s),
        "fold_s": fold_s,
        "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k != "weights"},
    }
    user = (photos or {}).get("user") or {}
    if user.get("fold_seconds") and user.get("folds"):
        photo_fold = float(np.mean(user["fold_seconds"]))
        out["photos_estimate"] = {
            "n": photos.get("n"),
            "folds": user["folds"],
            "fold_s": photo_fold,
            "rows": estimate(photo_fold, int(user["folds"]), overhead_s),
        }
    return out
