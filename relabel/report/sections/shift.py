"""The shift check section: does the latest new batch look like the data already labelled?
(The check itself is :func:`relabel.report.shift.shift_check`.)"""

from __future__ import annotations

from relabel.report import figures
from relabel.report.context import ReportContext
from relabel.report.data import ShiftResult
from relabel.report.markup import Html, esc, join, note, pct, table


def verdict(auc: float) -> str:
    """What a covariate-shift ROC AUC means, in a sentence.

    Parameters
    ----------
    auc : float
        Cross-validated ROC AUC of the old-vs-new classifier.

    Returns
    -------
    str
        No shift below 0.6, some below 0.75, clear shift above.
    """
    if auc < 0.6:
        return "the new images look like the old ones; a classifier cannot tell them apart."
    if auc < 0.75:
        return "the new images look somewhat different from the old ones."
    return "the new images look clearly different from the old ones; check the new source."


def verdict_short(auc: float) -> str:
    """:func:`verdict` in a few words, for the summary.

    Parameters
    ----------
    auc : float
        Cross-validated ROC AUC of the old-vs-new classifier.

    Returns
    -------
    str
        ``"no sign of shift"``, ``"some shift"`` or ``"clear shift"``.
    """
    return "no sign of shift" if auc < 0.6 else ("some shift" if auc < 0.75 else "clear shift")


def _prior_text(s: ShiftResult) -> str:
    """The outcome of the chi-square test of the class proportions."""
    if s.prior_p_value < 0.01:
        return (
            f"The class proportions of the new batch differ from the old data "
            f"(chi-square {s.chi2:.3g}, dof {s.dof}, p = {s.prior_p_value:.3g}, "
            f"Cramér's V {s.cramers_v:.2f})."
        )
    return (
        f"No evidence that the class proportions changed (chi-square {s.chi2:.3g}, "
        f"dof {s.dof}, p = {s.prior_p_value:.3g})."
    )


def _proportions(ctx: ReportContext, s: ShiftResult) -> list[str]:
    """The table and plot of the class proportions, old against new."""
    x = ctx.x
    old_p = s.old_counts / max(1, s.n_old)
    new_p = s.new_counts / max(1, s.n_new)
    fig = figures.grouped_bars(
        [("old data", old_p), ("new batch", new_p)],
        x.classes,
        ctx.assets.buffer(),
        title="Class proportions",
        ylabel="share of samples",
    )
    rows = [
        [
            x.classes[k],
            f"{int(s.old_counts[k]):,}",
            pct(float(old_p[k])),
            f"{int(s.new_counts[k]):,}",
            pct(float(new_p[k])),
            f"{100 * (new_p[k] - old_p[k]):+.1f} pts",
        ]
        for k in range(x.k)
    ]
    head = ["class", "old", "old share", "new", "new share", "change"]
    return [
        '<div class="row"><div>',
        table(head, rows, num=range(1, 6), cls="small"),
        "</div>",
        ctx.assets.img(fig, "class proportions, old vs new"),
        "</div>",
    ]


def _covariate(s: ShiftResult) -> list[str]:
    """The covariate check's ROC AUC and how it was measured, or why it did not run."""
    if s.covariate_auc is None:
        return [note(f"Not checked: {s.note or 'no features'}.")]
    std = f" ± {s.covariate_auc_std:.3f}" if s.covariate_auc_std is not None else ""
    return [
        f'<p class="callout">ROC AUC <b>{s.covariate_auc:.3f}</b>{esc(std)}: '
        f"{esc(verdict(s.covariate_auc))}</p>",
        note(
            f"A logistic regression on {s.n_features} grey pixel values per image "
            f"({s.cv_folds}-fold stratified cross-validation) tries to tell old images "
            "from new ones. AUC 0.5 means it cannot (no shift); 1.0 means it always can."
        ),
    ]


def render(ctx: ReportContext) -> Html:
    """Prior shift (class proportions) and covariate shift (how the images look).

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content; a note when no new batch was checked.
    """
    s = ctx.x.shift
    if s is None:
        return note("No new batch has been checked for shift yet.")
    parts = [
        f"<p>Old data: {s.n_old:,} samples; new batch: {s.n_new:,} samples.</p>",
        "<h3>Prior shift (class proportions)</h3>",
        f'<p class="callout">{esc(_prior_text(s))}</p>',
    ]
    if s.new_labels_are_predictions:
        parts.append(
            note(
                "The new batch's labels are the model's predictions, not human "
                "labels: a prior shift may partly reflect model errors."
            )
        )
    parts += _proportions(ctx, s)
    parts.append("<h3>Covariate shift (how the images look)</h3>")
    parts += _covariate(s)
    return join(parts)
