"""Relabel cycles end to end against a REAL Label Studio (started by the test session).

* a cycle killed (SIGKILL) during its push and again during the apply of the pull, then
  re-run, ends with exactly the store and the Label Studio project of an uninterrupted
  cycle: the same label versions, one task per sample;
* ``--until pushed`` stops with exit code 3 (waiting); the next call resumes with the pull;
  ``relabel status`` shows the cycle history;
* a second ``relabel cycle`` on a locked project exits at once with code 5 (fast tier:
  nothing trained, Label Studio not called);
* ``relabel demo`` (README command one) runs to the end on the session's server.

The commands run in this process (``tests/clirun.py``), but for those killed at a
failpoint, which run as child processes.

Plumbing, not quality: every project here is trained by the test engine
(``tests/engine.py``: a logistic regression per fold, no TensorFlow), in this process and
in the killed children (``RELABEL_ENGINE`` in their environment); Keras training is
tested by ``tests/test_training.py``, and the review yield of the real demo settings is
measured by the benchmarks.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from relabel.demo import digits as demo
from relabel.errors import ExitCode
from relabel.infra.lock import project_lock
from relabel.project import Project
from relabel.studio.client import StudioClient
from tests.clirun import Ran, relabel_in_process, relabel_subprocess
from tests.engine import SPEC as TEST_ENGINE

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "projects" / "digits" / "relabel.toml"
NOISE = "1>7:0.3,3>8:0.3,5>6:0.3"


def relabel(args: list[str], env: dict[str, str]) -> Ran:
    """``relabel ARGS`` in this process (``env``: its whole environment)."""
    return relabel_in_process(args, env, cwd=ROOT)


def relabel_killed(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``relabel ARGS`` as a child process, for a run that kills itself at a failpoint."""
    return relabel_subprocess(args, env, cwd=ROOT, timeout=900)


