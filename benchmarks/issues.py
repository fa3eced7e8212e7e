"""Issues: relabel's issue types (:mod:`relabel.findings`, docs/issues.md) on planted cases.

The CIFAR-10 test images with cases whose truth is known planted among them
(:func:`benchmarks.planting.plant`: near-duplicates, a third relabelled and a third held
out; MNIST digits and noise as outliers; unhealthy images of each ``HEALTH_KINDS``),
trained as a user does (:func:`benchmarks.planting.train_and_find`), then ``relabel issues
PROJECT --out issues.csv`` is timed and read. Each issue type is measured on the
unmodified images plus its own planted cases (:func:`evaluate`): a flag on another type's
planted case (a grey MNIST digit flagged ``grayscale``) is counted apart.

The same cases through other tools, measured the same way: cleanlab's Datalab
(``near_duplicate`` and ``outlier``) and :class:`cleanlab.outlier.OutOfDistribution` on
the embeddings and probabilities relabel used, cleanvision's Imagelab on the image files
(:data:`CLEANVISION_KINDS`); without them installed (the ``bench`` extra), a "not run"
entry says why. The duplicate search is also timed on synthetic embeddings
(:func:`search_timing`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
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
    set_summary,
    synthetic_embeddings,
    timed,
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


def _planted_pairs_found(p: Planted, set_id: np.ndarray) -> tuple[np.ndarray, ...]:
    """The planted training duplicates' rows, their sources' and whether each pair shares
    a set."""
    dups = np.flatnonzero(p.kind == "duplicate")
    src = p.partner[dups]
    return dups, src, (set_id[dups] >= 0) & (set_id[dups] == set_id[src])


def pair_figures(p: Planted, set_id: np.ndarray) -> dict[str, Any]:
    """Planted pairs found in duplicate sets (``set_id`` per row of ``p``, -1 for none).

    A planted pair is found when both rows are in the same set; precision counts every
    pair of rows that share a set among the unmodified images and the training duplicates.

    Returns
    -------
    dict
        ``planted_pairs``, ``found_pairs``, ``predicted_pairs``, ``precision``, ``recall``
        and ``recall_by_transform`` (found and planted per transform).
    """
    dups, _, found = _planted_pairs_found(p, set_id)
    predicted = _pair_count(set_id, np.isin(p.kind, ["", "duplicate"]))
    how = p.detail[dups]
    return {
        "planted_pairs": int(dups.size),
        "found_pairs": int(found.sum()),
        "predicted_pairs": predicted,
        "precision": _rate(int(found.sum()), predicted),
        "recall": _rate(int(found.sum()), int(dups.size)),
        "recall_by_transform": {
            t: [int(found[how == t].sum()), int((how == t).sum())] for t in TRANSFORMS
        },
    }


def sets_from_neighbours(neighbours: Sequence[Sequence[int]]) -> np.ndarray:
    """A set id per row (-1: none) from each row's near duplicates (Datalab's
    ``near_duplicate_sets``): the connected components of those links, numbered in order of
    each set's first row."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(neighbours)
    a = np.repeat(np.arange(n), [len(x) for x in neighbours]).astype(np.int64)
    b = np.concatenate([np.asarray(x, np.int64).ravel() for x in neighbours] or [a[:0]])
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    linked = np.zeros(n, bool)
    linked[a], linked[b] = True, True
    rows = np.flatnonzero(linked)
    _, first, inverse = np.unique(component[rows], return_index=True, return_inverse=True)
    set_id = np.full(n, -1, np.int64)
    set_id[rows] = np.argsort(np.argsort(first))[inverse]  # numbered by their first row
    return set_id


