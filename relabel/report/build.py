"""Build a project's HTML report: gather the inputs from the store and the latest run.

The rest of :mod:`relabel.report` renders data it is given and knows nothing of projects;
this module is the bridge (the package does not import it, so rendering loads no project).
:func:`build_report` is what ``relabel report`` and the end of each train and cycle call.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from relabel.errors import ConfigError, EmbeddingsMissingError, RelabelError
from relabel.project import Project
from relabel.project.ranking import align_to_run
from relabel.project.runs import (
    EMBEDDINGS_FILE,
    FINAL_EMBEDDINGS_FILE,
    OOF_FILE,
    oof_sample_ids,
    run_dir,
)
from relabel.project.samples import label_indices
from relabel.review.cycles import cycle_history
from relabel.review.majority import NOT_SURE
from relabel.store import now

log = logging.getLogger(__name__)

REPORT_DIR = "report"
#: Above this many samples the report leaves the dataset issues to ``relabel issues``
#: (their exact nearest-neighbour search grows with the square of the samples).
ISSUES_LIMIT = 50_000


def _cycle_rows(project: Project) -> list:
    from relabel.report import CycleRow

    rows = []
    store = project.store
    for c in cycle_history(store.cycles(), store.n_samples(), project.config.review):
        if c["status"] != "done" or c["reviewed"] is None:
            continue
        rows.append(
            CycleRow(
                cycle=int(c["cycle"]),
                budget=c["budget"],
                reviewed=int(c["reviewed"] or 0),
                corrected=int(c["corrected"] or 0),
                hit_rate=c["hit_rate"],
                est_errors_left=c["estimated_errors_left"],
                accuracy=c["accuracy"],
                macro_f1=c["macro_f1"],
            )
        )
    return rows


def reviewer_rows(answers: pd.DataFrame, quality: pd.DataFrame | None = None) -> list:
    """Per reviewer: tasks answered, agreement with the sample's current label, skips,
    and (from ``quality``) gold and estimated accuracy and confusions.

    Parameters
    ----------
    answers : pandas.DataFrame
        :meth:`relabel.store.Store.answers`.
    quality : pandas.DataFrame, optional
        :func:`relabel.review.annotators.annotator_table`.

    Returns
    -------
    list of ReviewerRow
        One row per reviewer, by name.
    """
    from relabel.report import ReviewerRow

    by_name = {} if quality is None else {str(r["reviewer"]): r for _, r in quality.iterrows()}
    rows = []
    for name, group in answers.groupby("reviewer", sort=True):
        skipped = group["cancelled"].astype(bool) | (group["choice"] == NOT_SURE)
        answered = group[~skipped]
        agreement = (
            float((answered["choice"] == answered["current_label"]).mean())
            if len(answered)
            else None
        )
        q = by_name.get(str(name))
        rows.append(
            ReviewerRow(
                name=str(name),
                tasks=int(group["task_id"].nunique()),
                agreement_with_final=agreement,
                skips=int(skipped.sum()),
                **({} if q is None else _quality(q)),
            )
        )
    return rows


def _quality(q: pd.Series) -> dict:
    gold = q["gold_accuracy"]
    return {
        "gold_tasks": int(q["gold_tasks"]),
        "gold_accuracy": None if pd.isna(gold) else float(gold),
        "estimated_accuracy": float(q["estimated_accuracy"]),
        "interval": (float(q["accuracy_low"]), float(q["accuracy_high"])),
        "confuses": str(q["confuses"] or ""),
    }


def _shift(project: Project, given: np.ndarray, paths: list[str], new_images: Path):
    from relabel import data as dataset_mod
    from relabel.report import pixel_features, shift_check

    if new_images.is_dir():
        records, _ = dataset_mod.read_folder(new_images)
    else:
        records, _ = dataset_mod.read_manifest(new_images)
    classes = project.config.dataset.classes
    known = [r for r in records if r.label in classes]
    predicted = len(known) < len(records)
    if predicted:
        new_labels = project.predict([r.path for r in records]).argmax(axis=1)
    else:
        index = {c: i for i, c in enumerate(classes)}
        new_labels = np.asarray([index[r.label] for r in records])
    return shift_check(
        given,
        new_labels,
        len(classes),
        pixel_features(paths),
        pixel_features([r.path for r in records]),
        project.config.training.seed,
        new_labels_are_predictions=predicted,
    )


def _run_embeddings(project: Project, run_id: str, ids: list[str]) -> np.ndarray:
    """The run's embeddings, row for row with ``ids`` (read memory-mapped, then copied):
    the final model's (one space for every sample) when the run has them, else the
    out-of-fold ones."""
    folder = run_dir(project.root, run_id)
    final = folder / FINAL_EMBEDDINGS_FILE
    emb = np.load(final if final.is_file() else folder / EMBEDDINGS_FILE, mmap_mode="r")
    row_of = {sid: i for i, sid in enumerate(oof_sample_ids(folder / OOF_FILE))}
    return np.asarray(emb[np.array([row_of[s] for s in ids], dtype=np.int64)])


def report_issues(
    project: Project, run_id: str, ids: list[str]
) -> tuple[pd.DataFrame | None, np.ndarray | None, str]:
    """The dataset issues of a run and its embeddings, for the report's issue sections.

    A run without embeddings gets the types that need none (image health, exact copies);
    a project of more than :data:`ISSUES_LIMIT` samples, or one whose issues cannot be
    computed (an unreadable image), gets none, and a note that says why.

    Parameters
    ----------
    project : Project
        The opened project.
    run_id : str
        The run the report shows.
    ids : list of str
        The report's samples, in its order.

    Returns
    -------
    issues : pandas.DataFrame or None
        :meth:`Project.issues`, row for row with ``ids``.
    embeddings : numpy.ndarray or None
        The run's embeddings, row for row with ``ids``; None when it has none.
    note : str
        Why the issues are missing, or an empty string.
    """
    if len(ids) > ISSUES_LIMIT:
        return (
            None,
            None,
            (
                f"{len(ids):,} samples, more than the report computes them for "
                f"({ISSUES_LIMIT:,}); run: relabel issues {project.root} --out issues.csv"
            ),
        )
    embeddings = None
    try:
        try:
            table = project.issues(run_id)
            embeddings = _run_embeddings(project, run_id, ids)
        except EmbeddingsMissingError:
            table = project.issues(run_id, embeddings=False)
    except RelabelError as exc:
        log.warning("report: dataset issues not computed: %s", exc)
        return None, None, str(exc)
    table = table.set_index("sample_id", drop=False).loc[ids].reset_index(drop=True)
    return table, embeddings, ""


def build_report(
    project: Project, out_dir: Path | None = None, *, new_images: Path | None = None
) -> Path:
    """Write the ``report.html`` of a trained project (one file, figures embedded), with
    the dataset issues of its run (:func:`report_issues`).

    Parameters
    ----------
    project : Project
        The opened project; it needs a training run.
    out_dir : Path, optional
        Where to write (default ``PROJECT/report``).
    new_images : Path, optional
        A folder or manifest of a new batch of images for the shift check (labels from the
        manifest, or the final model's predictions when it has none).

    Returns
    -------
    Path
        The ``report.html`` written.

    Raises
    ------
    ConfigError
        When the report cannot be written into ``out_dir``.
    """
    from relabel.report import ReportInputs, write_report

    ranked = project.rank()
    s = ranked.scores
    classes = project.config.dataset.classes
    ids = ranked.table["sample_id"].tolist()
    labels = project.store.labels(["sample_id", "original_label"])
    scored, _ = align_to_run(labels, ranked.table["sample_id"].to_numpy())
    original = label_indices(list(classes), scored["original_label"])
    paths = ranked.table["path"].tolist()
    shift = _shift(project, np.asarray(s.given), paths, new_images) if new_images else None
    issues, embeddings, issues_note = report_issues(project, ranked.run_id, ids)
    inputs = ReportInputs(
        project_name=project.config.name,
        classes=list(classes),
        sample_ids=ids,
        paths=paths,
        given=np.asarray(s.given),
        probs=np.asarray(ranked.probs, dtype=np.float64),
        suspicion=np.asarray(s.suspicion),
        rank=np.asarray(s.rank),
        lane=np.asarray(s.lane),
        noise_matrix=np.asarray(s.joint.noise_matrix),
        errors_per_class=np.asarray(s.joint.errors_per_class),
        errors_per_pair=np.asarray(s.joint.errors_per_pair),
        original=original,
        cycles=_cycle_rows(project),
        reviewers=reviewer_rows(project.store.answers(), project.annotators()),
        shift=shift,
        generated_at=now(),
        run_id=ranked.run_id,
        issues=issues,
        embeddings=embeddings,
        issues_note=issues_note,
    )
    target = Path(out_dir or project.root / REPORT_DIR)
    try:
        path = write_report(inputs, target)
    except OSError as exc:
        raise ConfigError(
            f"{target}: cannot write the report there ({exc.strerror or exc})"
        ) from exc
    return Path(path)