def tiny(text: str, **changes: str) -> str:
    """The bundled demo config with a tiny model (8x8, 2 folds, 2 epochs) and ``changes``."""
    for old, new in (
        ("image_size = [16, 16]", "image_size = [8, 8]"),
        ("epochs = 15", "epochs = 2"),
        ("batch_size = 64", "batch_size = 32"),
        ("folds = 5", "folds = 2"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def env(studio_server, studio_client: StudioClient) -> dict[str, str]:
    """The whole environment of a ``relabel`` run (in process or a child): the session's
    Label Studio, the test engine, and Keras' training refused (the guard of
    ``tests/conftest.py``, which children inherit from here)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO", "RELABEL_"))}
    out.update(
        LABEL_STUDIO_URL=studio_client.url,
        LABEL_STUDIO_API_KEY=studio_server.token,
        RELABEL_ENGINE=TEST_ENGINE,
        RELABEL_REFUSE="training",
        PYTHONHASHSEED="0",
    )
    return out


@pytest.fixture(scope="module")
def digits_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """400 noisy digits (manifest) and their true labels, shared by the projects below."""
    data = demo.write_digits(tmp_path_factory.mktemp("digits") / "data", noise=NOISE, seed=0)
    manifest = pd.read_csv(data.manifest, dtype=str).head(400)
    manifest.to_csv(data.manifest, index=False)
    return data.manifest, data.truth


def make_project(root: Path, manifest: Path, title: str, *, budget: int = 24) -> Path:
    """A copy of the bundled demo project on ``manifest`` (400 images) with a tiny model
    (trained by the test engine here; the config stays one Keras could train quickly)."""
    project = root / title
    project.mkdir(parents=True)
    text = tiny(
        CONFIG.read_text(),
        **{
            'path = "data/manifest.csv"': f'path = "{manifest}"',
            "budget = 0.05": f"budget = {budget}",
            'title = "relabel demo: digits"': f'title = "relabel test: {title}"',
        },
    )
    (project / "relabel.toml").write_text(text)
    Project.init(project)
    return project


def label_versions(project: Path) -> list[tuple]:
    """Every label version but its time and annotation ids (which differ between servers)."""
    with Project.open(project) as p:
        rows = p.store.conn.execute(
            "SELECT sample_id, label, status, source, cycle, reviewers FROM label_versions "
            "ORDER BY sample_id, version_id"
        ).fetchall()
    return [tuple(r) for r in rows]


def studio_tasks(project: Path, client: StudioClient) -> dict[str, int]:
    """sample_id -> number of tasks in the Label Studio project (must all be 1)."""
    with Project.open(project) as p:
        sp = int(p.store.studio_project()["studio_project_id"])
    return {sid: len(ids) for sid, ids in client.list_task_sample_ids(sp).items()}


def store_tasks(project: Path) -> list[tuple]:
    with Project.open(project) as p:
        rows = p.store.conn.execute(
            "SELECT sample_id, state, outcome, cycle FROM tasks ORDER BY sample_id"
        ).fetchall()
    return [tuple(r) for r in rows]


def test_killed_cycle_ends_like_an_uninterrupted_one(
    tmp_path: Path, digits_data, env: dict[str, str], studio_client: StudioClient
) -> None:
    manifest, truth = digits_data

    def cycle(project: Path) -> list[str]:
        return ["cycle", str(project), "--simulate-review", str(truth)]

    straight = make_project(tmp_path, manifest, "straight")
    r = relabel(cycle(straight), env)
    assert r.returncode == 0, r.stderr

    killed = make_project(tmp_path, manifest, "killed")
    args = cycle(killed)
    # SIGKILL right after Label Studio imported the tasks, before the store recorded them
    r = relabel_killed(args, {**env, "RELABEL_FAILPOINT": "push:after_import"})
    assert r.returncode == -9, r.stderr
    assert {t[1] for t in store_tasks(killed)} == {"pending"}
    # SIGKILL in the pull, after the reviews were read, before they were applied
    r = relabel_killed(args, {**env, "RELABEL_FAILPOINT": "apply:before_commit"})
    assert r.returncode == -9, r.stderr
    assert all(v[3] == "original" for v in label_versions(killed))
    r = relabel(args, env)
    assert r.returncode == 0, r.stderr
    assert store_tasks(killed) == store_tasks(straight)

    expected = label_versions(straight)
    assert any(v[3] == "review" for v in expected)  # the cycle did change labels
    assert label_versions(killed) == expected
    assert studio_tasks(killed, studio_client) == studio_tasks(straight, studio_client)
    assert set(studio_tasks(killed, studio_client).values()) == {1}
    assert len(studio_tasks(killed, studio_client)) == 24


def test_until_pushed_waits_then_resumes_and_status_shows_history(
    tmp_path: Path, digits_data, env: dict[str, str], studio_client: StudioClient
) -> None:
    manifest, truth = digits_data
    project = make_project(tmp_path, manifest, "waiting", budget=12)

    r = relabel(["cycle", str(project), "--until", "pushed"], env)
    assert r.returncode == int(ExitCode.WAITING) == 3, r.stderr
    assert "waiting" in r.stdout
    # nobody reviewed yet: the next call pulls, finds nothing new and still waits
    r = relabel(["cycle", str(project), "--min-reviews", "1"], env)
    assert r.returncode == 3, r.stderr
    assert len(studio_tasks(project, studio_client)) == 12

    r = relabel(["cycle", str(project), "--simulate-review", str(truth)], env)
    assert r.returncode == 0, r.stderr
    assert "cycle 1: done" in r.stdout

    r = relabel(["status", str(project)], env)
    assert r.returncode == 0, r.stderr
    assert "cycles:" in r.stdout and "hit rate" in r.stdout
    lines = r.stdout.splitlines()
    # cycle 1's row of the table under "cycles:" (a line above may start with "1 " too)
    table = lines[lines.index("cycles:") + 2 :]
    row = next(line.split() for line in table if line.strip().startswith("1 "))
    assert row[1] == "done" and row[2] == "12"
    with Project.open(project) as p:
        history = p.status()["cycles"]
    assert [c["cycle"] for c in history] == [1]
    c = history[0]
    # the history's counts are those of the 12 tasks in the store, each with an outcome
    outcomes = Counter(t[2] for t in store_tasks(project) if t[3] == 1)
    assert sum(outcomes.values()) == 12, outcomes
    resolved = outcomes["confirmed"] + outcomes["corrected"] + outcomes["excluded"]
    assert c["reviewed"] == resolved == 12 - outcomes["unresolved"]
    assert c["reviewed"] > 0  # two reviewers of 95 % agree on most tasks
    assert (c["corrected"], c["excluded"]) == (outcomes["corrected"], outcomes["excluded"])
    # ... and each correction or exclusion is one new label version of cycle 1
    made = Counter(v[2] for v in label_versions(project) if v[3] == "review" and v[4] == 1)
    assert (made["active"], made["excluded"]) == (c["corrected"], c["excluded"])
    assert c["hit_rate"] == pytest.approx((c["corrected"] + c["excluded"]) / c["reviewed"])
    assert set(c["step_seconds"]) == {"train", "select", "push", "pull", "retrain", "evaluate"}
    assert 0.0 < c["accuracy"] <= 1.0


def test_second_cycle_on_a_locked_project_exits_at_once(tmp_path: Path, digits_data) -> None:
    """Fast tier: the lock is checked before anything else. No training (conftest's guard
    fails a test that trains without the ``trains`` fixture; no test engine either), no
    Label Studio call (its URL is a closed port: a call would exit 7 instead), nothing
    recorded."""
    manifest, _ = digits_data
    project = make_project(tmp_path, manifest, "locked")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO", "RELABEL"))}
    env.update(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="x" * 40)
    with project_lock(project):
        r = relabel(["cycle", str(project)], env)
    assert r.returncode == int(ExitCode.LOCKED) == 5, r.stderr
    assert "another relabel process" in r.stderr
    with Project.open(project) as p:
        for table in ("cycles", "runs", "tasks", "studio_projects"):
            assert p.store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    assert not (project / "runs").exists() or not any((project / "runs").iterdir())


def test_demo_command_runs_to_the_end(tmp_path: Path, env: dict[str, str]) -> None:
    """README command one's entry point, `relabel demo`, on the session's Label Studio
    (``--studio-url``, token from the environment), trained by the test engine."""
    project = tmp_path / "digits"
    project.mkdir()
    # 30 reviews a cycle instead of 5 % (90): enough to see the noise fall every cycle
    (project / "relabel.toml").write_text(
        tiny(CONFIG.read_text(), **{"budget = 0.05": "budget = 30"})
    )
    r = relabel(
        [
            "demo",
            "--project",
            str(project),
            "--cycles",
            "2",
            "--studio-url",
            env["LABEL_STUDIO_URL"],
        ],
        env,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    lines = [line.split() for line in r.stdout.splitlines()]
    cycles = [row for row in lines if row and row[0] in {"1", "2"}]
    assert [row[0] for row in cycles] == ["1", "2"]
    noise = [float(row[4].rstrip("%")) for row in cycles]
    initial = next(line for line in r.stdout.splitlines() if line.startswith("initial noise"))
    start = float(initial.split()[2].rstrip("%;"))
    assert start > 8.0  # 30% of three classes of ten
    assert start > noise[0] > noise[1]  # every cycle corrected labels
    assert (project / "report" / "report.html").is_file()
    assert "Label Studio keeps running" not in r.stdout  # an outside server is left alone
