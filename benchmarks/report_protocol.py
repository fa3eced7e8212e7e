"""The protocol section of BENCHMARKS.md: every ranking, each half, intervals, verdicts.

Every comparing sentence is computed from the section's figures. "A beats B" is written
only where the paired 95 % interval of the difference excludes 0
(:func:`benchmarks.stats.verdict`); otherwise the two are tied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: The figures of a half, in table order, with their column titles.
FIGURES = {
    "p_top": "precision in the top {top}",
    "p_at_k": "precision@k (k = errors)",
    "hits_checked": "errors in the top {checked}",
    "auroc": "AUROC",
}
#: The figure the default is chosen on and the headline compares.
HEADLINE = "p_top"
CLEANLAB = "cleanlab_quality"
VERDICT_WORD = {"higher": "beats", "lower": "loses to", "tie": "ties with"}


def _est(e: dict[str, Any] | None, digits: int = 3) -> str:
    if not e:
        return "–"
    if e["mean"] != e["mean"]:  # NaN
        return "n/a"
    return f"{e['mean']:.{digits}f} [{e['low']:.{digits}f}, {e['high']:.{digits}f}]"


def _diff(d: dict[str, Any] | None) -> str:
    if not d:
        return "–"
    return f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] {d['verdict']}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def best_rankings(half: dict[str, Any], figure: str) -> set[str]:
    """Every ranking whose mean of ``figure`` is the highest on a half (ties all count)."""
    means = {k: v[figure]["mean"] for k, v in half["rankings"].items() if figure in v}
    top = max(means.values())
    return {k for k, m in means.items() if m == top}


def half_table(half: dict[str, Any], default: str, top: str) -> list[str]:
    """Every ranking of one half: its figures and the default's paired difference.

    The highest mean of each figure is in bold (every ranking that reaches it)."""
    figs = [f for f in FIGURES if f in next(iter(half["rankings"].values()))]
    best = {f: best_rankings(half, f) for f in figs}
    header = ["ranking", *[FIGURES[f].format(top=top, checked=half.get("checked")) for f in figs]]
    header.append(f"default − this, {FIGURES[HEADLINE].format(top=top)}")
    rows = []
    for name, values in sorted(half["rankings"].items(), key=lambda kv: -kv[1][HEADLINE]["mean"]):
        cells = [_est(values[f], 1 if f == "hits_checked" else 3) for f in figs]
        cells = [f"**{c}**" if name in best[f] else c for c, f in zip(cells, figs, strict=True)]
        label = f"{name} (default)" if name == default else name
        versus = half["vs_default"].get(name, {}).get(HEADLINE)
        rows.append([label, *cells, _diff(versus) if name != default else ""])
    return _table(header, rows)


def verdict_counts(settings: Sequence[dict[str, Any]], half: str, other: str) -> dict[str, int]:
    """How often the default beats, ties with or loses to ``other`` on ``half``."""
    out = {"higher": 0, "tie": 0, "lower": 0}
    for s in settings:
        h = s["halves"].get(half)
        d = h and h["vs_default"].get(other, {}).get(HEADLINE)
        if d:
            out[d["verdict"]] += 1
    return out


def summary(p: dict[str, Any], half: str) -> list[str]:
    """One row per setting on ``half``: the default against cleanlab, and the best."""
    top = f"{p['top_fraction']:.0%}"
    rows = []
    for s in p["settings"]:
        h = s["halves"].get(half)
        if not h:
            continue
        r = h["rankings"]
        best = ", ".join(sorted(best_rankings(h, HEADLINE)))
        rows.append(
            [
                s["setting"],
                f"{len(s['seeds'])} ({', '.join(map(str, s['seeds']))})",
                f"{s['noise_rate']:.3f}",
                f"{s['oof_accuracy']:.3f}",
                _est(r[p["default"]][HEADLINE]),
                _est(r[CLEANLAB][HEADLINE]),
                _diff(h["vs_default"][CLEANLAB][HEADLINE]),
                best,
            ]
        )
    header = [
        "setting",
        "seeds (which)",
        "noise rate",
        "OOF accuracy",
        f"default, top {top}",
        f"cleanlab, top {top}",
        "default − cleanlab",
        f"best in the top {top} (ties: all)",
    ]
    return _table(header, rows)


def summary_sentence(p: dict[str, Any], half: str) -> str:
    """The computed verdict of the default against cleanlab on ``half``."""
    c = verdict_counts(p["settings"], half, CLEANLAB)
    n = sum(c.values())
    top = f"{p['top_fraction']:.0%}"
    return (
        f"On the {half} half, in the top {top}, the default ({p['default']}) beats cleanlab's "
        f"`get_label_quality_scores` on {c['higher']} of {n} settings, ties on {c['tie']} "
        f"and loses on {c['lower']} (a win or a loss only where the paired 95 % interval "
        "of the difference excludes 0)."
    )


def tuning_choice(p: dict[str, Any]) -> tuple[str, float] | None:
    """The ranking with the highest mean headline figure over the tuning rows."""
    totals: dict[str, list[float]] = {}
    for s in p["settings"]:
        h = s["halves"].get("tuning")
        for name, values in (h or {}).get("rankings", {}).items():
            totals.setdefault(name, []).append(values[HEADLINE]["mean"])
    if not totals:
        return None
    means = {k: sum(v) / len(v) for k, v in totals.items()}
    best = max(sorted(means), key=lambda k: means[k])
    return best, means[best]


def render(p: dict[str, Any]) -> list[str]:
    """The protocol section's Markdown lines."""
    top = f"{p['top_fraction']:.0%}"
    scale = " (QUICK: the digits at small scale, not the published protocol)" * (
        p["scale"] == "quick"
    )
    lines = [
        f"## 1. Detection on the declared protocol{scale}",
        "",
        "relabel's default config, trained as `relabel init` sets it up (out of fold, 5 "
        "folds), on every label setting of `benchmarks/protocol.toml` (printed below); every "
        "ranking computed on the same out-of-fold probabilities. Figures are means over the "
        "seeds with a 95 % interval (paired bootstrap over samples, 1,000 rounds); the last "
        "column is the default minus that ranking, with its verdict. Defaults are chosen on "
        "the tuning half only; the held-out half only reports them.",
        "",
    ]
    if p.get("missing"):
        listed = ", ".join(f"{m['setting']} seed {m['seed']}" for m in p["missing"])
        lines += [f"Not yet trained with the code at hand (left out): {listed}.", ""]
    for half in ("heldout", "tuning"):
        if any(half in s["halves"] for s in p["settings"]):
            lines += [f"### {half} half: the default against cleanlab", ""]
            lines += [summary_sentence(p, half), ""]
            lines += summary(p, half)
    choice = tuning_choice(p)
    if choice:
        verb = "is" if choice[0] == p["default"] else "is not"
        lines += [
            f"Choosing on the tuning half: the ranking with the highest mean precision in the "
            f"top {top} over the tuning rows is `{choice[0]}` ({choice[1]:.3f}); it {verb} "
            f"the default (`{p['default']}`).",
            "",
        ]
    for s in p["settings"]:
        for half, h in s["halves"].items():
            errors = ", ".join(map(str, h["errors"]))
            lines += [
                f"#### {s['setting']}, {half} half: {h['n']:,} samples, errors per seed "
                f"{errors} ({s['truth']})",
                "",
            ]
            lines += half_table(h, p["default"], top)
            lines += [_flagged_line(h["cleanlab_flagged"], p["default"]), ""]
    lines += ["The protocol file:", "", "```toml", p["protocol"].rstrip(), "```", ""]
    return lines


