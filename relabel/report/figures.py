"""The report's figures, drawn with matplotlib's Agg renderer as PNG (a file or a buffer).

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot), so the
report neither needs a display nor changes the caller's matplotlib backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from relabel.report.data import CycleRow
from relabel.report.evaluation import Evaluation, ThresholdChoice

_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "savefig.dpi": 100,
}
#: Above this many classes heatmaps drop the numbers in their cells.
MAX_ANNOTATED = 25
#: At most this many class names along an axis; beyond, every n-th class is named (1,000
#: tick labels took most of a 1,000-class report's minutes and could not be read).
MAX_TICKS = 50
#: Where a figure goes: a PNG file, or a binary buffer (the report embeds it).
_Dest = TypeVar("_Dest", Path, BinaryIO)
_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#3b6ea8", "#e08a2c", "#4a9a5b", "#c0504d", "#8a8a8a"


def _save(fig: Figure, dest: _Dest) -> _Dest:
    if isinstance(dest, Path):
        dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, format="png", metadata={"Software": None})
    return dest


def _short(names: Sequence[str], width: int = 14) -> list[str]:
    """Shorten long names in the middle, so names sharing a prefix stay distinct."""
    head = (width - 1) // 2
    tail = width - 1 - head
    return [n if len(n) <= width else n[:head] + "…" + n[-tail:] for n in names]


def _ticks(names: Sequence[str]) -> tuple[list[int], list[str]]:
    """Positions and shortened names of the classes an axis names (:data:`MAX_TICKS`)."""
    step = max(1, -(-len(names) // MAX_TICKS))
    positions = list(range(0, len(names), step))
    return positions, _short([names[i] for i in positions])


def _cell_text(v: float, fmt: str) -> str:
    if fmt == "d":
        return f"{v:.0f}"
    if fmt == "share":
        if v == 0:
            return "0"
        return f"{v:.2f}" if v >= 0.01 else f"{v:.3f}".lstrip("0")
    return format(v, fmt)


def heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    dest: _Dest,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    fmt: str = "d",
    cmap: str = "Blues",
    vmax: float | None = None,
    mask_diagonal: bool = False,
) -> _Dest:
    """Draw a matrix as a heatmap with its values written in the cells.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(R, C)`` values.
    rows, cols : sequence of str
        Row and column labels.
    dest : Path or binary file
        PNG file to write.
    title, xlabel, ylabel : str
        Texts of the plot.
    fmt : str
        Format of the cell numbers: ``"d"`` counts, ``"share"`` for values in 0..1
        (exact zeros as ``0``, small values with three decimals), or a format spec.
    cmap : str
        Matplotlib colour map.
    vmax : float | None
        Top of the colour scale (default: the largest value that is coloured).
    mask_diagonal : bool
        Draw the diagonal grey (still numbered) and scale the colours to the
        off-diagonal cells, so small confusions stay visible.

    Returns
    -------
    Path
        ``dest``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    r, c = m.shape
    with mpl.rc_context(_STYLE):
        w = min(16.0, max(4.4, 0.42 * c + 1.8))
        h = min(15.0, max(3.4, 0.38 * r + 1.6))
        fig = Figure(figsize=(w, h), layout="constrained")
        ax = fig.subplots()
        shown = m.copy()
        if mask_diagonal and r == c:
            np.fill_diagonal(shown, np.nan)
        finite = shown[np.isfinite(shown)]
        top = (float(finite.max()) if finite.size else 0.0) if vmax is None else vmax
        cm = mpl.colormaps[cmap].with_extremes(bad="#e6e6e6")
        im = ax.imshow(shown, cmap=cm, vmin=0.0, vmax=top if top > 0 else 1.0, aspect="auto")
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_xticks(*_ticks(cols), rotation=45 if c > 4 else 0, ha="right" if c > 4 else "center")
        ax.set_yticks(*_ticks(rows))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if r <= MAX_ANNOTATED and c <= MAX_ANNOTATED:
            size = 9 if max(r, c) <= 10 else 7
            for i in range(r):
                for j in range(c):
                    v = m[i, j]
                    text = _cell_text(v, fmt)
                    dark = top > 0 and np.isfinite(shown[i, j]) and v > 0.55 * top
                    ax.text(
                        j,
                        i,
                        text,
                        ha="center",
                        va="center",
                        fontsize=size,
                        color="white" if dark else "#222222",
                    )
        return _save(fig, dest)


def bar_chart(
    values: np.ndarray,
    names: Sequence[str],
    dest: _Dest,
    *,
    title: str,
    ylabel: str,
    color: str = _RED,
) -> _Dest:
    """Draw one bar per class.

    Parameters
    ----------
    values : numpy.ndarray
        ``(K,)`` bar heights.
    names : sequence of str
        Class names.
    dest : Path or binary file
        PNG file to write.
    title, ylabel : str
        Texts of the plot.
    color : str
        Bar colour.

    Returns
    -------
    Path
        ``dest``.
    """
    v = np.asarray(values, dtype=np.float64)
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(min(16.0, max(4.4, 0.4 * len(v) + 1.6)), 3.4), layout="constrained")
        ax = fig.subplots()
        bars = ax.bar(range(len(v)), v, color=color)
        if len(v) <= 30:
            ax.bar_label(bars, labels=[f"{x:.0f}" for x in v], fontsize=8, padding=2)
        ax.set_xticks(
            *_ticks(names),
            rotation=45 if len(v) > 6 else 0,
            ha="right" if len(v) > 6 else "center",
        )
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.margins(y=0.15)
        return _save(fig, dest)


