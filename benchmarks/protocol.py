"""The declared protocol (``benchmarks/protocol.toml``): relabel's own probabilities on
every label setting, every ranking, on the tuning half and the held-out half.

Each (setting, seed) is one training of relabel's default config, through a project as
``relabel init`` creates it, on all the images of the setting (out of fold, no final
model). Its out-of-fold probabilities are cached under a key that covers the labels, the
config, the seed, relabel's version and the code that trains (:func:`benchmarks.detection
.train_oof`), so that a later run reuses a training only when nothing that decides it
changed. Runs go seed by seed (seed 0 of every setting first), so that a run stopped part
way leaves every setting measured at least once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import datasets, detection, evaluate, signals, stats
from benchmarks.settings import LabelSetting, Protocol, SettingSpec, build_setting, split_halves
from relabel import scoring

log = logging.getLogger("benchmarks.protocol")


@dataclass(frozen=True)
class ProtocolPlan:
    """How the protocol is run: its settings, the epochs (None: the default) and folds."""

    scale: str
    settings: tuple[SettingSpec, ...]
    epochs: int | None
    folds: int = 5


def plan_of(protocol: Protocol, quick: bool) -> ProtocolPlan:
    """The full protocol, or its quick form (the digits, fewer epochs; labelled quick)."""
    if not quick:
        return ProtocolPlan("full", protocol.settings, None)
    q = protocol.quick
    specs = tuple(
        SettingSpec("digits", labels, "injected", tuple(q["seeds"]), ("tuning", "heldout"))
        for labels in q["digits_noise"]
    )
    return ProtocolPlan("quick", specs, int(q["epochs"]), int(q.get("folds", 5)))


def schedule(plan: ProtocolPlan) -> list[tuple[SettingSpec, int]]:
    """Every (setting, seed), seed by seed."""
    most = max(len(s.seeds) for s in plan.settings)
    return [(s, s.seeds[i]) for i in range(most) for s in plan.settings if i < len(s.seeds)]


@dataclass
class Done:
    """A trained (setting, seed): its labels, truth and probabilities."""

    setting: LabelSetting
    probs: np.ndarray
    info: dict[str, Any]


def train(
    ds: datasets.BenchDataset,
    setting: LabelSetting,
    plan: ProtocolPlan,
    cache: Path,
    cached_only: bool = False,
) -> Done | None:
    """relabel's default config trained on ``setting`` (cached by everything that decides
    it); None when ``cached_only`` and it was never trained with the code at hand."""
    tag = setting.spec.labels.replace(":", "-")
    workdir = cache / "protocol" / f"{ds.name}-{tag}-s{setting.seed}"
    train_plan = detection.TrainPlan(plan.epochs, plan.folds, seed=setting.seed)
    got = detection.train_oof(
        ds, setting.given, train_plan, workdir, reuse=True, cached_only=cached_only
    )
    return None if got is None else Done(setting, *got)


def run_summary(done: Done) -> dict[str, Any]:
    """One (setting, seed) in the JSON: noise, accuracy, time, whether it was reused."""
    s, info = done.setting, done.info
    return {
        "setting": s.spec.key,
        "seed": s.seed,
        "n": len(s.given),
        "errors": int(s.is_error.sum()),
        "noise_rate": float(s.is_error.mean()),
        "oof_accuracy": float(info["oof_accuracy"]),
        "train_seconds": float(info.get("train_seconds") or info["seconds"]),
        "epochs": info.get("epochs"),
        "reused": bool(info.get("reused")),
        "measured": info.get("measured"),
        "key": info.get("key"),
    }


def half_masks(ds: datasets.BenchDataset, spec: SettingSpec, split_seed: int) -> dict:
    """The samples of each half the setting is reported on."""
    if spec.halves == ("heldout",):
        return {"heldout": np.ones(ds.n, bool)}
    tuning = split_halves(ds, split_seed)
    return {h: tuning if h == "tuning" else ~tuning for h in spec.halves}


def aggregate(
    spec: SettingSpec, runs: Sequence[Done], masks: dict[str, np.ndarray], top_fraction: float
) -> dict[str, Any]:
    """Every ranking's figures on each half of one setting, over the seeds trained."""
    outputs = [
        signals.RunOutputs(d.setting.given, d.probs, **detection.run_extras(d.info)) for d in runs
    ]
    scores = [signals.candidate_rankings(o) for o in outputs]
    flagged = [signals.cleanlab_flagged(o) for o in outputs]
    halves: dict[str, Any] = {}
    for half, mask in masks.items():
        idx = np.flatnonzero(mask)
        seeds = [
            stats.SeedRankings(d.setting.is_error[idx], {k: v[idx] for k, v in s.items()})
            for d, s in zip(runs, scores, strict=True)
        ]
        checked = evaluate.checked_in_half(spec.dataset, spec.labels, len(idx), len(mask))
        result = evaluate.evaluate_half(seeds, scoring.DEFAULT_METHOD, checked, top_fraction)
        result["n"] = len(idx)
        result["errors"] = [int(d.setting.is_error[idx].sum()) for d in runs]
        result["checked"] = checked
        result["cleanlab_flagged"] = evaluate.flagged_figures(
            [d.setting.is_error[idx] for d in runs],
            [f[idx] for f in flagged],
            [s[scoring.DEFAULT_METHOD][idx] for s in scores],
        )
        halves[half] = result
    return {
        "setting": spec.key,
        "truth": spec.truth,
        "seeds": [d.setting.seed for d in runs],
        "seeds_declared": list(spec.seeds),
        "noise_rate": float(np.mean([d.setting.is_error.mean() for d in runs])),
        "oof_accuracy": float(np.mean([d.info["oof_accuracy"] for d in runs])),
        "halves": halves,
    }


