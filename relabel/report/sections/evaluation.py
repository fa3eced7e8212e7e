"""The evaluation section: accuracy, confusion matrices, per-class table, PR curves and,
for two classes, the decision threshold."""

from __future__ import annotations

import numpy as np

from relabel.report import figures
from relabel.report.context import ReportContext
from relabel.report.markup import Html, bar_cell, fmt, join, note, pct, table
from relabel.report.sections import threshold

_CLASS_HEAD = [
    "class",
    "support (given)",
    "predicted",
    "precision",
    "recall",
    "F1",
    "average precision",
    "est. label errors",
]


def _confusion_figures(ctx: ReportContext) -> Html:
    """The confusion matrix as counts and row-normalised, side by side."""
    ev, a, names = ctx.ev, ctx.assets, ctx.x.classes
    f_counts = figures.heatmap(
        ev.confusion,
        names,
        names,
        a.buffer(),
        title="Confusion matrix (counts)",
        xlabel="predicted",
        ylabel="given",
        fmt="d",
    )
    f_norm = figures.heatmap(
        ev.confusion_normalized,
        names,
        names,
        a.buffer(),
        title="Confusion matrix (share of each given class)",
        xlabel="predicted",
        ylabel="given",
        fmt="share",
        vmax=1.0,
    )
    return join(
        [
            '<div class="row">',
            a.img(f_counts, "confusion matrix, counts"),
            a.img(f_norm, "confusion matrix, row-normalised"),
            "</div>",
        ]
    )


def _class_table(ctx: ReportContext) -> Html:
    """Per class: support, predictions, precision, recall, F1, AP, estimated errors."""
    x, ev, names = ctx.x, ctx.ev, ctx.x.classes
    est = x.errors_per_class
    rows: list[list[object]] = [
        [
            names[k],
            f"{int(ev.support[k]):,}",
            f"{int(ev.confusion[:, k].sum()):,}",
            bar_cell(ev.precision[k], f"{ev.precision[k]:.3f}"),
            bar_cell(ev.recall[k], f"{ev.recall[k]:.3f}"),
            bar_cell(ev.f1[k], f"{ev.f1[k]:.3f}"),
            bar_cell(ev.average_precision[k], fmt(float(ev.average_precision[k]))),
            f"{est[k]:,.0f}",
        ]
        for k in range(x.k)
    ]
    ap = ev.average_precision
    mean_ap = fmt(float(np.nanmean(ap))) if np.any(~np.isnan(ap)) else "–"
    rows.append(
        [
            Html("<b>all</b>"),
            f"{x.n:,}",
            f"{x.n:,}",
            "",
            "",
            Html(f"<b>macro {ev.macro_f1:.3f}</b>"),
            mean_ap,
            f"{est.sum():,.0f}",
        ]
    )
    return table(_CLASS_HEAD, rows, num=range(1, 8))


def render(ctx: ReportContext) -> Html:
    """The evaluation of the out-of-fold predictions against the current labels.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content.
    """
    x, ev = ctx.x, ctx.ev
    parts = [
        note(
            "Every prediction here is out-of-fold: it comes from a model that never saw "
            "that image in training, so the figures cover the whole dataset without "
            "leakage. They are measured against the current labels, which still hold "
            "some errors: part of the disagreement below is label noise, not model error."
        ),
        f'<p class="big">Accuracy <b>{pct(ev.accuracy, 2)}</b> · macro-F1 '
        f"<b>{ev.macro_f1:.3f}</b> · {x.n:,} samples</p>",
        _confusion_figures(ctx),
        "<h3>Per class</h3>",
        _class_table(ctx),
        "<h3>Precision-recall, one class against the rest</h3>",
        note(
            "Average precision (AP) is the area under each curve; the dotted line is "
            "the share of the class (a random ranking)."
        ),
        ctx.assets.img(figures.pr_curves(ev, ctx.assets.buffer()), "precision-recall curves"),
    ]
    parts.append(threshold.render(ctx))
    return join(parts)
