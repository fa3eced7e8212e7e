"""The Label Studio round trip against a REAL server (started by the test session).

push -> two reviewers answer (agree, disagree, skip, "Not sure", not valid, edit after a
pull) -> pull -> the store holds exactly the expected label versions; re-push and re-pull
change nothing; a push killed between batches and re-run leaves one task per sample;
server errors change nothing; the token never reaches a file or a log line.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from relabel.errors import (
    StudioAuthError,
    StudioConfigMismatchError,
    StudioProjectMissingError,
    StudioUnreachableError,
)
from relabel.loop.pull import pull
from relabel.loop.push import push
from relabel.project import Project
from relabel.project.runs import settings_dict
from relabel.review.majority import NOT_SURE, NOT_VALID
from relabel.store import now
from relabel.studio.client import StudioClient
from tests.clirun import Ran, relabel_in_process, relabel_subprocess
from tests.imagefiles import write_png

CLASSES = ["cat", "dog", "fox"]


def make_project(root: Path, n: int, *, budget: int, probs: np.ndarray | None = None) -> Path:
    """A project of ``n`` small PNGs with a training run whose OOF probabilities we choose.

    The run is written the way :meth:`Project.train` writes one, so the round trip is tested
    without training a model (training has its own tests).
    """
    lines = ["id,path,label"]
    for i in range(n):
        write_png(root / "img" / f"{i:03d}.png", i)
        lines.append(f"s{i:03d},img/{i:03d}.png,{CLASSES[i % 3]}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    project = root / "proj"
    Project.init(project, manifest=root / "manifest.csv", folds=2)
    text = (project / "relabel.toml").read_text()
    text = text.replace('lane = "label_issue"', 'lane = "all"')
    text = text.replace("budget = 0.05", f"budget = {budget}")
    (project / "relabel.toml").write_text(text)
    with Project.open(project) as p:
        samples = p.active_samples()
        if probs is None:
            rng = np.random.default_rng(0)
            probs = rng.dirichlet(np.ones(3), size=n).astype(np.float32)
        run_id = "test-run"
        run_dir = project / "runs" / run_id
        run_dir.mkdir(parents=True)
        np.savez_compressed(
            run_dir / "oof.npz",
            sample_ids=samples["sample_id"].to_numpy(dtype=str),
            labels=p.label_indices(samples["label"]),
            probs=probs,
            classes=np.asarray(CLASSES, dtype=str),
        )
        p.store.start_run(run_id, "train", settings_dict(p.config), None)
        p.store.finish_run(run_id, {"oof_accuracy": 0.5, "at": now()})
    return project


def versions(project: Path) -> list[tuple[str, str, str, str]]:
    with Project.open(project) as p:
        rows = p.store.conn.execute(
            "SELECT sample_id, label, status, source FROM label_versions "
            "WHERE source != 'original' ORDER BY sample_id, version_id"
        ).fetchall()
    return [tuple(r) for r in rows]


def task_map(project: Path) -> dict[str, int]:
    with Project.open(project) as p:
        rows = p.store.conn.execute(
            "SELECT sample_id, task_id FROM tasks WHERE task_id IS NOT NULL"
        ).fetchall()
    return {r[0]: r[1] for r in rows}


@pytest.fixture
def reviewers(studio_client: StudioClient) -> dict[str, int]:
    return {
        name: studio_client.ensure_user(f"{name}@relabel.test") for name in ("ann", "bob", "cid")
    }


def annotate(client: StudioClient, task: int, user: int, choice: str | None) -> int:
    if choice is None:
        return client.create_annotation(task, None, user, was_cancelled=True)
    return client.create_annotation(task, choice, user)


def test_round_trip(tmp_path: Path, studio_client: StudioClient, reviewers: dict[str, int]) -> None:
    project = make_project(tmp_path, 6, budget=6)
    with Project.open(project) as p:
        summary = push(p, studio_client)
        assert summary.pushed == 6
        sp = summary.studio_project_id
    tasks = task_map(project)
    assert sorted(tasks) == [f"s{i:03d}" for i in range(6)]
    # one task per sample in Label Studio, with relabel's fields in the task data
    assert {k: len(v) for k, v in studio_client.list_task_sample_ids(sp).items()} == dict.fromkeys(
        tasks, 1
    )
    data = studio_client.get_task(tasks["s000"])["data"]
    assert data["sample_id"] == "s000" and data["given_label"] == "cat"
    assert {"predicted_label", "suspicion", "rank", "cycle"} <= set(data)

    ann, bob, cid = reviewers["ann"], reviewers["bob"], reviewers["cid"]
    c = studio_client
    # s000 (cat): both say dog -> corrected
    annotate(c, tasks["s000"], ann, "dog")
    annotate(c, tasks["s000"], bob, "dog")
    # s001 (dog): both confirm -> confirmed; later edited
    a1 = annotate(c, tasks["s001"], ann, "dog")
    a2 = annotate(c, tasks["s001"], bob, "dog")
    # s002 (fox): disagree -> unresolved, stays open
    annotate(c, tasks["s002"], ann, "cat")
    annotate(c, tasks["s002"], bob, "dog")
    # s003 (cat): ann skips, bob says fox -> corrected to fox (skips are not votes)
    annotate(c, tasks["s003"], ann, None)
    annotate(c, tasks["s003"], bob, "fox")
    # s004 (dog): not sure -> unresolved
    annotate(c, tasks["s004"], ann, NOT_SURE)
    # s005 (fox): not a valid image -> excluded
    annotate(c, tasks["s005"], ann, NOT_VALID)
    annotate(c, tasks["s005"], bob, NOT_VALID)

    with Project.open(project) as p:
        s = pull(p, studio_client)
    assert (s.reviewed, s.confirmed, s.corrected, s.excluded, s.unresolved) == (4, 1, 2, 1, 2)
    assert s.corrections == {"cat>dog": 1, "cat>fox": 1}
    expected = [
        ("s000", "dog", "active", "review"),
        ("s003", "fox", "active", "review"),
        ("s005", "fox", "excluded", "review"),
    ]
    assert versions(project) == expected

    # provenance: reviewers, task and annotation ids, cycle
    with Project.open(project) as p:
        hist = p.store.history("s000")
    assert [h.label for h in hist] == ["cat", "dog"]
    assert hist[1].reviewers == ["ann@relabel.test", "bob@relabel.test"]
    assert hist[1].evidence["task_id"] == tasks["s000"]
    assert len(hist[1].evidence["annotation_ids"]) == 2
    assert hist[1].evidence["votes"] == {"dog": 2}

    # a second pull changes nothing
    with Project.open(project) as p:
        again = pull(p, studio_client)
    assert again.reviewed == again.unresolved == 0
    assert versions(project) == expected

    # a re-push sends nothing: every sample is open or reviewed since its last change
    with Project.open(project) as p:
        repush = push(p, studio_client)
    assert repush.pushed == 0
    assert task_map(project) == tasks
    assert {k: len(v) for k, v in studio_client.list_task_sample_ids(sp).items()} == dict.fromkeys(
        tasks, 1
    )

    # edits after the pull: s001 both now say fox -> a new version; a third reviewer
    # settles s002 (2 dog : 1 cat) -> corrected
    studio_client.update_annotation(a1, "fox")
    studio_client.update_annotation(a2, "fox")
    annotate(c, tasks["s002"], cid, "dog")
    with Project.open(project) as p:
        s = pull(p, studio_client)
    assert (s.reviewed, s.corrected) == (2, 2)
    assert versions(project) == sorted(
        [*expected, ("s001", "fox", "active", "review"), ("s002", "dog", "active", "review")]
    )
    with Project.open(project) as p:
        assert pull(p, studio_client).reviewed == 0
        labels = p.store.labels().set_index("sample_id")
    assert labels.loc["s001", "original_label"] == "dog"
    assert labels.loc["s001", "label"] == "fox"
    assert labels.loc["s004", "label"] == "dog"  # still open, unchanged


def relabel_cmd(args: list[str], env: dict[str, str]) -> Ran:
    """``relabel ARGS`` in this process (``env``: its whole environment)."""
    return relabel_in_process(args, env)


def relabel_killed(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``relabel ARGS`` as a child process, for a run that kills itself at a failpoint."""
    return relabel_subprocess(args, env)


