"""Dataset issues of a project's run: :func:`relabel.findings.find_issues` on its files.

A run folder holds what the issue types need: ``embeddings.npy`` (read memory-mapped, row
for row with ``oof.npz``), the out-of-fold probabilities and ``image_stats.npz`` (the
pixel statistics collected while the run decoded its images). Without image statistics
(a run trained with ``training.cache_images = false``, or before they were kept) they are
computed from the pixels here, a batch of files at a time. With a held-out manifest
(``dataset.holdout``), its images are decoded at the project's size and a training image
with the same pixels as a held-out one, or a near copy of one in pixel space (their
thumbnails, :func:`relabel.findings.holdout_copies`), is marked as a duplicate that
crosses the split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relabel.config import Config
from relabel.data.image_stats import (
    IMAGE_STATS_FILE,
    THUMBNAIL_KEY,
    ImageStatistics,
    load_image_stats,
)
from relabel.data.images import decode_many
from relabel.errors import EmbeddingsMissingError, NotTrainedError
from relabel.findings import duplicate_sets, find_issues, holdout_copies
from relabel.project.predict import holdout_records
from relabel.project.runs import (
    EMBEDDINGS_FILE,
    FINAL_EMBEDDINGS_FILE,
    OOF_FILE,
    chosen_run,
    read_oof,
)
from relabel.project.samples import active_samples, label_indices
from relabel.store import Store

__all__ = ["STATS_BATCH", "image_stats_of", "project_issues"]

#: Files decoded at a time when a run has no image statistics.
STATS_BATCH = 1024


def image_stats_of(paths: list[str], config: Config) -> dict[str, np.ndarray]:
    """Image statistics of files, decoded at the project's size, a batch at a time.

    Parameters
    ----------
    paths : list of str
        Image files.
    config : Config
        The project's config (image size, channels, ``max_pixels``).

    Returns
    -------
    dict
        :func:`relabel.findings.image_statistics` of every file, in order.
    """
    ds = config.dataset
    size = (int(ds.image_size[0]), int(ds.image_size[1]))
    collect = ImageStatistics(len(paths))
    for start in range(0, len(paths), STATS_BATCH):
        batch = paths[start : start + STATS_BATCH]
        decode_many(
            batch,
            size,
            ds.channels,
            ds.max_pixels,
            on_chunk=lambda at, px, sz, s=start: collect(s + at, px, sz),
        )
    return collect.result()


def _run_folder(root: Path, store: Store, run_id: str | None) -> Path:
    """The folder of ``run_id`` (default: the newest training run), with its ``oof.npz``."""
    folder = chosen_run(root, store, run_id)[1]
    if not (folder / OOF_FILE).is_file():
        raise NotTrainedError(f"{folder / OOF_FILE}: no such run file; run: relabel train {root}")
    return folder


def _rows(stored_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The row of each wanted sample id in ``stored_ids``."""
    row_of = {sid: i for i, sid in enumerate(stored_ids)}
    return np.array([row_of[s] for s in wanted], dtype=np.int64)


def _embeddings(folder: Path, ids: np.ndarray, keep: np.ndarray, root: Path) -> Any:
    """The run's embeddings, memory-mapped (a copy of the kept rows when some are not).

    The final model's (``final_embeddings.npy``: one space for every sample) when the run
    has them, else the out-of-fold ones (one space per fold).
    """
    file = folder / FINAL_EMBEDDINGS_FILE
    if not file.is_file():
        file = folder / EMBEDDINGS_FILE
    if not file.is_file():
        raise EmbeddingsMissingError(
            f"{file}: run {folder.name} has no embeddings (trained before runs kept them, or "
            f"imported without them); retrain to get them: relabel train {root} "
            "(or ask only for the types that need none: relabel issues --without-embeddings)"
        )
    emb = np.load(file, mmap_mode="r")
    if emb.shape[0] != len(ids):
        raise EmbeddingsMissingError(
            f"{file}: {emb.shape[0]} rows for {len(ids)} samples in {OOF_FILE}; "
            f"retrain: relabel train {root}"
        )
    return emb if keep.all() else emb[np.flatnonzero(keep)]


