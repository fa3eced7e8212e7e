"""Detection quality: how well each ranking finds known label errors, on the SAME probabilities.

For every dataset, label setting and probability source, every ranking is measured on one
and the same ``(labels, probs)``:

* relabel's scoring methods (:data:`relabel.scoring.SCORING_METHODS`; the default marked);
* two alternatives prototyped here for the choice of relabel's default
  (:func:`cl_prune_first`, :func:`noise_posterior_calibrated`);
* cleanlab's ``find_label_issues`` (a flagged set: its count, precision and recall) and
  ``get_label_quality_scores`` (a ranking);
* a seeded random order.

Measures: precision@k with k = the number of true errors, precision at cleanlab's flagged
count (the same cutoff as cleanlab's own precision), recall at a budget of 2k, AUROC; and
for the original labels against human-confirmed errors, the rank of every confirmed error
and how many fall in the top 100 / 275 / 500.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.datasets import BenchDataset
from relabel import metrics, scoring
from relabel.demo import inject_noise

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: Alternative methods prototyped here (not in relabel.scoring).
CANDIDATES = ("cl_prune_first", "noise_posterior_calibrated")
#: Pseudo-count added to every cell of the calibrated joint (as relabel does to the counts).
POSTERIOR_ALPHA = scoring.POSTERIOR_PSEUDO_COUNT
TOP_CUTS = (100, 275, 500)
RANDOM_SEED = 12345


# --------------------------------------------------------------------------------------
# candidate rankings


def cl_prune_mask(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab's ``prune_by_noise_rate`` flagged set, from relabel's confident joint.

    For every off-diagonal cell ``(i, j)`` of the calibrated, rounded confident joint
    (``errors_per_pair``), the ``n_ij`` samples labelled ``i`` with the largest
    ``p_j - p_i`` are flagged (union over ``j``); then samples whose given label is the
    model's top class (within 1e-6) are unflagged.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    y = np.asarray(labels, dtype=np.intp)
    p = np.asarray(probs, dtype=np.float64)
    n, k = p.shape
    joint = scoring.confident_joint(y, p)
    per_pair = joint.errors_per_pair
    mask = np.zeros(n, dtype=bool)
    for i in range(k):
        members = np.flatnonzero(y == i)
        if members.size <= 1:  # cleanlab keeps at least one sample per class
            continue
        for j in range(k):
            m = int(per_pair[i, j])
            if j == i or m <= 0:
                continue
            gap = p[members, j] - p[members, i]
            mask[members[np.argsort(-gap, kind="stable")[:m]]] = True
    p_given = p[np.arange(n), y]
    mask &= p.max(axis=1) > p_given + 1e-6
    return mask


def cl_prune_first(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Suspicion: cleanlab's prune-by-noise-rate picks first, then everything else.

    Both groups are ordered by self-confidence (lowest ``p[given]`` first). The score is
    ``1 + (1 - p[given])`` for a flagged sample and ``1 - p[given]`` otherwise.
    """
    y = np.asarray(labels, dtype=np.intp)
    p = np.asarray(probs, dtype=np.float64)
    base = 1.0 - p[np.arange(p.shape[0]), y]
    return base + cl_prune_mask(y, p)


def noise_posterior_calibrated(
    labels: np.ndarray, probs: np.ndarray, alpha: float = POSTERIOR_ALPHA
) -> np.ndarray:
    """Suspicion: relabel's ``noise_posterior`` with cleanlab's CALIBRATED joint as counts.

    ``T[i, j] = (C[i, j] + alpha) / sum_i (C[i, j] + alpha)`` with ``C`` the calibrated
    joint instead of the raw confident counts; the score is
    ``1 - T[y, y] p_y / sum_j T[y, j] p_j`` (see :func:`relabel.scoring.noise_posterior`).
    Kept to show why relabel uses raw counts: the calibration rescales ROWS to the
    given-label counts, which shrinks the estimated flip rate into a class whose own
    samples are often below threshold (class-pair noise).
    """
    y = np.asarray(labels, dtype=np.intp)
    p = np.asarray(probs, dtype=np.float64)
    joint = scoring.confident_joint(y, p)
    q = joint.calibrated + alpha
    t = q / q.sum(axis=0, keepdims=True)
    w = t[y] * p
    rows = np.arange(p.shape[0])
    return 1.0 - w[rows, y] / np.maximum(w.sum(axis=1), 1e-300)


def method_scores(labels: np.ndarray, probs: np.ndarray) -> dict[str, np.ndarray]:
    """Every ranking's suspicion score (higher = more suspicious), by method name."""
    from cleanlab.rank import get_label_quality_scores

    out: dict[str, np.ndarray] = {}
    for m in scoring.SCORING_METHODS:
        out[m] = scoring.suspicion(labels, probs, m)
    candidates = {
        "cl_prune_first": lambda: cl_prune_first(labels, probs),
        "noise_posterior_calibrated": lambda: noise_posterior_calibrated(labels, probs),
    }
    for name, compute in candidates.items():
        # once relabel ships a method of this name, its own implementation is measured
        out.setdefault(name, compute())
    out["cleanlab_quality_scores"] = 1.0 - get_label_quality_scores(labels, probs)
    out["random"] = np.random.default_rng(RANDOM_SEED).random(len(labels))
    return out


