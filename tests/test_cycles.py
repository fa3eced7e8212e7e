"""Relabel cycles end to end against a REAL Label Studio (started by the test session).

* a cycle killed (SIGKILL) during its push and again during the apply of the pull, then
  re-run, ends with exactly the store and the Label Studio project of an uninterrupted
  cycle: the same label versions, one task per sample;
* ``--until pushed`` stops with exit code 3 (waiting); the next call resumes with the pull;
  ``relabel status`` shows the cycle history;
* a second ``relabel cycle`` on a locked project exits at once with code 5;
* ``relabel demo`` (README command one) runs to the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from relabel import demo
from relabel.cycle import project_lock
from relabel.errors import ExitCode
from relabel.project import Project
from relabel.studio.client import StudioClient

pytestmark = [pytest.mark.studio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "projects" / "digits" / "relabel.toml"
NOISE = "1>7:0.3,3>8:0.3,5>6:0.3"


def relabel(
    args: list[str], env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relabel.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


def studio_env(client: StudioClient, token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LABEL_STUDIO") and k != "RELABEL_FAILPOINT"}
    env.update(LABEL_STUDIO_URL=client.url, LABEL_STUDIO_API_KEY=token, **extra)
    return env


@pytest.fixture(scope="module")
def digits_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """400 noisy digits (manifest) and their true labels, shared by the projects below."""
    data = demo.write_digits(tmp_path_factory.mktemp("digits") / "data", noise=NOISE, seed=0)
    manifest = pd.read_csv(data.manifest, dtype=str).head(400)
    manifest.to_csv(data.manifest, index=False)
    return data.manifest, data.truth


def make_project(root: Path, manifest: Path, title: str, *, budget: int = 24) -> Path:
    """A small, fast copy of the bundled demo project (3 folds, 10 epochs of batches of 16:
    about 0.9 out-of-fold accuracy on 400 digits, enough to find most injected errors)."""
    project = root / title
    project.mkdir(parents=True)
    text = CONFIG.read_text()
    for old, new in (
        ('path = "data/manifest.csv"', f'path = "{manifest}"'),
        ("epochs = 15", "epochs = 10"),
        ("batch_size = 64", "batch_size = 16"),
        ("folds = 5", "folds = 3"),
        ("budget = 0.05", f"budget = {budget}"),
        ('title = "relabel demo: digits"', f'title = "relabel test: {title}"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
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
        sp = int(p.store.studio_project(client.url)["studio_project_id"])
    return {sid: len(ids) for sid, ids in client.list_task_sample_ids(sp).items()}


def store_tasks(project: Path) -> list[tuple]:
    with Project.open(project) as p:
        rows = p.store.conn.execute(
            "SELECT sample_id, state, outcome, cycle FROM tasks ORDER BY sample_id"
        ).fetchall()
    return [tuple(r) for r in rows]


def test_killed_cycle_ends_like_an_uninterrupted_one(
    tmp_path: Path, digits_data, studio_server, studio_client: StudioClient
) -> None:
    manifest, truth = digits_data
    env = studio_env(studio_client, studio_server.token)

    def cycle(project: Path) -> list[str]:
        return ["cycle", str(project), "--simulate-review", str(truth), "--yes"]

    straight = make_project(tmp_path, manifest, "straight")
    r = relabel(cycle(straight), env)
    assert r.returncode == 0, r.stderr

    killed = make_project(tmp_path, manifest, "killed")
    args = cycle(killed)
    # SIGKILL right after Label Studio imported the tasks, before the store recorded them
    r = relabel(args, {**env, "RELABEL_FAILPOINT": "push:after_import"})
    assert r.returncode == -9, r.stderr
    assert {t[1] for t in store_tasks(killed)} == {"pending"}
    # SIGKILL in the pull, after the reviews were read, before they were applied
    r = relabel(args, {**env, "RELABEL_FAILPOINT": "apply:before_commit"})
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
    tmp_path: Path, digits_data, studio_server, studio_client: StudioClient
) -> None:
    manifest, truth = digits_data
    env = studio_env(studio_client, studio_server.token)
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
    row = next(line.split() for line in r.stdout.splitlines() if line.strip().startswith("1 "))
    assert row[1] == "done" and row[2] == "12"
    with Project.open(project) as p:
        history = p.status()["cycles"]
    assert [c["cycle"] for c in history] == [1]
    c = history[0]
    assert c["reviewed"] + 0 <= 12 and c["corrected"] <= c["reviewed"]
    assert c["hit_rate"] == pytest.approx(
        (c["corrected"] + c["excluded"]) / c["reviewed"] if c["reviewed"] else 0.0
    )
    assert set(c["step_seconds"]) == {"train", "select", "push", "pull", "retrain", "evaluate"}
    assert 0.0 < c["accuracy"] <= 1.0


def test_second_cycle_on_a_locked_project_exits_at_once(
    tmp_path: Path, digits_data, studio_server, studio_client: StudioClient
) -> None:
    manifest, _ = digits_data
    env = studio_env(studio_client, studio_server.token)
    project = make_project(tmp_path, manifest, "locked")
    with project_lock(project):
        started = time.monotonic()
        r = relabel(["cycle", str(project), "--yes"], env)
        elapsed = time.monotonic() - started
    assert r.returncode == int(ExitCode.LOCKED) == 5, r.stderr
    assert "another relabel process" in r.stderr
    assert elapsed < 30  # no training, no Label Studio call: it gave up at once
    with Project.open(project) as p:
        assert p.store.conn.execute("SELECT COUNT(*) FROM cycles").fetchone()[0] == 0


def test_demo_command_runs_to_the_end(tmp_path: Path) -> None:
    """README command one's entry point, `relabel demo`, on a copy of the bundled project."""
    project = tmp_path / "digits"
    project.mkdir()
    (project / "relabel.toml").write_text(CONFIG.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO")}
    r = relabel(["demo", "--project", str(project), "--studio-dir", str(tmp_path / "ls")],
                env, timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    lines = [line.split() for line in r.stdout.splitlines()]
    cycles = [row for row in lines if row and row[0] in {"1", "2", "3"}]
    assert [row[0] for row in cycles] == ["1", "2", "3"]
    noise = [float(row[4].rstrip("%")) for row in cycles]
    initial = next(line for line in r.stdout.splitlines() if line.startswith("initial noise"))
    start = float(initial.split()[2].rstrip("%;"))
    assert start > 8.0  # 30% of three classes of ten
    assert noise[0] < start and noise[-1] < noise[0]
    assert noise[-1] < start / 2
    assert (project / "report" / "report.html").is_file()
    assert not (tmp_path / "ls" / "relabel-studio.pid").exists()  # the demo stopped its server
