"""Issues: relabel's issue types (:mod:`relabel.findings`, docs/issues.md) on planted cases.

The CIFAR-10 test images (:func:`benchmarks.datasets.load_cifar10`), with cases whose truth
is known planted among them (:func:`benchmarks.planting.plant`):

* **near-duplicates** of other images, one change each (``TRANSFORMS``: a JPEG
  re-encode at quality 50-70, a resize down and up, a 2-4 pixel shift, a small brightness
  change). A third keep their source's label, a third are relabelled (their set has
  conflicting labels) and a third go to the project's held-out manifest
  (``dataset.holdout``) while their source stays in training: a leak across the split;
* **outliers**: MNIST test digits converted to 32x32 RGB, and a quarter uniform noise;
* **unhealthy images** (``HEALTH_KINDS``): other images darkened, brightened,
  blurred, flattened to one colour, made grey, or saved at an odd size, each in place of
  its source.

The planted set is trained as a user does (``relabel init`` and ``relabel train`` with
the default RGB config and its final model, each in its own process), then ``relabel
issues PROJECT --out issues.csv`` (:meth:`relabel.project.Project.issues`) is timed and
read. Each issue type is measured on the unmodified images plus its own planted cases
(:func:`evaluate`): a flag on another type's planted case (a grey MNIST digit flagged
``grayscale``) is counted apart, neither right nor wrong. Outliers are also scored by
cleanlab's :class:`cleanlab.outlier.OutOfDistribution` on the same embeddings.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.datasets import BenchDataset
from benchmarks.planting import (
    HEALTH_KINDS,
    TRANSFORMS,
    IssuePlan,
    Planted,
    plant,
    train_and_find,
)

log = logging.getLogger(__name__)

#: The targets issue 26 states (duplicates: planted pairs; health: each planted kind).
TARGETS: dict[str, float] = {
    "duplicate_precision": 0.95,
    "duplicate_recall": 0.95,
    "health_precision": 0.9,
    "health_recall": 0.9,
}
#: The duplicate pairs among unmodified images listed (real copies: findings, not noise).
TOP_FOUND = 10


# --------------------------------------------------------------------------------------
# the figures


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def binary_figures(flag: np.ndarray, truth: np.ndarray, population: np.ndarray) -> dict[str, Any]:
    """One type's flags against its planted cases, on its population.

    Parameters
    ----------
    flag, truth, population : numpy.ndarray of bool
        Flagged; planted as this type; the rows this type is measured on (the unmodified
        images and this type's planted cases).

    Returns
    -------
    dict
        ``planted``, ``flagged`` (in the population), ``true_flags``, ``precision`` and
        ``recall`` (None without flags or planted cases), ``unmodified_flagged`` and
        ``false_positive_rate`` (on the population's unplanted rows) and
        ``other_planted_flagged`` (flags on other types' planted cases, counted apart).
    """
    flagged = flag & population
    negatives = population & ~truth
    tp, n_flagged, planted = int((flagged & truth).sum()), int(flagged.sum()), int(truth.sum())
    false = int((flag & negatives).sum())
    return {
        "planted": planted,
        "flagged": n_flagged,
        "true_flags": tp,
        "precision": _rate(tp, n_flagged),
        "recall": _rate(tp, planted),
        "unmodified_flagged": false,
        "unmodified": int(negatives.sum()),
        "false_positive_rate": _rate(false, int(negatives.sum())),
        "other_planted_flagged": int((flag & ~population).sum()),
    }


def ranking_figures(score: np.ndarray, truth: np.ndarray, population: np.ndarray) -> dict[str, Any]:
    """AUROC and precision at the number planted of a score (higher: more suspect)."""
    from sklearn.metrics import roc_auc_score

    s, t = np.asarray(score, np.float64)[population], truth[population]
    k = int(t.sum())
    if k == 0 or k == t.size:
        return {"auroc": None, "precision_at_planted": None}
    top = np.argsort(-s, kind="stable")[:k]
    return {"auroc": float(roc_auc_score(t, s)), "precision_at_planted": float(t[top].mean())}


def _pair_count(set_id: np.ndarray, rows: np.ndarray) -> int:
    """Pairs of rows of ``rows`` that share a duplicate set."""
    sizes = np.bincount(set_id[rows & (set_id >= 0)])
    return int((sizes * (sizes - 1) // 2).sum())


def _unplanted_sets(table: pd.DataFrame, plain: np.ndarray) -> list[dict[str, Any]]:
    """The duplicate sets of unplanted images only, highest duplicate score first."""
    members = table[plain & (table["duplicate_set"].to_numpy() >= 0)]
    whole = table.groupby("duplicate_set").size()
    found = []
    for set_id, rows in members.groupby("duplicate_set"):
        if len(rows) < 2 or whole[set_id] != len(rows):
            continue
        found.append(
            {
                "ids": rows["sample_id"].tolist(),
                "labels": [str(c) for c in rows["given_label"]],
                "score": float(rows["duplicate_score"].max()),
                "conflict": bool(rows["duplicate_conflict"].any()),
            }
        )
    found.sort(key=lambda s: (-s["score"], s["ids"][0]))
    return found


def duplicate_figures(p: Planted, table: pd.DataFrame) -> dict[str, Any]:
    """Planted pairs found, conflict and leak marks, and copies among unplanted images.

    ``table`` is ``relabel issues``' output in the order of ``p``'s rows. A planted pair
    is found when both rows are in the same duplicate set; precision counts every pair
    that shares a set among the unmodified images and the training duplicates.
    """
    set_id = table["duplicate_set"].to_numpy(dtype=np.int64)
    conflict = table["duplicate_conflict"].to_numpy(dtype=bool)
    leak = table["duplicate_crosses_holdout"].to_numpy(dtype=bool)
    dups = np.flatnonzero(p.kind == "duplicate")
    src = p.partner[dups]
    found = (set_id[dups] >= 0) & (set_id[dups] == set_id[src])
    relabelled = p.labels[dups] != p.labels[src]
    population = np.isin(p.kind, ["", "duplicate"])
    predicted = _pair_count(set_id, population)
    sources = np.zeros(p.n, dtype=bool)
    sources[src] = True
    sources[p.holdout_partner] = True
    plain = (p.kind == "") & ~sources
    leaked = np.zeros(p.n, dtype=bool)
    leaked[p.holdout_partner] = True
    own = _unplanted_sets(table, plain)
    by = {
        how: [int(found[p.detail[dups] == how].sum()), int((p.detail[dups] == how).sum())]
        for how in TRANSFORMS
    }
    return {
        "planted_pairs": int(dups.size),
        "found_pairs": int(found.sum()),
        "predicted_pairs": predicted,
        "precision": _rate(int(found.sum()), predicted),
        "recall": _rate(int(found.sum()), int(dups.size)),
        "recall_by_transform": by,
        "sets": int(np.unique(set_id[set_id >= 0]).size),
        "conflict_pairs": int(relabelled.sum()),
        "conflict_found": int((found & relabelled).sum()),
        "conflict_marked": int((found & relabelled & conflict[dups] & conflict[src]).sum()),
        "same_label_found": int((found & ~relabelled).sum()),
        "same_label_marked_conflict": int((found & ~relabelled & conflict[dups]).sum()),
        "holdout_pairs": int(p.holdout_partner.size),
        "holdout_marked": int(leak[p.holdout_partner].sum()),
        "holdout_false_marks": int((leak & ~leaked).sum()),
        "unplanted": int(plain.sum()),
        "unplanted_flagged": int((table["duplicate_flag"].to_numpy(bool) & plain).sum()),
        "other_planted_flagged": int((table["duplicate_flag"].to_numpy(bool) & ~population).sum()),
        "unplanted_sets": len(own),
        "top_unplanted_sets": own[:TOP_FOUND],
    }


def outlier_figures(
    p: Planted, table: pd.DataFrame, cleanlab_score: np.ndarray | None
) -> dict[str, Any]:
    """relabel's outlier flag and score against the planted outliers; cleanlab's score too.

    ``cleanlab_score`` is :class:`cleanlab.outlier.OutOfDistribution`'s (lower: more
    outlying), or None when it could not be computed.
    """
    truth = p.kind == "outlier"
    population = np.isin(p.kind, ["", "outlier"])
    flag = table["outlier_flag"].to_numpy(bool)
    out = binary_figures(flag, truth, population)
    out["relabel"] = ranking_figures(table["outlier_score"].to_numpy(), truth, population)
    if cleanlab_score is not None:
        out["cleanlab_ood"] = ranking_figures(-np.asarray(cleanlab_score), truth, population)
    out["recall_by_origin"] = {
        origin: [int((flag & truth & (p.detail == origin)).sum()), int((p.detail == origin).sum())]
        for origin in ("mnist", "noise")
    }
    return out


def health_figures(p: Planted, table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per planted health kind: :func:`binary_figures` of relabel's flag of that type."""
    return {
        kind: binary_figures(
            table[f"{kind}_flag"].to_numpy(bool), p.kind == kind, np.isin(p.kind, ["", kind])
        )
        for kind in HEALTH_KINDS
    }


def evaluate(
    p: Planted, table: pd.DataFrame, cleanlab_score: np.ndarray | None = None
) -> dict[str, Any]:
    """Every figure of the section from ``relabel issues``' table (any row order).

    Raises
    ------
    ValueError
        The table does not hold exactly the planted training rows.
    """
    indexed = table.set_index("sample_id", drop=False)
    if len(indexed) != p.n or set(indexed.index) != set(p.ids):
        raise ValueError(f"relabel issues gave {len(table)} rows for {p.n} planted samples")
    ordered = indexed.loc[p.ids].reset_index(drop=True)
    return {
        "duplicates": duplicate_figures(p, ordered),
        "outliers": outlier_figures(p, ordered, cleanlab_score),
        "health": health_figures(p, ordered),
    }


# --------------------------------------------------------------------------------------
# the same cases through other tools


def cleanlab_outliers(embeddings: np.ndarray) -> tuple[np.ndarray | None, dict[str, Any]]:
    """cleanlab's ``OutOfDistribution().fit_score(features=...)`` and its time.

    Returns
    -------
    scores, info
        Scores (lower: more outlying) or None, and ``seconds`` or ``error``.
    """
    try:
        from cleanlab.outlier import OutOfDistribution
    except ImportError as exc:
        return None, {"error": f"cleanlab is not installed ({exc})"}
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints what it fits
        scores = OutOfDistribution().fit_score(features=np.asarray(embeddings, np.float32))
    return np.asarray(scores, np.float64), {"seconds": time.perf_counter() - started}


# --------------------------------------------------------------------------------------
# the section


def start(ds: BenchDataset, plan: IssuePlan) -> dict[str, Any]:
    """The section's results before anything is measured (filled in by :func:`run`)."""
    return {
        "dataset": ds.name,
        "n_base": ds.n if plan.n is None else min(plan.n, ds.n),
        "plan": asdict(plan),
        "targets": dict(TARGETS),
        "transforms": list(TRANSFORMS),
        "health_kinds": list(HEALTH_KINDS),
        "datalab": "not run: cleanlab's Datalab needs the `cleanlab[datalab]` extra "
        "(Hugging Face `datasets`); outliers are compared with cleanlab.outlier."
        "OutOfDistribution on the same embeddings",
    }


def run(
    ds: BenchDataset,
    digits: np.ndarray,
    plan: IssuePlan,
    out: dict[str, Any],
    workdir: Path,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Plant, train, run ``relabel issues`` and measure every type into ``out``; return it."""
    say = progress or log.info
    say(f"issues: planting {plan} among {ds.name}")
    planted = plant(ds, digits, plan, workdir / "planted")
    out.update(
        n=planted.n,
        holdout=len(planted.holdout_ids),
        planted={
            k: int((planted.kind == k).sum()) for k in ("duplicate", "outlier", *HEALTH_KINDS)
        },
    )
    say(f"issues: relabel init + train + issues on {planted.n} images")
    table, emb, info = train_and_find(planted, ds.classes, plan, workdir)
    out["run"] = info
    out["summary"] = {name: int(n) for name, n in issue_summary_of(table).items()}
    scores, out["cleanlab_ood"] = cleanlab_outliers(emb)
    out.update(evaluate(planted, table, scores))
    out["embedding_dim"] = int(emb.shape[1])
    return out


def issue_summary_of(table: pd.DataFrame) -> pd.Series:
    """:func:`relabel.findings.issue_summary` of ``relabel issues``' table."""
    from relabel.findings import issue_summary

    return issue_summary(table)


# --------------------------------------------------------------------------------------
# several plantings


def key_figures(out: dict[str, Any]) -> dict[str, float | None]:
    """The figures of one planting that are compared across plantings."""
    d, o = out["duplicates"], out["outliers"]
    mine, theirs = o["relabel"]["auroc"], (o.get("cleanlab_ood") or {}).get("auroc")
    figures: dict[str, float | None] = {
        "duplicate_precision": d["precision"],
        "duplicate_recall": d["recall"],
        "holdout_leaks_marked": _rate(d["holdout_marked"], d["holdout_pairs"]),
        "outlier_auroc": mine,
        "outlier_precision_at_planted": o["relabel"]["precision_at_planted"],
        "cleanlab_outlier_auroc": theirs,
        "outlier_auroc_minus_cleanlab": None if None in (mine, theirs) else mine - theirs,
        "oof_accuracy": out["run"].get("oof_accuracy"),
    }
    for kind, b in out["health"].items():
        figures[f"{kind}_precision"], figures[f"{kind}_recall"] = b["precision"], b["recall"]
    return figures


def spread(values: list[float | None]) -> dict[str, Any]:
    """Mean and 95 % Student-t interval over plantings (None where a value is missing)."""
    from scipy import stats

    got = [float(v) for v in values if v is not None]
    out: dict[str, Any] = {"per_planting": values, "mean": None, "low": None, "high": None}
    if not got:
        return out
    mean = float(np.mean(got))
    out["mean"] = out["low"] = out["high"] = mean
    if len(got) > 1:
        half = stats.t.ppf(0.975, len(got) - 1) * np.std(got, ddof=1) / np.sqrt(len(got))
        out["low"], out["high"] = mean - float(half), mean + float(half)
    return out


def run_plantings(
    ds: BenchDataset,
    digits_of: Callable[[int], np.ndarray],
    plan: IssuePlan,
    seeds: tuple[int, ...],
    out: dict[str, Any],
    workdir: Path,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """:func:`run` once per planting seed; ``out`` gets the first planting's figures in full,
    ``plantings`` (each one's :func:`key_figures`) and ``over_plantings`` (:func:`spread`)."""
    each = []
    for seed in seeds:
        sub = replace(plan, seed=seed)
        one = start(ds, sub)
        run(ds, digits_of(seed), sub, one, workdir / f"seed{seed}", progress)
        each.append((seed, one))
    out.update({k: v for k, v in each[0][1].items() if k not in ("plan",)})
    out["plantings"] = [{"seed": seed, **key_figures(one)} for seed, one in each]
    names = list(out["plantings"][0])[1:]
    out["over_plantings"] = {k: spread([p[k] for p in out["plantings"]]) for k in names}
    return out