def duplicate_figures(p: Planted, table: pd.DataFrame) -> dict[str, Any]:
    """Planted pairs found, conflict and leak marks, and copies among unplanted images.

    ``table`` is ``relabel issues``' output in the order of ``p``'s rows. A planted pair
    is found when both rows are in the same duplicate set; precision counts every pair
    that shares a set among the unmodified images and the training duplicates.
    """
    set_id = table["duplicate_set"].to_numpy(dtype=np.int64)
    conflict = table["duplicate_conflict"].to_numpy(dtype=bool)
    leak = table["duplicate_crosses_holdout"].to_numpy(dtype=bool)
    dups, src, found = _planted_pairs_found(p, set_id)
    relabelled = p.labels[dups] != p.labels[src]
    population = np.isin(p.kind, ["", "duplicate"])
    sources = np.zeros(p.n, dtype=bool)
    sources[src] = True
    sources[p.holdout_partner] = True
    plain = (p.kind == "") & ~sources
    leaked = np.zeros(p.n, dtype=bool)
    leaked[p.holdout_partner] = True
    own = _unplanted_sets(table, plain)
    return {
        **pair_figures(p, set_id),
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
    return health_of_flags(p, {k: table[f"{k}_flag"].to_numpy(bool) for k in HEALTH_KINDS})


def health_of_flags(p: Planted, flags: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per planted health kind: :func:`binary_figures` of ``flags[kind]`` (one per row of
    ``p``), on the unmodified images and that kind's planted cases."""
    return {
        kind: binary_figures(flags[kind], p.kind == kind, np.isin(p.kind, ["", kind]))
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
    """cleanlab's ``OutOfDistribution().fit_score(features=...)``: scores (lower: more
    outlying) or None, and ``seconds`` and ``cpu_seconds`` or ``error``."""
    try:
        from cleanlab.outlier import OutOfDistribution
    except ImportError as exc:
        return None, {"error": f"cleanlab is not installed ({exc})"}
    features = np.asarray(embeddings, np.float32)
    scores, info = timed(lambda: OutOfDistribution().fit_score(features=features))
    return np.asarray(scores, np.float64), info


#: cleanvision's issue types run, each with the relabel health kind it is compared with.
CLEANVISION_KINDS = {
    "dark": "dark",
    "light": "bright",
    "blurry": "blurry",
    "low_information": "low_information",
    "grayscale": "grayscale",
    "odd_size": "odd_size",
    "odd_aspect_ratio": "odd_size",
}
#: Synthetic embeddings the duplicate search is timed on, per scale, and their width.
SEARCH_SIZES = {"full": 100_000, "quick": 2_000}
SEARCH_DIM = 128
#: Datalab's search on the synthetic embeddings is skipped when its time on the planting's,
#: scaled by the square of the size ratio (a k-nearest-neighbour graph), exceeds this.
DATALAB_SEARCH_LIMIT_S = 600.0
#: How to get the third-party tools compared.
EXTRA = "install the `bench` extra: pip install -e '.[bench]' (make bench does)"


def datalab_issues(
    embeddings: np.ndarray,
    probs: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    types: tuple[str, ...] = ("near_duplicate", "outlier"),
) -> tuple[dict[str, pd.DataFrame] | None, dict[str, Any]]:
    """cleanlab's ``Datalab.find_issues`` of ``types`` on these arrays, timed.

    Returns
    -------
    found, info
        Each type's ``get_issues`` frame, or None when Datalab is not installed; and
        ``seconds``, ``cpu_seconds`` and ``version``, or ``error`` (why it did not run).
    """
    try:
        import cleanlab
        from cleanlab import Datalab
    except ImportError as exc:
        return None, {"error": f"not run: cleanlab's Datalab is not installed ({exc}); {EXTRA}"}
    data = {"label": labels} if labels is not None else {"row": np.arange(len(embeddings))}

    def find() -> dict[str, pd.DataFrame]:
        lab = Datalab(data=data, label_name=None if labels is None else "label", verbosity=0)
        features = np.asarray(embeddings, np.float32)
        lab.find_issues(features=features, pred_probs=probs, issue_types={t: {} for t in types})
        return {t: lab.get_issues(t) for t in types}

    try:
        found, info = timed(find)
    except ImportError as exc:  # Datalab imports its extra's packages when it is made
        return None, {"error": f"not run: cleanlab's Datalab lacks its extra ({exc}); {EXTRA}"}
    return found, {**info, "version": cleanlab.__version__}


def datalab_figures(p: Planted, found: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Datalab's near-duplicate sets and outliers measured as relabel's are: planted pairs
    (:func:`pair_figures` of :func:`sets_from_neighbours`), and its outlier flags
    (:func:`binary_figures`) and score (lower: more outlying; :func:`ranking_figures`)."""
    near, outlier = found["near_duplicate"], found["outlier"]
    truth, population = p.kind == "outlier", np.isin(p.kind, ["", "outlier"])
    flags = outlier["is_outlier_issue"].to_numpy(bool)
    score = -outlier["outlier_score"].to_numpy(np.float64)
    return {
        "duplicates": pair_figures(p, sets_from_neighbours(list(near["near_duplicate_sets"]))),
        "outliers": {
            **binary_figures(flags, truth, population),
            **ranking_figures(score, truth, population),
        },
    }


def cleanvision_issues(
    paths: Sequence[str], n_jobs: int | None = None
) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """cleanvision's ``Imagelab.find_issues`` of :data:`CLEANVISION_KINDS` on the image
    files, timed: its ``issues`` frame (None when not installed) and ``seconds``,
    ``cpu_seconds``, ``version`` or ``error``."""
    try:
        import cleanvision
        from cleanvision import Imagelab
    except ImportError as exc:
        return None, {"error": f"not run: cleanvision is not installed ({exc}); {EXTRA}"}

    def find() -> pd.DataFrame:
        lab = Imagelab(filepaths=list(paths))
        types = {t: {} for t in CLEANVISION_KINDS}
        lab.find_issues(issue_types=types, n_jobs=n_jobs, verbose=False)
        return lab.issues

    issues, info = timed(find)
    return issues, {**info, "version": cleanvision.__version__}


def cleanvision_flags(issues: pd.DataFrame, paths: Sequence[str]) -> dict[str, np.ndarray]:
    """cleanvision's flags as relabel's health kinds, one per path in order
    (:data:`CLEANVISION_KINDS`: ``light`` is ``bright``, ``odd_size`` or
    ``odd_aspect_ratio`` is ``odd_size``); a path or issue type it lacks is not flagged."""
    rows = issues.reindex(list(paths))
    flags = {kind: np.zeros(len(paths), bool) for kind in HEALTH_KINDS}
    for theirs, kind in CLEANVISION_KINDS.items():
        column = f"is_{theirs}_issue"
        if column in rows.columns:
            flags[kind] |= rows[column].astype("boolean").fillna(False).to_numpy(bool)
    return flags


# --------------------------------------------------------------------------------------
# the duplicate search's time


def _relabel_search(emb: np.ndarray, pairs: np.ndarray | None) -> dict[str, Any]:
    from relabel.findings import duplicate_sets

    found, info = timed(lambda: duplicate_sets(emb))
    return {**info, **set_summary(found.set_id, pairs)}


def _datalab_search(emb: np.ndarray, pairs: np.ndarray | None) -> dict[str, Any]:
    found, info = datalab_issues(emb, types=("near_duplicate",))
    if found is None:
        return info
    sets = sets_from_neighbours(list(found["near_duplicate"]["near_duplicate_sets"]))
    return {**info, **set_summary(sets, pairs)}


def search_timing(real: np.ndarray, scale: str | None, seed: int = 0) -> list[dict[str, Any]]:
    """relabel's near-duplicate search in embedding space
    (:func:`relabel.findings.duplicate_sets` on the embeddings alone) and Datalab's
    ``near_duplicate`` type, timed on the planting's embeddings and on synthetic float16
    ones of :data:`SEARCH_SIZES` rows (:func:`benchmarks.planting.synthetic_embeddings`,
    with planted near copies). Datalab's synthetic run is skipped, with the reason, when
    its time on the real ones predicts more than :data:`DATALAB_SEARCH_LIMIT_S`."""
    n = SEARCH_SIZES.get(scale or "quick", SEARCH_SIZES["quick"])
    synthetic, pairs = synthetic_embeddings(n, SEARCH_DIM, seed=seed)
    rows, skip = [], None
    for what, emb, planted in (("planting", real, None), ("synthetic", synthetic, pairs)):
        row = {"embeddings": what, "n": len(emb), "dim": int(emb.shape[1]), "dtype": str(emb.dtype)}
        row["relabel"] = _relabel_search(emb, planted)
        row["datalab"] = {"skipped": skip} if skip else _datalab_search(emb, planted)
        seconds = row["datalab"].get("seconds")
        if seconds is not None:
            guess = seconds * (n / len(emb)) ** 2
            if guess > DATALAB_SEARCH_LIMIT_S:
                skip = (
                    f"{seconds:.1f} s at {len(emb):,} rows predicts about {guess:.0f} s at "
                    f"{n:,} (quadratic), over the {DATALAB_SEARCH_LIMIT_S:.0f} s allowed"
                )
        rows.append(row)
    return rows


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
    }


def run(
    ds: BenchDataset,
    digits: np.ndarray,
    plan: IssuePlan,
    out: dict[str, Any],
    workdir: Path,
    progress: Callable[[str], None] | None = None,
    search: bool = False,
) -> dict[str, Any]:
    """Plant, train, run ``relabel issues`` and measure every type into ``out``, with
    Datalab and cleanvision on the same cases (and, with ``search``, the duplicate search's
    time: :func:`search_timing` at ``out["scale"]``); return it."""
    from relabel.findings import issue_summary

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
    table, arrays, info = train_and_find(planted, ds.classes, plan, workdir)
    out["run"] = info
    out["summary"] = {name: int(n) for name, n in issue_summary(table).items()}
    scores, out["cleanlab_ood"] = cleanlab_outliers(arrays.embeddings)
    out.update(evaluate(planted, table, scores))
    out["embedding_dim"] = int(arrays.embeddings.shape[1])
    say("issues: cleanlab's Datalab and cleanvision on the same cases")
    found, out["datalab"] = datalab_issues(arrays.embeddings, arrays.probs, arrays.labels)
    if found is not None:
        out["datalab"].update(datalab_figures(planted, found))
    images, out["cleanvision"] = cleanvision_issues(planted.paths)
    if images is not None:
        flags = cleanvision_flags(images, planted.paths)
        out["cleanvision"]["health"] = health_of_flags(planted, flags)
    if search:
        say("issues: timing the near-duplicate search")
        out["search"] = search_timing(arrays.embeddings, out.get("scale"))
    return out


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
    dl, cv = out.get("datalab") or {}, out.get("cleanvision") or {}
    if "duplicates" in dl:
        dd, do = dl["duplicates"], dl["outliers"]
        theirs = {"duplicate_precision": dd["precision"], "duplicate_recall": dd["recall"]}
        theirs["outlier_auroc"] = do["auroc"]
        theirs["outlier_precision_at_planted"] = do["precision_at_planted"]
        _versus(figures, "datalab", theirs)
    for kind, b in cv.get("health", {}).items():
        theirs = {f"{kind}_precision": b["precision"], f"{kind}_recall": b["recall"]}
        _versus(figures, "cleanvision", theirs)
    return figures


def _versus(figures: dict[str, float | None], tool: str, theirs: dict[str, Any]) -> None:
    """Add each of ``tool``'s figures (keyed as relabel's) as ``TOOL_KEY``, and the paired
    difference relabel - tool as ``KEY_minus_TOOL``."""
    for key, value in theirs.items():
        mine = figures.get(key)
        figures[f"{tool}_{key}"] = value
        figures[f"{key}_minus_{tool}"] = None if None in (mine, value) else mine - value


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
        one = {**start(ds, sub), "scale": out.get("scale")}
        run(ds, digits_of(seed), sub, one, workdir / f"seed{seed}", progress, seed == seeds[0])
        each.append((seed, one))
    out.update({k: v for k, v in each[0][1].items() if k not in ("plan",)})
    out["plantings"] = [{"seed": seed, **key_figures(one)} for seed, one in each]
    names = list(out["plantings"][0])[1:]
    out["over_plantings"] = {k: spread([p.get(k) for p in out["plantings"]]) for k in names}
    return out
