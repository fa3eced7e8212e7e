"""Peak memory of training and scoring over N images streamed from disk.

Each measurement runs in its own subprocess (``python -m benchmarks.memory --worker ...``)
that trains relabel's CNN for the given epochs on a manifest of N rows, predicts the
probabilities of all N images and scores them, then reports its own peak resident set
size as JSON on stdout. The manifests repeat a
dataset's images with distinct ids, so N can exceed the dataset (60,000 rows from the
10,000 MNIST test images): memory should not grow with N, because images are read from
disk batch by batch.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.datasets import BenchDataset

log = logging.getLogger(__name__)


def _status_mb(field: str) -> float | None:
    """A ``/proc/self/status`` memory field (``VmHWM``, ``VmRSS``) in MiB, if there is one."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _rss_mb() -> float:
    """Peak RSS of this process so far, in MiB.

    ``VmHWM`` where Linux has it: ``getrusage``'s ``ru_maxrss`` survives ``exec``, so a
    worker forked from a big parent would report the parent's size.
    """
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _current_rss_mb() -> float:
    rss = _status_mb("VmRSS")
    return float("nan") if rss is None else rss


def worker(argv: Sequence[str]) -> dict[str, Any]:
    """Train, predict and score over a manifest; return timings and peak RSS."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--classes", nargs="+", required=True)
    parser.add_argument("--image-size", type=int, nargs=2, required=True)
    parser.add_argument("--channels", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)

    import numpy as np

    from relabel import ranking as scoring
    from relabel import training

    training.import_keras()
    baseline = _current_rss_mb()
    with args.manifest.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    index = {c: i for i, c in enumerate(args.classes)}
    paths = [r["path"] for r in rows]
    labels = np.array([index[r["label"]] for r in rows], dtype=np.int64)
    settings = training.TrainSettings(
        image_size=tuple(args.image_size), channels=args.channels, epochs=args.epochs
    )
    started = time.perf_counter()
    model, fit = training.fit_model(paths, labels, len(args.classes), settings)
    after_fit = _rss_mb()
    t_fit = time.perf_counter() - started
    started = time.perf_counter()
    probs = training.predict_probabilities(model, paths, settings)
    t_predict = time.perf_counter() - started
    started = time.perf_counter()
    scores = scoring.score_samples(labels, probs)
    t_score = time.perf_counter() - started
    return {
        "n": len(paths),
        "epochs": args.epochs,
        "baseline_rss_mb": baseline,
        "peak_rss_after_fit_mb": after_fit,
        "peak_rss_mb": _rss_mb(),
        "fit_seconds": t_fit,
        "fit_images_per_s": fit.n_train * fit.epochs_run / max(fit.seconds, 1e-9),
        "predict_seconds": t_predict,
        "score_seconds": t_score,
        "estimated_errors": int(scores.joint.n_label_errors),
    }


def measure(ds: BenchDataset, n: int, workdir: Path, *, epochs: int = 1) -> dict[str, Any]:
    """Run one worker subprocess over ``n`` rows repeating ``ds``'s images."""
    manifest = ds.repeated_manifest(n, workdir / f"{ds.name}-{n}.csv")
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        "--worker",
        "--manifest",
        str(manifest),
        "--classes",
        *ds.classes,
        "--image-size",
        *(str(v) for v in ds.image_size),
        "--channels",
        str(ds.channels),
        "--epochs",
        str(epochs),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.perf_counter()
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"memory worker for {n} rows failed (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - started
    return result


def run(ds: BenchDataset, sizes: Sequence[int], workdir: Path, *, epochs: int = 1) -> dict:
    """Peak memory for each of ``sizes`` rows, and the ratio of the largest to the smallest."""
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        log.info("memory: training and scoring %d streamed %s images", n, ds.name)
        rows.append(measure(ds, n, workdir, epochs=epochs))
    ratio = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    return {"dataset": ds.name, "epochs": epochs, "rows": rows, "ratio": ratio}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the worker subprocess."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "--worker":
        raise SystemExit("usage: python -m benchmarks.memory --worker --manifest M ...")
    logging.basicConfig(level=logging.WARNING)
    result = worker(argv[1:])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
