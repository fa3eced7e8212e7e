"""The issue sections: duplicate sets side by side, outliers, and unhealthy images per type.

Each draws on :attr:`relabel.report.ReportInputs.issues` (docs/issues.md) and shows at
most ``layout.issues_per_type`` samples or sets per type, the highest scores first.
"""

from __future__ import annotations

import numpy as np

from relabel.findings import HEALTH_TYPES
from relabel.report.cards import issue_card
from relabel.report.context import ReportContext
from relabel.report.issues import DuplicateGroup, duplicate_groups, has_type, top_flagged
from relabel.report.markup import Html, esc, join, note

#: Members of one duplicate set shown side by side (the rest are counted).
SET_MEMBERS = 8
#: What the report says when the run has no embeddings, and how to get them.
NO_EMBEDDINGS = (
    "This run has no embeddings (it was trained before runs kept them, or imported "
    "without them): near copies, outliers and the embedding map need them. Retrain to "
    "get them: relabel train PROJECT."
)
#: What each health type means, as its gallery's heading says it.
HEALTH_TEXT = {
    "dark": "too dark (mean brightness below 0.12)",
    "bright": "too bright (mean brightness above 0.9)",
    "blurry": "blurry for this dataset (far less sharp than the others)",
    "low_information": "little information (few distinct grey levels)",
    "odd_size": "odd size or aspect ratio for this dataset",
    "grayscale": "grayscale in a set of colour images",
}


def missing(ctx: ReportContext) -> Html:
    """The note of an issue section when the issues were not computed.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        A note with the reason given by the caller, if any.
    """
    reason = ctx.x.issues_note or "they were not given to the report"
    return note(f"Dataset issues were not computed for this report: {reason}.")


def _gallery(ctx: ReportContext, idx: np.ndarray, kind: str, detail: str) -> Html:
    """Cards of flagged samples with their score (``detail`` formats it) and reason."""
    t = ctx.x.issues
    assert t is not None
    score = t[f"{kind}_score"].to_numpy(dtype=np.float64)
    reasons = t["reasons"].astype(str).to_numpy() if "reasons" in t.columns else None
    cards = [
        issue_card(ctx, int(i), detail.format(score[i]), "" if reasons is None else str(reasons[i]))
        for i in idx
    ]
    return Html('<div class="gallery">' + "".join(cards) + "</div>")


def _flagged(ctx: ReportContext, kind: str, detail: str) -> list[str]:
    """A count and the gallery of one type's flagged samples, or "None found."."""
    t = ctx.x.issues
    assert t is not None
    idx, total = top_flagged(t, kind, ctx.layout.issues_per_type)
    if not total:
        return [note("None found.")]
    shown = f", the {len(idx)} highest scores shown" if total > len(idx) else ""
    return [
        f'<p class="sub">{total:,} flagged{shown}</p>',
        _gallery(ctx, idx, kind, detail),
    ]


def _set_html(ctx: ReportContext, g: DuplicateGroup) -> str:
    """One duplicate set: a heading with its marks, its members side by side."""
    members = g.members[:SET_MEMBERS]
    more = len(g.members) - len(members)
    name = f"set {g.set_id}" if g.set_id >= 0 else "copy of a held-out image"
    badges = (
        '<span class="badge badge-conflict">conflicting labels</span>' if g.conflict else ""
    ) + (
        '<span class="badge badge-holdout">crosses the holdout split</span>'
        if g.crosses_holdout
        else ""
    )
    cls = " conflict" if g.conflict else (" holdout" if g.crosses_holdout else "")
    size = f"{len(g.members)} images" if g.set_id >= 0 else "1 image"
    return (
        f'<div class="dupset{cls}"><div class="dupset-head"><b>{esc(name)}</b> · {size}'
        f"{badges}</div>"
        + _gallery(ctx, members, "duplicate", "score {:.2f}")
        + (f'<p class="sub">and {more:,} more</p>' if more > 0 else "")
        + "</div>"
    )


def render_duplicates(ctx: ReportContext) -> Html:
    """Duplicate sets, their members side by side; conflicts and holdout leaks first.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content.
    """
    t = ctx.x.issues
    if t is None:
        return missing(ctx)
    parts: list[str] = [
        note(
            "Copies of the same image: exact copies have the same pixels at the project's "
            "size; near copies are closer in embedding space than a threshold calibrated "
            "on the data. Sets whose members carry different labels, and sets with a copy "
            "in the holdout set (a leak that inflates every holdout figure), come first."
        )
    ]
    if not has_type(t, "outlier"):
        parts.append(note("Exact copies only. " + NO_EMBEDDINGS))
    if not has_type(t, "duplicate"):
        return join([*parts, note("Duplicates were not looked for.")])
    groups = duplicate_groups(t)
    if not groups:
        return join([*parts, note("None found.")])
    shown = groups[: ctx.layout.issues_per_type]
    n_conflict = sum(g.conflict for g in groups)
    n_holdout = sum(g.crosses_holdout for g in groups)
    parts.append(
        f'<p class="sub">{len(groups):,} duplicate sets ({sum(len(g.members) for g in groups):,} '
        f"samples): {n_conflict:,} with conflicting labels, {n_holdout:,} crossing the "
        "holdout split"
        + (f"; the {len(shown)} most worrying shown" if len(shown) < len(groups) else "")
        + "</p>"
    )
    parts += [_set_html(ctx, g) for g in shown]
    return join(parts)


def render_outliers(ctx: ReportContext) -> Html:
    """The samples farthest from their nearest neighbours, judged within their class.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content.
    """
    t = ctx.x.issues
    if t is None:
        return missing(ctx)
    parts: list[str] = [
        note(
            "Images far from their nearest neighbours in embedding space, compared with "
            "the other images of their given class (a robust z-score): images that belong "
            "to no class, or to a class of their own. Highest z first."
        )
    ]
    if not has_type(t, "outlier"):
        return join([*parts, note(NO_EMBEDDINGS)])
    return join(parts + _flagged(ctx, "outlier", "z {:.1f}"))


def render_health(ctx: ReportContext) -> Html:
    """Unhealthy images, one gallery per health type.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content.
    """
    t = ctx.x.issues
    if t is None:
        return missing(ctx)
    parts: list[str] = [
        note(
            "Images flagged from their pixels (computed while decoding): too dark or "
            "bright, blurry, little information, an odd size or aspect ratio, grayscale "
            "among colour images. Highest score first."
        )
    ]
    kinds = [k for k in HEALTH_TYPES if has_type(t, k)]
    if not kinds:
        return join([*parts, note("Image health was not computed.")])
    for kind in kinds:
        parts.append(f'<h3 id="health-{kind}">{esc(HEALTH_TEXT.get(kind, kind))}</h3>')
        parts += _flagged(ctx, kind, "score {:.2f}")
    return join(parts)
