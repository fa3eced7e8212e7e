"""Review yield: cycles of simulated review at a fixed budget, relabel's ranking vs random.

Two arms on the digits with the demo's class-pair noise, the same budget (the project's
``review.budget``, 5%), the same simulated reviewers and the same training settings:

* **relabel** -- :func:`relabel.demo.loop.run_demo`: a real local Label Studio; each cycle
  trains, selects the top of relabel's ranking, pushes tasks, lets simulated reviewers
  answer through the Label Studio API, pulls and resolves the answers into the label store
  and retrains.
* **random** -- offline (no Label Studio): each cycle picks as many samples as the relabel
  arm sent to review in that cycle (the budget when that arm did not run), uniformly at
  random among the samples not reviewed yet, answers them with the very same simulated reviewers
  (:func:`relabel.demo.reviewers.simulated_answer`, same seeds, accuracy, reviewers and
  skip rate), resolves the votes with :func:`relabel.review.majority.resolve` and retrains with
  the same settings.

Per cycle: reviewed (resolved tasks), corrected, hit rate (corrected or excluded over
reviewed), noise left (share of labels that differ from the truth) and the out-of-fold
accuracy against the TRUE labels of the model retrained after the cycle.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.datasets import REPO_ROOT, BenchDataset
from benchmarks.detection import TrainPlan, train_oof
from relabel import config as config_mod
from relabel.data.noise_injection import inject_noise

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
DEMO_PROJECT = REPO_ROOT / "projects" / "digits"
#: The simulated reviewers of BOTH arms (passed to each explicitly, and recorded).
REVIEWERS: dict[str, Any] = {"reviewers": 2, "accuracy": 0.95, "skip_rate": 0.05}


class StudioUnavailableError(RuntimeError):
    """No Label Studio server venv to run the relabel arm with."""


def _prepare_project(project_dir: Path, epochs: int | None) -> config_mod.Config:
    """Copy the bundled digits project's relabel.toml, optionally with fewer epochs."""
    if project_dir.exists():
        shutil.rmtree(project_dir)
    project_dir.mkdir(parents=True)
    shutil.copy(DEMO_PROJECT / config_mod.CONFIG_FILE, project_dir / config_mod.CONFIG_FILE)
    cfg = config_mod.load(project_dir)
    if epochs is not None:
        cfg = replace(cfg, training=replace(cfg.training, epochs=epochs))
        config_mod.save(cfg, project_dir)
    return cfg


def _runs_accuracy(project_dir: Path, truth: dict[str, str]) -> list[float]:
    """OOF accuracy against the true labels of every training run, oldest first."""
    out = []
    for run in sorted((project_dir / "runs").glob("*/oof.npz")):
        with np.load(run) as z:
            ids = z["sample_ids"].astype(str)
            classes = z["classes"].astype(str)
            pred = classes[z["probs"].argmax(axis=1)]
        out.append(float(np.mean([pred[i] == truth[s] for i, s in enumerate(ids)])))
    return out


def _sent_per_cycle(project_dir: Path) -> dict[int, int]:
    """Samples sent to review in each cycle, from the project's label store."""
    from relabel.project import Project

    with Project.open(project_dir) as project:
        rows = project.store.conn.execute(
            "SELECT cycle, COUNT(*) FROM tasks WHERE cycle IS NOT NULL GROUP BY cycle"
        ).fetchall()
    return {int(c): int(n) for c, n in rows}