def run(
    protocol: Protocol,
    plan: ProtocolPlan,
    data: Path,
    cache: Path,
    out: dict[str, Any],
    save: Callable[[], None] | None = None,
    cached_only: bool = False,
) -> None:
    """Train every (setting, seed) of ``plan`` and fill ``out`` with the figures.

    With ``cached_only``, nothing is trained: the (setting, seed) pairs never trained with
    the code at hand are listed in ``out["missing"]`` and left out of the figures.
    """
    out.update(scale=plan.scale, default=scoring.DEFAULT_METHOD, protocol=protocol.text)
    out.update(top_fraction=protocol.top_fraction, split_seed=protocol.split_seed)
    out["runs"], out["settings"], out["missing"] = [], [], []
    loaded: dict[str, datasets.BenchDataset] = {}
    done: dict[str, list[Done]] = {}
    for spec, seed in schedule(plan):
        if spec.dataset not in loaded:
            loaded[spec.dataset] = datasets.load(spec.dataset, data, cache)
        ds = loaded[spec.dataset]
        log.info("protocol: %s seed %d", spec.key, seed)
        d = train(ds, build_setting(ds, spec, seed, data), plan, cache, cached_only)
        if d is None:
            out["missing"].append({"setting": spec.key, "seed": seed})
            continue
        done.setdefault(spec.key, []).append(d)
        out["runs"].append(run_summary(d))
        log.info("protocol: %s seed %d: OOF accuracy %.3f", spec.key, seed, d.info["oof_accuracy"])
        if save is not None:
            save()
    for spec in plan.settings:
        if spec.key not in done:
            continue
        masks = half_masks(loaded[spec.dataset], spec, protocol.split_seed)
        out["settings"].append(aggregate(spec, done[spec.key], masks, protocol.top_fraction))
        if spec.labels == "original" and spec.dataset == "cifar10":
            ds = loaded[spec.dataset]
            out["probabilities"] = probability_ideas(
                done[spec.key], ds.reference_probs, masks, protocol.top_fraction
            )


# --------------------------------------------------------------------------------------
# what better probabilities would give: averaged trainings, the paper's probabilities


def _idea_scores(labels: np.ndarray, probs: np.ndarray, tag: str) -> dict[str, np.ndarray]:
    """The default's and cleanlab's ranking of ``probs``, named ``"<ranking>, <tag>"``."""
    run = signals.RunOutputs(labels, probs)
    return {
        f"{scoring.DEFAULT_METHOD}, {tag}": scoring.suspicion(
            labels, probs, scoring.DEFAULT_METHOD
        ),
        f"cleanlab_quality, {tag}": signals.cleanlab_quality(run),
    }


