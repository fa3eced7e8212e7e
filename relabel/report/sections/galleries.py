"""The galleries section: the most suspicious samples, then examples of each confused pair."""

from __future__ import annotations

import numpy as np

from relabel.report.cards import gallery
from relabel.report.context import ReportContext
from relabel.report.evaluation import ConfusedPair
from relabel.report.markup import Html, esc, join, note


def _pair(ctx: ReportContext, p: ConfusedPair) -> list[str]:
    """The heading of one confused pair and its examples in both directions."""
    x = ctx.x
    parts = [f'<h4 id="pair-{p.a}-{p.b}">{esc(ctx.cls(p.a))} ↔ {esc(ctx.cls(p.b))}</h4>']
    for a, b in ((p.a, p.b), (p.b, p.a)):
        idx = ctx.pair_examples(a, b, ctx.layout.per_pair)
        n_all = int(np.sum((x.given == a) & (ctx.ev.predicted == b)))
        parts.append(
            f'<p class="sub">given <b>{esc(ctx.cls(a))}</b>, predicted '
            f"<b>{esc(ctx.cls(b))}</b>: {n_all:,} samples"
            + (f", showing the {len(idx)} most suspicious" if n_all > len(idx) else "")
            + "</p>"
        )
        parts.append(gallery(ctx, idx) if len(idx) else note("none"))
    return parts


def render(ctx: ReportContext) -> Html:
    """The top suspicious samples in review order, then each confused pair's examples.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content.
    """
    top = ctx.order[: ctx.layout.top_n]
    parts: list[str] = [
        f"<h3>Top {len(top)} suspicious samples</h3>",
        note(
            "In review order (most suspicious first). Each card: sample id, given label, "
            "predicted label with its probability, the probability of the given label, "
            "the review lane and the rank."
        ),
        gallery(ctx, top),
        "<h3>Misclassified examples per confused pair</h3>",
    ]
    if not ctx.pairs:
        parts.append(note("No confused pairs."))
    for p in ctx.pairs:
        parts += _pair(ctx, p)
    return join(parts)