def checks(p: dict[str, Any] | None) -> list[tuple[str, str, bool | None]]:
    """Acceptance rows: the default against cleanlab on the held-out half (reported)."""
    if not p or not p.get("settings"):
        return []
    c = verdict_counts(p["settings"], "heldout", CLEANLAB)
    scale = " (quick scale)" if p["scale"] == "quick" else ""
    return [
        (
            f"held out{scale}: the default ({p['default']}) against cleanlab "
            f"get_label_quality_scores, precision in the top {p['top_fraction']:.0%}, paired "
            "95 % interval of the difference",
            f"beats on {c['higher']}, ties on {c['tie']}, loses on {c['lower']} of "
            f"{sum(c.values())} settings",
            None,
        )
    ]


def _flagged_line(f: dict[str, Any], default: str) -> str:
    """cleanlab's flagged set, and the default ranking cut at the same count."""
    line = (
        f"cleanlab `find_label_issues` flags {f['flagged']:.0f} on average "
        f"(precision {f['precision']:.3f}, recall {f['recall']:.3f})"
    )
    if "default_precision" not in f:
        return line + "."
    return line + (
        f"; the default ({default}) cut at the same count in each seed: precision "
        f"{f['default_precision']:.3f}, recall {f['default_recall']:.3f}."
    )
