"""Photos: relabel's default configuration for an RGB project, on the CIFAR-10 test JPEGs.

``relabel init`` on RGB images writes the photo defaults
(:func:`relabel.config.photo_defaults`). This section measures them as a user gets them, on
the 10,000 CIFAR-10 test JPEGs (:func:`benchmarks.datasets.load_cifar10`):

1. the user run: ``Project.train(final_model=True)`` on the original labels, 5 folds and
   the final model, timed (the whole call; the folds with the decoding of the images; the
   final model) with its out-of-fold accuracy;
2. the long run (optional): the same folds at twice the epochs, without the final model;
3. the original labels: how many of the human-confirmed errors relabel's default score,
   ``self_confidence`` and cleanlab's ranking put in their top 275, on the user run's
   probabilities (and on the long run's and the reference probabilities, for context);
4. the CIFAR-10H human-noise settings (:func:`benchmarks.detection.human_settings`),
   trained with the default config: precision@k and top-5% precision of the default score
   and of cleanlab's ranking, and the same-cutoff comparison with cleanlab's
   ``find_label_issues``;
5. training throughput of ``fit_model`` with the photo defaults: images decoded every
   epoch (``cache_images = false``, Keras augmentation layers: how relabel trained
   before) against decoded once (``cache_images = true``, augmentation in numpy).

Out-of-fold probabilities come from :func:`benchmarks.detection.train_oof` and its cache
(``--reuse-oof``); a reused run reports the timing it was measured with, and says so.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import detection, photo_sizes
from benchmarks import user_run as user_run_mod
from benchmarks.datasets import BenchDataset
from relabel import ranking as scoring

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: What the default config must reach (stored with the results, read by the report).
TARGETS: dict[str, Any] = {
    "whole_seconds": 15 * 60,  # `relabel train` with the final model (issue 24's target)
    "folds_seconds": 15 * 60,  # the folds, decoding the images once included
    "oof_accuracy": 0.75,  # out-of-fold accuracy against the original labels (issue 24)
    "top_cut": 275,  # the confirmed errors in the default score's top 275 ...
    "confirmed_in_top": 20,  # ... at least this many
    "n": 10_000,  # the scale the targets are set for: images,
    "folds": 5,  # folds, and the project's own epochs
}
#: cleanlab's ranking (``get_label_quality_scores``) in :func:`detection.method_scores`.
CLEANLAB_RANKING = "cleanlab_quality_scores"
#: The rankings compared on the confirmed errors.
COMPARED = (scoring.DEFAULT_METHOD, "self_confidence", CLEANLAB_RANKING)
#: The keys of the config described in the report.
CONFIG_KEYS = {
    "model": (
        "architecture",
        "optimizer",
        "schedule",
        "learning_rate",
        "batch_size",
        "l2",
        "label_smoothing",
        "flip",
        "translation",
    ),
    "training": ("epochs", "validation_fraction", "tta", "ensemble", "cache_images"),
}
#: The two ways of feeding images measured by :func:`throughput`.
FEEDS = {
    False: "before: JPEG decoded every epoch, Keras augmentation layers (cache_images = false)",
    True: "after: decoded once to a uint8 cache, augmentation in numpy (cache_images = true)",
}


@dataclass(frozen=True)
class PhotoPlan:
    """What the photos section runs.

    Attributes
    ----------
    train : bool
        Train relabel's default config (the user run and the human-noise settings); off,
        only the reference probabilities and the throughput are measured.
    long : bool
        Also train the folds at twice the epochs (the long run).
    epochs : int or None
        None: the project's own default (what the targets are for); tests set fewer.
    folds : int
        Cross-validation folds.
    throughput : tuple of int, or None
        ``(images, epochs)`` of the throughput measure; None skips it.
    """

    train: bool = True
    long: bool = True
    epochs: int | None = None
    folds: int = 5
    throughput: tuple[int, int] | None = (4000, 3)
    sizes: tuple[int, int] | None = (1000, 2)  # (images, epochs) at 32, 64 and 128 px
    embed: bool = True  # the pretrained path, when RELABEL_BENCH_WEIGHTS names weights


# --------------------------------------------------------------------------------------
# summaries


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def config_of(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The config keys of :data:`CONFIG_KEYS` from a training fingerprint."""
    return {
        key: (fingerprint.get(section) or {}).get(key)
        for section, keys in CONFIG_KEYS.items()
        for key in keys
    }


