"""Small HTML builders for the report: escaping, numbers, tables, notes.

Every piece of text that comes from the inputs goes through :func:`esc`; a string that is
already HTML is marked as :class:`Html` so that it is not escaped twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

import numpy as np


class Html(str):
    """A string that is already HTML (not escaped again)."""


def esc(value: object) -> str:
    """Escape anything for HTML text or attribute use (:class:`Html` passes through).

    Parameters
    ----------
    value : object
        Any value; it is shown as ``str(value)``.

    Returns
    -------
    str
        The escaped text (quotes included), or ``value`` itself when it is :class:`Html`.
    """
    if isinstance(value, Html):
        return value
    return escape(str(value), quote=True)


def join(parts: Iterable[str]) -> Html:
    """Concatenate pieces that are already HTML.

    Parameters
    ----------
    parts : iterable of str
        HTML pieces, in order.

    Returns
    -------
    Html
        The pieces joined without a separator.
    """
    return Html("".join(parts))


def fmt(x: float | None, spec: str = ".3f") -> str:
    """Format a number, or an en dash when it is missing.

    Parameters
    ----------
    x : float or None
        The value; ``None`` and NaN are missing.
    spec : str
        A :func:`format` specification.

    Returns
    -------
    str
        ``format(x, spec)``, or ``"–"``.
    """
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return format(x, spec)


def pct(x: float | None, digits: int = 1) -> str:
    """Format a share (0..1) as a percentage, or an en dash when it is missing.

    Parameters
    ----------
    x : float or None
        The share; ``None`` and NaN are missing.
    digits : int
        Digits after the decimal point.

    Returns
    -------
    str
        For example ``"93.0%"``, or ``"–"``.
    """
    return "–" if x is None or np.isnan(x) else f"{100 * x:.{digits}f}%"


def table(
    head: Sequence[str], rows: Sequence[Sequence[object]], *, num: Iterable[int] = (), cls: str = ""
) -> Html:
    """An HTML table; cells are escaped unless they are :class:`Html`.

    Parameters
    ----------
    head : sequence of str
        Column titles.
    rows : sequence of sequences
        Cells, row by row.
    num : iterable of int
        Columns to right-align (numbers).
    cls : str
        Extra CSS class of the table.

    Returns
    -------
    Html
        The ``<table>`` element.
    """
    num = set(num)
    out = [f'<table class="tbl {esc(cls)}"><thead><tr>']
    out += [f"<th{' class=num' if i in num else ''}>{esc(t)}</th>" for i, t in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        out += [f"<td{' class=num' if i in num else ''}>{esc(c)}</td>" for i, c in enumerate(row)]
        out.append("</tr>")
    out.append("</tbody></table>")
    return join(out)


def bar_cell(value: float | None, text: str, color: str = "#dbe7f5") -> Html:
    """A table cell's content with a light bar behind the text.

    Parameters
    ----------
    value : float or None
        Length of the bar, 0..1 (clipped); ``None`` or NaN draws no bar.
    text : str
        The text shown (escaped).
    color : str
        CSS colour of the bar.

    Returns
    -------
    Html
        A ``<span>``, or the escaped text alone.
    """
    if value is None or np.isnan(value):
        return Html(esc(text))
    w = f"{100 * min(1.0, max(0.0, value)):.1f}"
    return Html(
        f'<span class="bar" style="background:linear-gradient(90deg,{color} {w}%,'
        f'transparent {w}%)">{esc(text)}</span>'
    )


def note(text: str) -> Html:
    """A muted paragraph explaining what a section shows.

    Parameters
    ----------
    text : str
        The note (escaped).

    Returns
    -------
    Html
        A ``<p class="note">`` element.
    """
    return Html(f'<p class="note">{esc(text)}</p>')
