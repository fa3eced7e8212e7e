"""BENCHMARKS.md's issues section: relabel's issue types on planted cases (benchmarks.issues).

Every figure comes from the section's results; a comparison sentence is computed from the
figures it names. The targets are issue 26's (stored with the results): near-duplicate
pairs found with precision and recall of at least 0.95, each planted health kind with
precision and recall of at least 0.9. They are judged at full scale only.
"""

from __future__ import annotations

from typing import Any

HEADING = "## 8. Dataset issues beyond wrong labels: planted cases"

#: What the table calls each health kind's planted images.
KIND_TEXT = {
    "dark": "darkened to 8 % brightness",
    "bright": "brightened to 8 % of the distance to white",
    "blurry": "Gaussian blur, radius 2",
    "low_information": "one flat colour",
    "grayscale": "made grey",
    "odd_size": "saved at 64x32, 32x64, 96x96 or 20x20",
}
TRANSFORM_TEXT = {
    "jpeg": "JPEG re-encode at quality 50-70",
    "resize": "resize to 50-75 % and back",
    "shift": "2-4 pixel shift",
    "brightness": "brightness x0.85-0.93 or x1.07-1.15",
}


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f} %"


def _ok(value: float | None, target: float, full: bool) -> bool | None:
    if not full:
        return None
    return value is not None and value >= target


def _measured(iss: dict[str, Any] | None) -> bool:
    return bool(iss) and "duplicates" in iss  # type: ignore[operator]


def checks(iss: dict[str, Any] | None) -> list[tuple[str, str, bool | None]]:
    """Issue 26's targets: duplicate pairs (precision, recall) and each health kind's."""
    if not iss or not _measured(iss):
        return []
    full = iss.get("scale") == "full"
    t, over = iss["targets"], iss.get("over_plantings")
    n = len(iss.get("plantings") or [None])
    tail = "" if full else " (quick scale: reported, not judged)"
    tail += f", mean of {n} plantings" if n > 1 else ""

    def mean(key: str, single: float | None) -> float | None:
        return over[key]["mean"] if over and key in over else single

    d = iss["duplicates"]
    counts = (
        f" ({d['found_pairs']} found of {d['planted_pairs']} planted; "
        f"{d['predicted_pairs']} pairs share a set)"
        if n == 1
        else ""
    )
    out: list[tuple[str, str, bool | None]] = []
    for what in ("precision", "recall"):
        target, value = t[f"duplicate_{what}"], mean(f"duplicate_{what}", d[what])
        out.append(
            (
                f"issues: planted near-duplicate pairs, {what} >= {target:g}{tail}",
                f"{_f(value)}" + _interval_text(over, f"duplicate_{what}") + counts,
                _ok(value, target, full),
            )
        )
    for kind, h in iss["health"].items():
        pr = (mean(f"{kind}_precision", h["precision"]), mean(f"{kind}_recall", h["recall"]))
        both = None if None in pr else min(pr)  # type: ignore[type-var]
        target = min(t["health_precision"], t["health_recall"])
        out.append(
            (
                f"issues: planted `{kind}` images, precision and recall >= {target:g}{tail}",
                f"precision {_f(pr[0])}, recall {_f(pr[1])}"
                + (
                    f" ({h['true_flags']} of {h['planted']} planted, {h['flagged']} flagged)"
                    if n == 1
                    else ""
                ),
                _ok(both, target, full),
            )
        )
    gap = (over or {}).get("outlier_auroc_minus_cleanlab")
    if gap and gap["mean"] is not None:
        out.append(
            (
                f"issues: outlier AUROC >= cleanlab's on the same embeddings + 0.05{tail}",
                f"{gap['mean']:+.3f} [{gap['low']:+.3f}, {gap['high']:+.3f}]",
                _ok(gap["low"], 0.05, full),
            )
        )
    return out + _datalab_checks(over or {}, tail, full)


def _datalab_checks(
    over: dict[str, Any], tail: str, full: bool
) -> list[tuple[str, str, bool | None]]:
    """Issue 26's bars against Datalab on the same arrays: near-duplicate pairs at least
    its (the mean paired difference of precision and of recall >= 0), outlier AUROC at
    least its + 0.05 (the low end of the paired difference's interval, as for cleanlab's)."""
    out: list[tuple[str, str, bool | None]] = []
    keys = ("duplicate_precision_minus_datalab", "duplicate_recall_minus_datalab")
    means = [(over.get(k) or {}).get("mean") for k in keys]
    if any(m is not None for m in means):
        worst = None if None in means else min(means)  # type: ignore[type-var]
        out.append(
            (
                "issues: near-duplicate pairs, precision and recall at least Datalab's "
                f"(mean paired difference >= 0){tail}",
                f"precision {_mean_text(over, keys[0], True)}, "
                f"recall {_mean_text(over, keys[1], True)}",
                _ok(worst, 0.0, full),
            )
        )
    gap = over.get("outlier_auroc_minus_datalab") or {}
    if gap.get("mean") is not None:
        out.append(
            (
                f"issues: outlier AUROC >= Datalab's on the same embeddings + 0.05{tail}",
                _mean_text(over, "outlier_auroc_minus_datalab", True),
                _ok(gap["low"], 0.05, full),
            )
        )
    return out


