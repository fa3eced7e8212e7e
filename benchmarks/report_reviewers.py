"""BENCHMARKS.md: the reviewers section (:mod:`benchmarks.reviewers`), rendered from data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _arm(rv: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((a for a in rv["arms"] if a["arm"] == name), None)


def _done(arm: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in arm["cycles"] if "tasks" in c]


def _first_cycle_rows(rv: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for arm in rv["arms"]:
        first = _done(arm)[:1]
        if not first:
            rows.append([arm["arm"], *["–"] * 7])
            continue
        c = first[0]
        rows.append(
            [
                arm["arm"],
                c["tasks"],
                c["gold_tasks"],
                c["resolved"],
                _f(c["resolved_accuracy"]),
                c["corrected"],
                c["wrong_versions"],
                c["unresolved"],
            ]
        )
    return rows


def _cycle_rows(rv: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for arm in rv["arms"]:
        rows.append([arm["arm"], 0, "", "", "", "", "", "", _pct(arm["initial_noise"])])
        for c in arm["cycles"]:
            if "tasks" not in c:
                rows.append([arm["arm"], c["cycle"], f"**{c['state']}**", *[""] * 6])
                continue
            rows.append(
                [
                    arm["arm"],
                    c["cycle"],
                    c["tasks"],
                    c["answers"],
                    c["corrected"],
                    c["wrong_versions"],
                    _f(c["tasks_per_correction"], 1),
                    _f(c["answers_per_correction"], 1),
                    _pct(c["noise_left"]),
                ]
            )
    return rows


def _noise_left(arm: dict[str, Any] | None) -> tuple[float, int] | None:
    if arm is None or not _done(arm):
        return None
    last = _done(arm)[-1]
    return last["noise_left"], last["mislabeled_left"]


def verdicts(rv: dict[str, Any]) -> list[str]:
    """Sentences that compare the arms, computed from the figures."""
    out = []
    names = {"majority": "majority", "ds": "dawid_skene", "gold": "dawid_skene + 5% gold"}
    first = {k: (_done(_arm(rv, n))[:1] if _arm(rv, n) else []) for k, n in names.items()}
    if first["majority"] and first["ds"]:
        m, d = first["majority"][0], first["ds"][0]
        word = (
            "higher than"
            if d["resolved_accuracy"] > m["resolved_accuracy"]
            else ("equal to" if d["resolved_accuracy"] == m["resolved_accuracy"] else "lower than")
        )
        out.append(
            f"In the first cycle, labels resolved by Dawid-Skene were right "
            f"{_pct(d['resolved_accuracy'])} of the time, {word} majority's "
            f"{_pct(m['resolved_accuracy'])}; it wrote {d['wrong_versions']} wrong label "
            f"version(s) against majority's {m['wrong_versions']}."
        )
    if first["gold"] and first["ds"]:
        g, d = first["gold"][0], first["ds"][0]
        out.append(
            f"With {g['gold_tasks']} gold task(s) mixed in, Dawid-Skene resolved "
            f"{_pct(g['resolved_accuracy'])} right and wrote {g['wrong_versions']} wrong "
            f"version(s) (without gold: {_pct(d['resolved_accuracy'])}, "
            f"{d['wrong_versions']})."
        )
    left = {n: _noise_left(_arm(rv, n)) for n in (*names.values(), "majority, no floor")}
    known = {n: v for n, v in left.items() if v is not None}
    if known:
        best = min(known, key=lambda n: known[n][1])
        out.append(
            f"After {rv['cycles']} cycles the fewest mislabelled samples were left by "
            f"{best} ({known[best][1]}, {_pct(known[best][0])}); "
            + "; ".join(f"{n}: {v[1]}" for n, v in known.items() if n != best)
            + "."
        )
    floor, none = _arm(rv, "majority"), _arm(rv, "majority, no floor")
    if floor and none and _done(floor) and _done(none):
        tasks_f = sum(c["tasks"] for c in _done(floor))
        tasks_n = sum(c["tasks"] for c in _done(none))
        corr_f = sum(c["corrected"] for c in _done(floor))
        corr_n = sum(c["corrected"] for c in _done(none))
        out.append(
            f"The floor of filled slots (`review.min_suspicion`): majority sent {tasks_f} "
            f"task(s) for {corr_f} correction(s) with it and {tasks_n} for {corr_n} without "
            f"it ({_f(tasks_f / corr_f if corr_f else None, 1)} against "
            f"{_f(tasks_n / corr_n if corr_n else None, 1)} tasks per correction)."
        )
    return out


def render(rv: dict[str, Any]) -> list[str]:
    """The section's Markdown lines."""
    acc = ", ".join(f"{a:.2f}" for a in rv["accuracy"])
    lines = [
        "## 2b. Reviewers: majority, Dawid-Skene and gold tasks",
        "",
        f"{rv['dataset']} with class-pair noise `{rv['noise']}` (seed {rv['seed']}), "
        f"{rv['cycles']} cycles through relabel's own loop (`relabel.loop.cycle.run_cycle`) and a "
        "real local Label Studio. Three simulated reviewers of accuracy "
        f"{acc} answer every task (`review.reviewers_per_task = 3`, no skips); a mistake goes "
        "to the classes the image is confusable with, in proportion to the ranking model's "
        "out-of-fold probabilities. Gold: a held-out manifest of "
        f"{rv['holdout']} images with their true labels (copies of digits images), "
        f"`review.gold_fraction = {rv['gold_fraction']}`. One training of the noisy labels "
        "is shared; each arm then runs its own cycles. `benchmarks/reviewers.py`.",
        "",
        "First cycle: the same selection for every arm, so the same tasks; the resolved "
        "labels' accuracy is against the true labels.",
        "",
    ]
    lines += _table(
        [
            "arm",
            "tasks",
            "gold tasks",
            "resolved",
            "resolved right",
            "corrected",
            "wrong versions",
            "unresolved",
        ],
        _first_cycle_rows(rv),
    )
    lines += ["Every cycle (tasks include gold tasks; answers are non-skipped answers):", ""]
    lines += _table(
        [
            "arm",
            "cycle",
            "tasks",
            "answers",
            "corrected",
            "wrong versions",
            "tasks per correction",
            "answers per correction",
            "noise left",
        ],
        _cycle_rows(rv),
    )
    lines += [*(f"- {v}" for v in verdicts(rv)), ""]
    lines += _floor_probe(rv.get("floor_probe") or [])
    return lines