def grouped_bars(
    series: Sequence[tuple[str, np.ndarray]],
    names: Sequence[str],
    dest: _Dest,
    *,
    title: str,
    ylabel: str,
) -> _Dest:
    """Draw grouped bars: one group per class, one bar per series.

    Parameters
    ----------
    series : sequence of (str, numpy.ndarray)
        Legend label and ``(K,)`` values of each series.
    names : sequence of str
        Class names.
    dest : Path or binary file
        PNG file to write.
    title, ylabel : str
        Texts of the plot.

    Returns
    -------
    Path
        ``dest``.
    """
    k = len(names)
    colors = [_GREY, _BLUE, _ORANGE, _GREEN]
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(min(16.0, max(5.0, 0.45 * k + 2.4)), 3.6), layout="constrained")
        ax = fig.subplots()
        width = 0.8 / max(1, len(series))
        x = np.arange(k)
        for s, (label, values) in enumerate(series):
            ax.bar(
                x + (s - (len(series) - 1) / 2) * width,
                values,
                width,
                label=label,
                color=colors[s % len(colors)],
            )
        ax.set_xticks(
            *_ticks(names), rotation=45 if k > 6 else 0, ha="right" if k > 6 else "center"
        )
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _save(fig, dest)


def pr_curves(ev: Evaluation, dest: _Dest) -> _Dest:
    """Draw one-vs-rest precision-recall curves, one small panel per class.

    Above 16 classes all curves share one panel (without a legend).

    Parameters
    ----------
    ev : Evaluation
        Holds the curves and average precisions.
    dest : Path or binary file
        PNG file to write.

    Returns
    -------
    Path
        ``dest``.
    """
    k = len(ev.classes)
    with mpl.rc_context(_STYLE):
        if k <= 16:
            ncols = min(4, k)
            nrows = int(np.ceil(k / ncols))
            fig = Figure(figsize=(2.6 * ncols + 0.4, 2.3 * nrows + 0.4), layout="constrained")
            axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True)).ravel()
            for c, ax in enumerate(axes):
                if c >= k:
                    ax.set_axis_off()
                    continue
                prec, rec = ev.pr_curves[c]
                if prec.size:
                    ax.step(rec, prec, where="post", color=_BLUE, lw=1.4)
                    base = ev.support[c] / max(1, ev.support.sum())
                    ax.axhline(base, color=_GREY, lw=0.8, ls=":")
                ap = ev.average_precision[c]
                ap_text = "n/a" if np.isnan(ap) else f"{ap:.3f}"
                ax.set_title(f"{_short([ev.classes[c]], 18)[0]}  AP {ap_text}", fontsize=9)
                ax.set_xlim(0, 1.0)
                ax.set_ylim(0, 1.03)
            for ax in axes[(nrows - 1) * ncols :]:
                ax.set_xlabel("recall")
            for ax in axes[::ncols]:
                ax.set_ylabel("precision")
        else:
            fig = Figure(figsize=(6.0, 4.5), layout="constrained")
            ax = fig.subplots()
            for prec, rec in ev.pr_curves:
                if prec.size:
                    ax.step(rec, prec, where="post", color=_BLUE, lw=0.8, alpha=0.35)
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.set_xlim(0, 1.0)
            ax.set_ylim(0, 1.03)
            ax.set_title(f"Precision-recall, {k} classes one-vs-rest")
        return _save(fig, dest)


def threshold_plot(
    is_positive: np.ndarray, score: np.ndarray, choice: ThresholdChoice, dest: Path
) -> _Dest:
    """Draw precision and recall of the positive class against the threshold.

    Parameters
    ----------
    is_positive : numpy.ndarray
        ``(n,)`` bool, given label is the positive class.
    score : numpy.ndarray
        ``(n,)`` probability of the positive class.
    choice : ThresholdChoice
        The chosen threshold (marked with a vertical line).
    dest : Path or binary file
        PNG file to write.

    Returns
    -------
    Path
        ``dest``.
    """
    y = np.asarray(is_positive, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    grid = np.linspace(0.0, 1.0, 201)
    order = np.sort(s)
    n_pos = max(1, int(y.sum()))
    pos_sorted = np.sort(s[y])
    predicted = s.size - np.searchsorted(order, grid, side="left")
    tp = pos_sorted.size - np.searchsorted(pos_sorted, grid, side="left")
    precision = np.divide(tp, predicted, out=np.ones(grid.shape), where=predicted > 0)
    recall = tp / n_pos
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(5.6, 3.4), layout="constrained")
        ax = fig.subplots()
        ax.plot(grid, precision, color=_BLUE, label="precision")
        ax.plot(grid, recall, color=_ORANGE, label="recall")
        ax.axvline(
            min(max(choice.threshold, 0.0), 1.0),
            color=_RED,
            ls="--",
            lw=1.2,
            label=f"chosen {choice.threshold:.3g}",
        )
        ax.set_xlabel(f"threshold on p({choice.positive_class})")
        ax.set_ylim(0, 1.03)
        ax.set_title(f"Positive class: {_short([choice.positive_class], 24)[0]}")
        ax.legend(frameon=False, loc="lower left")
        return _save(fig, dest)