def _interval_text(over: dict[str, Any] | None, key: str) -> str:
    """`` [low, high]`` of a figure over plantings, or nothing with one planting."""
    if not over or key not in over or over[key]["low"] == over[key]["high"]:
        return ""
    return f" [{_f(over[key]['low'])}, {_f(over[key]['high'])}]"


def _plantings_text(iss: dict[str, Any]) -> str:
    each = iss.get("plantings") or []
    if len(each) < 2:
        return f"one planting, seed {iss['plan']['seed']}: no intervals"
    return f"{len(each)} plantings, seeds {', '.join(str(p['seed']) for p in each)}"


def _setup(iss: dict[str, Any]) -> list[str]:
    plan, run, planted = iss["plan"], iss["run"], iss["planted"]
    health = sum(planted.get(k, 0) for k in iss["health_kinds"])
    train, issues = run["train"], run["issues"]
    epochs = run["epochs"] if run.get("epochs") is not None else "the project's default"
    return [
        f"The first {iss['n_base']:,} {iss['dataset']} test images with planted cases whose "
        f"truth is known ({iss['scale']} scale, {_plantings_text(iss)}): "
        f"{plan['duplicates']} near-duplicates of other images, one change each, "
        f"of which {planted['duplicate']} in training ({iss['duplicates']['conflict_pairs']} "
        f"of them relabelled: conflicting labels) and {iss['holdout']} in the held-out "
        "manifest (`dataset.holdout`) while "
        f"their source trains (a leak across the split); {planted['outlier']} outliers "
        f"(MNIST digits as RGB, a quarter uniform noise); {health} unhealthy images "
        f"({len(iss['health_kinds'])} kinds, each in place of its source image). "
        f"{iss['n']:,} training images in all.",
        "",
        f"Trained as a user does: `relabel init` and `relabel train` ({run['folds']} folds "
        f"and the final model, {run.get('architecture')}, {epochs} epochs; out-of-fold "
        f"accuracy {_f(run.get('oof_accuracy'))}; {train['seconds']:.0f} s), then "
        f"`relabel issues PROJECT --out issues.csv` on the {iss.get('embedding_dim', '?')}-d "
        f"embeddings ({run.get('embeddings', '?')}): **{issues['seconds']:.1f} s** "
        f"({issues['user_cpu_s'] + issues['kernel_cpu_s']:.1f} s CPU, peak "
        f"{issues['peak_gib']:.2f} GiB). Each type is measured on the unmodified images "
        "and its own planted cases; its flags on other types' planted cases are counted "
        "apart (last column).",
        "",
    ]


def _row(name: str, what: str, b: dict[str, Any], target: str) -> list[str]:
    return [
        name,
        what,
        str(b["planted"]),
        str(b["flagged"]),
        str(b["true_flags"]),
        _f(b["precision"]),
        _f(b["recall"]),
        f"{b['unmodified_flagged']} ({_pct(b['false_positive_rate'])})",
        target,
        str(b["other_planted_flagged"]),
    ]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def _main_table(iss: dict[str, Any]) -> list[str]:
    t, d = iss["targets"], iss["duplicates"]
    rate = d["unplanted_flagged"] / d["unplanted"] if d["unplanted"] else None
    rows = [
        [
            "duplicate (pairs)",
            "near copy in training, same set as its source",
            str(d["planted_pairs"]),
            f"{d['predicted_pairs']} pairs",
            str(d["found_pairs"]),
            _f(d["precision"]),
            _f(d["recall"]),
            f"{d['unplanted_flagged']} image{'' if d['unplanted_flagged'] == 1 else 's'} "
            f"({_pct(rate)})",
            f">= {t['duplicate_precision']:g} / {t['duplicate_recall']:g}",
            str(d["other_planted_flagged"]),
        ],
        _row("outlier", "MNIST digit or noise", iss["outliers"], "–"),
    ]
    target = f">= {t['health_precision']:g} / {t['health_recall']:g}"
    for kind, h in iss["health"].items():
        rows.append(_row(kind, KIND_TEXT.get(kind, kind), h, target))
    head = [
        "type",
        "planted as",
        "planted",
        "flagged",
        "right",
        "precision",
        "recall",
        "flagged among unmodified",
        "target (P / R)",
        "flags on other planted",
    ]
    return _table(head, rows)


