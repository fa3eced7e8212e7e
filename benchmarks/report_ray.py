"""BENCHMARKS.md: the Ray executor section (:mod:`benchmarks.ray_executor`), from data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _ratio(a: float, b: float) -> str:
    """``a`` against ``b`` in words, computed."""
    if a <= b:
        return f"{b / a:.2f}x faster than"
    return f"{a / b:.2f}x slower than"


def _same(s: dict[str, Any]) -> str:
    ranking = "the same ranking" if s["same_ranking"] else "**a different ranking**"
    return f"largest difference {s['max_abs_diff']:.1e}, {ranking}"


def _estimate_rows(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [[r["workers"], f"{r['seconds']:.0f}", f"{r['speedup']:.2f}x"] for r in rows]


def render(r: dict[str, Any]) -> list[str]:
    """The section's Markdown lines."""
    if r.get("error"):
        return ["## 6. Folds on Ray", "", f"Not measured: `{r['error']}`", ""]
    local, serial, parallel = r["local_s"], r["ray_serial_s"], r["ray_parallel_s"]
    lines = [
        "## 6. Folds on Ray",
        "",
        f"The same {r['folds']}-fold run on the {r['dataset']} ({r['n']} images, "
        f"{r['epochs']} epochs at most, the same decoded images and seed) with "
        f'`training.executor = "local"` and `"ray"` (Ray {r["ray_version"]}, a local '
        f"Ray of {r['cores']} CPUs on this machine, started in {r['ray_start_s']:.1f} s, "
        "not counted below).",
        "",
    ]
    lines += _table(
        ["run", "wall s", "against local", "probabilities against local"],
        [
            ["local, folds one after another", f"{local:.1f}", "–", "–"],
            [
                f"ray, one fold at a time ({r['cores']} CPUs per fold)",
                f"{serial:.1f}",
                _ratio(serial, local),
                _same(r["serial_vs_local"]),
            ],
            [
                f"ray, one fold per CPU ({r['cores']} at once)",
                f"{parallel:.1f}",
                _ratio(parallel, local),
                _same(r["parallel_vs_local"]),
            ],
        ],
    )
    fits = ", ".join(f"{s:.1f}" for s in r["ray_parallel_fold_fit_s"])
    lines += [
        f"Ray's overhead on this run is {r['overhead_s']:.1f} s "
        f"({r['overhead_s'] / local:.0%} of the local run): the one-fold-at-a-time run "
        "minus the local one. A local fold takes "
        f"{r['fold_s']:.1f} s; with {r['cores']} folds at once on {r['cores']} cores, sharing "
        f"them, each fold's fit took {fits} s.",
        "",
        "Estimated wall time on N workers, each as fast as this machine: "
        "`fold time x ceil(folds / N) + overhead`, from the figures above.",
        "",
    ]
    lines += _table(["workers", "est. wall s", "speed-up"], _estimate_rows(r["estimate"]))
    photo = r.get("photos_estimate")
    if photo:
        lines += [
            f"The same estimate for the photos section's {photo['folds']}-fold CIFAR-10 run "
            f"({photo['n']} images, a measured fold time of {photo['fold_s']:.0f} s on this "
            f"machine, the digits' overhead of {r['overhead_s']:.0f} s):",
            "",
        ]
        lines += _table(["workers", "est. wall s", "speed-up"], _estimate_rows(photo["rows"]))
    return lines
