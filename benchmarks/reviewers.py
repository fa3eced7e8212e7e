"""Reviewers you can trust: majority against Dawid-Skene, with and without gold tasks.

Everything runs through relabel's real loop (:func:`relabel.loop.cycle.run_cycle`) and a real
local Label Studio: each cycle selects, pushes (gold tasks mixed in when
``review.gold_fraction`` is set), lets simulated reviewers answer through the API, pulls,
resolves (``review.consensus``), retrains and evaluates.

* The data: the digits with the demo's class-pair noise (``1>7:0.3,3>8:0.3,5>6:0.3``).
* The reviewers: three simulated users of accuracy 0.95, 0.85 and 0.60; every task gets
  all three answers (``review.reviewers_per_task = 3``), no skips. A mistake goes to the
  classes the image is confusable with, in proportion to the ranking model's out-of-fold
  probabilities (:func:`relabel.demo.reviewers.simulated_answer`).
* Gold: a held-out manifest of images with their true labels (copies of
  :data:`HOLDOUT_SIZE` digits images; ``dataset.holdout``), ``review.gold_fraction = 0.05``.

Arms (one training of the noisy labels is shared; then each arm runs its own cycles):

* ``majority``: one vote each, a label needs more than half;
* ``dawid_skene``: votes weighted by each reviewer's estimated confusion matrix;
* ``dawid_skene + 5% gold``: the same, anchored by the gold answers;
* ``majority, no floor``: majority with ``review.min_suspicion = 0`` (every budget slot
  filled), to show what the floor of filled slots saves.

Per cycle: tasks sent (regular, gold), answers, label accuracy of the tasks resolved in the
cycle, wrong label versions written, unresolved tasks, reviews (tasks resolved) per
correction, and the noise left.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.datasets import REPO_ROOT

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
DEMO_PROJECT = REPO_ROOT / "projects" / "digits"
NOISE = "1>7:0.3,3>8:0.3,5>6:0.3"
ACCURACY = (0.95, 0.85, 0.60)
HOLDOUT_SIZE = 300
GOLD_FRACTION = 0.05
#: name -> review config overrides.
ARMS: dict[str, dict[str, Any]] = {
    "majority": {"consensus": "majority"},
    "dawid_skene": {"consensus": "dawid_skene"},
    "dawid_skene + 5% gold": {"consensus": "dawid_skene", "gold_fraction": GOLD_FRACTION},
    "majority, no floor": {"consensus": "majority", "min_suspicion": 0.0},
}


@dataclass(frozen=True)
class _Reviewers:
    """Three simulated reviewers answering every task (the cycle's ``review`` callable)."""

    truth: dict[str, str]
    copies: dict[str, str]  # held-out id -> the project sample it copies
    seed: int

    def __call__(self, project: Any, client: Any, studio_project_id: int, cycle: int) -> Any:
        from relabel.demo.reviewers import Crowd, confusable_classes, simulate_reviews

        looks_like = confusable_classes(project)
        looks_like.update({h: looks_like[s] for h, s in self.copies.items() if s in looks_like})
        crowd = Crowd(
            accuracy=ACCURACY,
            reviewers=len(ACCURACY),
            answers_per_task=len(ACCURACY),
            skip_rate=0.0,
            confusable=looks_like,
            overlaps=project.store.task_overlaps(studio_project_id),
        )
        return simulate_reviews(
            client, studio_project_id, self.truth, seed=self.seed + cycle, crowd=crowd
        )


def _base_project(workdir: Path, seed: int, epochs: int | None) -> tuple[Path, dict, dict]:
    """The noisy digits project with a held-out manifest, trained once (shared by arms)."""
    from relabel import config as config_mod
    from relabel.demo import digits as demo
    from relabel.project import Project

    base = workdir / "base"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    shutil.copy(DEMO_PROJECT / config_mod.CONFIG_FILE, base / config_mod.CONFIG_FILE)
    data = demo.write_digits(base / "data", noise=NOISE, seed=seed)
    truth_frame = pd.read_csv(data.truth, dtype=str, keep_default_na=False)
    truth = dict(zip(truth_frame["id"], truth_frame["label"], strict=True))
    copies = _write_holdout(base, truth, seed)
    truth.update({h: truth[s] for h, s in copies.items()})
    cfg = config_mod.load(base)
    review = replace(cfg.review, reviewers_per_task=len(ACCURACY))
    training = cfg.training if epochs is None else replace(cfg.training, epochs=epochs)
    dataset = replace(cfg.dataset, holdout="holdout/manifest.csv")
    config_mod.save(replace(cfg, review=review, training=training, dataset=dataset), base)
    Project.init(base)
    with Project.open(base) as project:
        project.train()
    return base, truth, copies


def _write_holdout(base: Path, truth: dict[str, str], seed: int) -> dict[str, str]:
    """Copies of ``HOLDOUT_SIZE`` digits images with their TRUE labels, as a manifest."""
    import numpy as np

    manifest = pd.read_csv(base / "data" / "manifest.csv", dtype=str, keep_default_na=False)
    picked = manifest.iloc[np.sort(np.random.default_rng(seed).permutation(len(manifest)))]
    picked = picked.iloc[:HOLDOUT_SIZE]
    folder = base / "holdout"
    folder.mkdir()
    copies, rows = {}, []
    for r in picked.itertuples(index=False):
        held_id = f"held-{r.id}"
        target = folder / Path(r.path).name
        shutil.copy(base / "data" / r.path, target)
        copies[held_id] = r.id
        rows.append({"id": held_id, "path": target.name, "label": truth[r.id]})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return copies


def _cycle_figures(project: Any, truth: dict[str, str], cycle: int) -> dict[str, Any]:
    """The figures of one finished cycle, from the label store."""
    import json

    from relabel.demo.loop import noise_left

    store = project.store
    tasks = store.conn.execute(
        "SELECT task_id, evidence FROM tasks WHERE cycle = ? AND task_id IS NOT NULL", (cycle,)
    ).fetchall()
    gold = {int(t) for t, ev in tasks if "gold_label" in json.loads(ev)}
    every = {int(t) for t, _ in tasks}
    reviews = store.reviews()
    reviews = reviews[reviews["task_id"].isin(every - gold)]
    reviews = reviews.drop_duplicates("task_id", keep="last")
    resolved = reviews[reviews["outcome"].isin(["confirmed", "corrected"])]
    right = int((resolved["label"] == resolved["sample_id"].map(truth)).sum())
    changes = store.label_changes()
    written = changes[(changes["cycle"] == cycle) & (changes["status"] == "active")]
    corrected = int((reviews["outcome"] == "corrected").sum())
    answers = store.crowd_answers()
    n_answers = int((answers["task_id"].isin(every) & ~answers["cancelled"]).sum())
    noise, mislabelled = noise_left(project, truth)
    return {
        "cycle": cycle,
        "tasks": len(every),
        "gold_tasks": len(gold),
        "answers": n_answers,
        "resolved": len(resolved),
        "resolved_accuracy": right / len(resolved) if len(resolved) else None,
        "corrected": corrected,
        "right_corrections": int((written["label"] == written["sample_id"].map(truth)).sum()),
        "wrong_versions": int((written["label"] != written["sample_id"].map(truth)).sum()),
        "unresolved": int((reviews["outcome"] == "unresolved").sum()),
        "tasks_per_correction": len(every) / corrected if corrected else None,
        "answers_per_correction": n_answers / corrected if corrected else None,
        "noise_left": noise,
        "mislabeled_left": mislabelled,
    }


def run_arm(
    name: str,
    overrides: dict[str, Any],
    base: Path,
    workdir: Path,
    client: Any,
    reviewers: _Reviewers,
    *,
    cycles: int,
    progress: Progress,
) -> dict[str, Any]:
    """Copy the trained base project, set the arm's review keys, run the cycles."""
    from relabel import config as config_mod
    from relabel.demo.loop import noise_left
    from relabel.loop.cycle import run_cycle
    from relabel.project import Project

    target = workdir / name.replace(" ", "_").replace("%", "pct").replace(",", "")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target)
    cfg = config_mod.load(target)
    studio = replace(cfg.studio, title=f"relabel bench: {name} {secrets.token_hex(3)}")
    config_mod.save(replace(cfg, review=replace(cfg.review, **overrides), studio=studio), target)
    started = time.perf_counter()
    rows = []
    with Project.open(target) as project:
        initial = noise_left(project, reviewers.truth)[0]
        for _ in range(cycles):
            result = run_cycle(project, client, review=reviewers, progress=progress)
            if result.state != "done":
                progress(f"reviewers / {name}: cycle {result.cycle} {result.state}")
                rows.append({"cycle": result.cycle, "state": result.state})
                break
            rows.append(_cycle_figures(project, reviewers.truth, result.cycle))
    return {
        "arm": name,
        "review": {k: v for k, v in overrides.items()},
        "initial_noise": initial,
        "cycles": rows,
        "seconds": time.perf_counter() - started,
    }


