"""Active-learning curves: which strategy of :func:`relabel.ranking.select_batch` reaches a
given accuracy with the fewest labels.

Protocol (per dataset, the same for every strategy):

* a fixed held-out split (:attr:`LearningPlan.heldout` of the images, drawn once with seed
  :data:`SPLIT_SEED`) on which accuracy is measured; the rest is the pool;
* a random :attr:`LearningPlan.start` of the pool starts labelled (drawn per seed, the
  same start for every strategy of that seed: the comparisons are paired);
* each round the learner is fitted on the labelled rows, predicts the unlabelled pool, and
  the strategy picks :attr:`LearningPlan.step` of the pool more; simulated annotators
  answer each picked image's dataset label; up to :attr:`LearningPlan.stop` of the pool;
* the accuracy on the held-out split after each round, for every seed; the whole run is
  repeated with a larger batch (:attr:`LearningPlan.large_step` per round), where batch
  diversity matters most.

The learner is cheap and fixed, so that the curves measure the choice of samples only:
scikit-learn's multinomial :class:`~sklearn.linear_model.LogisticRegression` (C = 1) on
fixed features. MNIST: the 784 pixels reduced to :data:`MNIST_COMPONENTS` principal
components (PCA fitted on all the images' pixels, no labels), standardised. CIFAR-10: the
128-d out-of-fold embeddings of relabel's cached protocol training of the original labels
(``CACHE/protocol/cifar10-original-s0``) when they are there -- a CNN trained on (other
folds') labels of the same images, which makes the features far better than any a project
would have before labelling (a limitation the report states) -- else
:data:`CIFAR_COMPONENTS` principal components of the pixels. The strategies' embeddings are
the learner's features. MNIST chooses relabel's default strategy (tuning); CIFAR-10 is
held out.
"""

from __future__ import annotations

import gzip
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import datasets
from benchmarks.datasets import DataUnavailableError
from relabel.ranking.acquisition import DEFAULT_STRATEGY, STRATEGIES, select_batch

log = logging.getLogger("benchmarks.learning")

#: Seed of the held-out split and of the subset (fixed: every seed and strategy shares them).
SPLIT_SEED = 20261208
MNIST_COMPONENTS = 50
CIFAR_COMPONENTS = 100
#: What the report says the learner is.
LEARNER = (
    "scikit-learn LogisticRegression (multinomial, C = 1, lbfgs, max_iter 500) on fixed "
    "standardised features, one BLAS thread"
)
#: The protocol training whose out-of-fold embeddings are CIFAR-10's features.
CIFAR_EMBEDDING_RUN = "protocol/cifar10-original-s0/project/runs"


@dataclass(frozen=True)
class LearningPlan:
    """What one mode runs (fractions are of the pool, the images outside the held-out split)."""

    mode: str
    datasets: tuple[str, ...] = ("mnist", "cifar10")
    seeds: tuple[int, ...] = (0, 1, 2)
    subset: int | None = None  # images per dataset; None: all 10,000
    heldout: float = 0.2
    start: float = 0.02
    step: float = 0.02
    stop: float = 0.20
    large_step: float = 0.06
    strategies: tuple[str, ...] = STRATEGIES


QUICK = LearningPlan("quick", seeds=(0,), subset=2000, stop=0.10, large_step=0.04)
FULL = LearningPlan("full")
PLANS = {"quick": QUICK, "full": FULL}


@dataclass
class Features:
    """A dataset's learner features and labels, and where the features come from."""

    x: np.ndarray  # (n, d) float32
    y: np.ndarray  # (n,) int64
    source: str
    label_informed: bool = False


