"""The decision threshold of a two-class project (part of the evaluation section)."""

from __future__ import annotations

import numpy as np

from relabel.report import figures
from relabel.report.context import ReportContext
from relabel.report.data import ReportInputs
from relabel.report.evaluation import ThresholdChoice, choose_threshold
from relabel.report.markup import Html, esc, join, note, table


def _confusion_table(choice: ThresholdChoice, neg_name: str, pos_name: str) -> Html:
    """The 2 x 2 confusion table at the chosen threshold."""
    tn, fp, fn, tp = (int(v) for v in choice.confusion.ravel())
    return table(
        ["given \\ predicted", neg_name, pos_name],
        [
            [Html(f"<b>{esc(neg_name)}</b>"), f"{tn:,} (TN)", f"{fp:,} (FP)"],
            [Html(f"<b>{esc(pos_name)}</b>"), f"{fn:,} (FN)", f"{tp:,} (TP)"],
        ],
        num=(1, 2),
        cls="small",
    )


def _criterion(x: ReportInputs, choice: ThresholdChoice, pos_name: str) -> str:
    """Why this threshold: the target recall, or the lowest cost."""
    if choice.criterion == "target_recall":
        return f"Criterion: target recall {x.target_recall:g} for {pos_name!r}."
    return (
        f"Criterion: lowest cost with cost_fp = {x.cost_fp:g}, cost_fn = {x.cost_fn:g}"
        " (no target recall was set)."
    )


def render(ctx: ReportContext) -> Html:
    """The chosen decision threshold, its confusion table and the precision-recall plot.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The subsection for two classes; for more, a note when a positive class or a
        target recall was set, else nothing.
    """
    x = ctx.x
    if x.k != 2:
        if x.positive_class is not None or x.target_recall is not None:
            return note(
                "A decision threshold is chosen for two-class projects only; "
                f"this project has {x.k} classes."
            )
        return Html("")
    pos_name = x.positive_class if x.positive_class is not None else x.classes[1]
    pos = x.classes.index(pos_name)
    neg_name = x.classes[1 - pos]
    y = x.given == pos
    if not y.any():
        return note(f"No sample is labelled {pos_name!r}: no threshold can be chosen.")
    return _chosen(ctx, y, x.probs[:, pos], pos_name, neg_name)


def _chosen(
    ctx: ReportContext, y: np.ndarray, score: np.ndarray, pos_name: str, neg_name: str
) -> Html:
    """The subsection once there are positive samples to choose a threshold on."""
    x = ctx.x
    choice = choose_threshold(
        y,
        score,
        positive_class=pos_name,
        target_recall=x.target_recall,
        cost_fp=x.cost_fp,
        cost_fn=x.cost_fn,
    )
    f_thr = figures.threshold_plot(y, score, choice, ctx.assets.buffer())
    return join(
        [
            "<h3>Decision threshold (two classes)</h3>",
            f'<p class="callout">{esc(choice.statement)}</p>',
            note(_criterion(x, choice, pos_name)),
            '<div class="row"><div>',
            _confusion_table(choice, neg_name, pos_name),
            note(
                f"Precision {choice.precision:.3f}, recall {choice.recall:.3f}, "
                f"cost {choice.cost:g}."
            ),
            "</div>",
            ctx.assets.img(f_thr, "precision and recall against the threshold"),
            "</div>",
        ]
    )