def _duplicates(d: dict[str, Any], dataset: str) -> list[str]:
    by = ", ".join(
        f"{TRANSFORM_TEXT.get(how, how)} {found}/{planted}"
        for how, (found, planted) in d["recall_by_transform"].items()
    )
    lines = [
        f"**Near-duplicates.** Pairs found by change: {by}. {d['sets']} duplicate sets in all. "
        f"Conflicting labels: {d['conflict_marked']} of the {d['conflict_found']} relabelled "
        f"pairs found are marked conflicting (of {d['conflict_pairs']} planted); "
        f"{d['same_label_marked_conflict']} of the {d['same_label_found']} same-label pairs "
        f"found are marked conflicting. Holdout leaks: {d['holdout_marked']} of the "
        f"{d['holdout_pairs']} sources whose near copy is held out are marked as crossing the "
        f"split; {d['holdout_false_marks']} other images are.",
    ]
    if d["holdout_marked"] < d["holdout_pairs"]:
        lines[-1] += (
            " relabel compares the held-out images with the training images by their "
            "pixels (content hash and grey 16x16 thumbnails; held-out images are not "
            "embedded), so a held-out copy whose thumbnail moved past the near-copy "
            "threshold is missed."
        )
    lines.append("")
    top = d.get("top_unplanted_sets") or []
    if top:
        lines += [
            f"{d['unplanted_flagged']} unmodified images are flagged as duplicates; "
            f"{d['unplanted_sets']} sets hold unmodified images only: copies within the "
            f"{dataset} test images themselves (findings, not noise). The top {len(top)} by "
            "duplicate score:",
            "",
        ]
        lines += [
            f"- {', '.join(f'`{i}` ({lab})' for i, lab in zip(s['ids'], s['labels'], strict=True))}"
            f": score {s['score']:.3f}" + ("; labels conflict" if s["conflict"] else "")
            for s in top
        ]
        lines.append("")
    return lines


def _outliers(iss: dict[str, Any]) -> list[str]:
    o = iss["outliers"]
    origin = ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in o["recall_by_origin"].items())
    lines = [f"**Outliers.** Flagged by origin: {origin}.", ""]
    rows = [["relabel (`outlier_score`)", _f(o["relabel"]["auroc"])]]
    rows[0].append(_f(o["relabel"]["precision_at_planted"]))
    ood, cl = o.get("cleanlab_ood"), iss.get("cleanlab_ood") or {}
    if ood:
        rows.append(
            [
                f"cleanlab `OutOfDistribution` ({cl.get('seconds', 0):.1f} s)",
                _f(ood["auroc"]),
                _f(ood["precision_at_planted"]),
            ]
        )
    lines += _table(["score, same embeddings", "AUROC", "precision at the number planted"], rows)
    mine, theirs = o["relabel"]["auroc"], (ood or {}).get("auroc")
    if mine is not None and theirs is not None:
        gap = mine - theirs
        said = (
            f"{abs(gap):.3f} {'above' if gap > 0 else 'below'} cleanlab's"
            if round(gap, 3)
            else "equal to cleanlab's (to 3 decimals)"
        )
        datalab = iss.get("datalab", "not run")
        if isinstance(datalab, dict):
            datalab = datalab.get("error", "compared below")
        lines += [
            f"relabel's AUROC is {said} (issue 26 asks for Datalab's outlier type + 0.05; "
            f"Datalab itself: {datalab}).",
            "",
        ]
    elif cl.get("error"):
        lines += [f"cleanlab not run: {cl['error']}", ""]
    return lines


#: What the over-plantings table calls each figure.
FIGURE_TEXT = {
    "duplicate_precision": "near-duplicate pairs: precision",
    "duplicate_recall": "near-duplicate pairs: recall",
    "holdout_leaks_marked": "near copies across the holdout split marked",
    "outlier_auroc": "outliers: relabel AUROC",
    "cleanlab_outlier_auroc": "outliers: cleanlab OutOfDistribution AUROC",
    "outlier_auroc_minus_cleanlab": "outliers: relabel − cleanlab AUROC",
    "outlier_precision_at_planted": "outliers: relabel precision at the number planted",
    "oof_accuracy": "out-of-fold accuracy of the training",
}