def mnist_features(data: Path, subset: int | None) -> Features:
    """The MNIST test images as standardised principal components of their pixels."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    images_gz = data / "mnist" / "t10k-images-idx3-ubyte.gz"
    labels_gz = data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    for path in (images_gz, labels_gz):
        if not path.is_file():
            raise DataUnavailableError(f"{path}: not found")
    with gzip.open(labels_gz) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    with gzip.open(images_gz) as f:
        pixels = np.frombuffer(f.read(), np.uint8, offset=16).reshape(len(y), -1)
    keep = _subset(len(y), subset)
    x = PCA(MNIST_COMPONENTS, random_state=0).fit_transform(pixels[keep] / 255.0)
    x = StandardScaler().fit_transform(x).astype(np.float32)
    return Features(x, y[keep], f"{MNIST_COMPONENTS} principal components of the pixels")


def cifar_features(data: Path, cache: Path, subset: int | None) -> Features:
    """CIFAR-10's cached out-of-fold embeddings (label-informed), else pixel components."""
    from sklearn.preprocessing import StandardScaler

    found = _cached_embeddings(cache)
    if found is not None:
        x, y, folder = found
        keep = _subset(len(y), subset)
        x = StandardScaler().fit_transform(x[keep]).astype(np.float32)
        source = (
            f"the {x.shape[1]}-d out-of-fold embeddings of relabel's protocol training of the "
            f"original labels ({folder})"
        )
        return Features(x, y[keep], source, label_informed=True)
    return _cifar_pixels(data, cache, subset)


def _cached_embeddings(cache: Path) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The newest cached CIFAR-10 original-label run's embeddings in canonical order."""
    runs = sorted((cache / CIFAR_EMBEDDING_RUN).glob("*/embeddings.npy"))
    for path in reversed(runs):
        oof_path = path.parent / "oof.npz"
        if not oof_path.is_file():
            continue
        with np.load(oof_path, allow_pickle=False) as oof:
            ids, labels = oof["sample_ids"], oof["labels"]
        emb = np.load(path).astype(np.float32)
        if emb.shape[0] != len(ids):
            continue
        order = np.argsort([int(str(s).rsplit("_", 1)[1]) for s in ids], kind="stable")
        rel = path.parent.relative_to(cache).as_posix()
        return emb[order], labels[order].astype(np.int64), rel
    return None


def _cifar_pixels(data: Path, cache: Path, subset: int | None) -> Features:
    """CIFAR-10's JPEGs as standardised principal components of their pixels."""
    from PIL import Image
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    ds = datasets.load_cifar10(data, cache)
    keep = _subset(ds.n, subset)
    pixels = np.stack(
        [np.asarray(Image.open(ds.paths[i]).convert("RGB")).ravel() for i in keep]
    ).astype(np.float32)
    x = PCA(CIFAR_COMPONENTS, random_state=0).fit_transform(pixels / 255.0)
    x = StandardScaler().fit_transform(x).astype(np.float32)
    return Features(x, ds.labels[keep], f"{CIFAR_COMPONENTS} principal components of the pixels")


def _subset(n: int, subset: int | None) -> np.ndarray:
    """A fixed random subset of ``range(n)`` (sorted), or all of it."""
    if subset is None or subset >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(SPLIT_SEED).permutation(n)[:subset])


def split(n: int, heldout: float) -> tuple[np.ndarray, np.ndarray]:
    """The fixed (pool, held-out) split of ``range(n)``."""
    order = np.random.default_rng(SPLIT_SEED + 1).permutation(n)
    cut = round(heldout * n)
    return np.sort(order[cut:]), np.sort(order[:cut])