# --------------------------------------------------------------------------------------
# measuring


@dataclass
class SettingResult:
    """One (dataset, probability source, label setting): every method's figures."""

    dataset: str
    source: str
    setting: str
    n: int
    k: int
    accuracy: float
    cleanlab: dict[str, Any]
    methods: dict[str, dict[str, float]]
    confirmed: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return {
            "dataset": self.dataset,
            "source": self.source,
            "setting": self.setting,
            "n": self.n,
            "k": self.k,
            "accuracy": self.accuracy,
            "cleanlab": self.cleanlab,
            "methods": self.methods,
            "confirmed": self.confirmed,
            "notes": self.notes,
            "seconds": self.seconds,
        }


def evaluate(
    labels: np.ndarray,
    probs: np.ndarray,
    is_error: np.ndarray,
    *,
    dataset: str,
    source: str,
    setting: str,
    correctable: dict[int, int] | None = None,
) -> SettingResult:
    """Measure every ranking and cleanlab's flagged set on one ``(labels, probs)``.

    Parameters
    ----------
    labels : numpy.ndarray of int
        The given labels the probabilities are scored against.
    probs : numpy.ndarray of float, shape (n, K)
        Out-of-fold probabilities.
    is_error : numpy.ndarray of bool
        The known label errors (injected, or human-confirmed).
    dataset, source, setting : str
        What to call this row.
    correctable : dict, optional
        For human-confirmed errors: those with an agreed correct label (index -> label).
        When given, the ranks of the confirmed errors are reported too.
    """
    from cleanlab.filter import find_label_issues

    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    e = np.asarray(is_error, dtype=bool)
    k = int(e.sum())
    flagged = find_label_issues(y, p, n_jobs=1)
    n_flagged = int(flagged.sum())
    cl = {
        "flagged": n_flagged,
        "precision": float(e[flagged].mean()) if n_flagged else 0.0,
        "recall": float(e[flagged].sum() / max(k, 1)),
        "hits": int(e[flagged].sum()),
    }
    rows: dict[str, dict[str, float]] = {}
    confirmed: dict[str, dict[str, Any]] = {}
    for name, score in method_scores(y, p).items():
        order = scoring.rank_order(score)
        rows[name] = {
            "p_at_k": metrics.precision_at_k(e, order, k),
            "p_at_flagged": metrics.precision_at_k(e, order, max(n_flagged, 1)),
            "recall_at_2k": metrics.recall_at(e, order, 2 * k),
            "auroc": metrics.auroc(e, score),
        }
        if correctable is not None:
            rank = np.empty(y.size, dtype=np.int64)
            rank[order] = np.arange(1, y.size + 1)
            positions = sorted(int(r) for r in rank[e])
            fix = sorted(int(rank[i]) for i in correctable)
            confirmed[name] = {
                "ranks": positions,
                **{f"top{c}": int(sum(r <= c for r in positions)) for c in TOP_CUTS},
                "correctable": len(fix),
                "correctable_top100": int(sum(r <= 100 for r in fix)),
                "correctable_ranks": fix,
            }
    if correctable is not None:
        confirmed["cleanlab_find_label_issues"] = {
            "flagged": n_flagged,
            "hits": cl["hits"],
            "correctable_flagged": int(sum(bool(flagged[i]) for i in correctable)),
        }
    return SettingResult(
        dataset=dataset,
        source=source,
        setting=setting,
        n=int(y.size),
        k=k,
        accuracy=float((p.argmax(axis=1) == y).mean()),
        cleanlab=cl,
        methods=rows,
        confirmed=confirmed,
    )


# --------------------------------------------------------------------------------------
# probabilities


@dataclass
class TrainPlan:
    """How relabel's CNN is trained for a detection setting."""

    epochs: int
    folds: int = 5
    final_model: bool = False


def _oof_key(ds: BenchDataset, given: np.ndarray, plan: TrainPlan) -> str:
    h = hashlib.sha256()
    h.update(ds.name.encode())
    h.update(np.asarray(given, dtype=np.int64).tobytes())
    h.update(
        json.dumps([plan.epochs, plan.folds, plan.final_model, ds.image_size, ds.channels]).encode()
    )
    return h.hexdigest()[:16]


