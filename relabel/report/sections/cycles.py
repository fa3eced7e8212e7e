"""The cycle history section: one row per finished cycle, and the class balance before
and after the corrections."""

from __future__ import annotations

import numpy as np

from relabel.report import figures
from relabel.report.context import ReportContext
from relabel.report.markup import Html, fmt, join, note, pct, table

_HEAD = [
    "cycle",
    "budget",
    "reviewed",
    "corrected",
    "hit rate",
    "est. errors left",
    "accuracy (OOF)",
    "macro-F1 (OOF)",
]


def _history(ctx: ReportContext) -> list[str]:
    """The table and plot of the finished cycles, or a note that there are none."""
    x, a = ctx.x, ctx.assets
    if not x.cycles:
        return [note("No cycles yet: nothing has been reviewed.")]
    rows = [
        [
            str(c.cycle),
            "–" if c.budget is None else f"{c.budget:,}",
            f"{c.reviewed:,}",
            f"{c.corrected:,}",
            pct(c.hit_rate),
            fmt(c.est_errors_left, ",.0f"),
            pct(c.accuracy, 2),
            fmt(c.macro_f1),
        ]
        for c in x.cycles
    ]
    return [
        table(_HEAD, rows, num=range(8)),
        a.img(figures.cycle_plot(x.cycles, a.buffer()), "cycle history"),
    ]


def _balance(ctx: ReportContext) -> list[str]:
    """Samples per class, original labels against current ones when both are known."""
    x, a = ctx.x, ctx.assets
    parts = ["<h3>Class balance before and after corrections</h3>"]
    current = np.bincount(x.given, minlength=x.k)
    if x.original is None:
        parts.append(note("The original labels were not given; showing the current balance."))
        series = [("current", current)]
    else:
        series = [("original", np.bincount(x.original, minlength=x.k)), ("current", current)]
        changed = int(np.sum(x.original != x.given))
        parts.append(note(f"{changed:,} of {x.n:,} labels differ from the original ones."))
    fig = figures.grouped_bars(
        series, x.classes, a.buffer(), title="Samples per class", ylabel="samples"
    )
    parts.append(a.img(fig, "class balance"))
    return parts


def render(ctx: ReportContext) -> Html:
    """The cycle history and the class balance.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content.
    """
    return join(_history(ctx) + _balance(ctx))