def fit_predict(
    x_train: np.ndarray, y_train: np.ndarray, x_pool: np.ndarray, x_test: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The learner fitted on the labelled rows: pool probabilities (``k`` columns, classes
    absent from the labelled rows at 0) and held-out predictions."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    probs = np.zeros((len(x_pool), k))
    probs[:, model.classes_] = model.predict_proba(x_pool)
    return probs, model.predict(x_test)


def curve(
    feats: Features,
    pool: np.ndarray,
    test: np.ndarray,
    strategy: str,
    seed: int,
    *,
    start: float,
    step: float,
    stop: float,
) -> dict[str, Any]:
    """One learning curve: held-out accuracy after each round, and the selection time."""
    x, y, k = feats.x, feats.y, int(feats.y.max()) + 1
    first, per_round, last = (max(1, round(f * len(pool))) for f in (start, step, stop))
    labelled = pool[np.random.default_rng(seed).permutation(len(pool))[:first]]
    sizes, accuracy, select_s = [], [], 0.0
    for round_ in range(10_000):
        free = np.setdiff1d(pool, labelled, assume_unique=True)
        probs, predicted = fit_predict(x[labelled], y[labelled], x[free], x[test], k)
        sizes.append(len(labelled))
        accuracy.append(float(np.mean(predicted == y[test])))
        if len(labelled) >= last or not len(free):
            break
        t0 = time.perf_counter()
        picks = select_batch(
            strategy,
            probs,
            min(per_round, last - len(labelled)),
            embeddings=x[free],
            labelled_embeddings=x[labelled],
            seed=seed * 1000 + round_,
        )
        select_s += time.perf_counter() - t0
        labelled = np.concatenate([labelled, free[picks]])  # the annotators' true labels
    return {"sizes": sizes, "accuracy": accuracy, "select_seconds": round(select_s, 3)}


def run_dataset(
    feats: Features, plan: LearningPlan, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Every strategy and seed at the plan's two batch sizes, on one dataset."""
    pool, test = split(len(feats.y), plan.heldout)
    out: dict[str, Any] = {
        "features": feats.source,
        "label_informed_features": feats.label_informed,
        "n": len(feats.y),
        "n_pool": len(pool),
        "n_heldout": len(test),
        "batches": {},
    }
    for step in (plan.step, plan.large_step):
        runs: dict[str, list[dict[str, Any]]] = {}
        for strategy in plan.strategies:
            t0 = time.perf_counter()
            runs[strategy] = [
                curve(
                    feats,
                    pool,
                    test,
                    strategy,
                    seed,
                    start=plan.start,
                    step=step,
                    stop=plan.stop,
                )
                for seed in plan.seeds
            ]
            if progress:
                progress(
                    f"learning: step {step:.0%} {strategy}: final "
                    f"{np.mean([r['accuracy'][-1] for r in runs[strategy]]):.4f} "
                    f"({time.perf_counter() - t0:.0f} s)"
                )
        out["batches"][f"{step:g}"] = {"step": step, "runs": runs}
    return out


def run_section(
    mode: str,
    data: Path,
    cache: Path,
    progress: Callable[[str], None] | None = None,
    plan: LearningPlan | None = None,
) -> dict[str, Any]:
    """The ``learning`` section's results: every dataset of the plan (or why it was skipped)."""
    from threadpoolctl import threadpool_limits

    plan = plan or PLANS[mode]
    with threadpool_limits(1):  # small problems: BLAS threads only contend (10x slower)
        return _run_plan(plan, data, cache, progress)


def _run_plan(
    plan: LearningPlan, data: Path, cache: Path, progress: Callable[[str], None] | None
) -> dict[str, Any]:
    """:func:`run_section` in one BLAS thread."""
    out: dict[str, Any] = {
        "plan": asdict(plan),
        "learner": LEARNER,
        "default": DEFAULT_STRATEGY,
        "tuning": "mnist",
        "datasets": {},
        "skipped": [],
    }
    for name in plan.datasets:
        try:
            feats = (
                mnist_features(data, plan.subset)
                if name == "mnist"
                else cifar_features(data, cache, plan.subset)
            )
        except DataUnavailableError as exc:
            out["skipped"].append(f"{name}: {exc}")
            continue
        t0 = time.perf_counter()
        out["datasets"][name] = run_dataset(feats, plan, progress)
        out["datasets"][name]["seconds"] = round(time.perf_counter() - t0, 1)
    return out