def _plantings_table(iss: dict[str, Any]) -> list[str]:
    """Every compared figure: mean, 95 % interval and each planting's value."""
    over, each = iss.get("over_plantings"), iss.get("plantings") or []
    if not over or len(each) < 2:
        return []
    seeds = ", ".join(str(p["seed"]) for p in each)
    rows = []
    for key, s in over.items():
        if any(tool in key for tool in TOOLS):
            continue  # in the tools' own tables
        what = FIGURE_TEXT.get(key, key.replace("_", " ", 1).replace("_", " "))
        per = ", ".join(_f(v) for v in s["per_planting"])
        rows.append([what, _f(s["mean"]), f"[{_f(s['low'])}, {_f(s['high'])}]", per])
    gap = over.get("outlier_auroc_minus_cleanlab", {})
    lines = [
        f"Over {len(each)} plantings (seeds {seeds}; each its own planted cases, training and "
        "`relabel issues` run): the mean and its 95 % Student-t interval. The detailed "
        f"tables below are planting {each[0]['seed']}'s.",
        "",
        *_table(["figure", "mean", "95 % interval", "per planting"], rows),
    ]
    if gap.get("mean") is not None:
        verdict = "tied with (the interval holds 0)"
        if gap["low"] > 0 or gap["high"] < 0:
            verdict = "above" if gap["low"] > 0 else "below"
        lines += [f"relabel's outlier AUROC is {verdict} cleanlab's on the same embeddings.", ""]
    return lines


# --------------------------------------------------------------------------------------
# the other tools, side by side

#: The tools compared figure by figure: the key of their results and their name.
TOOLS = {"datalab": "Datalab", "cleanvision": "cleanvision"}
#: What the tools' tables call a figure (a health kind's: "`kind`: precision").
VERSUS_TEXT = {
    "duplicate_precision": "near-duplicate pairs: precision",
    "duplicate_recall": "near-duplicate pairs: recall",
    "outlier_auroc": "outliers: AUROC",
    "outlier_precision_at_planted": "outliers: precision at the number planted",
}


def _what(key: str) -> str:
    kind, _, what = key.rpartition("_")
    return VERSUS_TEXT.get(key, f"`{kind}`: {what}")


def _mean_text(over: dict[str, Any], key: str, signed: bool = False) -> str:
    """A figure's mean over plantings and its interval (left out when it rounds to one
    value)."""
    s = over.get(key) or {}
    if s.get("mean") is None:
        return "–"
    fmt = "{:+.3f}" if signed else "{:.3f}"
    low, high = fmt.format(s["low"]), fmt.format(s["high"])
    return fmt.format(s["mean"]) + ("" if low == high else f" [{low}, {high}]")


def verdicts(over: dict[str, Any], tool: str, keys: list[str], n: int) -> str:
    """Where relabel is above, below or tied with ``tool`` (its paired difference's interval
    excludes 0 or not); no verdict from one planting."""
    if n < 2:
        return f"One planting: no interval, so no verdict against {TOOLS[tool]}."
    said: dict[str, list[str]] = {"above": [], "below": [], "tied with": []}
    for key in keys:
        s = over.get(f"{key}_minus_{tool}") or {}
        if s.get("mean") is None:
            continue
        where = "above" if s["low"] > 0 else "below" if s["high"] < 0 else "tied with"
        said[where].append(_what(key))
    parts = [f"{where} {TOOLS[tool]}'s on {', '.join(w)}" for where, w in said.items() if w]
    if not parts:
        return ""
    return (
        f"Over {n} plantings relabel is {'; '.join(parts)} (above or below: the 95 % "
        "interval of the paired difference excludes 0; tied: it holds 0)."
    )


def _versus_table(iss: dict[str, Any], tool: str, keys: list[str]) -> list[str]:
    over = iss.get("over_plantings") or {}
    keys = [k for k in keys if f"{k}_minus_{tool}" in over]
    name, n = TOOLS[tool], len(iss.get("plantings") or [None])
    rows = [
        [
            _what(k),
            _mean_text(over, k),
            _mean_text(over, f"{tool}_{k}"),
            _mean_text(over, f"{k}_minus_{tool}", signed=True),
        ]
        for k in keys
    ]
    head = ["figure", "relabel", name, f"relabel − {name}"]
    what = f"Each a mean of {n} plantings [95 % interval]" if n > 1 else "One planting"
    return [
        f"{what}; the difference relabel − {name} is paired by planting.",
        "",
        *_table(head, rows),
        verdicts(over, tool, keys, n),
        "",
    ]


