"""Detection quality: how well each ranking finds known label errors, on the SAME probabilities.

For every dataset, label setting and probability source, every ranking is measured on one
and the same ``(labels, probs)``:

* relabel's scoring methods (:data:`relabel.ranking.SCORING_METHODS`; the default marked);
* two alternatives prototyped here for the choice of relabel's default
  (:func:`cl_prune_first`, :func:`noise_posterior_calibrated`);
* cleanlab's ``find_label_issues`` (a flagged set: its count, precision and recall) and
  ``get_label_quality_scores`` (a ranking);
* a seeded random order.

Measures: precision at cleanlab's flagged count (the same cutoff as cleanlab's own
precision), precision@k with k = the number of true errors (a cutoff only an oracle knows),
precision in the top 5% of the ranking (what a review budget consumes), recall at a budget
of 2k, AUROC; and for the original labels against human-confirmed errors, the rank of every
confirmed error and how many fall in the top 100 / 275 / 500.

Label settings come in two groups: the settings relabel's default score was chosen on
(:func:`main_settings`: seed 0, the class pairs of :data:`benchmarks.datasets.PAIR_NOISE`,
the original labels) and HELD-OUT settings that played no part in that choice
(:func:`heldout_settings`: other seeds, other class pairs, CIFAR-10H human noise).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import human_noise
from benchmarks.datasets import BenchDataset
from relabel import ranking as scoring
from relabel.config import Config
from relabel.data.noise_injection import inject_noise
from relabel.ranking import metrics

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: Alternative methods prototyped here (not in relabel.ranking).
CANDIDATES = ("cl_prune_first", "noise_posterior_calibrated")
#: Pseudo-count added to every cell of the calibrated joint (as relabel does to the counts).
POSTERIOR_ALPHA = scoring.POSTERIOR_PSEUDO_COUNT
TOP_CUTS = (100, 275, 500)
RANDOM_SEED = 12345
#: The review-budget cutoff: precision in the top ``REVIEW_PERCENT`` % of a ranking.
REVIEW_PERCENT = 5
#: Seeds of the noise of the settings the default score was chosen on.
SELECTION_SEED = 0
#: Seeds of the held-out repeats of the selection settings' noise specs.
HELDOUT_SEEDS = (1, 2)


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
    ``1 - T[y, y] p_y / sum_j T[y, j] p_j`` (see :func:`relabel.ranking.noise_posterior`).
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


def review_cut(n: int, percent: int = REVIEW_PERCENT) -> int:
    """The top ``percent`` % of ``n`` samples, rounded up: ``ceil(percent * n / 100)``.

    Integer arithmetic, so ``n = 10_000`` gives exactly 500; at least 1.

    Examples
    --------
    >>> review_cut(1797), review_cut(10_000), review_cut(1)
    (90, 500, 1)
    """
    return max(1, -(-int(n) * int(percent) // 100))


@dataclass
class SettingResult:
    """One (dataset, probability source, label setting): every method's figures.

    ``methods[name]`` holds ``p_at_k``, ``p_at_flagged`` (precision in the top N, N = the
    number cleanlab flags; None when it flags nothing), ``p_at_5pct`` (precision in the top
    ``k5``), ``recall_at_2k`` and ``auroc``.
    """

    dataset: str
    source: str
    setting: str
    n: int
    k: int
    accuracy: float
    cleanlab: dict[str, Any]
    methods: dict[str, dict[str, float | None]]
    confirmed: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""
    seconds: float = 0.0
    k5: int = 0
    spec: str = ""
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return {
            "dataset": self.dataset,
            "source": self.source,
            "setting": self.setting,
            "spec": self.spec,
            "seed": self.seed,
            "n": self.n,
            "k": self.k,
            "k5": self.k5,
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

    Returns
    -------
    SettingResult
        ``k5`` is :func:`review_cut` of the sample count.
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
    k5 = review_cut(y.size)
    rows: dict[str, dict[str, float | None]] = {}
    confirmed: dict[str, dict[str, Any]] = {}
    for name, score in method_scores(y, p).items():
        order = scoring.rank_order(score)
        rows[name] = {
            "p_at_k": metrics.precision_at_k(e, order, k),
            "p_at_flagged": metrics.precision_at_k(e, order, n_flagged) if n_flagged else None,
            "p_at_5pct": metrics.precision_at_k(e, order, k5),
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
        k5=k5,
    )


# --------------------------------------------------------------------------------------
# probabilities


@dataclass
class TrainPlan:
    """How relabel's model is trained for a detection setting.

    Attributes
    ----------
    epochs : int or None
        Epochs the project's config is set to; None keeps the project's own default (what
        ``relabel init`` wrote for these images).
    folds : int
        Cross-validation folds.
    final_model : bool
        Also train the final model, as a cycle's train step does.
    seed : int or None
        The training seed (``training.seed``); None keeps the project's default.
    """

    epochs: int | None
    folds: int = 5
    final_model: bool = False
    seed: int | None = None


#: Modules whose source decides the model and its inputs: part of the out-of-fold cache key.
#: A package counts with every ``.py`` file under it. ``relabel.config`` is not among them:
#: what it decides (defaults, the photo recipe) reaches training only through the config
#: and the ``TrainSettings`` the key holds whole.
MODEL_MODULES = ("relabel.training", "relabel.data")


def relabel_version() -> str:
    """The version of the relabel package imported (``relabel.__version__``).

    Falls back to the installed distribution's metadata, then to ``"unknown"``.
    """
    import relabel

    version = getattr(relabel, "__version__", None)
    if version:
        return str(version)
    try:
        return metadata.version("relabel")
    except metadata.PackageNotFoundError:
        return "unknown"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def module_sources(name: str) -> list[tuple[str, Path]]:
    """The source files of module ``name``: ``(name relative to it, path)``, sorted.

    A package gives every ``.py`` file under its folder (sub-packages included), a plain
    module its own file; a module that cannot be found gives nothing.
    """
    spec = importlib.util.find_spec(name)
    if spec is None:
        return []
    if spec.submodule_search_locations:
        out = []
        for folder in map(Path, spec.submodule_search_locations):
            out += [(p.relative_to(folder).as_posix(), p) for p in folder.rglob("*.py")]
        return sorted(out)
    return [(Path(spec.origin).name, Path(spec.origin))] if spec.origin else []


def model_code_digest(modules: Sequence[str] = MODEL_MODULES) -> str:
    """sha256 of the source files of ``modules`` (those that build the model and read images).

    Every ``.py`` file of a package counts (:func:`module_sources`), named by its path in
    the package. An edit to how the model is built changes the out-of-fold probabilities
    even when the config and the version do not.
    """
    h = hashlib.sha256()
    for name in modules:
        h.update(name.encode())
        files = module_sources(name)
        if not files:
            h.update(b"?")
        for rel, path in files:
            h.update(f"\0{rel}\0".encode())
            h.update(_sha256_file(path).encode() if path.is_file() else b"?")
    return h.hexdigest()[:16]


def training_fingerprint(
    config: Config,
    *,
    final_model: bool,
    settings: Any = None,
    version: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """Everything besides the images and labels that decides out-of-fold probabilities.

    Parameters
    ----------
    config : relabel.config.Config
        The project's config as trained (after the benchmark's overrides, e.g. epochs).
        Its ``model`` and ``training`` sections are taken whole, and its ``dataset``
        section without ``path`` (where the benchmark wrote the manifest).
    final_model : bool
        Whether the final model is trained too (it changes the timing that is reported).
    settings : dataclass, optional
        The :class:`relabel.training.TrainSettings` the project derives from ``config``
        (``Project.train_settings()``), so that a default of relabel's training that the
        config does not name is covered too.
    version, code : str, optional
        relabel's version and :func:`model_code_digest` (default: of the relabel imported).

    Returns
    -------
    dict
        JSON-friendly; :func:`oof_key` hashes it.
    """
    dataset = asdict(config.dataset)
    dataset.pop("path", None)
    weights = str(config.model.weights or "")
    out: dict[str, Any] = {
        "model": asdict(config.model),
        "training": asdict(config.training),
        "dataset": dataset,
        "weights_sha256": (
            _sha256_file(Path(weights)) if weights and Path(weights).is_file() else None
        ),
        "final_model": bool(final_model),
        "relabel_version": version if version is not None else relabel_version(),
        "model_code": code if code is not None else model_code_digest(),
    }
    if settings is not None:
        out["train_settings"] = asdict(settings)
    return json.loads(json.dumps(out, default=str))  # plain JSON types (tuples -> lists)


def oof_key(dataset: str, given: np.ndarray, fingerprint: dict[str, Any]) -> str:
    """Cache key of out-of-fold probabilities: the dataset, the labels and the fingerprint.

    Parameters
    ----------
    dataset : str
        The dataset's name (its images are fixed by the data folder).
    given : numpy.ndarray of int
        The labels trained on.
    fingerprint : dict
        :func:`training_fingerprint` of the project.

    Returns
    -------
    str
        16 hex digits.
    """
    h = hashlib.sha256()
    h.update(dataset.encode())
    h.update(np.asarray(given, dtype=np.int64).tobytes())
    h.update(json.dumps(fingerprint, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def fresh_project(ds: BenchDataset, given: np.ndarray, plan: TrainPlan, workdir: Path) -> Path:
    """A new relabel project in ``workdir/project`` on ``given`` (saved probabilities kept)."""
    from relabel.project import Project

    root = workdir / "project"
    shutil.rmtree(root, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    manifest = ds.write_manifest(given, workdir / "manifest.csv")
    Project.init(
        root,
        manifest=manifest,
        folds=plan.folds,
        image_size=list(ds.image_size),
        channels=ds.channels,
        check_images=False,
    )
    return root


class DecodeClock:
    """A progress callback that times relabel's decoding of the images.

    relabel says ``decoding N images once ...`` when it starts decoding and
    ``decoded N images in X s`` when done; the time between the two is added to
    :attr:`seconds` (:attr:`count` decodings seen). Every message is passed on to
    ``forward``.
    """

    def __init__(self, forward: Progress | None = None) -> None:
        self.forward = forward
        self.seconds = 0.0
        self.count = 0
        self._started: float | None = None

    def __call__(self, message: str) -> None:
        """Note the time of a decoding message, then pass ``message`` on."""
        now = time.perf_counter()
        if message.startswith("decoding "):
            self._started = now
        elif message.startswith("decoded ") and self._started is not None:
            self.seconds += now - self._started
            self.count += 1
            self._started = None
        if self.forward is not None:
            self.forward(message)

    @property
    def measured(self) -> float | None:
        """The decoding seconds, None when no decoding was seen."""
        return self.seconds if self.count else None


def finite(value: Any) -> float | None:
    """``value`` as a float, None when it is missing or not finite (NaN is not JSON)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def run_timings(trained: Any, call_seconds: float, decode_seconds: float | None) -> dict[str, Any]:
    """Where the time of one ``Project.train`` call went, from its result and metrics.json.

    Parameters
    ----------
    trained : relabel.project.TrainResult
        What ``Project.train`` returned (its ``run_dir`` still holds ``metrics.json``).
    call_seconds : float
        Wall time of the whole ``Project.train`` call.
    decode_seconds : float or None
        Time spent decoding the images once (:class:`DecodeClock`); None: not seen.

    Returns
    -------
    dict
        ``train_call_seconds``, ``decode_seconds``, ``fold_seconds`` (per fold),
        ``fold_images_per_second`` (training images/s per fold, first epoch excluded),
        ``final_model_seconds`` and ``final_model_images_per_second`` (None without a
        final model) and ``measured`` (UTC date).
    """
    metrics_file = Path(trained.run_dir) / "metrics.json"
    metrics_json = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    final = metrics_json.get("final_model") or {}
    return {
        "train_call_seconds": float(call_seconds),
        "decode_seconds": finite(decode_seconds),
        "fold_seconds": [float(f["seconds"]) for f in trained.folds],
        "fold_images_per_second": [
            finite(f.get("fit", {}).get("images_per_second")) for f in trained.folds
        ],
        "final_model_seconds": finite(final.get("seconds")),
        "final_model_images_per_second": finite(final.get("images_per_second")),
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def relabel_log(message: str) -> None:
    """Log a progress line of relabel's as ``Project.train`` does by default (INFO)."""
    logging.getLogger("relabel.project").info("%s", message)


def _load_saved(saved: Path) -> tuple[np.ndarray, dict[str, Any]]:
    with np.load(saved) as z:
        info = json.loads(str(z["info"]))
        probs = z["probs"].astype(np.float64)
    info["reused"] = True
    info["saved"] = str(saved)
    return probs, info


def run_extras(info: dict[str, Any]) -> dict[str, np.ndarray]:
    """The out-of-fold embeddings and folds saved with a run (dataset order), if any.

    Returns
    -------
    dict
        ``embeddings`` (float16 ``(n, d)``) and ``folds`` (``(n,)``, the fold that held
        each sample out), each only when the run stored it.
    """
    saved = info.get("saved")
    if not saved or not Path(saved).is_file():
        return {}
    with np.load(saved) as z:
        return {k: z[k] for k in ("embeddings", "folds") if k in z.files}


def _dataset_order(ds: BenchDataset, run_dir: Path) -> dict[str, np.ndarray]:
    """A run folder's out-of-fold embeddings and folds, in the dataset's order."""
    with np.load(run_dir / "oof.npz") as oof:
        ids = oof["sample_ids"].astype(str)
        folds = oof["folds"] if "folds" in oof.files else None
    position = {sample_id: i for i, sample_id in enumerate(ds.ids)}
    where = np.array([position[s] for s in ids], dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    if (run_dir / "embeddings.npy").is_file():
        emb = np.load(run_dir / "embeddings.npy", mmap_mode="r")
        out["embeddings"] = np.empty(emb.shape, np.float16)
        out["embeddings"][where] = emb
    if folds is not None:
        out["folds"] = np.empty(len(where), np.int16)
        out["folds"][where] = folds
    return out


def train_oof(
    ds: BenchDataset,
    given: np.ndarray,
    plan: TrainPlan,
    workdir: Path,
    *,
    reuse: bool = False,
    progress: Progress | None = None,
    cached_only: bool = False,
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """Out-of-fold probabilities of relabel's CNN trained on ``given``, through a Project.

    A relabel project is created in ``workdir/project`` from a manifest of ``given`` labels
    and trained with ``plan`` (the project's default model and, when ``plan.epochs`` is
    None, its default epochs). The probabilities are saved as ``workdir/oof-<key>.npz``
    with :func:`oof_key` of the project's :func:`training_fingerprint`; with ``reuse``, a
    file of the same key is used instead of training, so a changed model, training config,
    relabel version or model code retrains. The saved ``info`` keeps the timing of the run
    that trained (:func:`run_timings`), so a reused result reports the time it was measured
    with.

    Returns
    -------
    probs, info
        ``probs`` in the dataset's order (float64); ``info`` has ``seconds``,
        ``oof_accuracy``, ``epochs`` (as trained), ``plan_epochs``, ``folds``, ``key``,
        ``reused`` and the fields of :func:`run_timings`. None when ``cached_only`` and
        no saved file has the key (nothing trained).
    """
    from relabel.project import Project

    started = time.perf_counter()
    # Only looking up a saved result: the project that gives the key is made elsewhere, so
    # that a training of the same workdir running in another process is left alone.
    probe = Path(tempfile.mkdtemp(prefix="relabel-key-")) if cached_only else workdir
    root = fresh_project(ds, given, plan, probe)
    with Project.open(root) as project:
        if plan.epochs is not None:
            training = replace(project.config.training, epochs=plan.epochs)
            project.config = replace(project.config, training=training)
        if plan.seed is not None:
            training = replace(project.config.training, seed=plan.seed)
            project.config = replace(project.config, training=training)
        epochs = project.config.training.epochs
        fingerprint = training_fingerprint(
            project.config, final_model=plan.final_model, settings=project.train_settings()
        )
        key = oof_key(ds.name, given, fingerprint)
        saved = workdir / f"oof-{key}.npz"
        if reuse and saved.is_file():
            if cached_only:
                shutil.rmtree(probe, ignore_errors=True)
            return _load_saved(saved)
        if cached_only:
            shutil.rmtree(probe, ignore_errors=True)
            return None
        clock = DecodeClock(progress or relabel_log)
        call_started = time.perf_counter()
        trained = project.train(progress=clock, final_model=plan.final_model)
        timings = run_timings(trained, time.perf_counter() - call_started, clock.measured)
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
        "epochs": epochs,
        "plan_epochs": plan.epochs,
        "epochs_run": folds,
        "folds": plan.folds,
        "final_model": plan.final_model,
        "key": key,
        "fingerprint": fingerprint,
        "reused": False,
        **timings,
    }
    extras = _dataset_order(ds, Path(trained.run_dir))
    np.savez_compressed(saved, probs=probs.astype(np.float32), info=json.dumps(info), **extras)
    info["saved"] = str(saved)
    return probs, info


# --------------------------------------------------------------------------------------
# label settings


@dataclass(eq=False)
class LabelSetting:
    """One label setting of a dataset: the labels given, and which of them are wrong.

    Attributes
    ----------
    name : str
        What the tables call it.
    spec : str
        The noise spec, ``"original"``, or a human-noise setting of
        :data:`benchmarks.human_noise.SETTINGS`.
    seed : int or None
        Seed of the noise (None: no random choice).
    given : numpy.ndarray of int64
        The labels.
    is_error : numpy.ndarray of bool
        Which labels are wrong (the ground truth of the measures).
    correctable : dict of int to int, optional
        Human-confirmed errors with an agreed label (original labels only).
    """

    name: str
    spec: str
    seed: int | None
    given: np.ndarray
    is_error: np.ndarray
    correctable: dict[int, int] | None = None

    @property
    def tag(self) -> str:
        """A folder-safe name: the spec, and the seed unless it is 0 or None."""
        tag = self.spec.replace(">", "-").replace(":", "_").replace(",", "+")
        return tag if self.seed in (None, 0) else f"{tag}-seed{self.seed}"


def label_settings(ds: BenchDataset) -> list[tuple[str, str]]:
    """(setting name, noise spec) of a dataset: symmetric 10% and 30%, class pairs 30%."""
    return [
        ("symmetric 10%", "sym:0.1"),
        ("symmetric 30%", "sym:0.3"),
        ("class pairs 30%", ds.pair_noise),
    ]


def noise_setting(ds: BenchDataset, name: str, spec: str, seed: int) -> LabelSetting:
    """Noise ``spec`` injected (seeded) into the dataset's labels, taken as the truth."""
    given = inject_noise(ds.labels, spec, len(ds.classes), seed=seed)
    return LabelSetting(f"{name} ({spec}, seed {seed})", spec, seed, given, given != ds.labels)


def main_settings(ds: BenchDataset, seed: int = SELECTION_SEED) -> list[LabelSetting]:
    """The settings the default score was chosen on (the SELECTION settings).

    :func:`label_settings` at ``seed``, and the original labels against the
    human-confirmed errors where those are known.
    """
    out = [noise_setting(ds, name, spec, seed) for name, spec in label_settings(ds)]
    if ds.confirmed.size:
        is_error = np.zeros(ds.n, dtype=bool)
        is_error[ds.confirmed] = True
        out.append(
            LabelSetting("original labels", "original", None, ds.labels, is_error, ds.correctable)
        )
    return out


def human_settings(ds: BenchDataset, counts: np.ndarray, seed: int = 0) -> list[LabelSetting]:
    """The CIFAR-10H settings (:mod:`benchmarks.human_noise`) on the dataset's images.

    ``counts`` must be in the dataset's order; an error is a label that differs from the
    dataset's own (original) label.
    """
    out = []
    for spec in human_noise.SETTINGS:
        given = human_noise.human_labels(spec, counts, ds.labels, seed=seed)
        sampled = spec == "human-sampled"
        detail = f"seed {seed}" if sampled else f">= {human_noise.MIN_VOTES} votes"
        out.append(
            LabelSetting(
                f"{spec} (CIFAR-10H, {detail})",
                spec,
                seed if sampled else None,
                given,
                given != ds.labels,
            )
        )
    return out


def heldout_settings(
    ds: BenchDataset,
    seeds: Sequence[int] = HELDOUT_SEEDS,
    human_counts: np.ndarray | None = None,
) -> list[LabelSetting]:
    """Settings NOT used when the default score was chosen.

    The noise specs of :func:`label_settings` at each of ``seeds``, the dataset's held-out
    class pairs (:attr:`BenchDataset.heldout_pair_noise`) at the selection seed, and, with
    ``human_counts``, the CIFAR-10H settings (:func:`human_settings`).
    """
    out = [
        noise_setting(ds, name, spec, seed) for seed in seeds for name, spec in label_settings(ds)
    ]
    out.append(noise_setting(ds, "other class pairs 30%", ds.heldout_pair_noise, SELECTION_SEED))
    if human_counts is not None:
        out += human_settings(ds, human_counts)
    return out


# --------------------------------------------------------------------------------------
# the section

REFERENCE_SOURCE = "reference pyx (cleanlab's OOF, trained on the original labels)"


def run_settings(
    ds: BenchDataset,
    settings: Sequence[LabelSetting],
    *,
    train: TrainPlan | None,
    workdir: Path,
    reuse: bool = False,
    train_only: Collection[str] | None = None,
    final_model_for: str | None = None,
    progress: Progress | None = None,
) -> list[SettingResult]:
    """``settings`` of one dataset, on every probability source available.

    Sources: the reference probabilities when the dataset has them (computed on the
    original labels; the injected noise was never seen by that model), and relabel's CNN
    trained on each setting's labels when ``train`` is given (only on the settings whose
    :attr:`LabelSetting.tag` is in ``train_only``, when that is given). The setting whose
    spec is ``final_model_for`` also trains the final model, as a cycle's train step does,
    so its time is the compute of a whole cycle.
    """
    say = progress or (lambda m: log.info("%s", m))
    out: list[SettingResult] = []
    if ds.reference_probs is not None:
        for s in settings:
            started = time.perf_counter()
            r = evaluate(
                s.given,
                ds.reference_probs,
                s.is_error,
                dataset=ds.name,
                source=REFERENCE_SOURCE,
                setting=s.name,
                correctable=s.correctable,
            )
            r.seconds, r.spec, r.seed = time.perf_counter() - started, s.spec, s.seed
            out.append(r)
            say(f"detection {ds.name} / reference pyx / {s.name}: done")
    if train is None:
        return out
    for s in settings:
        if train_only is not None and s.tag not in train_only:
            continue
        plan = TrainPlan(train.epochs, train.folds, final_model=s.spec == final_model_for)
        epochs = "the project's default" if plan.epochs is None else plan.epochs
        say(f"detection {ds.name} / {s.name}: training {plan.folds}-fold, {epochs} epochs")
        probs, info = train_oof(
            ds, s.given, plan, workdir / f"{ds.name}-{s.tag}", reuse=reuse, progress=None
        )
        model = info.get("fingerprint", {}).get("model", {})
        r = evaluate(
            s.given,
            probs,
            s.is_error,
            dataset=ds.name,
            source=(
                f"relabel {model.get('architecture', 'model')} OOF ({plan.folds}-fold, at most "
                f"{info['epochs']} epochs, trained on these labels)"
            ),
            setting=s.name,
            correctable=s.correctable,
        )
        r.seconds, r.spec, r.seed = float(info["seconds"]), s.spec, s.seed
        r.notes = json.dumps({**info, "spec": s.spec})
        out.append(r)
        say(
            f"detection {ds.name} / CNN / {s.name}: OOF accuracy {info['oof_accuracy']:.3f}, "
            f"{info['seconds']:.0f} s{' (reused)' if info['reused'] else ''}"
        )
    return out


def run_dataset(
    ds: BenchDataset,
    *,
    train: TrainPlan | None,
    workdir: Path,
    reuse: bool = False,
    seed: int = SELECTION_SEED,
    final_model_for: str | None = None,
    progress: Progress | None = None,
) -> list[SettingResult]:
    """The selection settings (:func:`main_settings`) of one dataset: see :func:`run_settings`."""
    return run_settings(
        ds,
        main_settings(ds, seed),
        train=train,
        workdir=workdir,
        reuse=reuse,
        final_model_for=final_model_for,
        progress=progress,
    )
