"""The annotators section: one row per reviewer."""

from __future__ import annotations

from relabel.report.context import ReportContext
from relabel.report.data import ReviewerRow
from relabel.report.markup import Html, bar_cell, join, note, pct, table

_HEAD = [
    "reviewer",
    "tasks",
    "agreement with final label",
    "skips",
    "skip rate",
    "gold accuracy",
    "estimated accuracy (95% interval)",
    "confuses (true as answered)",
]


def _row(r: ReviewerRow) -> list[object]:
    """One reviewer's cells."""
    interval = f" ({pct(r.interval[0])}–{pct(r.interval[1])})" if r.interval else ""
    return [
        r.name,
        f"{r.tasks:,}",
        bar_cell(r.agreement_with_final, pct(r.agreement_with_final), "#d5ecd9"),
        f"{r.skips:,}",
        pct(min(1.0, r.skips / r.tasks)) if r.tasks else "–",
        f"{pct(r.gold_accuracy)} of {r.gold_tasks}" if r.gold_tasks else "–",
        pct(r.estimated_accuracy) + interval,
        r.confuses or "–",
    ]


def render(ctx: ReportContext) -> Html:
    """Each reviewer's tasks, agreement, skips, gold and estimated accuracy, confusions.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content; a note when nobody has reviewed yet.
    """
    revs = ctx.x.reviewers
    if not revs:
        return note("No reviews yet: no reviewer has answered a task.")
    return join(
        [
            table(_HEAD, [_row(r) for r in revs], num=(1, 2, 3, 4, 5, 6)),
            note(
                "Agreement: share of the reviewer's answers that equal the label the sample "
                "ended with (skipped tasks left out). Skip rate: skips / tasks. Gold "
                "accuracy: answers equal to the trusted label of gold tasks. Estimated "
                "accuracy: a Dawid-Skene model of every answer, anchored by gold tasks; "
                "confusions are its expected counts."
            ),
        ]
    )