def cycle_plot(cycles: Sequence[CycleRow], dest: _Dest) -> _Dest:
    """Draw the cycle history: counts on the left, rates on the right.

    Parameters
    ----------
    cycles : sequence of CycleRow
        At least one cycle.
    dest : Path or binary file
        PNG file to write.

    Returns
    -------
    Path
        ``dest``.
    """

    def col(name: str) -> np.ndarray:
        return np.array(
            [np.nan if getattr(c, name) is None else float(getattr(c, name)) for c in cycles]
        )

    x = np.array([c.cycle for c in cycles])
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(10.0, 3.4), layout="constrained")
        left, right = fig.subplots(1, 2)
        for name, label, color in (
            ("reviewed", "reviewed", _GREY),
            ("corrected", "corrected", _RED),
            ("est_errors_left", "est. errors left", _BLUE),
        ):
            left.plot(x, col(name), marker="o", color=color, label=label)
        left.set_title("Samples per cycle")
        left.set_ylim(bottom=0)
        for name, label, color in (
            ("hit_rate", "hit rate", _RED),
            ("accuracy", "accuracy (OOF)", _GREEN),
            ("macro_f1", "macro-F1 (OOF)", _ORANGE),
        ):
            right.plot(x, col(name), marker="o", color=color, label=label)
        right.set_title("Rates per cycle")
        right.set_ylim(0, 1.03)
        for ax in (left, right):
            ax.set_xlabel("cycle")
            ax.set_xticks(x)
            ax.legend(frameon=False, fontsize=8)
        return _save(fig, dest)


#: How each issue type is marked on the embedding map: (marker, edge colour, size).
_MARK_STYLES = (
    ("s", _RED, 46.0),
    ("^", "#111111", 46.0),
    ("D", _ORANGE, 34.0),
    ("o", "#7b3fa0", 58.0),
)


def _class_colors(k: int) -> np.ndarray:
    """One colour per class: tab10 or tab20 while they suffice, else turbo spread evenly."""
    if k <= 10:
        return np.asarray(mpl.colormaps["tab10"].colors)[:k]
    if k <= 20:
        return np.asarray(mpl.colormaps["tab20"].colors)[:k]
    return mpl.colormaps["turbo"](np.linspace(0.05, 0.95, k))[:, :3]


def embedding_map(
    xy: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    marks: Sequence[tuple[str, np.ndarray]],
    dest: _Dest,
    *,
    title: str,
) -> _Dest:
    """Draw a 2-D map of samples: a dot per sample in its class colour, issues marked.

    Parameters
    ----------
    xy : numpy.ndarray
        ``(m, 2)`` coordinates.
    labels : numpy.ndarray
        ``(m,)`` the given class of each point (its colour).
    classes : sequence of str
        Class names (a legend while there are at most 20).
    marks : sequence of (str, numpy.ndarray)
        Legend text and ``(m,)`` bool of each issue type, drawn as hollow markers of
        their own shape and edge colour over the dots (at most four types).
    dest : Path or binary file
        PNG file to write.
    title : str
        Title of the plot.

    Returns
    -------
    Path
        ``dest``.
    """
    k = len(classes)
    colors = _class_colors(k)
    y = np.asarray(labels, dtype=np.int64)
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(8.6, 6.4), layout="constrained")
        ax = fig.subplots()
        ax.scatter(xy[:, 0], xy[:, 1], c=colors[y], s=9, linewidths=0, alpha=0.75)
        handles = []
        for (text, mask), (marker, edge, size) in zip(marks, _MARK_STYLES, strict=False):
            m = np.asarray(mask, dtype=bool)
            handles.append(
                ax.scatter(
                    xy[m, 0],
                    xy[m, 1],
                    s=size,
                    marker=marker,
                    facecolors="none",
                    edgecolors=edge,
                    linewidths=1.1,
                    label=f"{text} ({int(m.sum()):,})",
                )
            )
        if handles:
            fig.legend(handles=handles, frameon=False, loc="outside right upper", title="issues")
        if k <= 20:
            dots = [
                ax.scatter([], [], color=colors[c], s=16, label=name)
                for c, name in enumerate(_short(classes))
            ]
            fig.legend(handles=dots, frameon=False, loc="outside right lower", title="given label")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title)
        return _save(fig, dest)