def studio_env(client: StudioClient, token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO")}
    env.update(LABEL_STUDIO_URL=client.url, LABEL_STUDIO_API_KEY=token, **extra)
    return env


def test_killed_push_resumes_with_one_task_per_sample(
    tmp_path: Path, studio_server, studio_client: StudioClient
) -> None:
    project = make_project(tmp_path, 9, budget=9)
    env = studio_env(studio_client, studio_server.token)
    killed = relabel_killed(
        ["push", str(project), "--batch-size", "2"],
        {**env, "RELABEL_FAILPOINT": "push:after_import:2"},
    )
    assert killed.returncode == -9, killed.stderr  # SIGKILL after the 2nd batch's import
    with Project.open(project) as p:
        states = [r[0] for r in p.store.conn.execute("SELECT state FROM tasks")]
    assert states.count("open") == 2 and states.count("pending") == 2
    assert states.count("planned") == 5

    done = relabel_cmd(["push", str(project), "--batch-size", "2"], env)
    assert done.returncode == 0, done.stderr
    tasks = task_map(project)
    assert sorted(tasks) == [f"s{i:03d}" for i in range(9)]
    with Project.open(project) as p:
        sp = p.store.studio_project()["studio_project_id"]
        assert {r[0] for r in p.store.conn.execute("SELECT state FROM tasks")} == {"open"}
    in_studio = studio_client.list_task_sample_ids(sp)
    assert {k: len(v) for k, v in in_studio.items()} == dict.fromkeys(tasks, 1)
    assert {k: v[0] for k, v in in_studio.items()} == tasks


def test_killed_pull_applies_nothing_then_exactly_once(
    tmp_path: Path, studio_server, studio_client: StudioClient, reviewers: dict[str, int]
) -> None:
    project = make_project(tmp_path, 6, budget=6)
    env = studio_env(studio_client, studio_server.token)
    assert relabel_cmd(["push", str(project)], env).returncode == 0
    tasks = task_map(project)
    for sid in tasks:
        annotate(studio_client, tasks[sid], reviewers["ann"], "fox")
    killed = relabel_killed(
        ["pull", str(project)], {**env, "RELABEL_FAILPOINT": "apply:before_commit"}
    )
    assert killed.returncode == -9
    assert versions(project) == []
    assert relabel_cmd(["pull", str(project)], env).returncode == 0
    assert relabel_cmd(["pull", str(project)], env).returncode == 0
    assert versions(project) == [(f"s{i:03d}", "fox", "active", "review") for i in (0, 1, 3, 4)]


def one_retry(project: Path) -> None:
    """``studio.retries = 1``: a call to a closed port fails at once (the default 5 attempts
    wait 7.5 s; the retries have their own tests in ``tests/test_studio_client.py``)."""
    toml = project / "relabel.toml"
    assert "\nretries = 5\n" in toml.read_text()
    toml.write_text(toml.read_text().replace("\nretries = 5\n", "\nretries = 1\n"))


def snapshot(project: Path) -> bytes:
    with Project.open(project) as p:
        dump = "\n".join(p.store.conn.iterdump())
    return dump.encode()


def test_server_errors_change_nothing(
    tmp_path: Path, studio_server, studio_client: StudioClient
) -> None:
    from label_studio_sdk import LabelStudio

    from relabel.studio.labeling import build_label_config

    project = make_project(tmp_path, 6, budget=6)
    one_retry(project)
    env = studio_env(studio_client, studio_server.token)
    assert relabel_cmd(["push", str(project)], env).returncode == 0
    before = snapshot(project)

    # unreachable server
    with Project.open(project) as p, pytest.raises(StudioUnreachableError):
        pull(p, StudioClient("http://127.0.0.1:9", "x" * 40, retries=1, backoff=0.01))
    r = relabel_cmd(["pull", str(project)], {**env, "LABEL_STUDIO_URL": "http://127.0.0.1:9"})
    assert r.returncode == 7 and "unreachable" in r.stderr
    # wrong token
    r = relabel_cmd(["push", str(project)], {**env, "LABEL_STUDIO_API_KEY": "wrong-token-123"})
    assert r.returncode == 7, r.stderr
    with Project.open(project) as p, pytest.raises(StudioAuthError):
        pull(p, StudioClient(studio_client.url, "wrong-token-123", retries=1))
    assert snapshot(project) == before

    # the class list changed behind relabel's back
    with Project.open(project) as p:
        sp = int(p.store.studio_project()["studio_project_id"])
    sdk = LabelStudio(base_url=studio_client.url, api_key=studio_server.token)
    sdk.projects.update(id=sp, label_config=build_label_config(["cat", "dog", "wolf"]))
    with Project.open(project) as p, pytest.raises(StudioConfigMismatchError, match="wolf"):
        pull(p, studio_client)
    r = relabel_cmd(["push", str(project)], env)
    assert r.returncode == 7 and "classes" in r.stderr
    assert snapshot(project) == before

    # the project was deleted
    studio_client.delete_project(sp)
    with Project.open(project) as p, pytest.raises(StudioProjectMissingError):
        pull(p, studio_client)
    r = relabel_cmd(["push", str(project)], env)
    assert r.returncode == 7 and "deleted" in r.stderr.lower()
    assert snapshot(project) == before


def test_token_never_reaches_files_or_logs(
    tmp_path: Path, studio_server, studio_client: StudioClient, reviewers: dict[str, int]
) -> None:
    token = studio_server.token
    project = make_project(tmp_path, 6, budget=6)
    one_retry(project)
    env = studio_env(studio_client, token)
    outputs = []
    for args in (["-vv", "push", str(project)], ["-vv", "status", str(project)]):
        r = relabel_cmd(args, env)
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout + r.stderr)
    for sid, task in task_map(project).items():
        annotate(studio_client, task, reviewers["ann"], "cat")
        del sid
    for args in (
        ["-vv", "pull", str(project)],
        ["-vv", "export", str(project), "--out", str(project / "export.csv")],
    ):
        r = relabel_cmd(args, env)
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout + r.stderr)
    # failures print messages too: they must not carry the token either
    r = relabel_cmd(
        ["-vv", "pull", str(project)], {**env, "LABEL_STUDIO_URL": "http://127.0.0.1:9"}
    )
    outputs.append(r.stdout + r.stderr)
    assert any("Label Studio" in o or "push" in o for o in outputs)
    for out in outputs:
        assert token not in out
    for file in project.rglob("*"):
        if file.is_file():
            assert token.encode() not in file.read_bytes(), file
    assert json.dumps(token) not in (project / "relabel.toml").read_text()
