"""BENCHMARKS.md's learning section: active-learning curves (benchmarks.learning_curves).

Every figure is computed here from the curves in the JSON: the final accuracy of each
strategy with a 95 % t interval over the seeds, the labels each needs to reach random's
final accuracy (on the mean curve over seeds, at the rounds measured), and the paired
difference of the default strategy and ``entropy`` at the largest batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

HEADING = "## 10. Active learning: which images to label next"
#: The default strategy passes when it reaches random's final accuracy with at most this
#: share of random's labels.
LABEL_SHARE_TARGET = 0.70
#: Rounding slack of accuracy comparisons.
TOL = 1e-9


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t interval over seeds (the mean twice when there is one seed)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def _finals(runs: list[dict[str, Any]]) -> list[float]:
    return [r["accuracy"][-1] for r in runs]


def mean_curve(runs: list[dict[str, Any]]) -> tuple[list[int], np.ndarray]:
    """Labelled sizes and the mean accuracy over seeds at each round."""
    return runs[0]["sizes"], np.mean([r["accuracy"] for r in runs], axis=0)


def labels_to_reach(runs: list[dict[str, Any]], target: float) -> int | None:
    """The fewest labelled samples at which the mean curve reaches ``target`` (None: never)."""
    sizes, acc = mean_curve(runs)
    return next((s for s, a in zip(sizes, acc, strict=True) if a >= target - TOL), None)


def summary(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per strategy: final accuracy and interval, labels to reach random's final accuracy."""
    runs = batch["runs"]
    target = float(np.mean(_finals(runs["random"])))
    random_labels = runs["random"][0]["sizes"][-1]
    out = {}
    for strategy, r in runs.items():
        need = labels_to_reach(r, target)
        out[strategy] = {
            "final": interval(_finals(r)),
            "labels": need,
            "share": None if need is None else need / random_labels,
            "select_s": float(np.mean([x["select_seconds"] for x in r])),
        }
    return out


def paired(batch: dict[str, Any], a: str, b: str) -> tuple[float, float, float] | None:
    """Mean and 95 % interval of ``final(a) - final(b)``, paired by seed."""
    runs = batch["runs"]
    if a not in runs or b not in runs:
        return None
    return interval([x - y for x, y in zip(_finals(runs[a]), _finals(runs[b]), strict=True)])