def run_summary(info: dict[str, Any]) -> dict[str, Any]:
    """What the report shows of one :func:`detection.train_oof` run.

    Parameters
    ----------
    info : dict
        The ``info`` of :func:`detection.train_oof` (fresh or reused).

    Returns
    -------
    dict
        ``folds``, ``epochs``, ``default_epochs`` (the project's own epochs), ``epochs_run``,
        ``final_model``, ``oof_accuracy`` (against the labels trained on), ``whole_seconds``
        (the whole ``Project.train`` call), ``folds_seconds`` (the folds plus decoding the
        images once), ``fold_seconds``, ``decode_seconds``, ``final_model_seconds``,
        ``images_per_second`` (mean over the folds), ``seconds`` (with creating and
        ranking the project), ``reused``, ``measured`` (when the timing was measured),
        ``key`` and ``config`` (:func:`config_of`). A timing missing from ``info`` is None.
    """
    folds = info.get("fold_seconds")
    decode = info.get("decode_seconds")
    return {
        "folds": info["folds"],
        "epochs": info["epochs"],
        "default_epochs": "plan_epochs" in info and info["plan_epochs"] is None,
        "epochs_run": info.get("epochs_run"),
        "final_model": bool(info.get("final_model")),
        "oof_accuracy": info["oof_accuracy"],
        "whole_seconds": info.get("train_call_seconds"),
        "folds_seconds": sum(folds) + (decode or 0.0) if folds else None,
        "fold_seconds": folds,
        "decode_seconds": decode,
        "final_model_seconds": info.get("final_model_seconds"),
        "images_per_second": _mean(info.get("fold_images_per_second") or []),
        "seconds": info["seconds"],
        "reused": bool(info.get("reused")),
        "measured": info.get("measured"),
        "key": info.get("key"),
        "config": config_of(info.get("fingerprint") or {}),
    }


def _source(summary: dict[str, Any], what: str) -> str:
    arch = summary["config"].get("architecture") or "model"
    return f"relabel {arch} OOF ({summary['folds']}-fold, {summary['epochs']} epochs, {what})"


def original_labels(ds: BenchDataset, probs: np.ndarray, source: str) -> dict[str, Any]:
    """Every ranking of the original labels against the human-confirmed errors.

    Returns
    -------
    dict
        :meth:`detection.SettingResult.to_dict`, with ``confirmed`` (ranks and top-N
        counts of the confirmed errors per ranking).
    """
    is_error = np.zeros(ds.n, dtype=bool)
    is_error[ds.confirmed] = True
    r = detection.evaluate(
        ds.labels,
        probs,
        is_error,
        dataset=ds.name,
        source=source,
        setting="original labels",
        correctable=ds.correctable,
    )
    r.spec = "original"
    return r.to_dict()


# --------------------------------------------------------------------------------------
# the parts