def relabel_arm(
    ds: BenchDataset,
    workdir: Path,
    *,
    cycles: int,
    noise: str,
    seed: int,
    epochs: int | None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Cycles through a real local Label Studio with relabel's ranking (run_demo).

    Raises
    ------
    StudioUnavailableError
        No Label Studio server is installed in the server venv (``RELABEL_STUDIO_VENV``);
        nothing is installed here.
    """
    from relabel.demo.loop import run_demo
    from relabel.studio import server

    venv = server.default_venv()
    if server.installed_version(venv) is None:
        raise StudioUnavailableError(
            f"no Label Studio server in {venv} (set RELABEL_STUDIO_VENV, or run: make studio)"
        )
    project_dir = workdir / "relabel-arm"
    cfg = _prepare_project(project_dir, epochs)
    # run_demo makes a new admin token each run, and Label Studio creates the admin and
    # its token on the first start of a data folder only: always start from a fresh one.
    shutil.rmtree(workdir / "studio", ignore_errors=True)
    started = time.perf_counter()
    result = run_demo(
        project_dir,
        cycles=cycles,
        noise=noise,
        seed=seed,
        simulate=True,
        studio_dir=workdir / "studio",
        progress=progress,
        **REVIEWERS,
    )
    truth = {sid: ds.classes[int(t)] for sid, t in zip(ds.ids, ds.labels, strict=True)}
    accuracy_true = _runs_accuracy(project_dir, truth)
    sent = _sent_per_cycle(project_dir)
    rows = []
    for i, c in enumerate(result.cycles):
        rows.append(
            {
                "cycle": c.cycle,
                "sent": sent.get(c.cycle, 0),
                "reviewed": c.reviewed,
                "corrected": c.corrected,
                "hit_rate": c.hit_rate,
                "noise_left": c.noise_left,
                "mislabeled_left": c.mislabeled_left,
                "accuracy_true": accuracy_true[i + 1] if i + 1 < len(accuracy_true) else None,
                "accuracy_given": c.accuracy,
                "estimated_errors_left": c.estimated_errors_left,
                "seconds": c.seconds,
            }
        )
    return {
        "arm": "relabel ranking, real Label Studio (run_demo)",
        "budget": cfg.budget_count(ds.n),
        "epochs": cfg.training.epochs,
        "initial_noise": result.initial_noise,
        "initial_accuracy_true": accuracy_true[0] if accuracy_true else None,
        "cycles": rows,
        "seconds": time.perf_counter() - started,
    }


def random_arm(
    ds: BenchDataset,
    workdir: Path,
    *,
    cycles: int,
    noise: str,
    seed: int,
    epochs: int,
    budget: int,
    per_cycle: list[int] | None = None,
    accuracy: float = 0.95,
    reviewers: int = 2,
    skip_rate: float = 0.05,
    min_agreement: float = 0.5,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Cycles of random review with the same simulated reviewers, offline.

    ``per_cycle`` gives the number of samples to send in each cycle (the relabel arm's own
    counts, which can be below the budget); by default the full ``budget``.
    """
    from relabel.demo.reviewers import simulated_answer
    from relabel.review.majority import NOT_VALID, Vote, resolve

    say = progress or (lambda m: log.info("%s", m))
    started = time.perf_counter()
    classes = list(ds.classes)
    choices = [*classes, NOT_VALID]
    truth = ds.labels
    current = inject_noise(truth, noise, len(classes), seed=seed)
    initial_noise = float(np.mean(current != truth))
    rng = np.random.default_rng(seed)
    done = np.zeros(ds.n, dtype=bool)  # reviewed (resolved or not): never picked again
    plan = TrainPlan(epochs=epochs)
    rows = []
    for cycle in range(1, cycles + 1):
        pool = np.flatnonzero(~done)
        want = per_cycle[cycle - 1] if per_cycle and cycle <= len(per_cycle) else budget
        picked = rng.choice(pool, size=min(want, pool.size), replace=False)
        done[picked] = True
        counts = {"confirmed": 0, "corrected": 0, "excluded": 0, "unresolved": 0}
        for i in picked:
            votes = [
                Vote(k, f"reviewer-{k}", answer, cancelled=answer is None)
                for k in range(1, reviewers + 1)
                for answer in [
                    simulated_answer(
                        seed + cycle,
                        ds.ids[i],
                        k,
                        classes[int(truth[i])],
                        choices,
                        accuracy=accuracy,
                        skip_rate=skip_rate,
                    )
                ]
            ]
            r = resolve(votes, classes=classes, min_agreement=min_agreement)
            if r.outcome == "label":
                new = classes.index(r.label)
                if new != current[i]:
                    current[i] = new
                    counts["corrected"] += 1
                else:
                    counts["confirmed"] += 1
            else:
                counts[r.outcome] += 1
        reviewed = counts["confirmed"] + counts["corrected"] + counts["excluded"]
        say(f"review yield / random / cycle {cycle}: retraining")
        probs, info = train_oof(ds, current, plan, workdir / f"random-cycle{cycle}")
        rows.append(
            {
                "cycle": cycle,
                "sent": int(picked.size),
                "reviewed": reviewed,
                "corrected": counts["corrected"],
                "excluded": counts["excluded"],
                "unresolved": counts["unresolved"],
                "hit_rate": (counts["corrected"] + counts["excluded"]) / reviewed
                if reviewed
                else 0.0,
                "noise_left": float(np.mean(current != truth)),
                "mislabeled_left": int(np.sum(current != truth)),
                "accuracy_true": float(np.mean(probs.argmax(axis=1) == truth)),
                "accuracy_given": float(info["oof_accuracy"]),
                "seconds": float(info["seconds"]),
            }
        )
    return {
        "arm": "random order, offline simulation (same reviewers, budget and training)",
        "budget": budget,
        "epochs": epochs,
        "initial_noise": initial_noise,
        "cycles": rows,
        "seconds": time.perf_counter() - started,
    }


def run(
    ds: BenchDataset,
    workdir: Path,
    *,
    cycles: int = 3,
    noise: str = "1>7:0.3,3>8:0.3,5>6:0.3",
    seed: int = 0,
    epochs: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Both arms; the random arm uses the relabel arm's budget and epochs.

    The relabel arm's failure (no Label Studio, or an error in relabel) is recorded in
    ``relabel_error`` and the random arm still runs.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"dataset": ds.name, "noise": noise, "seed": seed, "cycles": cycles}
    cfg = _prepare_project(workdir / "config-probe", epochs)
    budget, n_epochs = cfg.budget_count(ds.n), cfg.training.epochs
    out["budget"] = budget
    out["budget_fraction"] = cfg.review.budget
    out["epochs"] = n_epochs
    out["reviewers"] = {**REVIEWERS, "min_agreement": cfg.review.min_agreement}
    out["selection"] = {"lane": cfg.review.lane, "fill_budget": cfg.review.fill_budget}
    try:
        out["relabel"] = relabel_arm(
            ds, workdir, cycles=cycles, noise=noise, seed=seed, epochs=epochs, progress=progress
        )
    except Exception as exc:  # report it; the table says what failed
        log.exception("review yield: the relabel arm failed")
        out["relabel_error"] = f"{type(exc).__name__}: {exc}"
    matched = None
    if "relabel" in out:
        matched = [c["sent"] for c in out["relabel"]["cycles"]]
    out["random"] = random_arm(
        ds,
        workdir,
        cycles=cycles,
        noise=noise,
        seed=seed,
        epochs=n_epochs,
        budget=budget,
        per_cycle=matched,
        min_agreement=cfg.review.min_agreement,
        progress=progress,
        **REVIEWERS,
    )
    out["random_matched"] = matched is not None
    return out