def _batches(ds: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The smallest and the largest batch of a dataset."""
    ordered = sorted(ds["batches"].values(), key=lambda b: b["step"])
    return ordered[0], ordered[-1]


def _pp(x: float) -> str:
    return f"{100 * x:+.2f} pp"


def _acc(est: tuple[float, float, float]) -> str:
    mean, low, high = est
    return f"{mean:.4f}" if low == high else f"{mean:.4f} [{low:.4f}, {high:.4f}]"


def _role(lr: dict[str, Any], name: str) -> str:
    return "tuning" if name == lr.get("tuning") else "held-out"


def checks(lr: dict[str, Any] | None) -> list[tuple[str, str, bool | None]]:
    """Per dataset: the default's label share against random, and default vs entropy."""
    if not lr or not lr.get("datasets"):
        return []
    full = lr["plan"]["mode"] == "full"
    default = lr["default"]
    out: list[tuple[str, str, bool | None]] = []
    for name, ds in lr["datasets"].items():
        small, large = _batches(ds)
        mine = summary(small).get(default)
        if mine is None:
            continue
        share = mine["share"]
        out.append(
            (
                f"learning ({name}, {_role(lr, name)}): `{default}` reaches random's final "
                f"accuracy with <= {LABEL_SHARE_TARGET:.0%} of random's labels",
                "not reached" if share is None else f"{share:.0%} of random's labels",
                (share is not None and share <= LABEL_SHARE_TARGET + TOL) if full else None,
            )
        )
        diff = paired(large, default, "entropy")
        if diff is not None and default != "entropy":
            out.append(
                (
                    f"learning ({name}, {_role(lr, name)}): `{default}` beats `entropy` at "
                    f"the largest batch ({large['step']:.0%} of the pool per round)",
                    _pp(diff[0])
                    + ("" if diff[1] == diff[2] else f" [{_pp(diff[1])}, {_pp(diff[2])}]"),
                    diff[1] > 0 if full else None,
                )
            )
    return out


def _intro(lr: dict[str, Any]) -> list[str]:
    plan = lr["plan"]
    seeds = len(plan["seeds"])
    return [
        "Which unlabelled images to label next (`relabel.ranking.select_batch`): every "
        "strategy on the same protocol. A fixed held-out split "
        f"({plan['heldout']:.0%} of the images) measures accuracy; of the rest (the pool) a "
        f"random {plan['start']:.0%} starts labelled, and each round the learner is refitted "
        f"and the strategy picks {plan['step']:.0%} of the pool more, up to "
        f"{plan['stop']:.0%}; simulated annotators answer each picked image's dataset "
        f"label. {seeds} seed{'s' * (seeds > 1)} (the start set and the strategies' draws; "
        "the same start for every strategy of a seed), then again with a larger batch "
        f"({plan['large_step']:.0%} per round). The learner is fixed and cheap so that only "
        f"the choice of images differs: {lr['learner']}; the strategies' embeddings are its "
        "features (`coreset` uses them alone, so its picks, and its curve, are the same at "
        "every batch size). Intervals: 95 % t intervals over the seeds. "
        f"relabel's default strategy is `{lr['default']}`, chosen on MNIST (tuning); "
        "CIFAR-10 is held out."
        + (f" Quick mode: {plan['subset']:,} images per dataset." if plan["subset"] else ""),
        "",
    ]


def _dataset(lr: dict[str, Any], name: str, ds: dict[str, Any]) -> list[str]:
    small, large = _batches(ds)
    rows_small, rows_large = summary(small), summary(large)
    pool = ds["n_pool"]
    lines = [
        f"**{name} ({_role(lr, name)})**: {ds['n']:,} images, {ds['n_pool']:,} in the pool, "
        f"{ds['n_heldout']:,} held out; features: {ds['features']}.",
        "",
    ]
    if ds.get("label_informed_features"):
        lines += [
            "*Limitation:* these embeddings come from a CNN trained on the labels of the "
            "same images (each image's from the fold that held it out, trained on the other "
            "folds' labels). A project choosing what to label has no such model yet: every "
            "strategy here starts from far better features than it would, and the figures "
            "compare strategies, not what a first labelling round reaches.",
            "",
        ]
    head = [
        "strategy",
        f"accuracy at {small['runs']['random'][0]['sizes'][-1] / pool:.0%} labelled",
        f"labels to reach random's final accuracy ({small['step']:.0%} batches)",
        f"accuracy, {large['step']:.0%} batches",
        "selection s per run",
    ]
    rows = []
    for strategy, s in rows_small.items():
        need = (
            "not reached"
            if s["labels"] is None
            else f"{s['labels']:,} ({s['share']:.0%} of random's)"
        )
        mark = " (default)" if strategy == lr["default"] else ""
        rows.append(
            [
                f"`{strategy}`{mark}",
                _acc(s["final"]),
                need,
                _acc(rows_large[strategy]["final"]),
                f"{s['select_s']:.2f}",
            ]
        )
    lines += _table(head, rows)
    lines += _curves(small, pool)
    lines += _verdict(lr, large)
    return lines


def _curves(batch: dict[str, Any], pool: int) -> list[str]:
    sizes = batch["runs"]["random"][0]["sizes"]
    head = ["mean accuracy at labelled", *(f"{s / pool:.0%}" for s in sizes)]
    rows = [
        [f"`{strategy}`", *(f"{a:.3f}" for a in mean_curve(runs)[1])]
        for strategy, runs in batch["runs"].items()
    ]
    return _table(head, rows)


def _verdict(lr: dict[str, Any], large: dict[str, Any]) -> list[str]:
    default = lr["default"]
    diff = paired(large, default, "entropy")
    if diff is None or default == "entropy":
        return []
    mean, low, high = diff
    if low == high:  # one seed: no interval, no verdict
        return [
            f"At the largest batch ({large['step']:.0%} of the pool per round) `{default}` "
            f"minus `entropy`: {_pp(mean)} final accuracy (one seed: no interval, no verdict).",
            "",
        ]
    word = "beats" if low > 0 else ("loses to" if high < 0 else "ties with")
    return [
        f"At the largest batch ({large['step']:.0%} of the pool per round) `{default}` "
        f"{word} `entropy`: {_pp(mean)} final accuracy [{_pp(low)}, {_pp(high)}], paired "
        "by seed.",
        "",
    ]


def render(lr: dict[str, Any]) -> list[str]:
    """The section's lines."""
    lines = [HEADING, ""]
    if lr.get("error"):
        return [*lines, f"Not run: {lr['error']}", ""]
    lines += _intro(lr)
    for name, ds in lr.get("datasets", {}).items():
        lines += _dataset(lr, name, ds)
    lines += [f"Skipped: {s}" for s in lr.get("skipped", [])]
    return [*lines, ""] if lr.get("skipped") else lines


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]
