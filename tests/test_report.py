"""Tests of relabel.report: metrics equal scikit-learn's, shift checks, threshold, HTML."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_recall_fscore_support,
)

from relabel.errors import DatasetError
from relabel.report import (
    CycleRow,
    ReportInputError,
    ReportInputs,
    ReviewerRow,
    choose_threshold,
    confused_pairs,
    evaluate,
    pixel_features,
    shift_check,
    write_report,
)

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


# --- helpers -------------------------------------------------------------------------


def write_digits(folder: Path, n_per_class: int, seed: int, invert: bool = False):
    """Write sklearn's 8x8 digits as grey PNGs; return (paths, true labels)."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths, labels = [], []
    for c in range(10):
        pick = rng.choice(np.flatnonzero(digits.target == c), n_per_class, replace=False)
        for i in pick:
            img = (digits.images[i] * 15).astype(np.uint8)
            if invert:
                img = 255 - img
            p = folder / f"d{c}_{i:04d}.png"
            Image.fromarray(img, mode="L").save(p)
            paths.append(str(p))
            labels.append(c)
    return paths, np.array(labels)


def confident_joint(given: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """A plain confident joint (Northcutt et al.), counts[given, likely true]."""
    k = probs.shape[1]
    thresholds = np.array([probs[given == j, j].mean() for j in range(k)])
    cj = np.zeros((k, k))
    for i in range(len(given)):
        above = np.flatnonzero(probs[i] >= thresholds)
        if above.size:
            cj[given[i], above[np.argmax(probs[i, above])]] += 1
    return cj


def synthetic_inputs(tmp_path: Path, *, pair=(1, 7), flip=0.3, n_per_class=30, seed=0, **kw):
    """Digits with labels flipped inside ``pair`` and a few random flips elsewhere.

    The "out-of-fold" probabilities peak at the true class, so flipped samples look
    wrong. Scoring inputs are derived with a small confident joint.
    """
    rng = np.random.default_rng(seed)
    paths, true = write_digits(tmp_path / "images", n_per_class, seed)
    n, k = len(true), 10
    given = true.copy()
    a, b = pair
    for src, dst in ((a, b), (b, a)):
        idx = np.flatnonzero(true == src)
        given[rng.choice(idx, int(flip * idx.size), replace=False)] = dst
    others = rng.choice(np.flatnonzero(~np.isin(true, pair)), int(0.04 * n), replace=False)
    given[others] = (true[others] + rng.integers(1, k, others.size)) % k
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[np.arange(n), true] += 4.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cj = confident_joint(given, probs)
    noise = cj / np.maximum(cj.sum(axis=1, keepdims=True), 1)
    off = cj.copy()
    np.fill_diagonal(off, 0)
    suspicion = 1.0 - probs[np.arange(n), given]
    rank = np.empty(n)
    rank[np.argsort(-suspicion, kind="stable")] = np.arange(1, n + 1)
    pred = probs.argmax(axis=1)
    lane = np.where(pred != given, "label_issue", np.where(probs.max(1) < 0.6, "uncertain", "ok"))
    args = {
        "project_name": "digits",
        "classes": NAMES,
        "sample_ids": [Path(p).stem for p in paths],
        "paths": paths,
        "given": given,
        "probs": probs,
        "suspicion": suspicion,
        "rank": rank,
        "lane": lane,
        "noise_matrix": noise,
        "errors_per_class": off.sum(axis=1),
        "errors_per_pair": off,
        "original": given,
        "generated_at": "2025-01-01 00:00",
        "run_id": "run-1",
    }
    args.update(kw)
    return ReportInputs(**args), true


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if tag == "img":
            self.imgs.append(d.get("src") or "")
        if "id" in d:
            self.ids.append(d["id"])
        if tag == "a":
            self.hrefs.append(d.get("href") or "")


def parse(html_path: Path) -> _Collect:
    c = _Collect()
    c.feed(html_path.read_text(encoding="utf-8"))
    return c


def embedded_png(src: str) -> Image.Image:
    """The image of a PNG ``data:`` URI."""
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    return Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))


def assert_images_exist(html_path: Path) -> int:
    """Every image is an embedded PNG that decodes; the report is the only file."""
    c = parse(html_path)
    assert c.imgs, "report has no images"
    for src in c.imgs:
        with embedded_png(src) as im:
            im.load()
            assert im.size[0] > 0
    assert [p.name for p in html_path.parent.iterdir()] == [html_path.name]
    return len(c.imgs)


