"""What larger photos cost, and the pretrained fast path (photos section, issue 24).

* :func:`sizes` trains the default RGB config (``fit_model``, images decoded once) on the
  same CIFAR-10 JPEGs resized to 32, 64 and 128 pixels a side, and turns each rate into the
  minutes a whole run of 1,000 images takes (5 folds and the final model at the project's
  epochs), so users with larger photos can plan.
* :func:`embed_run` is the pretrained path: ``model.mode = "embed"`` with the backbone
  weights file named by ``RELABEL_BENCH_WEIGHTS`` (no weights can be downloaded on the
  benchmark machine), run as a user runs it (``relabel init``, then ``relabel train``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from benchmarks import detection, user_run
from benchmarks.datasets import BenchDataset

log = logging.getLogger(__name__)

#: Image sides measured.
SIDES = (32, 64, 128)
#: The environment variable naming a backbone's no-top weights file for :func:`embed_run`.
WEIGHTS_ENV = "RELABEL_BENCH_WEIGHTS"
#: The backbone those weights are for (``RELABEL_BENCH_BACKBONE`` overrides).
BACKBONE = "MobileNetV2"


def minutes_per_1000(images_per_second: float | None, epochs: int, folds: int) -> float | None:
    """Minutes of training for 1,000 images: ``folds`` models on ``(folds - 1) / folds`` of
    them and the final model on all, ``epochs`` epochs each, at ``images_per_second``."""
    if not images_per_second:
        return None
    image_epochs = epochs * 1000 * ((folds - 1) + 1)
    return image_epochs / images_per_second / 60


def sizes(ds: BenchDataset, n_images: int, epochs: int, workdir: Path) -> dict[str, Any]:
    """Training images/s of the photo defaults at each side of :data:`SIDES`.

    Returns
    -------
    dict
        ``n``, ``epochs`` (measured), ``run_epochs`` and ``folds`` (the project's, for the
        minutes), ``architecture`` and ``rows`` (``side``, ``images_per_second``,
        ``minutes_per_1000``).
    """
    from benchmarks.photos import project_settings
    from relabel import training

    paths, labels = list(ds.paths[:n_images]), ds.labels[:n_images]
    base = project_settings(ds, workdir)
    rows = []
    for side in SIDES:
        log.info("photos: throughput at %dx%d", side, side)
        settings = dataclasses.replace(
            base, image_size=(side, side), epochs=max(2, epochs), validation_fraction=0.0
        )
        _, fit = training.fit_model(paths, labels, len(ds.classes), settings, tag=f"{side}px")
        rate = detection.finite(fit.images_per_second)
        rows.append(
            {
                "side": side,
                "images_per_second": rate,
                "minutes_per_1000": minutes_per_1000(rate, base.epochs, base.folds),
            }
        )
    return {
        "n": len(paths),
        "epochs": max(2, epochs),
        "run_epochs": base.epochs,
        "folds": base.folds,
        "architecture": base.architecture,
        "rows": rows,
    }


def embed_run(ds: BenchDataset, workdir: Path) -> dict[str, Any]:
    """``model.mode = "embed"`` with ``$RELABEL_BENCH_WEIGHTS`` as a user runs it.

    Returns
    -------
    dict
        ``skipped`` (why) without weights; else ``weights`` (the file's name),
        ``backbone``, and :func:`benchmarks.user_run.user_train`'s figures
        (``whole_seconds``, ``oof_accuracy``, ``train``).
    """
    weights = os.environ.get(WEIGHTS_ENV, "")
    if not weights:
        return {"skipped": f"set {WEIGHTS_ENV} to a backbone's no-top weights file to run it"}
    if not Path(weights).is_file():
        return {"skipped": f"{WEIGHTS_ENV}={weights}: no such file"}
    backbone = os.environ.get("RELABEL_BENCH_BACKBONE", BACKBONE)
    model = {"mode": "embed", "architecture": backbone, "weights": str(Path(weights).resolve())}
    _, info = user_run.user_train(ds, workdir / "embed", model=model)
    return {
        "weights": Path(weights).name,
        "backbone": backbone,
        "whole_seconds": info["train_call_seconds"],
        "oof_accuracy": info["oof_accuracy"],
        "train": info["train"],
    }
