"""The page skeleton: head and style, header, navigation, the sections in order, footer."""

from __future__ import annotations

from collections.abc import Callable

from relabel.report.context import ReportContext
from relabel.report.markup import Html, esc
from relabel.report.sections import (
    annotators,
    cycles,
    evaluation,
    galleries,
    issue_map,
    issues,
    quality,
    shift,
    summary,
)
from relabel.report.style import CSS

#: The sections in page order: (anchor id, title, renderer).
SECTIONS: tuple[tuple[str, str, Callable[[ReportContext], Html]], ...] = (
    ("summary", "Summary", summary.render),
    ("evaluation", "Evaluation", evaluation.render),
    ("quality", "Label quality", quality.render),
    ("galleries", "Galleries", galleries.render),
    ("duplicates", "Duplicates", issues.render_duplicates),
    ("outliers", "Outliers", issues.render_outliers),
    ("health", "Image health", issues.render_health),
    ("map", "Embedding map", issue_map.render),
    ("cycles", "Cycle history", cycles.render),
    ("shift", "Shift check", shift.render),
    ("annotators", "Annotators", annotators.render),
)


def _meta(ctx: ReportContext) -> str:
    """The line under the title: when, from which run, how many samples and classes."""
    x = ctx.x
    return " · ".join(
        t
        for t in (
            f"generated {x.generated_at}" if x.generated_at else "",
            f"run {x.run_id}" if x.run_id else "",
            f"{x.n:,} samples, {x.k} classes",
        )
        if t
    )


def render_page(ctx: ReportContext) -> str:
    """The whole HTML page of a report.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    str
        The document, from ``<!DOCTYPE html>`` to a final newline.
    """
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, _ in SECTIONS)
    body = "".join(
        f'<section id="{sid}"><h2>{esc(title)}</h2>{render(ctx)}</section>'
        for sid, title, render in SECTIONS
    )
    title = f"relabel report: {ctx.x.project_name}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><p class="meta">{esc(_meta(ctx))}</p></header>'
        f"<nav>{nav}</nav><main>{body}</main>"
        "<footer>Made by relabel. This one file holds every figure and thumbnail: it "
        "works offline and can be mailed as it is.</footer></body></html>\n"
    )