# --- evaluation ----------------------------------------------------------------------


def test_evaluate_equals_sklearn():
    rng = np.random.default_rng(3)
    n, k = 500, 5
    given = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), given] += rng.normal(1.0, 1.0, n)
    logits[:, 4] -= 6.0  # class 4 is never predicted: the zero-division paths
    probs = np.round(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 2)  # ties
    ev = evaluate(given, probs, list("abcde"))
    pred = probs.argmax(axis=1)
    labels = list(range(k))
    np.testing.assert_array_equal(ev.predicted, pred)
    np.testing.assert_array_equal(ev.confusion, confusion_matrix(given, pred, labels=labels))
    p, r, f, s = precision_recall_fscore_support(given, pred, labels=labels, zero_division=0)
    np.testing.assert_allclose(ev.precision, p, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ev.recall, r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ev.f1, f, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ev.support, s)
    assert ev.confusion[:, 4].sum() == 0 and ev.support[4] > 0  # never predicted, but given
    assert ev.precision[4] == 0.0 and ev.recall[4] == 0.0 and ev.f1[4] == 0.0
    assert (ev.precision[:4] > 0).all()  # the other classes are predicted and sometimes right
    assert ev.accuracy == pytest.approx(accuracy_score(given, pred), abs=1e-12)
    assert ev.macro_f1 == pytest.approx(
        f1_score(given, pred, labels=labels, average="macro", zero_division=0), abs=1e-12
    )
    for c in range(k):
        assert ev.average_precision[c] == pytest.approx(
            average_precision_score(given == c, probs[:, c]), abs=1e-12
        )
        sp, sr, _ = precision_recall_curve(given == c, probs[:, c])
        np.testing.assert_allclose(ev.pr_curves[c][0], sp, atol=1e-12)
        np.testing.assert_allclose(ev.pr_curves[c][1], sr, atol=1e-12)
    norm = ev.confusion_normalized
    np.testing.assert_allclose(norm.sum(axis=1), 1.0)


def test_long_precision_recall_curves_are_thinned_and_ap_stays_sklearns():
    from relabel.report.evaluation import CURVE_POINTS

    rng = np.random.default_rng(3)
    n, k = 3 * CURVE_POINTS, 3
    given = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k), n)
    ev = evaluate(given, probs, ["a", "b", "c"])
    for c in range(k):
        assert ev.average_precision[c] == pytest.approx(
            average_precision_score(given == c, probs[:, c]), abs=1e-12
        )
        sp, sr, _ = precision_recall_curve(given == c, probs[:, c])
        prec, rec = ev.pr_curves[c]
        assert sp.size > CURVE_POINTS + 1 and prec.size == rec.size == CURVE_POINTS + 1
        assert (prec[0], prec[-1], rec[0], rec[-1]) == (sp[0], sp[-1], sr[0], sr[-1])
        shown = list(zip(prec, rec, strict=True))
        assert set(shown) <= set(zip(sp, sr, strict=True))
        assert np.all(np.diff(rec) <= 0)  # scikit-learn's order: recall falling
    tied = probs.round(2)  # many samples share a score: thresholds group them
    ev = evaluate(given, tied, ["a", "b", "c"])
    for c in range(k):
        assert ev.average_precision[c] == pytest.approx(
            average_precision_score(given == c, tied[:, c]), abs=1e-12
        )
        sp, sr, _ = precision_recall_curve(given == c, tied[:, c])
        assert set(zip(*ev.pr_curves[c], strict=True)) <= set(zip(sp, sr, strict=True))


def test_evaluate_class_without_samples():
    given = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    ev = evaluate(given, probs, ["a", "b", "c"])
    assert np.isnan(ev.average_precision[2])
    assert ev.support.tolist() == [2, 2, 0]
    assert ev.recall[2] == 0.0 and ev.precision[2] == 0.0
    np.testing.assert_array_equal(
        ev.confusion, confusion_matrix(given, probs.argmax(1), labels=[0, 1, 2])
    )


# --- threshold -----------------------------------------------------------------------


def _two_class(seed: int = 5, n: int = 600):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    score = np.clip(np.where(y, rng.normal(0.7, 0.18, n), rng.normal(0.35, 0.18, n)), 0, 1)
    return y, np.round(score, 3)