def train_oof(
    ds: BenchDataset,
    given: np.ndarray,
    plan: TrainPlan,
    workdir: Path,
    *,
    reuse: bool = False,
    progress: Progress | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Out-of-fold probabilities of relabel's CNN trained on ``given``, through a Project.

    A relabel project is created in ``workdir`` from a manifest of ``given`` labels and
    trained with ``plan`` (the project's default model otherwise). With ``reuse``, the
    probabilities saved by an earlier run with the same data, labels and plan are used.

    Returns
    -------
    probs, info
        ``probs`` in the dataset's order (float64); ``info`` has ``seconds``,
        ``oof_accuracy``, ``epochs``, ``folds`` and ``reused``.
    """
    from relabel.project import Project

    key = _oof_key(ds, given, plan)
    saved = workdir / f"oof-{key}.npz"
    if reuse and saved.is_file():
        with np.load(saved) as z:
            info = json.loads(str(z["info"]))
            info["reused"] = True
            return z["probs"].astype(np.float64), info
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    manifest = ds.write_manifest(given, workdir / "manifest.csv")
    started = time.perf_counter()
    Project.init(
        workdir / "project",
        manifest=manifest,
        folds=plan.folds,
        image_size=list(ds.image_size),
        channels=ds.channels,
        check_images=False,
    )
    with Project.open(workdir / "project") as project:
        project.config.training.epochs = plan.epochs
        trained = project.train(progress=progress, final_model=plan.final_model)
        ranked = project.rank()
    seconds = time.perf_counter() - started
    position = {sample_id: i for i, sample_id in enumerate(ds.ids)}
    where = np.array([position[s] for s in ranked.table["sample_id"]], dtype=np.int64)
    probs = np.empty((ds.n, ranked.probs.shape[1]), dtype=np.float64)
    probs[where] = ranked.probs
    folds = [f.get("fit", {}).get("epochs_run") for f in trained.folds]
    info = {
        "seconds": seconds,
        "train_seconds": trained.seconds,
        "oof_accuracy": trained.oof_accuracy,
        "epochs": plan.epochs,
        "epochs_run": folds,
        "folds": plan.folds,
        "final_model": plan.final_model,
        "reused": False,
    }
    np.savez_compressed(saved, probs=probs.astype(np.float32), info=json.dumps(info))
    return probs, info


# --------------------------------------------------------------------------------------
# the section


def label_settings(ds: BenchDataset) -> list[tuple[str, str]]:
    """(setting name, noise spec) of a dataset: symmetric 10% and 30%, class pairs 30%."""
    return [
        ("symmetric 10%", "sym:0.1"),
        ("symmetric 30%", "sym:0.3"),
        ("class pairs 30%", ds.pair_noise),
    ]


def run_dataset(
    ds: BenchDataset,
    *,
    train: TrainPlan | None,
    workdir: Path,
    reuse: bool = False,
    seed: int = 0,
    final_model_for: str | None = None,
    progress: Progress | None = None,
) -> list[SettingResult]:
    """Every label setting of one dataset, on every probability source available.

    Sources: the reference probabilities when the dataset has them (computed on the
    original labels; the injected noise was never seen by that model), and relabel's CNN
    trained on each setting's labels when ``train`` is given. The setting whose noise spec
    (or ``"original"``) is ``final_model_for`` also trains the final model, as a cycle's
    train step does, so its time is the compute of a whole cycle.
    """
    say = progress or (lambda m: log.info("%s", m))
    out: list[SettingResult] = []
    truth = ds.labels
    settings: list[tuple[str, str, np.ndarray, np.ndarray, dict[int, int] | None]] = []
    for name, spec in label_settings(ds):
        given = inject_noise(truth, spec, len(ds.classes), seed=seed)
        settings.append((f"{name} ({spec}, seed {seed})", spec, given, given != truth, None))
    if ds.confirmed.size:
        is_error = np.zeros(ds.n, dtype=bool)
        is_error[ds.confirmed] = True
        settings.append(("original labels", "original", truth, is_error, ds.correctable))

    if ds.reference_probs is not None:
        for name, _spec, given, is_error, fix in settings:
            started = time.perf_counter()
            r = evaluate(
                given,
                ds.reference_probs,
                is_error,
                dataset=ds.name,
                source="reference pyx (cleanlab's OOF, trained on the original labels)",
                setting=name,
                correctable=fix,
            )
            r.seconds = time.perf_counter() - started
            out.append(r)
            say(f"detection {ds.name} / reference pyx / {name}: done")
    if train is not None:
        for name, spec, given, is_error, fix in settings:
            tag = spec.replace(">", "-").replace(":", "_").replace(",", "+")
            plan = TrainPlan(train.epochs, train.folds, final_model=spec == final_model_for)
            say(f"detection {ds.name} / {name}: training {plan.folds}-fold, {plan.epochs} epochs")
            probs, info = train_oof(
                ds, given, plan, workdir / f"{ds.name}-{tag}", reuse=reuse, progress=None
            )
            r = evaluate(
                given,
                probs,
                is_error,
                dataset=ds.name,
                source=(
                    f"relabel small_cnn OOF ({train.folds}-fold, at most {train.epochs} epochs, "
                    f"trained on these labels)"
                ),
                setting=name,
                correctable=fix,
            )
            r.seconds = float(info["seconds"])
            r.notes = json.dumps({**info, "spec": spec})
            out.append(r)
            say(
                f"detection {ds.name} / CNN / {name}: OOF accuracy {info['oof_accuracy']:.3f}, "
                f"{info['seconds']:.0f} s{' (reused)' if info['reused'] else ''}"
            )
    return out