def _train(
    ds: BenchDataset, given: np.ndarray, plan: detection.TrainPlan, workdir: Path, reuse: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    probs, info = detection.train_oof(ds, given, plan, workdir, reuse=reuse, progress=None)
    return probs, run_summary(info)


def _said(summary: dict[str, Any]) -> str:
    took = summary["whole_seconds"] or summary["seconds"]
    return f"OOF accuracy {summary['oof_accuracy']:.3f}, {took:.0f} s" + (
        f" (reused, measured {summary['measured']})" if summary["reused"] else ""
    )


def user_run(
    ds: BenchDataset, plan: PhotoPlan, out: dict[str, Any], workdir: Path, reuse: bool
) -> None:
    """The default config on the original labels, as a user runs it: ``relabel init`` and
    ``relabel train`` (``plan.folds`` folds and the final model) in their own processes.

    Never reused (``reuse`` is ignored): the point is the time a user waits.
    """
    log.info(
        "photos: user run (relabel init + relabel train), %d folds + the final model", plan.folds
    )
    _, info = user_run_mod.user_train(
        ds, workdir / f"{ds.name}-user", folds=plan.folds, epochs=plan.epochs
    )
    out["user"] = run_summary(info)
    out["user"]["cli"] = {"init": info["init"], "train": info["train"]}
    log.info("photos: user run: %s", _said(out["user"]))


def long_run(
    ds: BenchDataset, plan: PhotoPlan, out: dict[str, Any], workdir: Path, reuse: bool
) -> None:
    """The folds at twice the epochs of the user run (no final model)."""
    from relabel.config import PHOTO_EPOCHS

    epochs = 2 * ((out.get("user") or {}).get("epochs") or plan.epochs or PHOTO_EPOCHS)
    train = detection.TrainPlan(epochs, plan.folds, final_model=False)
    log.info("photos: long run, %d folds at %d epochs", plan.folds, epochs)
    probs, out["long"] = _train(ds, ds.labels, train, workdir / f"{ds.name}-long", reuse)
    log.info("photos: long run: %s", _said(out["long"]))
    source = _source(out["long"], "twice the epochs, trained on the original labels")
    out.setdefault("original", {})["long"] = original_labels(ds, probs, source)


def human_runs(
    ds: BenchDataset,
    counts: np.ndarray,
    plan: PhotoPlan,
    out: dict[str, Any],
    workdir: Path,
    reuse: bool,
    save: Callable[[], None] | None = None,
) -> None:
    """The default config trained on each CIFAR-10H setting, every ranking measured."""
    rows = out.setdefault("human", [])
    for s in detection.human_settings(ds, counts):
        train = detection.TrainPlan(plan.epochs, plan.folds, final_model=False)
        log.info("photos: %s, %d folds, the default config", s.name, plan.folds)
        probs, summary = _train(ds, s.given, train, workdir / f"{ds.name}-{s.tag}", reuse)
        r = detection.evaluate(
            s.given,
            probs,
            s.is_error,
            dataset=ds.name,
            source=_source(summary, "the default config, trained on these labels"),
            setting=s.name,
        )
        r.spec, r.seed, r.seconds = s.spec, s.seed, float(summary["seconds"])
        row = r.to_dict()
        row["accuracy_true"] = float((probs.argmax(axis=1) == ds.labels).mean())
        row["run"] = summary
        rows.append(row)
        log.info("photos: %s: %s", s.name, _said(summary))
        if save is not None:
            save()


def project_settings(ds: BenchDataset, workdir: Path) -> Any:
    """The ``TrainSettings`` of a project ``relabel init`` creates on ``ds``'s images.

    For RGB images those are the photo defaults (the project lives in
    ``workdir/project``, recreated).
    """
    from relabel.project import Project

    root = detection.fresh_project(ds, ds.labels, detection.TrainPlan(None), workdir)
    with Project.open(root) as project:
        return project.train_settings()


def _feed_rate(
    paths: Sequence[str], labels: np.ndarray, n_classes: int, settings: Any
) -> dict[str, Any]:
    """Training images/s of one ``fit_model`` with ``settings`` (first epoch left out)."""
    from relabel import training

    clock = detection.DecodeClock()
    tag = f"throughput cache_images={settings.cache_images}"
    model, fit = training.fit_model(paths, labels, n_classes, settings, progress=clock, tag=tag)
    del model
    return {
        "cache_images": bool(settings.cache_images),
        "what": FEEDS[bool(settings.cache_images)],
        "images_per_second": detection.finite(fit.images_per_second),
        "seconds": float(fit.seconds),
        "decode_seconds": clock.measured,
        "epochs_run": int(fit.epochs_run),
    }


def throughput(ds: BenchDataset, n_images: int, epochs: int, workdir: Path) -> dict[str, Any]:
    """Training images/s of the photo defaults, images decoded every epoch vs once.

    ``fit_model`` on the first ``n_images`` images for ``epochs`` epochs without a
    validation slice, with ``cache_images`` off (before) and on (after), the settings of
    :func:`project_settings` otherwise.

    Returns
    -------
    dict
        ``n``, ``epochs``, ``image``, ``batch_size``, ``architecture``, ``rows`` (before,
        after: :func:`_feed_rate`) and ``ratio`` (after / before; None when either is
        missing).
    """
    paths, labels = list(ds.paths[:n_images]), ds.labels[:n_images]
    base = dataclasses.replace(
        project_settings(ds, workdir), epochs=max(2, epochs), validation_fraction=0.0
    )
    rows = []
    for cached in (False, True):
        log.info("photos: throughput, %s", FEEDS[cached])
        settings = dataclasses.replace(base, cache_images=cached)
        rows.append(_feed_rate(paths, labels, len(ds.classes), settings))
    before, after = (r["images_per_second"] for r in rows)
    height, width = base.image_size
    return {
        "n": len(paths),
        "epochs": base.epochs,
        "image": f"{height}x{width}x{base.channels}",
        "batch_size": base.batch_size,
        "architecture": base.architecture,
        "rows": rows,
        "ratio": after / before if before and after else None,
    }


# --------------------------------------------------------------------------------------
# the section


def start(ds: BenchDataset, plan: PhotoPlan) -> dict[str, Any]:
    """The section's results before anything is measured (filled in by :func:`run`)."""
    height, width = ds.image_size
    return {
        "dataset": ds.name,
        "n": ds.n,
        "image": f"{height}x{width}x{ds.channels}",
        "default_method": scoring.DEFAULT_METHOD,
        "confirmed": int(ds.confirmed.size),
        "targets": dict(TARGETS),
        "plan": asdict(plan),
        "skipped": [],
        "errors": {},
    }


def _step(
    out: dict[str, Any], name: str, step: Callable[[], None], save: Callable[[], None] | None
) -> None:
    """Run one part; a failure is recorded in ``out["errors"]`` and the next part runs."""
    try:
        step()
    except Exception as exc:
        log.exception("photos: %s failed", name)
        out["errors"][name] = f"{type(exc).__name__}: {exc}"
    if save is not None:
        save()


def run(
    ds: BenchDataset,
    plan: PhotoPlan,
    out: dict[str, Any],
    *,
    workdir: Path,
    reuse: bool = False,
    save: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Measure the parts of ``plan`` into ``out`` (from :func:`start`); return it.

    Parts, in order (each saved with ``save`` when done; a failed one is recorded in
    ``out["errors"]``): ``user`` (:func:`user_run`), ``throughput`` and ``long``
    (:func:`long_run`). Detection figures on these images (the confirmed errors, CIFAR-10H)
    are the protocol section's, with intervals over seeds.
    """
    parts: list[tuple[str, Callable[[], None]]] = []
    if plan.train:
        parts.append(("user", lambda: user_run(ds, plan, out, workdir, reuse)))
    else:
        out["skipped"].append("relabel's model is not trained in this mode")
    if plan.throughput:
        n_images, epochs = plan.throughput
        tp_dir = workdir / "throughput"
        parts.append(("throughput", lambda: _set_throughput(ds, out, n_images, epochs, tp_dir)))
    if plan.sizes:
        n_sizes, epochs_sizes = plan.sizes
        sz_dir = workdir / "sizes"
        parts.append(
            (
                "sizes",
                lambda: out.update(sizes=photo_sizes.sizes(ds, n_sizes, epochs_sizes, sz_dir)),
            )
        )
    if plan.embed:
        parts.append(("embed", lambda: out.update(embed=photo_sizes.embed_run(ds, workdir))))
    if plan.train and plan.long:
        parts.append(("long", lambda: long_run(ds, plan, out, workdir, reuse)))
    elif plan.train:
        out["skipped"].append("the long run (twice the epochs) is off (--no-photos-long)")
    for name, step in parts:
        _step(out, name, step, save)
    return out


def _set_reference(ds: BenchDataset, out: dict[str, Any], probs: np.ndarray) -> None:
    source = detection.REFERENCE_SOURCE
    out.setdefault("original", {})["reference"] = original_labels(ds, probs, source)


def _set_throughput(
    ds: BenchDataset, out: dict[str, Any], n_images: int, epochs: int, workdir: Path
) -> None:
    out["throughput"] = throughput(ds, n_images, epochs, workdir)
    shutil.rmtree(workdir / "project", ignore_errors=True)


def reuse_note(out: dict[str, Any]) -> str | None:
    """A note naming the photo runs whose probabilities and timing were reused, if any."""
    runs = [("user run", out.get("user")), ("long run", out.get("long"))]
    runs += [(s["setting"], s.get("run")) for s in out.get("human") or []]
    reused = [f"{name} (measured {r.get('measured')})" for name, r in runs if r and r["reused"]]
    if not reused:
        return None
    return (
        f"photos: out-of-fold probabilities of {len(reused)} training(s), and the timing "
        "measured with them, reused from an earlier run with the same data, labels, model "
        "and training config, relabel version and model code (--reuse-oof): " + "; ".join(reused)
    )
