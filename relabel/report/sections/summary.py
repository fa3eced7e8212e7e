"""The summary section: a row of key figures."""

from __future__ import annotations

import numpy as np

from relabel.report.context import ReportContext
from relabel.report.data import KNOWN_LANES
from relabel.report.markup import Html, esc, pct
from relabel.report.sections.shift import verdict_short


def _cards(ctx: ReportContext) -> list[tuple[str, str, str]]:
    """(label, value, note) of each key figure."""
    x, ev = ctx.x, ctx.ev
    est = float(x.errors_per_class.sum())
    lanes = {lane: int(np.sum(x.lane == lane)) for lane in KNOWN_LANES}
    cards = [
        ("samples", f"{x.n:,}", f"{x.k} classes"),
        ("accuracy (OOF)", pct(ev.accuracy), f"macro-F1 {ev.macro_f1:.3f}"),
        ("estimated label errors", f"{est:,.0f}", f"{pct(est / x.n)} of the samples"),
        (
            "flagged as label issue",
            f"{lanes['label_issue']:,}",
            f"{lanes['uncertain']:,} uncertain",
        ),
        (
            "cycles done",
            str(len(x.cycles)),
            f"{sum(c.corrected for c in x.cycles):,} labels corrected",
        ),
    ]
    if ctx.pairs:
        p = ctx.pairs[0]
        cards.append(
            (
                "most confused pair",
                f"{ctx.cls(p.a)} ↔ {ctx.cls(p.b)}",
                f"≈ {p.total:,.0f} estimated errors",
            )
        )
    if x.shift is not None and x.shift.covariate_auc is not None:
        auc = x.shift.covariate_auc
        cards.append(("new batch shift (AUC)", f"{auc:.2f}", verdict_short(auc)))
    return cards


def render(ctx: ReportContext) -> Html:
    """The summary: samples, accuracy, estimated errors, lanes, cycles, pair and shift.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content.
    """
    body = "".join(
        f'<div class="kpi"><div class="kpi-label">{esc(a)}</div>'
        f'<div class="kpi-value">{esc(b)}</div><div class="kpi-sub">{esc(c)}</div></div>'
        for a, b, c in _cards(ctx)
    )
    return Html(f'<div class="kpis">{body}</div>')
