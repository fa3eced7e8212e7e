"""The label quality section: the estimated noise matrix, errors per class, the review
lanes and the most confused class pairs."""

from __future__ import annotations

import numpy as np

from relabel.report import figures
from relabel.report.context import ReportContext
from relabel.report.data import KNOWN_LANES
from relabel.report.markup import Html, esc, join, note, table


def _figures(ctx: ReportContext) -> Html:
    """The noise matrix and the estimated errors per class, side by side."""
    x, a = ctx.x, ctx.assets
    names = x.classes
    f_noise = figures.heatmap(
        x.noise_matrix,
        names,
        names,
        a.buffer(),
        title="Estimated P(true | given)",
        xlabel="likely true class",
        ylabel="given class",
        fmt="share",
        cmap="Reds",
        mask_diagonal=True,
    )
    f_err = figures.bar_chart(
        x.errors_per_class,
        names,
        a.buffer(),
        title="Estimated label errors per given class",
        ylabel="samples",
    )
    return join(
        [
            '<div class="row">',
            a.img(f_noise, "noise matrix"),
            a.img(f_err, "errors per class"),
            "</div>",
        ]
    )


def _lane_text(ctx: ReportContext) -> str:
    """How many samples each review lane holds, e.g. ``"3 label issue, 5 uncertain, 92 ok"``."""
    x = ctx.x
    lanes = [(lane, int(np.sum(x.lane == lane))) for lane in KNOWN_LANES]
    others = x.n - sum(c for _, c in lanes)
    text = ", ".join(f"{c:,} {lane.replace('_', ' ')}" for lane, c in lanes)
    if others:
        text += f", {others:,} other"
    return text


def render(ctx: ReportContext) -> Html:
    """The estimated label noise and the most confused pairs.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content.
    """
    parts: list[str] = [
        note(
            "Estimated from the confident joint of the out-of-fold probabilities: row i "
            "says where the samples labelled i most likely belong. A perfect dataset "
            "has 1.00 on the diagonal (grey); colours show the off-diagonal mix-ups."
        ),
        _figures(ctx),
        f"<p>Review lanes: {esc(_lane_text(ctx))}.</p>",
        "<h3>Most confused class pairs</h3>",
    ]
    if not ctx.pairs:
        parts.append(note("No label errors are estimated between any two classes."))
        return join(parts)
    parts.append(
        note(
            "Pairs are ranked by estimated label errors with both directions combined "
            "(given A but truly B, plus given B but truly A). The thumbnails are the most "
            "suspicious samples given one class and predicted the other."
        )
    )
    parts.append(_pairs_table(ctx))
    return join(parts)


def _thumbs(ctx: ReportContext, a: int, b: int) -> str:
    """Small thumbnails of the most suspicious samples of a pair, both directions."""
    x = ctx.x
    half = max(1, ctx.layout.pair_thumbs // 2)
    idx = list(ctx.pair_examples(a, b, half)) + list(ctx.pair_examples(b, a, half))
    return "".join(
        f'<img class="mini" src="{esc(s)}" alt="{esc(x.sample_ids[i])}" '
        f'title="{esc(x.sample_ids[i])}: given {esc(ctx.cls(x.given[i]))}">'
        for i in idx
        if (s := ctx.assets.thumb(int(i))) is not None
    )


def _pairs_table(ctx: ReportContext) -> Html:
    """The most confused class pairs, with a few thumbnails of each."""
    rows = []
    for r, p in enumerate(ctx.pairs, 1):
        thumbs = _thumbs(ctx, p.a, p.b)
        link = f'<a href="#pair-{p.a}-{p.b}">{esc(ctx.cls(p.a))} ↔ {esc(ctx.cls(p.b))}</a>'
        rows.append(
            [
                str(r),
                Html(link),
                f"{p.errors_ab:,.0f}",
                f"{p.errors_ba:,.0f}",
                f"{p.total:,.0f}",
                Html(thumbs or "–"),
            ]
        )
    return table(
        ["#", "pair A ↔ B", "given A, truly B", "given B, truly A", "total", "examples"],
        rows,
        num=(0, 2, 3, 4),
    )
