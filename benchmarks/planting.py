"""The planted cases of the issues benchmark (:mod:`benchmarks.issues`), whose truth is known.

Among the first images of an RGB benchmark dataset (:func:`plant`):

* **near-duplicates** of other images, one change each (:data:`TRANSFORMS`, see
  :func:`near_duplicate`). A third keep their source's label, a third are relabelled (their
  set has conflicting labels) and a third go to the held-out manifest while their source
  stays in training (a leak across the split);
* **outliers** (:func:`outlier_image`): MNIST test digits converted to 32x32 RGB, and a
  quarter uniform noise;
* **unhealthy images** (:data:`HEALTH_KINDS`, :func:`unhealthy`), each in place of its
  source image.

Planted files are PNG: a file holds exactly the pixels made. The planted set is trained as
a user does and ``relabel issues`` run on it (:func:`train_and_find`; a trained project is
reused while its plan and training code are unchanged).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import shutil
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.datasets import BenchDataset, DataUnavailableError
from benchmarks.detection import model_code_digest
from benchmarks.user_run import latest_run, run_cli

#: The changes that make a near-duplicate, one per copy (cycled).
TRANSFORMS = ("jpeg", "resize", "shift", "brightness")
#: The unhealthy kinds planted, each named as relabel's health type that should flag it.
HEALTH_KINDS = ("dark", "bright", "blurry", "low_information", "grayscale", "odd_size")
#: File sizes (height, width) of the odd-size images (cycled).
ODD_SIZES = ((64, 32), (32, 64), (96, 96), (20, 20))
#: The code a trained planting's model comes from: the trainer and the decoder. A trained
#: project is reused while each is unchanged and the image statistics its run kept equal
#: what the current code computes from the planted files (:func:`_stats_unchanged`).
TRAINING_MODULES = ("relabel.training", "relabel.data.images")
#: The stamp a trained planting's folder holds (plan and code digest it was trained with).
TRAINED_STAMP = "trained.json"


@dataclass(frozen=True)
class IssuePlan:
    """What the issues section plants and trains.

    Attributes
    ----------
    n : int or None
        Base images (the first ``n`` CIFAR-10 test images); None: all 10,000.
    duplicates : int
        Near-duplicates planted (a third each: same label, relabelled, across the holdout).
    outliers : int
        Outliers planted (a quarter noise images, the rest MNIST digits).
    unhealthy : int
        Unhealthy images planted per kind of :data:`HEALTH_KINDS`.
    epochs : int or None
        Training epochs; None: the project's own default.
    folds : int
        Cross-validation folds (the final model is always trained).
    seed : int
        The planting's seed.
    """

    n: int | None = None
    duplicates: int = 300
    outliers: int = 200
    unhealthy: int = 50
    epochs: int | None = None
    folds: int = 5
    seed: int = 0


@dataclass
class Planted:
    """The planted training set and held-out manifest, with the truth of every row.

    ``kind`` is ``""`` for an unmodified image (a near-duplicate's source included),
    ``"duplicate"``, ``"outlier"`` or a kind of :data:`HEALTH_KINDS`; ``detail`` the
    duplicate's transform or the outlier's origin (``mnist``, ``noise``); ``partner`` a
    training duplicate's source row (-1 otherwise). Held-out rows: ``holdout_*``, each
    the near-duplicate of training row ``holdout_partner``.
    """

    ids: list[str]
    paths: list[str]
    labels: np.ndarray
    kind: np.ndarray
    detail: np.ndarray
    partner: np.ndarray
    holdout_ids: list[str]
    holdout_paths: list[str]
    holdout_labels: np.ndarray
    holdout_partner: np.ndarray

    @property
    def n(self) -> int:
        """Training rows."""
        return len(self.ids)


# --------------------------------------------------------------------------------------
# the planted images


def _resized(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def near_duplicate(pixels: np.ndarray, how: str, rng: np.random.Generator) -> np.ndarray:
    """A near copy of an RGB image (uint8, ``h x w x 3``) made by one of :data:`TRANSFORMS`.

    ``jpeg``: re-encoded at quality 50-70; ``resize``: down to 50-75 % and back up;
    ``shift``: moved 2-4 pixels along each axis (edges repeated); ``brightness``: scaled by
    0.85-0.93 or 1.07-1.15.
    """
    from PIL import Image

    h, w = pixels.shape[:2]
    if how == "jpeg":
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", quality=int(rng.integers(50, 71)))
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.uint8)
    if how == "resize":
        f = rng.uniform(0.5, 0.75)
        small = _resized(pixels, max(2, round(h * f)), max(2, round(w * f)))
        return _resized(small, h, w)
    if how == "shift":
        dy, dx = (int(rng.integers(2, 5)) * int(rng.choice([-1, 1])) for _ in range(2))
        padded = np.pad(pixels, ((4, 4), (4, 4), (0, 0)), mode="edge")
        return padded[4 + dy : 4 + dy + h, 4 + dx : 4 + dx + w].copy()
    if how == "brightness":
        f = rng.uniform(0.85, 0.93) if rng.random() < 0.5 else rng.uniform(1.07, 1.15)
        return np.clip(np.rint(pixels.astype(np.float64) * f), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown near-duplicate transform {how!r} (one of {TRANSFORMS})")


def unhealthy(pixels: np.ndarray, kind: str, index: int = 0) -> np.ndarray:
    """An RGB image (uint8, ``h x w x 3``) made unhealthy the way ``kind`` names.

    ``dark``: 8 % of its brightness; ``bright``: 8 % of its distance to white;
    ``blurry``: a Gaussian blur of radius 2; ``low_information``: one colour (its mean);
    ``grayscale``: its luma in all three channels; ``odd_size``: resized to
    ``ODD_SIZES[index % 4]``.
    """
    from PIL import Image, ImageFilter

    x = pixels.astype(np.float64)
    if kind == "dark":
        out = x * 0.08
    elif kind == "bright":
        out = 255 - (255 - x) * 0.08
    elif kind == "blurry":
        image = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(2))
        return np.asarray(image, dtype=np.uint8)
    elif kind == "low_information":
        out = np.broadcast_to(x.mean(axis=(0, 1)), x.shape)
    elif kind == "grayscale":
        grey = np.asarray(Image.fromarray(pixels).convert("L"), dtype=np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    elif kind == "odd_size":
        return _resized(pixels, *ODD_SIZES[index % len(ODD_SIZES)])
    else:
        raise ValueError(f"unknown health kind {kind!r} (one of {HEALTH_KINDS})")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def outlier_image(digit: np.ndarray | None, rng: np.random.Generator, side: int = 32) -> np.ndarray:
    """An outlier for a photo set: an MNIST digit (``28 x 28`` uint8) resized to ``side``
    and converted to RGB, or (``digit`` None) uniform RGB noise."""
    if digit is None:
        return rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    grey = _resized(np.ascontiguousarray(digit, dtype=np.uint8), side, side)
    return np.repeat(grey[:, :, None], 3, axis=2)


def mnist_digits(data: Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` MNIST test digits (``n x 28 x 28`` uint8), drawn with ``seed``.

    Raises
    ------
    DataUnavailableError
        The MNIST test images are not in ``data``.
    """
    path = data / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not path.is_file():
        raise DataUnavailableError(f"{path}: not found (the benchmark data folder is incomplete)")
    with gzip.open(path) as f:
        pixels = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    pick = np.random.default_rng(seed).choice(len(pixels), size=n, replace=False)
    return pixels[np.sort(pick)]


def _read_rgb(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _save(pixels: np.ndarray, path: Path) -> str:
    from PIL import Image

    Image.fromarray(pixels).save(path, compress_level=1)
    return str(path)


def _other_label(label: int, classes: int, rng: np.random.Generator) -> int:
    return int((label + rng.integers(1, classes)) % classes)


@dataclass
class _Rows:
    """The training rows as they are planted (base images first, new rows appended)."""

    ids: list[str]
    paths: list[str]
    labels: list[int]
    kind: list[str]
    detail: list[str]
    partner: list[int]

    def add(self, sid: str, path: str, label: int, kind: str, detail: str, partner: int) -> None:
        for column, value in zip(
            (self.ids, self.paths, self.labels, self.kind, self.detail, self.partner),
            (sid, path, label, kind, detail, partner),
            strict=True,
        ):
            column.append(value)  # type: ignore[attr-defined]


def _plant_health(rows: _Rows, sources: np.ndarray, per_kind: int, out: Path) -> None:
    """Each source made unhealthy in place (its label kept, a new id and file)."""
    for j, row in enumerate(sources):
        what = HEALTH_KINDS[j // per_kind]
        made = unhealthy(_read_rgb(rows.paths[row]), what, j)
        rows.ids[row] = f"issue_{what}_{j:04d}"
        rows.paths[row] = _save(made, out / f"{rows.ids[row]}.png")
        rows.kind[row] = what


def _plant_duplicates(
    rows: _Rows, sources: np.ndarray, n_classes: int, rng: np.random.Generator, out: Path
) -> list[tuple[str, str, int, int]]:
    """A near copy of each source: thirds kept, relabelled, and held out (returned)."""
    held = []
    for j, row in enumerate(sources):
        how = TRANSFORMS[(j // 3) % len(TRANSFORMS)]
        sid = f"issue_dup_{j:04d}"
        path = _save(near_duplicate(_read_rgb(rows.paths[row]), how, rng), out / f"{sid}.png")
        label = int(rows.labels[row])
        if j % 3 == 2:
            held.append((f"holdout_{sid}", path, label, int(row)))
            continue
        if j % 3 == 1:
            label = _other_label(label, n_classes, rng)
        rows.add(sid, path, label, "duplicate", how, int(row))
    return held


def _plant_outliers(
    rows: _Rows, n: int, digits: np.ndarray, n_classes: int, rng: np.random.Generator, out: Path
) -> None:
    """``n`` outliers, a quarter noise and the rest MNIST digits, each with a random label."""
    n_noise = n // 4
    for j in range(n):
        digit = None if j < n_noise else digits[(j - n_noise) % len(digits)]
        sid = f"issue_outlier_{j:04d}"
        path = _save(outlier_image(digit, rng), out / f"{sid}.png")
        origin = "noise" if digit is None else "mnist"
        rows.add(sid, path, int(rng.integers(n_classes)), "outlier", origin, -1)


def plant(ds: BenchDataset, digits: np.ndarray, plan: IssuePlan, out: Path) -> Planted:
    """Plant the cases of ``plan`` among the first ``plan.n`` images of ``ds``.

    Sources are drawn without replacement from every image but the first (whose size and
    channels ``relabel init`` takes for the project). Planted files are PNG (lossless: a
    file holds exactly the pixels made) under ``out``.

    Parameters
    ----------
    ds : BenchDataset
        RGB images.
    digits : numpy.ndarray
        MNIST digits (``m x 28 x 28``) for the outliers that are not noise.
    plan : IssuePlan
        How many of each.
    out : Path
        Folder of the planted files (recreated).

    Returns
    -------
    Planted
    """
    n_base = ds.n if plan.n is None else min(plan.n, ds.n)
    n_health = plan.unhealthy * len(HEALTH_KINDS)
    if plan.duplicates + n_health > n_base - 1:
        raise ValueError(f"{n_base} images are too few to plant {plan}")
    rng = np.random.default_rng(plan.seed)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sources = 1 + rng.permutation(n_base - 1)[: plan.duplicates + n_health]
    rows = _Rows(
        list(ds.ids[:n_base]),
        list(ds.paths[:n_base]),
        [int(y) for y in ds.labels[:n_base]],
        [""] * n_base,
        [""] * n_base,
        [-1] * n_base,
    )
    _plant_health(rows, sources[plan.duplicates :], plan.unhealthy, out)
    n_classes = len(ds.classes)
    held = _plant_duplicates(rows, sources[: plan.duplicates], n_classes, rng, out)
    _plant_outliers(rows, plan.outliers, digits, n_classes, rng, out)
    return Planted(
        ids=rows.ids,
        paths=rows.paths,
        labels=np.array(rows.labels, dtype=np.int64),
        kind=np.array(rows.kind, dtype=object),
        detail=np.array(rows.detail, dtype=object),
        partner=np.array(rows.partner, dtype=np.int64),
        holdout_ids=[h[0] for h in held],
        holdout_paths=[h[1] for h in held],
        holdout_labels=np.array([h[2] for h in held], dtype=np.int64),
        holdout_partner=np.array([h[3] for h in held], dtype=np.int64),
    )


def synthetic_embeddings(
    n: int, dim: int = 128, copies: int = 50, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Clustered float16 embeddings with near copies planted, to time a duplicate search.

    ``n // 100`` clusters (at least one) of standard normal centres, members at normal noise
    of 0.5 per dimension around theirs (so nearest neighbours are close but not copies), and
    ``copies`` rows replaced by another row plus noise of 0.01 per dimension.

    Returns
    -------
    embeddings, pairs
        ``n x dim`` float16, and the planted ``(copy row, source row)`` pairs (``copies x 2``).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, n // 100), dim)).astype(np.float32)
    x = centres[rng.integers(len(centres), size=n)]
    x += rng.normal(scale=0.5, size=(n, dim)).astype(np.float32)
    rows = rng.choice(n, size=2 * copies, replace=False)
    pairs = rows.reshape(copies, 2)
    x[pairs[:, 0]] = x[pairs[:, 1]] + rng.normal(scale=0.01, size=(copies, dim))
    return x.astype(np.float16), pairs.astype(np.int64)


def set_summary(set_id: np.ndarray, pairs: np.ndarray | None = None) -> dict[str, Any]:
    """Duplicate sets (``set_id`` per row, -1 for none): ``sets``, rows ``in_sets`` and,
    given planted ``(copy, source)`` ``pairs``, ``planted_found`` (sharing a set, of all)."""
    out: dict[str, Any] = {
        "sets": int(np.unique(set_id[set_id >= 0]).size),
        "in_sets": int((set_id >= 0).sum()),
    }
    if pairs is not None:
        a, b = set_id[pairs[:, 0]], set_id[pairs[:, 1]]
        out["planted_found"] = [int(((a >= 0) & (a == b)).sum()), len(pairs)]
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """``fn()`` (what it prints swallowed), its wall seconds and CPU seconds (this process
    and the children it waited for)."""
    wall, cpu = time.perf_counter(), os.times()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        value = fn()
    used = sum(os.times()[:4]) - sum(cpu[:4])
    return value, {"seconds": time.perf_counter() - wall, "cpu_seconds": used}


# --------------------------------------------------------------------------------------
# the user run


def write_manifest(
    ids: list[str], paths: list[str], labels: np.ndarray, classes: tuple[str, ...], out: Path
) -> Path:
    """``id,path,label`` (class names) at ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "path", "label"])
        for sample_id, path, label in zip(ids, paths, labels, strict=True):
            w.writerow([sample_id, path, classes[int(label)]])
    return out


def _configure(config_file: Path, epochs: int | None, holdout: Path | None) -> None:
    import tomli_w

    config = tomllib.loads(config_file.read_text())
    if epochs is not None:
        config.setdefault("training", {})["epochs"] = epochs
    if holdout is not None:
        config.setdefault("dataset", {})["holdout"] = str(holdout)
    config_file.write_text(tomli_w.dumps(config))


def _cli(args: list[str], log_file: Path) -> dict[str, Any]:
    done = run_cli(args, log_file)
    if done["rc"] != 0:
        raise RuntimeError(f"relabel {args[0]} failed ({done['rc']}): see {log_file}")
    return done


def _trained(workdir: Path, plan: IssuePlan) -> dict[str, Any] | None:
    """The ``init``/``train`` figures of a project trained with this plan and code, or None."""
    stamp = workdir / TRAINED_STAMP
    if not stamp.is_file():
        return None
    try:
        latest_run(workdir / "project")
    except (OSError, RuntimeError):
        return None
    info = json.loads(stamp.read_text())
    code, now = info.pop("code"), _training_code()
    if info.pop("plan") != asdict(plan) or any(code.get(k) != v for k, v in now.items()):
        return None
    return info if _stats_unchanged(workdir / "project") else None


def _stats_unchanged(root: Path) -> bool:
    """Whether the newest run's ``image_stats.npz`` equals the current code's statistics of
    the same files (decoded again at the project's size)."""
    from relabel.data.image_stats import IMAGE_STATS_FILE, load_image_stats
    from relabel.project import Project
    from relabel.project.issues import image_stats_of

    file = latest_run(root) / IMAGE_STATS_FILE
    if not file.is_file():
        return False
    ids, kept = load_image_stats(file)
    with Project.open(root, readonly=True) as project:
        path_of = dict(zip(*project.store.labels(["sample_id", "path"]).values.T, strict=True))
        now = image_stats_of([path_of[i] for i in ids], project.config)
    return set(now) == set(kept) and all(np.array_equal(now[k], kept[k]) for k in now)


def _training_code() -> dict[str, str]:
    """The digest of each of :data:`TRAINING_MODULES`."""
    return {name: model_code_digest((name,)) for name in TRAINING_MODULES}


def train_and_find(
    p: Planted, classes: tuple[str, ...], plan: IssuePlan, workdir: Path
) -> tuple[pd.DataFrame, RunArrays, dict[str, Any]]:
    """``relabel init``, ``relabel train`` (the final model too) and ``relabel issues``.

    Returns
    -------
    table, arrays, info
        ``relabel issues``' rows, the arrays it used (:func:`run_arrays`), and ``init``,
        ``train``, ``issues`` (:func:`benchmarks.user_run.run_cli` figures),
        ``oof_accuracy``, ``folds``, ``final_model``, ``epochs``, ``architecture`` and
        ``embeddings`` (which ones).
    """
    root = workdir / "project"
    manifest = write_manifest(p.ids, p.paths, p.labels, classes, workdir / "manifest.csv")
    holdout = None
    if p.holdout_ids:
        holdout = write_manifest(
            p.holdout_ids, p.holdout_paths, p.holdout_labels, classes, workdir / "holdout.csv"
        )
    info = _trained(workdir, plan)
    if info is None:
        (workdir / TRAINED_STAMP).unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        args = ["init", str(root), "--manifest", str(manifest), "--folds", str(plan.folds)]
        info = {"init": _cli(args, workdir / "init.log")}
        _configure(root / "relabel.toml", plan.epochs, holdout)
        info["train"] = _cli(["-v", "train", str(root)], workdir / "train.log")
        stamp = {"plan": asdict(plan), "code": _training_code(), **info}
        (workdir / TRAINED_STAMP).write_text(json.dumps(stamp))
    else:
        info["reused"] = True
    csv_out = workdir / "issues.csv"
    info["issues"] = _cli(["issues", str(root), "--out", str(csv_out)], workdir / "issues.log")
    run = latest_run(root)
    metrics = json.loads((run / "metrics.json").read_text())
    config = tomllib.loads((root / "relabel.toml").read_text())
    info.update(
        oof_accuracy=metrics.get("oof_accuracy"),
        folds=len(metrics.get("folds") or []),
        final_model=bool(metrics.get("final_model")),
        epochs=config.get("training", {}).get("epochs"),
        architecture=config.get("model", {}).get("architecture"),
    )
    table = pd.read_csv(csv_out, keep_default_na=False)
    arrays = run_arrays(run, p.ids)
    info["embeddings"] = arrays.which
    return table, arrays, info


@dataclass
class RunArrays:
    """The arrays of a run that ``relabel issues`` used, in a planting's row order.

    ``embeddings`` (float32) are the final model's, or the out-of-fold ones for an engine
    without a final model (``which`` says); ``probs`` the out-of-fold probabilities and
    ``labels`` the given labels as their column indices.
    """

    embeddings: np.ndarray
    probs: np.ndarray
    labels: np.ndarray
    which: str


def run_arrays(run: Path, ids: list[str]) -> RunArrays:
    """:class:`RunArrays` of the run folder ``run`` for the samples ``ids``, in that order."""
    with np.load(run / "oof.npz") as oof:
        run_ids = oof["sample_ids"].astype(str)
        probs, labels = oof["probs"].astype(np.float32), oof["labels"].astype(np.int64)
    # the embeddings relabel issues uses: the final model's, else the out-of-fold ones
    final = run / "final_embeddings.npy"
    emb = np.load(final if final.is_file() else run / "embeddings.npy").astype(np.float32)
    row_of = {sid: i for i, sid in enumerate(run_ids)}
    rows = [row_of[s] for s in ids]
    which = "final model" if final.is_file() else "out-of-fold"
    return RunArrays(emb[rows], probs[rows], labels[rows], which)
