"""Write the report: ONE self-contained file, ``report.html``.

The page opens offline and can be mailed as it is: inline CSS, no scripts, no web
fonts, every figure and thumbnail embedded as a PNG ``data:`` URI. Every piece of text
that comes from the inputs is escaped. The output is deterministic apart from what the
inputs hold (``generated_at``).
"""

from __future__ import annotations

import base64
import io
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

import numpy as np

from relabel.report import figures
from relabel.report.data import KNOWN_LANES, ReportInputs, ShiftResult
from relabel.report.evaluation import (
    ConfusedPair,
    Evaluation,
    choose_threshold,
    confused_pairs,
    evaluate,
)
from relabel.report.thumbnails import make_thumbnail

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"
#: The folder of PNGs beside ``report.html`` of relabel <= 0.1 (removed when found).
OLD_FILES_DIR = "report_files"


class _Html(str):
    """A string that is already HTML (not escaped again)."""


def _h(value: object) -> str:
    """Escape anything for HTML text or attribute use (``_Html`` passes through)."""
    if isinstance(value, _Html):
        return value
    return escape(str(value), quote=True)


def _join(parts: Iterable[str]) -> _Html:
    return _Html("".join(parts))


def _fmt(x: float | None, spec: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return format(x, spec)


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or np.isnan(x) else f"{100 * x:.{digits}f}%"


def _table(
    head: Sequence[str], rows: Sequence[Sequence[object]], *, num: Iterable[int] = (), cls: str = ""
) -> _Html:
    """An HTML table; cells are escaped unless they are ``_Html``; ``num`` right-aligns."""
    num = set(num)
    out = [f'<table class="tbl {_h(cls)}"><thead><tr>']
    out += [f"<th{' class=num' if i in num else ''}>{_h(t)}</th>" for i, t in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        out += [f"<td{' class=num' if i in num else ''}>{_h(c)}</td>" for i, c in enumerate(row)]
        out.append("</tr>")
    out.append("</tbody></table>")
    return _join(out)


def _bar_cell(value: float | None, text: str, color: str = "#dbe7f5") -> _Html:
    """A table cell content with a light bar behind the text (value in 0..1)."""
    if value is None or np.isnan(value):
        return _Html(_h(text))
    w = f"{100 * min(1.0, max(0.0, value)):.1f}"
    return _Html(
        f'<span class="bar" style="background:linear-gradient(90deg,{color} {w}%,'
        f'transparent {w}%)">{_h(text)}</span>'
    )


def _note(text: str) -> _Html:
    return _Html(f'<p class="note">{_h(text)}</p>')


class _Assets:
    """Draws figures and thumbnails into memory and returns them as PNG ``data:`` URIs."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = paths
        self._thumbs: dict[int, str | None] = {}

    @staticmethod
    def buffer() -> io.BytesIO:
        """A buffer for one figure (see :mod:`relabel.report.figures`)."""
        return io.BytesIO()

    @staticmethod
    def src(png: io.BytesIO) -> str:
        return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")

    def img(self, png: io.BytesIO, alt: str, cls: str = "fig") -> _Html:
        return _Html(f'<img class="{cls}" src="{self.src(png)}" alt="{_h(alt)}">')

    def thumb(self, i: int) -> str | None:
        if i not in self._thumbs:
            png = self.buffer()
            self._thumbs[i] = self.src(png) if make_thumbnail(self.paths[i], png) else None
        return self._thumbs[i]


class _Report:
    def __init__(
        self,
        inputs: ReportInputs,
        top_n: int,
        n_pairs: int,
        per_pair: int,
        pair_thumbs: int,
    ) -> None:
        self.x = inputs
        self.assets = _Assets(inputs.paths)
        self.ev: Evaluation = evaluate(inputs.given, inputs.probs, inputs.classes)
        self.pairs: list[ConfusedPair] = confused_pairs(inputs.errors_per_pair, top=n_pairs)
        self.top_n = top_n
        self.per_pair = per_pair
        self.pair_thumbs = pair_thumbs
        # Review order: rank ascending, then suspicion descending, then index.
        self.order = np.lexsort((-inputs.suspicion, inputs.rank))

    # -- pieces ---------------------------------------------------------------------
    def cls(self, k: int) -> str:
        return self.x.classes[int(k)]

    def card(self, i: int) -> _Html:
        x, ev = self.x, self.ev
        g, p = int(x.given[i]), int(ev.predicted[i])
        lane = str(x.lane[i])
        lane_cls = lane if lane in KNOWN_LANES else "other"
        src = self.assets.thumb(i)
        if src is None:
            pic = '<div class="thumb missing">image unreadable</div>'
        else:
            pic = f'<img class="thumb" src="{_h(src)}" alt="{_h(x.sample_ids[i])}" loading="eager">'
        return _Html(
            f'<figure class="card">{pic}<figcaption>'
            f'<div class="sid" title="{_h(x.paths[i])}">{_h(x.sample_ids[i])}</div>'
            f"<div>given <b>{_h(self.cls(g))}</b></div>"
            f"<div>pred <b>{_h(self.cls(p))}</b> {x.probs[i, p]:.2f}</div>"
            f"<div>p[given] {x.probs[i, g]:.3f}</div>"
            f'<div><span class="lane lane-{_h(lane_cls)}">{_h(lane.replace("_", " "))}</span>'
            f' <span class="rank">#{_fmt(float(x.rank[i]), "g")}</span></div>'
            f"</figcaption></figure>"
        )

    def gallery(self, idx: Sequence[int]) -> _Html:
        return _Html('<div class="gallery">' + "".join(self.card(int(i)) for i in idx) + "</div>")

    def pair_examples(self, a: int, b: int, limit: int) -> np.ndarray:
        """Samples given ``a`` and predicted ``b``, in review order."""
        hit = (self.x.given[self.order] == a) & (self.ev.predicted[self.order] == b)
        return self.order[hit][:limit]

    # -- sections -------------------------------------------------------------------
    def summary(self) -> _Html:
        x, ev = self.x, self.ev
        est = float(x.errors_per_class.sum())
        lanes = {lane: int(np.sum(x.lane == lane)) for lane in KNOWN_LANES}
        cards = [
            ("samples", f"{x.n:,}", f"{x.k} classes"),
            ("accuracy (OOF)", _pct(ev.accuracy), f"macro-F1 {ev.macro_f1:.3f}"),
            ("estimated label errors", f"{est:,.0f}", f"{_pct(est / x.n)} of the samples"),
            (
                "flagged as label issue",
                f"{lanes['label_issue']:,}",
                f"{lanes['uncertain']:,} uncertain",
            ),
            (
                "cycles done",
                str(len(x.cycles)),
                f"{sum(c.corrected for c in x.cycles):,} labels corrected",
            ),
        ]
        if self.pairs:
            p = self.pairs[0]
            cards.append(
                (
                    "most confused pair",
                    f"{self.cls(p.a)} ↔ {self.cls(p.b)}",
                    f"≈ {p.total:,.0f} estimated errors",
                )
            )
        if x.shift is not None and x.shift.covariate_auc is not None:
            cards.append(
                (
                    "new batch shift (AUC)",
                    f"{x.shift.covariate_auc:.2f}",
                    _shift_verdict_short(x.shift.covariate_auc),
                )
            )
        body = "".join(
            f'<div class="kpi"><div class="kpi-label">{_h(a)}</div>'
            f'<div class="kpi-value">{_h(b)}</div><div class="kpi-sub">{_h(c)}</div></div>'
            for a, b, c in cards
        )
        return _Html(f'<div class="kpis">{body}</div>')

    def confusion_figures(self) -> _Html:
        """The confusion matrix as counts and row-normalised, side by side."""
        ev, a, names = self.ev, self.assets, self.x.classes
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
        return _join(
            [
                '<div class="row">',
                a.img(f_counts, "confusion matrix, counts"),
                a.img(f_norm, "confusion matrix, row-normalised"),
                "</div>",
            ]
        )

    def class_table(self) -> _Html:
        """Per class: support, predictions, precision, recall, F1, AP, estimated errors."""
        x, ev, names = self.x, self.ev, self.x.classes
        est = x.errors_per_class
        rows = [
            [
                names[k],
                f"{int(ev.support[k]):,}",
                f"{int(ev.confusion[:, k].sum()):,}",
                _bar_cell(ev.precision[k], f"{ev.precision[k]:.3f}"),
                _bar_cell(ev.recall[k], f"{ev.recall[k]:.3f}"),
                _bar_cell(ev.f1[k], f"{ev.f1[k]:.3f}"),
                _bar_cell(ev.average_precision[k], _fmt(float(ev.average_precision[k]))),
                f"{est[k]:,.0f}",
            ]
            for k in range(x.k)
        ]
        rows.append(
            [
                _Html("<b>all</b>"),
                f"{x.n:,}",
                f"{x.n:,}",
                "",
                "",
                _Html(f"<b>macro {ev.macro_f1:.3f}</b>"),
                _fmt(float(np.nanmean(ev.average_precision)))
                if np.any(~np.isnan(ev.average_precision))
                else "–",
                f"{est.sum():,.0f}",
            ]
        )
        return _table(
            [
                "class",
                "support (given)",
                "predicted",
                "precision",
                "recall",
                "F1",
                "average precision",
                "est. label errors",
            ],
            rows,
            num=range(1, 8),
        )

    def evaluation(self) -> _Html:
        x, ev = self.x, self.ev
        parts = [
            _note(
                "Every prediction here is out-of-fold: it comes from a model that never saw "
                "that image in training, so the figures cover the whole dataset without "
                "leakage. They are measured against the current labels, which still hold "
                "some errors: part of the disagreement below is label noise, not model error."
            ),
            f'<p class="big">Accuracy <b>{_pct(ev.accuracy, 2)}</b> · macro-F1 '
            f"<b>{ev.macro_f1:.3f}</b> · {x.n:,} samples</p>",
            self.confusion_figures(),
            "<h3>Per class</h3>",
            self.class_table(),
            "<h3>Precision-recall, one class against the rest</h3>",
            _note(
                "Average precision (AP) is the area under each curve; the dotted line is "
                "the share of the class (a random ranking)."
            ),
            self.assets.img(figures.pr_curves(ev, self.assets.buffer()), "precision-recall curves"),
        ]
        parts.append(self.threshold())
        return _join(parts)

    def threshold(self) -> _Html:
        x = self.x
        if x.k != 2:
            if x.positive_class is not None or x.target_recall is not None:
                return _note(
                    "A decision threshold is chosen for two-class projects only; "
                    f"this project has {x.k} classes."
                )
            return _Html("")
        pos_name = x.positive_class if x.positive_class is not None else x.classes[1]
        pos = x.classes.index(pos_name)
        neg_name = x.classes[1 - pos]
        y = x.given == pos
        if not y.any():
            return _note(f"No sample is labelled {pos_name!r}: no threshold can be chosen.")
        score = x.probs[:, pos]
        choice = choose_threshold(
            y,
            score,
            positive_class=pos_name,
            target_recall=x.target_recall,
            cost_fp=x.cost_fp,
            cost_fn=x.cost_fn,
        )
        f_thr = figures.threshold_plot(y, score, choice, self.assets.buffer())
        tn, fp, fn, tp = (int(v) for v in choice.confusion.ravel())
        conf = _table(
            ["given \\ predicted", neg_name, pos_name],
            [
                [_Html(f"<b>{_h(neg_name)}</b>"), f"{tn:,} (TN)", f"{fp:,} (FP)"],
                [_Html(f"<b>{_h(pos_name)}</b>"), f"{fn:,} (FN)", f"{tp:,} (TP)"],
            ],
            num=(1, 2),
            cls="small",
        )
        why = (
            f"Criterion: target recall {x.target_recall:g} for {pos_name!r}."
            if choice.criterion == "target_recall"
            else f"Criterion: lowest cost with cost_fp = {x.cost_fp:g}, cost_fn = {x.cost_fn:g}"
            " (no target recall was set)."
        )
        return _join(
            [
                "<h3>Decision threshold (two classes)</h3>",
                f'<p class="callout">{_h(choice.statement)}</p>',
                _note(why),
                '<div class="row"><div>',
                conf,
                _note(
                    f"Precision {choice.precision:.3f}, recall {choice.recall:.3f}, "
                    f"cost {choice.cost:g}."
                ),
                "</div>",
                self.assets.img(f_thr, "precision and recall against the threshold"),
                "</div>",
            ]
        )

    def quality(self) -> _Html:
        x, a = self.x, self.assets
        names = x.classes
        f_noise = figures.heatmap(
            x.noise_matrix,
            names,
            names,
            a.buffer(),
            title="Estimated P(true | given)",
            xlabel="likely true class",
            ylabel="given class",
            fmt="share",
            cmap="Reds",
            mask_diagonal=True,
        )
        f_err = figures.bar_chart(
            x.errors_per_class,
            names,
            a.buffer(),
            title="Estimated label errors per given class",
            ylabel="samples",
        )
        lanes = [(lane, int(np.sum(x.lane == lane))) for lane in KNOWN_LANES]
        others = x.n - sum(c for _, c in lanes)
        lane_txt = ", ".join(f"{c:,} {lane.replace('_', ' ')}" for lane, c in lanes)
        if others:
            lane_txt += f", {others:,} other"
        parts: list[str] = [
            _note(
                "Estimated from the confident joint of the out-of-fold probabilities: row i "
                "says where the samples labelled i most likely belong. A perfect dataset "
                "has 1.00 on the diagonal (grey); colours show the off-diagonal mix-ups."
            ),
            '<div class="row">',
            a.img(f_noise, "noise matrix"),
            a.img(f_err, "errors per class"),
            "</div>",
            f"<p>Review lanes: {_h(lane_txt)}.</p>",
            "<h3>Most confused class pairs</h3>",
        ]
        if not self.pairs:
            parts.append(_note("No label errors are estimated between any two classes."))
            return _join(parts)
        parts.append(
            _note(
                "Pairs are ranked by estimated label errors with both directions combined "
                "(given A but truly B, plus given B but truly A). The thumbnails are the most "
                "suspicious samples given one class and predicted the other."
            )
        )
        parts.append(self.pairs_table())
        return _join(parts)

    def pairs_table(self) -> _Html:
        """The most confused class pairs, with a few thumbnails of each."""
        x = self.x
        rows = []
        for r, p in enumerate(self.pairs, 1):
            half = max(1, self.pair_thumbs // 2)
            idx = list(self.pair_examples(p.a, p.b, half)) + list(
                self.pair_examples(p.b, p.a, half)
            )
            thumbs = "".join(
                f'<img class="mini" src="{_h(s)}" alt="{_h(x.sample_ids[i])}" '
                f'title="{_h(x.sample_ids[i])}: given {_h(self.cls(x.given[i]))}">'
                for i in idx
                if (s := self.assets.thumb(int(i))) is not None
            )
            rows.append(
                [
                    str(r),
                    _Html(
                        f'<a href="#pair-{p.a}-{p.b}">{_h(self.cls(p.a))} ↔ {_h(self.cls(p.b))}</a>'
                    ),
                    f"{p.errors_ab:,.0f}",
                    f"{p.errors_ba:,.0f}",
                    f"{p.total:,.0f}",
                    _Html(thumbs or "–"),
                ]
            )
        return _table(
            ["#", "pair A ↔ B", "given A, truly B", "given B, truly A", "total", "examples"],
            rows,
            num=(0, 2, 3, 4),
        )

    def galleries(self) -> _Html:
        x = self.x
        top = self.order[: self.top_n]
        parts: list[str] = [
            f"<h3>Top {len(top)} suspicious samples</h3>",
            _note(
                "In review order (most suspicious first). Each card: sample id, given label, "
                "predicted label with its probability, the probability of the given label, "
                "the review lane and the rank."
            ),
            self.gallery(top),
            "<h3>Misclassified examples per confused pair</h3>",
        ]
        if not self.pairs:
            parts.append(_note("No confused pairs."))
        for p in self.pairs:
            parts.append(
                f'<h4 id="pair-{p.a}-{p.b}">{_h(self.cls(p.a))} ↔ {_h(self.cls(p.b))}</h4>'
            )
            for a, b in ((p.a, p.b), (p.b, p.a)):
                idx = self.pair_examples(a, b, self.per_pair)
                n_all = int(np.sum((x.given == a) & (self.ev.predicted == b)))
                parts.append(
                    f'<p class="sub">given <b>{_h(self.cls(a))}</b>, predicted '
                    f"<b>{_h(self.cls(b))}</b>: {n_all:,} samples"
                    + (f", showing the {len(idx)} most suspicious" if n_all > len(idx) else "")
                    + "</p>"
                )
                parts.append(self.gallery(idx) if len(idx) else _note("none"))
        return _join(parts)

    def cycles(self) -> _Html:
        x, a = self.x, self.assets
        parts: list[str] = []
        if not x.cycles:
            parts.append(_note("No cycles yet: nothing has been reviewed."))
        else:
            rows = [
                [
                    str(c.cycle),
                    "–" if c.budget is None else f"{c.budget:,}",
                    f"{c.reviewed:,}",
                    f"{c.corrected:,}",
                    _pct(c.hit_rate),
                    _fmt(c.est_errors_left, ",.0f"),
                    _pct(c.accuracy, 2),
                    _fmt(c.macro_f1),
                ]
                for c in x.cycles
            ]
            parts.append(
                _table(
                    [
                        "cycle",
                        "budget",
                        "reviewed",
                        "corrected",
                        "hit rate",
                        "est. errors left",
                        "accuracy (OOF)",
                        "macro-F1 (OOF)",
                    ],
                    rows,
                    num=range(8),
                )
            )
            parts.append(a.img(figures.cycle_plot(x.cycles, a.buffer()), "cycle history"))
        parts.append("<h3>Class balance before and after corrections</h3>")
        current = np.bincount(x.given, minlength=x.k)
        if x.original is None:
            parts.append(_note("The original labels were not given; showing the current balance."))
            series = [("current", current)]
        else:
            series = [("original", np.bincount(x.original, minlength=x.k)), ("current", current)]
            changed = int(np.sum(x.original != x.given))
            parts.append(_note(f"{changed:,} of {x.n:,} labels differ from the original ones."))
        parts.append(
            a.img(
                figures.grouped_bars(
                    series,
                    x.classes,
                    a.buffer(),
                    title="Samples per class",
                    ylabel="samples",
                ),
                "class balance",
            )
        )
        return _join(parts)

    def shift(self) -> _Html:
        s: ShiftResult | None = self.x.shift
        if s is None:
            return _note("No new batch has been checked for shift yet.")
        x = self.x
        old_p = s.old_counts / max(1, s.n_old)
        new_p = s.new_counts / max(1, s.n_new)
        fig = figures.grouped_bars(
            [("old data", old_p), ("new batch", new_p)],
            x.classes,
            self.assets.buffer(),
            title="Class proportions",
            ylabel="share of samples",
        )
        prior = (
            f"The class proportions of the new batch differ from the old data "
            f"(chi-square {s.chi2:.3g}, dof {s.dof}, p = {s.prior_p_value:.3g}, "
            f"Cramér's V {s.cramers_v:.2f})."
            if s.prior_p_value < 0.01
            else f"No evidence that the class proportions changed (chi-square {s.chi2:.3g}, "
            f"dof {s.dof}, p = {s.prior_p_value:.3g})."
        )
        parts = [
            f"<p>Old data: {s.n_old:,} samples; new batch: {s.n_new:,} samples.</p>",
            "<h3>Prior shift (class proportions)</h3>",
            f'<p class="callout">{_h(prior)}</p>',
        ]
        if s.new_labels_are_predictions:
            parts.append(
                _note(
                    "The new batch's labels are the model's predictions, not human "
                    "labels: a prior shift may partly reflect model errors."
                )
            )
        rows = [
            [
                x.classes[k],
                f"{int(s.old_counts[k]):,}",
                _pct(float(old_p[k])),
                f"{int(s.new_counts[k]):,}",
                _pct(float(new_p[k])),
                f"{100 * (new_p[k] - old_p[k]):+.1f} pts",
            ]
            for k in range(x.k)
        ]
        parts += [
            '<div class="row"><div>',
            _table(
                ["class", "old", "old share", "new", "new share", "change"],
                rows,
                num=range(1, 6),
                cls="small",
            ),
            "</div>",
            self.assets.img(fig, "class proportions, old vs new"),
            "</div>",
            "<h3>Covariate shift (how the images look)</h3>",
        ]
        if s.covariate_auc is None:
            parts.append(_note(f"Not checked: {s.note or 'no features'}."))
        else:
            std = f" ± {s.covariate_auc_std:.3f}" if s.covariate_auc_std is not None else ""
            parts.append(
                f'<p class="callout">ROC AUC <b>{s.covariate_auc:.3f}</b>{_h(std)}: '
                f"{_h(_shift_verdict(s.covariate_auc))}</p>"
            )
            parts.append(
                _note(
                    f"A logistic regression on {s.n_features} grey pixel values per image "
                    f"({s.cv_folds}-fold stratified cross-validation) tries to tell old images "
                    "from new ones. AUC 0.5 means it cannot (no shift); 1.0 means it always can."
                )
            )
        return _join(parts)

    def annotators(self) -> _Html:
        revs = self.x.reviewers
        if not revs:
            return _note("No reviews yet: no reviewer has answered a task.")
        rows = [
            [
                r.name,
                f"{r.tasks:,}",
                _bar_cell(r.agreement_with_final, _pct(r.agreement_with_final), "#d5ecd9"),
                f"{r.skips:,}",
                _pct(min(1.0, r.skips / r.tasks)) if r.tasks else "–",
                f"{_pct(r.gold_accuracy)} of {r.gold_tasks}" if r.gold_tasks else "–",
                _pct(r.estimated_accuracy)
                + (f" ({_pct(r.interval[0])}–{_pct(r.interval[1])})" if r.interval else ""),
                r.confuses or "–",
            ]
            for r in revs
        ]
        return _join(
            [
                _table(
                    [
                        "reviewer",
                        "tasks",
                        "agreement with final label",
                        "skips",
                        "skip rate",
                        "gold accuracy",
                        "estimated accuracy (95% interval)",
                        "confuses (true as answered)",
                    ],
                    rows,
                    num=(1, 2, 3, 4, 5, 6),
                ),
                _note(
                    "Agreement: share of the reviewer's answers that equal the label the sample "
                    "ended with (skipped tasks left out). Skip rate: skips / tasks. Gold "
                    "accuracy: answers equal to the trusted label of gold tasks. Estimated "
                    "accuracy: a Dawid-Skene model of every answer, anchored by gold tasks; "
                    "confusions are its expected counts."
                ),
            ]
        )

    def page(self) -> str:
        x = self.x
        sections = [
            ("summary", "Summary", self.summary),
            ("evaluation", "Evaluation", self.evaluation),
            ("quality", "Label quality", self.quality),
            ("galleries", "Galleries", self.galleries),
            ("cycles", "Cycle history", self.cycles),
            ("shift", "Shift check", self.shift),
            ("annotators", "Annotators", self.annotators),
        ]
        nav = "".join(f'<a href="#{sid}">{_h(title)}</a>' for sid, title, _ in sections)
        body = "".join(
            f'<section id="{sid}"><h2>{_h(title)}</h2>{make()}</section>'
            for sid, title, make in sections
        )
        meta = " · ".join(
            t
            for t in (
                f"generated {x.generated_at}" if x.generated_at else "",
                f"run {x.run_id}" if x.run_id else "",
                f"{x.n:,} samples, {x.k} classes",
            )
            if t
        )
        title = f"relabel report: {x.project_name}"
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_h(title)}</title><style>{_CSS}</style></head><body>"
            f'<header><h1>{_h(title)}</h1><p class="meta">{_h(meta)}</p></header>'
            f"<nav>{nav}</nav><main>{body}</main>"
            "<footer>Made by relabel. This one file holds every figure and thumbnail: it "
            "works offline and can be mailed as it is.</footer></body></html>\n"
        )


def _shift_verdict(auc: float) -> str:
    if auc < 0.6:
        return "the new images look like the old ones; a classifier cannot tell them apart."
    if auc < 0.75:
        return "the new images look somewhat different from the old ones."
    return "the new images look clearly different from the old ones; check the new source."


def _shift_verdict_short(auc: float) -> str:
    return "no sign of shift" if auc < 0.6 else ("some shift" if auc < 0.75 else "clear shift")


def write_report(
    inputs: ReportInputs,
    out_dir: str | Path,
    *,
    top_n: int = 48,
    n_pairs: int = 6,
    examples_per_pair: int = 12,
    pair_thumbs: int = 4,
) -> Path:
    """Write ``report.html``, one self-contained file, into ``out_dir``.

    The file is written atomically. A ``report_files/`` folder that an older relabel
    wrote beside it is removed (the page no longer links to it).

    Parameters
    ----------
    inputs : ReportInputs
        Everything the report shows.
    out_dir : str or Path
        Folder to write into (created if missing).
    top_n : int
        Suspicious samples in the top gallery.
    n_pairs : int
        Confused class pairs listed and shown.
    examples_per_pair : int
        Thumbnails per direction of each pair in the galleries.
    pair_thumbs : int
        Thumbnails per pair in the label quality table.

    Returns
    -------
    Path
        The ``report.html`` path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = _Report(inputs, top_n, n_pairs, examples_per_pair, pair_thumbs)
    page = report.page()
    dest = out / REPORT_NAME
    tmp = out / f".{REPORT_NAME}.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, dest)
    old_files = out / OLD_FILES_DIR
    if old_files.is_dir():
        shutil.rmtree(old_files)
    logger.info("report written to %s", dest)
    return dest


_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--bg:#ffffff;--soft:#f6f8fa;--accent:#3b6ea8}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg);font-size:14px;line-height:1.45}
header{padding:18px 28px 8px}
h1{margin:0;font-size:22px}
.meta{margin:4px 0 0;color:var(--muted)}
nav{position:sticky;top:0;z-index:2;background:var(--soft);border-bottom:1px solid var(--line);
padding:8px 28px;display:flex;flex-wrap:wrap;gap:4px 18px}
nav a{color:var(--accent);text-decoration:none;font-weight:600}
nav a:hover{text-decoration:underline}
main{padding:0 28px 28px}
section{border-bottom:1px solid var(--line);padding:10px 0 22px;scroll-margin-top:44px}
h2{font-size:19px;margin:14px 0 10px}
h3{font-size:15px;margin:20px 0 8px}
h4{font-size:14px;margin:18px 0 4px;scroll-margin-top:44px}
.note{color:var(--muted);margin:4px 0 10px;max-width:900px}
.sub{margin:6px 0 4px}
.big{font-size:16px}
.callout{background:#eef4fb;border-left:4px solid var(--accent);padding:8px 12px;max-width:900px}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
img.fig{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px;background:#fff}
.tbl{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
.tbl th,.tbl td{border:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:middle}
.tbl th{background:var(--soft);font-weight:600}
.tbl tbody tr:nth-child(even){background:#fbfcfd}
.tbl .num{text-align:right}
.bar{display:inline-block;min-width:64px;padding:0 4px;border-radius:2px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:170px;
background:var(--soft)}
.kpi-label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.kpi-value{font-size:22px;font-weight:700;margin:2px 0}
.kpi-sub{color:var(--muted);font-size:12px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
.card{margin:0;width:132px;border:1px solid var(--line);border-radius:6px;padding:6px;
background:#fff;font-size:12px}
.thumb{display:block;width:118px;height:118px;object-fit:contain;background:var(--soft);
image-rendering:pixelated;border-radius:3px}
.thumb.missing{display:flex;align-items:center;justify-content:center;color:var(--muted);
text-align:center}
img.mini{width:48px;height:48px;object-fit:contain;image-rendering:pixelated;margin-right:3px;
vertical-align:middle;background:var(--soft)}
figcaption{margin-top:4px;line-height:1.3}
.sid{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:11px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.lane{display:inline-block;border-radius:8px;padding:0 6px;font-size:11px;background:#eee}
.lane-label_issue{background:#f8d7d5;color:#8a1c17}
.lane-uncertain{background:#fcebc9;color:#7a4b00}
.lane-ok{background:#d5ecd9;color:#1d5c2b}
.rank{color:var(--muted);font-size:11px}
footer{padding:14px 28px;color:var(--muted);font-size:12px}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
"""
