"""BENCHMARKS.md's scale section: every command at 100k and 1M samples (benchmarks.scale)."""

from __future__ import annotations

from typing import Any

#: The steps in table order, with what the table calls them.
STEPS = (
    ("init", "`relabel init --trust-paths`"),
    ("import-run", "`relabel import-run` (probabilities + 128-d float16 embeddings)"),
    ("score", "`relabel score` (ranking, lanes, Parquet out)"),
    ("status", "`relabel status`"),
    ("export", "`relabel export`"),
    ("history", "`relabel history` of one sample (the whole command)"),
    ("report", "`relabel report`"),
    ("push", "`relabel push` of the review budget"),
    ("pull", "`relabel pull` of those tasks, all answered"),
)


def _sizes(sc: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs at the main class count (the wide case apart), smallest first."""
    k = min((s["classes"] for s in sc.get("sizes") or []), default=10)
    return sorted((s for s in sc.get("sizes") or [] if s["classes"] == k), key=lambda s: s["n"])


def _cell(step: dict[str, Any] | None) -> str:
    if not step:
        return "–"
    if step["rc"] != 0:
        return f"failed (exit {step['rc']})"
    return f"{step['seconds']:.1f} s ({step['cpu_s']:.1f} s CPU)"


def _growth(small: dict[str, Any] | None, big: dict[str, Any] | None, ratio: float) -> str:
    if not small or not big or small["rc"] or big["rc"] or not small["cpu_s"]:
        return "–"
    return f"{big['cpu_s'] / small['cpu_s']:.1f}x CPU for {ratio:.0f}x rows"


def _peak(size: dict[str, Any]) -> float:
    return max((s["peak_gib"] for s in size["steps"].values()), default=0.0)


def checks(sc: dict[str, Any] | None) -> list[tuple[str, str, bool | None]]:
    """The targets at the largest size: each step's wall time, and the peak memory."""
    sizes = _sizes(sc or {})
    if not sizes:
        return []
    big = sizes[-1]
    at = f"{big['n']:,} x {big['classes']}"
    full = big["n"] >= 1_000_000
    out: list[tuple[str, str, bool | None]] = []
    for name, label in STEPS:
        step, target = big["steps"].get(name), sc["targets"].get(name)
        if step is None or target is None:
            continue
        ok = step["rc"] == 0 and step["seconds"] <= target
        out.append(
            (f"scale: {label} at {at} within {target:g} s", _cell(step), ok if full else None)
        )
    history = big.get("history_call")
    if history:
        ok = history["query_s"] <= sc["targets"]["history"]
        out.append(
            (
                f"scale: `Project.history` of one sample at {at} within "
                f"{sc['targets']['history']:g} s (the store query; opening the project apart)",
                f"{history['query_s']:.4f} s (+ {history['open_s']:.2f} s to open)",
                ok if full else None,
            )
        )
    peak = _peak(big)
    out.append(
        (
            f"scale: peak memory of any step at {at} within {sc['target_peak_gib']:g} GiB",
            f"{peak:.2f} GiB",
            peak <= sc["target_peak_gib"] if full else None,
        )
    )
    return out


def _wide(sc: dict[str, Any]) -> list[str]:
    sizes = _sizes(sc)
    k = sizes[0]["classes"] if sizes else None
    lines = []
    for w in (s for s in sc.get("sizes") or [] if s["classes"] != k):
        steps = ", ".join(
            f"{name} {_cell(w['steps'].get(name))}" for name, _ in STEPS if name in w["steps"]
        )
        lines += [
            f"**{w['n']:,} samples x {w['classes']:,} classes:** {steps}; peak memory "
            f"{_peak(w):.2f} GiB.",
            "",
        ]
    return lines


def _detection(sizes: list[dict[str, Any]]) -> list[str]:
    big = sizes[-1]
    full, sample = big.get("detection"), big.get("detection_sample")
    if not full or not sample:
        return []
    same = abs(full["precision_at_k"] - sample["precision_at_k"]) <= 0.05
    return [
        f"Detection on the planted errors, default score: at {full['n']:,} samples precision "
        f"at k (k = the {full['planted']:,} planted) {full['precision_at_k']:.3f} and top-5 % "
        f"precision {full['top5_precision']:.3f}; on a random {sample['n']:,} of the same rows "
        f"(scored alone) {sample['precision_at_k']:.3f} and {sample['top5_precision']:.3f}"
        + (
            ": the ranking does not change with size."
            if same
            else ": they differ by more than 0.05."
        )
        + " (Synthetic probabilities: this shows the size changes nothing, not how good the "
        "ranking is on real data; that is section 1's.)",
        "",
    ]


def render(sc: dict[str, Any]) -> list[str]:
    """The section's lines."""
    lines = ["## 7. A million samples: every command as a user runs it", ""]
    if sc.get("error"):
        return [*lines, f"Not run: {sc['error']}", ""]
    sizes = _sizes(sc)
    if not sizes:
        return [*lines, "Not run in this plan.", ""]
    lines += [
        "Synthetic projects with 5 % planted label errors: a Parquet manifest of image URLs "
        "(never decoded: `relabel init --trust-paths`), out-of-fold probabilities of a model "
        "right about most samples and 128-d float16 embeddings, as a team that trains "
        "elsewhere brings them. Each step is the real command in its own process: its wall "
        "time, its CPU time, and its own peak memory (the table's last row). Targets (issue "
        "28) hold at 1,000,000 x 10.",
        "",
    ]
    head = [f"{s['n']:,} x {s['classes']}" for s in sizes]
    rows = []
    for name, label in STEPS:
        cells = [_cell(s["steps"].get(name)) for s in sizes]
        if all(c == "–" for c in cells):
            continue
        target = sc["targets"].get(name)
        growth = (
            _growth(
                sizes[0]["steps"].get(name),
                sizes[-1]["steps"].get(name),
                sizes[-1]["n"] / sizes[0]["n"],
            )
            if len(sizes) > 1
            else "–"
        )
        rows.append([label, *cells, f"<= {target:g} s" if target else "", growth])
    rows.append(
        [
            "peak memory, any step",
            *(f"{_peak(s):.2f} GiB" for s in sizes),
            f"<= {sc['target_peak_gib']:g} GiB",
            "",
        ]
    )
    lines += _table(["step", *head, "target at 1M", "growth"], rows)
    for s in sizes:
        if s.get("history_call"):
            h = s["history_call"]
            lines.append(
                f"At {s['n']:,} samples, `Project.history` of one sample: the store query "
                f"{h['query_s']:.4f} s after {h['open_s']:.2f} s to open the project."
            )
    lines += ["", *_wide(sc), *_detection(sizes)]
    return lines


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]
