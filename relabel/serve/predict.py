"""``POST /predict``: the latest run's class probabilities as Label Studio predictions.

Label Studio sends ``{"tasks": [...], "project": ..., "label_config": ...}``; each task
carries relabel's ``sample_id`` in its ``data``. The answer is ``{"results": [...],
"model_version": RUN_ID}`` with one entry per task, in the order of the request (Label
Studio pairs them by position):

- a sample of the latest run: ONE prediction, a choices result naming the most probable
  class (the pre-annotation), its probability as ``score``, the run id as
  ``model_version``;
- a task relabel sent for review (its Label Studio task id is in the store's task map):
  the same, and the three most probable classes with their probabilities in the result's
  ``meta`` (``{"text": ["model's top 3: cat 0.81, dog 0.12, fox 0.04"], "top3": [...]}``),
  so that the reviewer sees why the sample was sent;
- any other task (no ``sample_id``, a sample the run does not know, a held-out gold
  image): an empty list, which Label Studio reads as "no prediction".

The probabilities are the out-of-fold ones (each sample predicted by the fold model that
did not train on it), read once per run and kept in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from relabel.errors import NotTrainedError
from relabel.project import Project
from relabel.studio.labeling import CHOICES_NAME, IMAGE_NAME

#: How many classes a reviewed task's prediction lists.
TOP_K = 3


@dataclass(frozen=True)
class RunProbabilities:
    """One run's out-of-fold probabilities by sample id."""

    run_id: str
    classes: list[str]
    rows: dict[str, int]
    probs: np.ndarray


def top_classes(probs: np.ndarray, classes: list[str], k: int = TOP_K) -> list[tuple[str, float]]:
    """The ``k`` most probable classes with their probabilities, most probable first
    (ties: the class listed first)."""
    order = np.argsort(-np.asarray(probs, dtype=float), kind="stable")[:k]
    return [(classes[int(i)], float(probs[int(i)])) for i in order]


def prediction(
    probs: np.ndarray, classes: list[str], run_id: str, *, reviewed: bool
) -> dict[str, Any]:
    """One Label Studio prediction: the most probable class, its score and the run id.

    A ``reviewed`` task's result also carries the top classes in its ``meta``.
    """
    top = top_classes(probs, classes, TOP_K if reviewed else 1)
    item: dict[str, Any] = {
        "from_name": CHOICES_NAME,
        "to_name": IMAGE_NAME,
        "type": "choices",
        "value": {"choices": [top[0][0]]},
    }
    if reviewed:
        text = ", ".join(f"{name} {p:.2f}" for name, p in top)
        item["meta"] = {
            "text": [f"model's top {len(top)}: {text}"],
            "top3": [{"label": name, "probability": round(p, 6)} for name, p in top],
        }
    return {"model_version": run_id, "score": round(top[0][1], 6), "result": [item]}


class Predictor:
    """Predictions of a project's latest run (thread-safe; the run is re-read when a
    newer one is finished)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._run: RunProbabilities | None = None

    def model_version(self) -> str | None:
        """The latest finished run's id, or None before the first run."""
        with Project.open(self.root, readonly=True) as project:
            run = project.store.latest_run("train")
        return None if run is None else str(run["run_id"])

    def _probabilities(self, project: Project) -> RunProbabilities | None:
        run = project.store.latest_run("train")
        if run is None:
            return None
        with self._lock:
            if self._run is None or self._run.run_id != str(run["run_id"]):
                try:
                    latest, samples, probs = project.latest_probabilities()
                except NotTrainedError:
                    return None
                ids = samples["sample_id"].astype(str).tolist()
                self._run = RunProbabilities(
                    str(latest["run_id"]),
                    list(project.config.dataset.classes),
                    {sid: i for i, sid in enumerate(ids)},
                    np.asarray(probs, dtype=float),
                )
            return self._run

    def predict(self, tasks: list[Mapping[str, Any]]) -> dict[str, Any]:
        """The ``/predict`` answer for Label Studio's tasks (see the module docstring)."""
        with Project.open(self.root, readonly=True) as project:
            run = self._probabilities(project)
            sent = {
                int(task_id): str(row["sample_id"])
                for part in project.store.studio_parts()
                for task_id, row in project.store.task_rows_by_task_id(
                    int(part["studio_project_id"])
                ).items()
            }
        if run is None:
            return {"results": [[] for _ in tasks]}
        results: list[Any] = []
        for task in tasks:
            data = task.get("data")
            sid = data.get("sample_id") if isinstance(data, Mapping) else None
            row = run.rows.get(str(sid)) if sid is not None else None
            if row is None:
                results.append([])
                continue
            reviewed = sent.get(_task_id(task)) == str(sid)
            results.append(prediction(run.probs[row], run.classes, run.run_id, reviewed=reviewed))
        return {"results": results, "model_version": run.run_id}


def _task_id(task: Mapping[str, Any]) -> int | None:
    raw = task.get("id")
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def read_tasks(body: Any) -> list[Mapping[str, Any]]:
    """The tasks of a ``/predict`` body.

    Raises
    ------
    ValueError
        Not an object with a list of task objects under ``tasks``.
    """
    tasks = body.get("tasks") if isinstance(body, Mapping) else None
    if not isinstance(tasks, list) or not all(isinstance(t, Mapping) for t in tasks):
        raise ValueError("the body must be a JSON object with a list of task objects 'tasks'")
    return tasks
