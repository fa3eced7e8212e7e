"""Sample cards: a thumbnail with the sample id, given and predicted labels, lane and rank."""

from __future__ import annotations

from collections.abc import Sequence

from relabel.report.context import ReportContext
from relabel.report.data import KNOWN_LANES
from relabel.report.markup import Html, esc, fmt


def _picture(ctx: ReportContext, i: int) -> str:
    """The thumbnail of a sample, or "image unreadable" when it could not be made."""
    src = ctx.assets.thumb(i)
    if src is None:
        return '<div class="thumb missing">image unreadable</div>'
    alt = esc(ctx.x.sample_ids[i])
    return f'<img class="thumb" src="{esc(src)}" alt="{alt}" loading="eager">'


def card(ctx: ReportContext, i: int) -> Html:
    """One sample's card.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.
    i : int
        The sample's index.

    Returns
    -------
    Html
        A ``<figure class="card">``; "image unreadable" in place of a thumbnail that
        could not be made.
    """
    x, ev = ctx.x, ctx.ev
    g, p = int(x.given[i]), int(ev.predicted[i])
    lane = str(x.lane[i])
    lane_cls = lane if lane in KNOWN_LANES else "other"
    pic = _picture(ctx, i)
    return Html(
        f'<figure class="card">{pic}<figcaption>'
        f'<div class="sid" title="{esc(x.paths[i])}">{esc(x.sample_ids[i])}</div>'
        f"<div>given <b>{esc(ctx.cls(g))}</b></div>"
        f"<div>pred <b>{esc(ctx.cls(p))}</b> {x.probs[i, p]:.2f}</div>"
        f"<div>p[given] {x.probs[i, g]:.3f}</div>"
        f'<div><span class="lane lane-{esc(lane_cls)}">{esc(lane.replace("_", " "))}</span>'
        f' <span class="rank">#{fmt(float(x.rank[i]), "g")}</span></div>'
        f"</figcaption></figure>"
    )


def gallery(ctx: ReportContext, idx: Sequence[int]) -> Html:
    """The cards of some samples, in the order given.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.
    idx : sequence of int
        Sample indices.

    Returns
    -------
    Html
        A ``<div class="gallery">``.
    """
    return Html('<div class="gallery">' + "".join(card(ctx, int(i)) for i in idx) + "</div>")


def issue_card(ctx: ReportContext, i: int, detail: str, title: str = "") -> Html:
    """One sample's card in an issue gallery: thumbnail, sample id, given label, a detail.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.
    i : int
        The sample's index.
    detail : str
        One short line under the label (a score, a distance), escaped.
    title : str
        The full reason, shown when the pointer rests on the card (escaped).

    Returns
    -------
    Html
        A ``<figure class="card">``.
    """
    x = ctx.x
    pic = _picture(ctx, i)
    return Html(
        f'<figure class="card" title="{esc(title)}">{pic}<figcaption>'
        f'<div class="sid" title="{esc(x.paths[i])}">{esc(x.sample_ids[i])}</div>'
        f"<div>given <b>{esc(ctx.cls(int(x.given[i])))}</b></div>"
        f'<div class="detail">{esc(detail)}</div>'
        f"</figcaption></figure>"
    )
