"""The README's generated blocks: the figures a newcomer reads first, from the results JSON.

Each block is plain Markdown computed from ``BENCHMARKS.json``; README.md holds it between
``<!-- benchmarks:NAME -->`` and ``<!-- /benchmarks:NAME -->``. ``python -m benchmarks``
rewrites the blocks with BENCHMARKS.md, and ``--check`` fails when they differ.
"""

from __future__ import annotations

from typing import Any

from benchmarks import report_protocol
from benchmarks.provenance import DEPENDS


def _cell(e: dict[str, Any]) -> str:
    return f"{e['mean']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def _duration(seconds: float) -> str:
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def how_well(results: dict[str, Any]) -> str:
    """Held-out detection: the default against cleanlab, and what the run cost."""
    p = results.get("protocol") or {}
    meta = results.get("meta") or {}
    if not p.get("settings"):
        return "No detection results in BENCHMARKS.json yet.\n"
    top = f"{p['top_fraction']:.0%}"
    scale = " (QUICK scale: the digits, fewer epochs)" if p["scale"] == "quick" else ""
    rows = []
    for s in p["settings"]:
        h = s["halves"].get("heldout")
        if not h:
            continue
        d = h["vs_default"][report_protocol.CLEANLAB][report_protocol.HEADLINE]
        rows.append(
            f"| {s['setting']} | {len(s['seeds'])} | {s['noise_rate']:.1%} | "
            f"{_cell(h['rankings'][p['default']][report_protocol.HEADLINE])} | "
            f"{_cell(h['rankings'][report_protocol.CLEANLAB][report_protocol.HEADLINE])} | "
            f"{d['mean']:+.3f}, {d['verdict']} |"
        )
    c = report_protocol.verdict_counts(p["settings"], "heldout", report_protocol.CLEANLAB)
    prov = (meta.get("sections") or {}).get("protocol") or {}
    lines = [
        f"Held-out settings{scale}, never used to choose a default: relabel's own out-of-fold "
        f"probabilities (its default config), precision in the top {top} of the ranking (what "
        "a review budget consumes), mean over seeds with a 95 % interval:",
        "",
        f"| label setting | seeds | wrong labels | relabel ({p['default']}) | cleanlab "
        "`get_label_quality_scores` | difference |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"The default beats cleanlab on {c['higher']} of {sum(c.values())} held-out "
        f"settings, ties on {c['tie']} and loses on {c['lower']} (a win only where the paired "
        f"interval excludes 0). Computed at commit `{prov.get('commit', '?')}` (when the code "
        "changed since, BENCHMARKS.md marks the section **stale** and `python -m benchmarks "
        "--check` fails)",
    ]
    lines[-1] += "; " + run_time(meta, results) + "."
    return "\n".join(lines) + "\n"


def run_time(meta: dict[str, Any], results: dict[str, Any] | None = None) -> str:
    """How long ``make bench`` took: one complete run's time, or the sum of its parts.

    A file stitched from several runs has no end-to-end time; its parts were each measured
    (every section's wall time, and the training time of each reused protocol training),
    and their sum is what one run of the same work costs on the same machine.
    """
    sections = meta.get("sections") or {}
    commands = {v.get("command") for v in sections.values()}
    whole = (
        len(commands) == 1
        and set(sections) >= set(DEPENDS)
        and not any(flag in str(meta.get("command")) for flag in ("--update", "--cached-only"))
    )
    cores = (meta.get("machine") or {}).get("cores", "?")
    if whole and meta.get("wall_seconds"):
        return (
            f"the whole `python -m benchmarks --{meta['mode']}` run took "
            f"{_duration(meta['wall_seconds'])} on {cores} cores"
        )
    parts = _measured_parts(sections, results or {})
    if not parts:
        return (
            f"the sections come from {len(commands)} run(s), so no end-to-end `make bench` "
            "time is measured at this commit (each section's own time is in BENCHMARKS.md)"
        )
    trained, other = parts
    return (
        f"the sections come from {len(commands)} run(s), so `make bench` was not timed as one "
        f"command; its measured parts add up to {_duration(trained + other)} on {cores} cores "
        f"({_duration(trained)} of protocol trainings, {_duration(other)} for the rest)"
    )


def _measured_parts(
    sections: dict[str, Any], results: dict[str, Any]
) -> tuple[float, float] | None:
    """(seconds of reused protocol trainings, seconds of the sections' own runs), or None."""
    if not set(sections) >= set(DEPENDS) or any(
        not v.get("wall_seconds") for v in sections.values()
    ):
        return None
    runs = (results.get("protocol") or {}).get("runs") or []
    trained = sum(r.get("train_seconds") or 0.0 for r in runs if r.get("reused"))
    return trained, sum(v["wall_seconds"] for v in sections.values())


def blocks(results: dict[str, Any]) -> dict[str, str]:
    """Every generated block by name."""
    return {"how-well": how_well(results)}