def run(
    workdir: Path,
    *,
    cycles: int = 3,
    seed: int = 0,
    epochs: int | None = None,
    arms: dict[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every arm against one local Label Studio; see the module docstring."""
    from relabel.studio import server as server_mod
    from relabel.studio.client import StudioClient

    say = progress or (lambda m: log.info("%s", m))
    workdir.mkdir(parents=True, exist_ok=True)
    base, truth, copies = _base_project(workdir, seed, epochs)
    token = secrets.token_hex(20)
    shutil.rmtree(workdir / "studio", ignore_errors=True)
    local = server_mod.start_server(
        server_mod.default_venv(),
        workdir / "studio",
        username="bench@relabel.local",
        password=secrets.token_urlsafe(12),
        token=token,
        document_root=workdir.resolve(),
        timeout=240.0,
    )
    out: dict[str, Any] = {
        "dataset": "digits",
        "noise": NOISE,
        "seed": seed,
        "cycles": cycles,
        "accuracy": list(ACCURACY),
        "holdout": HOLDOUT_SIZE,
        "gold_fraction": GOLD_FRACTION,
        "arms": [],
    }
    try:
        with StudioClient(local.url, token) as client:
            reviewers = _Reviewers(truth, copies, seed)
            for name, overrides in (arms or ARMS).items():
                say(f"reviewers: arm {name}")
                out["arms"].append(
                    run_arm(
                        name,
                        overrides,
                        base,
                        workdir,
                        client,
                        reviewers,
                        cycles=cycles,
                        progress=say,
                    )
                )
    finally:
        local.stop()
    return out