def test_threshold_target_recall_is_reached_and_tightest():
    y, score = _two_class()
    for target in (0.5, 0.8, 0.9, 0.99, 1.0):
        ch = choose_threshold(y, score, positive_class="cat", target_recall=target)
        pred = score >= ch.threshold
        tp = int(np.sum(pred & y))
        assert tp / y.sum() >= target
        assert ch.recall == pytest.approx(tp / y.sum())
        np.testing.assert_array_equal(ch.confusion, confusion_matrix(y, pred, labels=[False, True]))
        higher = np.unique(score[score > ch.threshold])
        if higher.size:  # the next higher threshold no longer reaches the target
            assert np.sum((score >= higher[0]) & y) / y.sum() < target
        assert ch.criterion == "target_recall" and "target recall" in ch.statement


def test_threshold_minimises_cost():
    y, score = _two_class(seed=8)
    for cfp, cfn in ((1.0, 1.0), (1.0, 10.0), (5.0, 1.0)):
        ch = choose_threshold(y, score, cost_fp=cfp, cost_fn=cfn)
        candidates = np.r_[np.unique(score), np.inf]
        costs = [
            cfp * np.sum((score >= t) & ~y) + cfn * np.sum((score < t) & y) for t in candidates
        ]
        assert ch.cost == pytest.approx(min(costs))
        pred = score >= ch.threshold
        assert cfp * np.sum(pred & ~y) + cfn * np.sum(~pred & y) == pytest.approx(ch.cost)
        assert ch.criterion == "cost" and f"{cfn:g} x false negatives" in ch.statement
    cheap_fn = choose_threshold(y, score, cost_fp=10.0, cost_fn=1.0)
    dear_fn = choose_threshold(y, score, cost_fp=1.0, cost_fn=10.0)
    assert dear_fn.threshold < cheap_fn.threshold


# --- shift ---------------------------------------------------------------------------


def test_prior_shift_detected_and_not_on_same_distribution():
    rng = np.random.default_rng(0)
    k = 4
    old = rng.choice(k, 800, p=[0.25, 0.25, 0.25, 0.25])
    same = rng.choice(k, 400, p=[0.25, 0.25, 0.25, 0.25])
    shifted = rng.choice(k, 400, p=[0.55, 0.15, 0.15, 0.15])
    r_same = shift_check(old, same, k, None, None, seed=0)
    r_shift = shift_check(old, shifted, k, None, None, seed=0)
    assert r_same.prior_p_value > 0.01
    assert r_shift.prior_p_value < 0.01
    assert r_shift.dof == 3 and r_shift.chi2 > r_same.chi2
    assert r_shift.cramers_v > r_same.cramers_v
    assert r_same.covariate_auc is None and "features" in r_same.note
    np.testing.assert_array_equal(r_shift.new_counts, np.bincount(shifted, minlength=k))
    # A class absent from both sides does not break the test (dof counts present classes).
    r = shift_check(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), 5, None, None)
    assert r.dof == 1 and 0.0 <= r.prior_p_value <= 1.0


def test_covariate_shift_auc(tmp_path):
    paths_a, y_a = write_digits(tmp_path / "a", 20, seed=1)
    paths_b, y_b = write_digits(tmp_path / "b", 20, seed=2)
    paths_c, y_c = write_digits(tmp_path / "c", 20, seed=2, invert=True)
    fa, fb, fc = pixel_features(paths_a), pixel_features(paths_b), pixel_features(paths_c)
    assert fa.shape == (200, 256) and fa.dtype == np.float32
    assert fa.min() >= 0.0 and fa.max() <= 1.0
    same = shift_check(y_a, y_b, 10, fa, fb, seed=0)
    diff = shift_check(y_a, y_c, 10, fa, fc, seed=0, new_labels_are_predictions=True)
    assert 0.35 < same.covariate_auc < 0.65
    assert diff.covariate_auc > 0.95
    assert same.cv_folds == 5 and same.n_features == 256
    assert diff.new_labels_are_predictions
    assert same.prior_p_value > 0.01  # same class counts on both sides


def test_pixel_features_reports_unreadable_files(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"broken\.png"):
        pixel_features([bad, tmp_path / "missing.png"])