def _datalab(iss: dict[str, Any]) -> list[str]:
    dl = iss.get("datalab")
    if not isinstance(dl, dict):
        return []
    if "duplicates" not in dl:
        return [f"**Against cleanlab's Datalab**: {dl.get('error', 'not run')}.", ""]
    d, o = dl["duplicates"], dl["outliers"]
    by = ", ".join(f"{how} {f}/{n}" for how, (f, n) in d["recall_by_transform"].items())
    keys = [
        "duplicate_precision",
        "duplicate_recall",
        "outlier_auroc",
        "outlier_precision_at_planted",
    ]
    return [
        f"**Against cleanlab's Datalab** (cleanlab {dl['version']}, issue types "
        "`near_duplicate` and `outlier` on the same embeddings and out-of-fold "
        f"probabilities: {dl['seconds']:.1f} s, {dl['cpu_seconds']:.1f} s CPU). Its "
        "near-duplicate sets (`near_duplicate_sets`, joined) and outlier scores are measured "
        "as relabel's. Planting "
        f"{iss['plan']['seed']}: {d['found_pairs']} of {d['planted_pairs']} planted pairs "
        f"found ({by}), {d['predicted_pairs']} pairs share a set; {o['flagged']} outliers "
        f"flagged, {o['true_flags']} of them planted.",
        "",
        *_versus_table(iss, "datalab", keys),
    ]


def _cleanvision(iss: dict[str, Any]) -> list[str]:
    cv = iss.get("cleanvision")
    if not isinstance(cv, dict):
        return []
    if "health" not in cv:
        return [f"**Image health against cleanvision**: {cv.get('error', 'not run')}.", ""]
    kinds = list(cv["health"])
    keys = [f"{k}_{what}" for k in kinds for what in ("precision", "recall")]
    flagged = ", ".join(f"{k} {h['true_flags']}/{h['flagged']}" for k, h in cv["health"].items())
    return [
        f"**Image health against cleanvision** (cleanvision {cv['version']}'s Imagelab on "
        "the same image files, issue types dark, light (as `bright`), blurry, "
        "low_information, grayscale, odd_size and odd_aspect_ratio (either as `odd_size`): "
        f"{cv['seconds']:.1f} s, {cv['cpu_seconds']:.1f} s CPU), measured per planted kind "
        f"as relabel's. Planting {iss['plan']['seed']}, right of flagged: {flagged}.",
        "",
        *_versus_table(iss, "cleanvision", keys),
    ]


def _tool_time(t: dict[str, Any]) -> list[str]:
    if "seconds" not in t:
        return [t.get("skipped") or t.get("error", "not run"), "–"]
    found = t.get("planted_found")
    sets = f"{t['sets']}" + (f" ({found[0]}/{found[1]} planted copies)" if found else "")
    return [f"{t['seconds']:.2f} ({t['cpu_seconds']:.2f})", sets]


def _search(iss: dict[str, Any]) -> list[str]:
    rows = iss.get("search")
    if not rows:
        return []
    body = []
    for r in rows:
        what = (
            f"planting {iss['plan']['seed']}'s"
            if r["embeddings"] == "planting"
            else "synthetic, clustered, near copies planted"
        )
        what += f" ({r['dim']}-d {r['dtype']})"
        body.append([what, f"{r['n']:,}", *_tool_time(r["relabel"]), *_tool_time(r["datalab"])])
    head = ["embeddings", "rows", "relabel s (CPU s)", "relabel sets", "Datalab s (CPU s)"]
    return [
        "**Duplicate search time.** relabel: `relabel.findings.duplicate_sets` on the "
        "embeddings alone (exact nearest neighbours, a chunk of rows at a time); Datalab: "
        "its `near_duplicate` type alone. CPU seconds count every thread.",
        "",
        *_table([*head, "Datalab sets"], body),
    ]


def render(iss: dict[str, Any]) -> list[str]:
    """The section's lines."""
    lines = [HEADING, ""]
    if iss.get("skipped"):
        return [*lines, f"Skipped: {'; '.join(iss['skipped'])}", ""]
    if iss.get("error") or not _measured(iss):
        return [*lines, f"Not measured: {iss.get('error', 'no figures')}", ""]
    lines += _setup(iss)
    lines += _plantings_table(iss)
    lines += _main_table(iss)
    lines += _duplicates(iss["duplicates"], iss["dataset"])
    lines += _outliers(iss)
    lines += _datalab(iss)
    lines += _cleanvision(iss)
    lines += _search(iss)
    return lines