def _stats(folder: Path, samples: pd.DataFrame, config: Config) -> dict[str, np.ndarray]:
    """The run's image statistics for ``samples`` (computed from pixels when not kept)."""
    file = folder / IMAGE_STATS_FILE
    wanted = samples["sample_id"].to_numpy(dtype=str)
    if file.is_file():
        ids, stats = load_image_stats(file)
        if set(wanted) <= set(ids):
            rows = _rows(ids, wanted)
            return {k: v[rows] for k, v in stats.items()}
    return image_stats_of(samples["path"].tolist(), config)


def _holdout_leaks(
    stats: dict[str, np.ndarray], held: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per training row: has the same pixels as a held-out image; is a near copy of one
    in pixel space (thumbnails, when both sides have them)."""
    hashes = stats["content_hash"]
    split = np.r_[np.zeros(len(hashes), bool), np.ones(len(held["content_hash"]), bool)]
    sets = duplicate_sets(hashes=np.r_[hashes, held["content_hash"]], holdout=split)
    exact = sets.crosses_holdout[: len(hashes)]
    near = np.zeros(len(hashes), bool)
    if THUMBNAIL_KEY in stats and THUMBNAIL_KEY in held and len(hashes) > 1:
        found = holdout_copies(stats[THUMBNAIL_KEY], held[THUMBNAIL_KEY])
        near[found.a[found.near]] = True
    return exact, near & ~exact


def _mark_holdout_copies(
    table: pd.DataFrame, stats: dict[str, np.ndarray], root: Path, config: Config
) -> None:
    """Mark training images that are copies of a held-out image (in place): the same
    pixels, or a near copy in pixel space (:func:`relabel.findings.holdout_copies`)."""
    records = holdout_records(root, config)
    if not records or "duplicate_flag" not in table.columns:
        return
    exact, near = _holdout_leaks(stats, image_stats_of([r.path for r in records], config))
    leak = exact | near
    new = leak & ~table["duplicate_flag"].to_numpy()
    table.loc[leak, "duplicate_crosses_holdout"] = True
    table.loc[new, "duplicate_flag"] = True
    table.loc[new & exact, "duplicate_score"] = 1.0
    table.loc[new & near, "duplicate_score"] = 0.5
    for i in np.flatnonzero(new):
        kind = "same pixels as" if exact[i] else "a near copy (pixels) of"
        text = f"{kind} a held-out image: crosses the holdout split"
        sep = ", " if table.at[i, "issue_types"] else ""
        table.at[i, "issue_types"] = "duplicate" + sep + table.at[i, "issue_types"]
        table.at[i, "reasons"] = text + ("; " + table.at[i, "reasons"] if sep else "")


def project_issues(
    root: Path,
    config: Config,
    store: Store,
    run_id: str | None = None,
    *,
    embeddings: bool = True,
) -> pd.DataFrame:
    """Every issue type for the samples of a run (default: the newest).

    Parameters
    ----------
    root : Path
        The project folder.
    config : Config
        Its config.
    store : Store
        Its label store (the current labels).
    run_id : str, optional
        The run; default the newest training run.
    embeddings : bool
        Use the run's embeddings (near duplicates, outliers); False computes only the
        types that need none (image health, exact duplicates, label issues).

    Returns
    -------
    pandas.DataFrame
        ``sample_id``, ``path``, ``given_label``, then the columns of
        :func:`relabel.findings.find_issues`, one row per active sample of the run.

    Raises
    ------
    NotTrainedError
        No such run.
    EmbeddingsMissingError
        ``embeddings`` is true and the run has no ``embeddings.npy`` (nothing is written).
    """
    folder = _run_folder(root, store, run_id)
    ids, probs = read_oof(folder / OOF_FILE)
    current = active_samples(store).set_index("sample_id", drop=False)
    keep = np.isin(ids, current.index.to_numpy())
    samples = current.loc[ids[keep]].reset_index(drop=True)
    emb = _embeddings(folder, ids, keep, root) if embeddings else None
    stats = _stats(folder, samples, config)
    y = label_indices(config.dataset.classes, samples["label"])
    found = find_issues(emb, probs[keep], y, image_stats=stats)
    table = pd.concat(
        [
            pd.DataFrame(
                {
                    "sample_id": samples["sample_id"],
                    "path": samples["path"],
                    "given_label": samples["label"],
                }
            ),
            found,
        ],
        axis=1,
    )
    _mark_holdout_copies(table, stats, root, config)
    return table