# --- the report ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """One report with everything: cycles, reviewers, shift, original labels."""
    tmp = tmp_path_factory.mktemp("full")
    paths_new, y_new = write_digits(tmp / "new", 10, seed=4)
    inputs, true = synthetic_inputs(tmp, pair=(1, 7), n_per_class=20)
    shift = shift_check(
        inputs.given, y_new, 10, pixel_features(inputs.paths), pixel_features(paths_new), seed=0
    )
    cycles = [
        CycleRow(1, 50, 50, 21, 0.42, 30.0, 0.81, 0.80),
        CycleRow(2, 50, 48, 12, 0.25, 18.0, 0.86, 0.85),
        CycleRow(3, 50, 0, 0, None, None, None, None),
    ]
    reviewers = [ReviewerRow("ann@example.org", 60, 0.93, 2), ReviewerRow("bob", 38, None, 0)]
    inputs = ReportInputs(
        **{
            **inputs.__dict__,
            "original": true,
            "cycles": cycles,
            "reviewers": reviewers,
            "shift": shift,
        }
    )
    return inputs, write_report(inputs, tmp / "out")


def test_injected_pair_is_most_confused(full_report):
    inputs, html = full_report
    pairs = confused_pairs(inputs.errors_per_pair)
    assert (pairs[0].a, pairs[0].b) == (1, 7)
    assert pairs[0].total > 2 * pairs[1].total
    c = parse(html)
    pair_links = [h for h in c.hrefs if h.startswith("#pair-")]
    assert pair_links[0] == "#pair-1-7"
    pair_ids = [i for i in c.ids if i.startswith("pair-")]
    assert pair_ids[0] == "pair-1-7"
    text = html.read_text(encoding="utf-8")
    assert "one ↔ seven" in text  # summary card and table
    # The gallery of the pair shows samples given "one" and predicted "seven".
    section = text[text.index('id="pair-1-7"') :]
    assert "given <b>one</b>, predicted <b>seven</b>" in section


def test_report_writes_full(full_report):
    inputs, html = full_report
    assert html.name == "report.html"
    n_img = assert_images_exist(html)
    assert n_img > 48
    text = html.read_text(encoding="utf-8")
    for sid in ("summary", "evaluation", "quality", "galleries", "cycles", "shift", "annotators"):
        assert f'<section id="{sid}">' in text and f'href="#{sid}"' in text
    assert "ann@example.org" in text and "93.0%" in text
    assert "No cycles yet" not in text and "No reviews yet" not in text
    assert "chi-square" in text and "ROC AUC" in text
    assert "predictions, not human labels" not in text
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "image-rendering:pixelated" in text
    # Accuracy printed equals the metric.
    ev = evaluate(inputs.given, inputs.probs, inputs.classes)
    assert f"{100 * ev.accuracy:.2f}%" in text
    # One file: every figure and thumbnail is a PNG data URI, nothing lies beside it.
    assert [p.name for p in html.parent.iterdir()] == ["report.html"]
    alts = set(
        re.findall(r'<img class="fig" src="data:image/png;base64,[^"]+" alt="([^"]+)"', text)
    )
    assert {
        "confusion matrix, counts",
        "noise matrix",
        "precision-recall curves",
        "cycle history",
        "class balance",
        "class proportions, old vs new",
    } <= alts
    # Tiny 8x8 digits are upscaled by an integer factor (nearest neighbour).
    thumb = re.search(r'<img class="thumb" src="([^"]+)"', text).group(1)
    with embedded_png(thumb) as im:
        assert im.size == (96, 96)


def test_output_is_deterministic_and_replaces_old_files(full_report, tmp_path):
    inputs, a = full_report
    # The folder of PNGs an older relabel wrote beside report.html goes away.
    stale = tmp_path / "b" / "report_files" / "stale.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    b = write_report(inputs, tmp_path / "b")
    assert not stale.parent.exists()
    assert [p.name for p in b.parent.iterdir()] == ["report.html"]
    assert a.read_bytes() == b.read_bytes()


def test_failed_write_keeps_the_old_report_and_leaves_no_partial_file(
    full_report, tmp_path, monkeypatch
):
    """The final write is atomic (relabel.infra.atomic): when the rename fails, the
    previous report.html is untouched and no partial or temporary file stays beside it."""
    import relabel.infra.atomic as atomic

    inputs, _ = full_report
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("old report", encoding="utf-8")

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", no_rename)
    with pytest.raises(OSError, match="No space left"):
        write_report(inputs, out)
    assert [p.name for p in out.iterdir()] == ["report.html"]
    assert (out / "report.html").read_text(encoding="utf-8") == "old report"


def test_empty_history_renders(tmp_path):
    inputs, _ = synthetic_inputs(tmp_path, n_per_class=6, original=None)
    html = write_report(inputs, tmp_path / "out")
    text = html.read_text(encoding="utf-8")
    assert "No cycles yet" in text
    assert "No reviews yet" in text
    assert "No new batch has been checked" in text
    assert "original labels were not given" in text
    assert_images_exist(html)


