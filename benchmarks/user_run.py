"""Train as a user does: ``relabel init`` then ``relabel train``, each in its own process.

The photos section's user run goes through the CLI, not a library call, so that its
figures are the ones a user sees: the wall time of ``relabel train``, the training
images per second relabel logs, and how the process spent its CPU (user and kernel
seconds from ``os.wait4``; a large kernel share means memory handed back to the system
and faulted in again, see :mod:`relabel.infra.allocator`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.child import run_measured
from benchmarks.datasets import BenchDataset

#: relabel's log line when the images are decoded once (``decoded N images in X s``).
_DECODED = re.compile(r"decoded \d+ images in ([0-9.]+) s")


def run_cli(args: list[str], log_file: Path) -> dict[str, Any]:
    """Run ``python -m relabel.cli ARGS``; wall seconds, CPU seconds by kind, exit code.

    Returns
    -------
    dict
        ``seconds``, ``user_cpu_s``, ``kernel_cpu_s``, ``kernel_share`` (kernel / all CPU
        time), ``cores_busy`` (CPU seconds / wall seconds), ``peak_gib`` (its own peak
        memory), ``minor_faults_per_s``, ``rc``.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as log:
        usage = run_measured(
            [sys.executable, "-m", "relabel.cli", *args], stdout=log, stderr=subprocess.STDOUT
        )
    seconds = usage["seconds"]
    cpu = usage["user_cpu_s"] + usage["kernel_cpu_s"]
    return {
        "seconds": seconds,
        "user_cpu_s": usage["user_cpu_s"],
        "kernel_cpu_s": usage["kernel_cpu_s"],
        "kernel_share": usage["kernel_cpu_s"] / cpu if cpu else None,
        "cores_busy": cpu / seconds if seconds else None,
        "peak_gib": usage["peak_gib"],
        "minor_faults_per_s": usage["minor_faults"] / seconds if seconds else None,
        "rc": usage["rc"],
    }


def latest_run(root: Path) -> Path:
    """The newest finished run folder of a project (one with ``metrics.json``)."""
    runs = sorted(p for p in (root / "runs").iterdir() if (p / "metrics.json").is_file())
    if not runs:
        raise RuntimeError(f"{root}: relabel train left no finished run")
    return runs[-1]


def _decode_seconds(log_file: Path) -> float | None:
    found = _DECODED.findall(log_file.read_text(errors="replace"))
    return sum(float(s) for s in found) if found else None


def user_train(
    ds: BenchDataset,
    workdir: Path,
    *,
    folds: int = 5,
    epochs: int | None = None,
    model: dict[str, Any] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``relabel init`` and ``relabel train`` (``folds`` folds and the final model) on ``ds``.

    ``epochs`` (quick mode) and ``model`` (keys of the ``[model]`` table, e.g. the embed
    mode) are written into the project's ``relabel.toml`` after ``relabel init``; None
    keeps what init wrote (the default config).

    Returns
    -------
    probs, info
        Out-of-fold probabilities in the dataset's order, and the fields of
        :func:`benchmarks.detection.run_timings` plus ``init`` and ``train`` (the
        :func:`run_cli` figures) and ``oof_accuracy``, ``epochs``, ``folds``.
    """
    import shutil

    root = workdir / "project"
    shutil.rmtree(root, ignore_errors=True)
    manifest = ds.write_manifest(ds.labels, workdir / "manifest.csv")
    args = ["init", str(root), "--manifest", str(manifest), "--folds", str(folds)]
    init = run_cli(args, workdir / "init.log")
    if init["rc"] != 0:
        raise RuntimeError(f"relabel init failed ({init['rc']}): see {workdir / 'init.log'}")
    if epochs is not None or model:
        _configure(root / "relabel.toml", epochs, model or {})
    train = run_cli(["-v", "train", str(root)], workdir / "train.log")
    if train["rc"] != 0:
        raise RuntimeError(f"relabel train failed ({train['rc']}): see {workdir / 'train.log'}")
    run = latest_run(root)
    metrics = json.loads((run / "metrics.json").read_text())
    with np.load(run / "oof.npz") as oof:
        ids, run_probs = oof["sample_ids"].astype(str), oof["probs"]
    position = {sample_id: i for i, sample_id in enumerate(ds.ids)}
    probs = np.empty((ds.n, run_probs.shape[1]), dtype=np.float64)
    probs[[position[s] for s in ids]] = run_probs
    info = _info(metrics, init, train, _decode_seconds(workdir / "train.log"))
    info["plan_epochs"] = epochs
    info["fingerprint"] = _fingerprint(root)
    return probs, info


def _configure(config_file: Path, epochs: int | None, model: dict[str, Any]) -> None:
    import tomllib

    import tomli_w

    config = tomllib.loads(config_file.read_text())
    if epochs is not None:
        config.setdefault("training", {})["epochs"] = epochs
    config.setdefault("model", {}).update(model)
    config_file.write_text(tomli_w.dumps(config))


def _fingerprint(root: Path) -> dict[str, Any]:
    """The training fingerprint of the project as trained (the config the report shows)."""
    from benchmarks.detection import training_fingerprint
    from relabel.project import Project

    with Project.open(root, readonly=True) as project:
        return training_fingerprint(
            project.config, final_model=True, settings=project.train_settings()
        )


def _info(
    metrics: dict[str, Any], init: dict[str, Any], train: dict[str, Any], decode: float | None
) -> dict[str, Any]:
    folds = metrics.get("folds") or []
    final = metrics.get("final_model") or {}
    fit = [f.get("fit") or {} for f in folds]
    return {
        "init": init,
        "train": train,
        "train_call_seconds": train["seconds"],
        "decode_seconds": decode,
        "fold_seconds": [float(f["seconds"]) for f in folds],
        "fold_images_per_second": [f.get("images_per_second") for f in fit],
        "final_model_seconds": final.get("seconds"),
        "final_model_images_per_second": final.get("images_per_second"),
        "epochs": max((f.get("epochs_run") or 0 for f in fit), default=None),
        "epochs_run": [f.get("epochs_run") for f in fit],
        "folds": len(folds),
        "final_model": bool(final),
        "oof_accuracy": metrics.get("oof_accuracy"),
        "seconds": init["seconds"] + train["seconds"],
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