def _idea_sources(
    runs: Sequence[Done], reference: np.ndarray | None
) -> list[dict[str, np.ndarray]]:
    """Per seed, the probabilities of each source: its own, the mean with the next seed's,
    the mean of every seed's and the reference (when known)."""
    n = len(runs)
    every = np.mean([d.probs for d in runs], axis=0)
    out = []
    for i, d in enumerate(runs):
        sources = {
            "one training": d.probs,
            "mean of 2 trainings": (d.probs + runs[(i + 1) % n].probs) / 2,
            f"mean of {n} trainings": every,
        }
        if reference is not None:
            sources["reference"] = reference
        out.append(sources)
    return out


def _idea_seeds(
    runs: Sequence[Done], sources: Sequence[dict[str, np.ndarray]]
) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Per seed, its errors and the default's and cleanlab's ranking of every source."""
    labels = runs[0].setting.given
    per_seed = []
    for d, probs in zip(runs, sources, strict=True):
        scores: dict[str, np.ndarray] = {}
        for tag, p in probs.items():
            scores.update(_idea_scores(labels, p, tag))
        per_seed.append((d.setting.is_error, scores))
    return per_seed


def _idea_accuracy(
    labels: np.ndarray, sources: Sequence[dict[str, np.ndarray]], mask: np.ndarray
) -> dict[str, float]:
    """Each source's accuracy against the labels given on ``mask``, mean over the seeds."""
    return {
        tag: float(np.mean([(s[tag][mask].argmax(axis=1) == labels[mask]).mean() for s in sources]))
        for tag in sources[0]
    }


def _idea_half(
    per_seed: Sequence[tuple[np.ndarray, dict[str, np.ndarray]]],
    pairs: Sequence[tuple[str, str]],
    mask: np.ndarray,
    top_fraction: float,
) -> dict[str, Any]:
    """Every source's figures on one half, and the paired differences of ``pairs``."""
    idx = np.flatnonzero(mask)
    seeds = [stats.SeedRankings(e[idx], {k: v[idx] for k, v in s.items()}) for e, s in per_seed]
    checked = evaluate.checked_in_half("cifar10", "original", len(idx), len(mask))
    compared = stats.compare(evaluate.figures(checked, top_fraction), seeds, pairs)
    names = list(per_seed[0][1])
    rankings = {
        name: {f: single[name].as_dict() for f, (single, _) in compared.items()} for name in names
    }
    differences = []
    for a, b in pairs:
        d = {f: diffs[(a, b)] for f, (_, diffs) in compared.items()}
        differences.append(
            {
                "a": a,
                "b": b,
                **{f: {**e.as_dict(), "verdict": stats.verdict(e)} for f, e in d.items()},
            }
        )
    return {"checked": checked, "rankings": rankings, "differences": differences}


def probability_ideas(
    runs: Sequence[Done],
    reference: np.ndarray | None,
    masks: dict[str, np.ndarray],
    top_fraction: float,
) -> dict[str, Any]:
    """The default and cleanlab's ranking on better probabilities of the same labels.

    For the trainings of one label setting whose seeds share the labels (the original
    labels): each seed's own probabilities (``one training``), the mean of its and the
    next seed's (``mean of 2 trainings``: what averaging the previous cycle's out-of-fold
    probabilities with the new ones would give when few labels changed), the mean of all
    (``mean of N trainings``) and the paper's out-of-fold probabilities of the same labels
    (``reference``), each ranked by the default and by cleanlab's quality score. Paired
    intervals as in :func:`aggregate`: every source against the default on one training,
    and the default against cleanlab on each source.

    Returns
    -------
    dict
        ``seeds``, ``sources`` (in table order) and ``halves``: ``{half: {checked,
        rankings, differences, accuracy}}`` (accuracy of each source against the labels
        given on the half, mean over the seeds).
    """
    sources = _idea_sources(runs, reference)
    per_seed = _idea_seeds(runs, sources)
    names = list(per_seed[0][1])
    base = f"{scoring.DEFAULT_METHOD}, one training"
    pairs = [(n, base) for n in names if n != base and n.startswith(scoring.DEFAULT_METHOD)]
    pairs += [(f"{scoring.DEFAULT_METHOD}, {t}", f"cleanlab_quality, {t}") for t in sources[0]]
    halves = {}
    for half, mask in masks.items():
        halves[half] = _idea_half(per_seed, pairs, mask, top_fraction)
        halves[half]["accuracy"] = _idea_accuracy(runs[0].setting.given, sources, mask)
    return {"seeds": [d.setting.seed for d in runs], "sources": list(sources[0]), "halves": halves}