def test_two_class_threshold_section(tmp_path):
    y, score = _two_class(n=60)
    paths = []
    for i in range(60):
        p = tmp_path / f"s{i}.png"
        Image.fromarray(np.full((5, 7, 3), i * 4, np.uint8)).save(p)
        paths.append(str(p))
    probs = np.c_[1 - score, score]
    common = {
        "project_name": "binary",
        "classes": ["ok", "defect"],
        "sample_ids": [f"s{i}" for i in range(60)],
        "paths": paths,
        "given": y.astype(int),
        "probs": probs,
        "suspicion": 1 - probs[np.arange(60), y.astype(int)],
        "rank": np.arange(60),
        "lane": np.array(["ok"] * 60),
        "noise_matrix": np.eye(2),
        "errors_per_class": np.zeros(2),
        "errors_per_pair": np.zeros((2, 2)),
    }
    by_recall = ReportInputs(**common, positive_class="defect", target_recall=0.9)
    text = write_report(by_recall, tmp_path / "r").read_text(encoding="utf-8")
    ch = choose_threshold(y, score, positive_class="defect", target_recall=0.9)
    assert "Decision threshold (two classes)" in text
    assert "target recall 0.9" in text and f"{ch.threshold:.4g}" in text
    assert "No label errors are estimated" in text  # no confused pairs
    by_cost = ReportInputs(**common, cost_fp=1.0, cost_fn=5.0)
    text = write_report(by_cost, tmp_path / "c").read_text(encoding="utf-8")
    assert "minimises the cost 1 x false positives + 5 x false negatives" in text
    assert_images_exist(tmp_path / "c" / "report.html")


def test_text_is_escaped_and_unreadable_images_do_not_crash(tmp_path, caplog):
    inputs, _ = synthetic_inputs(tmp_path, n_per_class=6)
    ids = list(inputs.sample_ids)
    order = np.argsort(inputs.rank)
    ids[order[0]] = '<script>alert("x")</script>'
    paths = list(inputs.paths)
    paths[order[1]] = str(tmp_path / "gone.png")
    classes = list(inputs.classes)
    classes[0] = "zero & <nothing>"
    inputs = ReportInputs(
        **{
            **inputs.__dict__,
            "sample_ids": ids,
            "paths": paths,
            "classes": classes,
            "project_name": 'P"<b>',
        }
    )
    html = write_report(inputs, tmp_path / "out")
    text = html.read_text(encoding="utf-8")
    assert "<script" not in text and "<nothing>" not in text and 'P"<b>' not in text
    assert "&lt;script&gt;" in text and "zero &amp; &lt;nothing&gt;" in text
    assert "image unreadable" in text
    assert "gone.png" in caplog.text
    assert_images_exist(html)


def test_inputs_are_validated(tmp_path):
    inputs, _ = synthetic_inputs(tmp_path, n_per_class=3)
    base = dict(inputs.__dict__)
    with pytest.raises(ReportInputError, match=r"probs has shape"):
        ReportInputs(**{**base, "probs": inputs.probs[:, :9]})
    bad = inputs.given.copy()
    bad[4] = 10
    with pytest.raises(ReportInputError, match=r"given\[4\] = 10"):
        ReportInputs(**{**base, "given": bad})
    with pytest.raises(ReportInputError, match="sample_ids"):
        ReportInputs(**{**base, "sample_ids": inputs.sample_ids[:-1]})
    with pytest.raises(ReportInputError, match="positive_class"):
        ReportInputs(**{**base, "positive_class": "eleven"})
    with pytest.raises(ReportInputError, match="errors_per_pair"):
        ReportInputs(**{**base, "errors_per_pair": np.zeros((10, 9))})


def test_report_does_not_import_heavy_edges():
    """The renderer imports no edge; relabel.report.build, the bridge from a project, is
    the one module that does, and no other module of the package imports it."""
    import ast

    import relabel.report

    banned = (
        "tensorflow",
        "keras",
        "label_studio_sdk",
        "relabel.store",
        "relabel.training",
        "relabel.studio",
        "relabel.project",
        "relabel.report.build",
    )
    files = sorted(Path(relabel.report.__file__).parent.rglob("*.py"))
    assert any(f.parent.name == "sections" for f in files), "the walk missed the sections"
    for f in files:
        if f.name == "build.py":
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(banned), f"{f.name} imports {name}"