def _floor_probe(rows: list[dict[str, Any]]) -> list[str]:
    """The floor on settings it was not chosen on (`benchmarks/floor_probe.py`)."""
    if not rows:
        return []
    lines = [
        "The floor of filled slots on settings it was not chosen on (the default, 0.1, was "
        "chosen on the digits arms above): one push of 5 % of the samples on the paper's "
        "reference probabilities; the original labels, whose only errors are the "
        "human-confirmed ones, stand for a late cycle. `benchmarks/floor_probe.py`.",
        "",
    ]
    lines += _table(
        [
            "setting",
            "label-issue picks",
            "floor",
            "filled",
            "wrong in filled",
            "sent",
            "wrong in sent",
        ],
        [
            [
                r["setting"],
                r["lane"],
                r["floor"],
                r["filled"],
                r["filled_wrong"],
                r["sent"],
                r["sent_wrong"],
            ]
            for r in rows
        ],
    )
    for setting in dict.fromkeys(r["setting"] for r in rows):
        none = next(r for r in rows if r["setting"] == setting and r["floor"] == 0.0)
        tenth = next((r for r in rows if r["setting"] == setting and r["floor"] == 0.1), None)
        if tenth is None or none["sent"] == tenth["sent"]:
            continue
        lines.append(
            f"- {setting}: the floor 0.1 sends {tenth['sent']} task(s) instead of "
            f"{none['sent']} and finds {tenth['sent_wrong']} wrong label(s) instead of "
            f"{none['sent_wrong']}."
        )
    return [*lines, ""]
