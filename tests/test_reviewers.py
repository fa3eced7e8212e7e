"""Reviewers you can trust, against a REAL Label Studio (the test session's one server).

Overlap from ``review.reviewers_per_task``; a tie gets one more reviewer, once; gold tasks
(confirmed samples and held-out images) mixed into a push, indistinguishable in Label
Studio and never changing a label; Dawid-Skene consensus outvoting two careless reviewers
with a reviewer it learnt to trust; ``relabel annotators``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relabel.cli import main
from relabel.loop.pull import pull
from relabel.loop.push import push
from relabel.project import Project
from relabel.studio.client import StudioClient
from tests.imagefiles import write_png
from tests.test_roundtrip import annotate, make_project, task_map, versions

pytestmark = pytest.mark.studio


def _configure(project: Path, section: str = "review", **keys: object) -> None:
    """Set keys of one section of the project's relabel.toml."""
    text = (project / "relabel.toml").read_text()
    for key, value in keys.items():
        lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
        lines.insert(lines.index(f"[{section}]") + 1, f"{key} = {json.dumps(value)}")
        text = "\n".join(lines) + "\n"
    (project / "relabel.toml").write_text(text)


@pytest.fixture
def crowd(studio_client: StudioClient) -> dict[str, int]:
    return {n: studio_client.ensure_user(f"{n}@relabel.test") for n in ("ann", "bob", "cid", "dan")}


def test_overlap_ties_and_gold_from_confirmed_samples(
    tmp_path: Path, studio_client: StudioClient, crowd: dict[str, int]
) -> None:
    project = make_project(tmp_path, 12, budget=4)
    _configure(project, reviewers_per_task=2, gold_fraction=0.34)
    c, ann, bob, cid = studio_client, crowd["ann"], crowd["bob"], crowd["cid"]
    with Project.open(project) as p:
        first = push(p, c)
    tasks = task_map(project)
    assert first.pushed == 4
    assert {c.get_task(t)["overlap"] for t in tasks.values()} == {2}  # reviewers_per_task
    first_four = sorted(tasks)
    assert len(first_four) == 4  # no trusted label yet: no gold task
    # two agree on three samples (trusted now); a tie on the fourth
    for sid in first_four[:3]:
        label = c.get_task(tasks[sid])["data"]["given_label"]
        annotate(c, tasks[sid], ann, label)
        annotate(c, tasks[sid], bob, label)
    tie = first_four[3]
    annotate(c, tasks[tie], ann, "cat")
    annotate(c, tasks[tie], bob, "dog")
    with Project.open(project) as p:
        s = pull(p, c)
    assert (s.confirmed, s.unresolved, s.more_reviewers) == (3, 1, [tasks[tie]])
    assert c.get_task(tasks[tie])["overlap"] == 3  # one more reviewer, in Label Studio
    annotate(c, tasks[tie], cid, "fox")  # 1-1-1: still a tie after the extra reviewer
    with Project.open(project) as p:
        s = pull(p, c)
        state = p.store.conn.execute(
            "SELECT state, outcome FROM tasks WHERE task_id = ?", (tasks[tie],)
        ).fetchone()
    assert (s.unresolved, s.more_reviewers) == (1, [])  # asked once only
    assert tuple(state) == ("resolved", "unresolved")  # closed, not open forever

    # the next push mixes gold tasks (the three confirmed samples) into 4 regular ones
    with Project.open(project) as p:
        second = push(p, c)
        rows = p.store.conn.execute(
            "SELECT sample_id, task_id, evidence FROM tasks WHERE batch = "
            "(SELECT batch FROM tasks ORDER BY row_id DESC LIMIT 1) ORDER BY row_id"
        ).fetchall()
    gold = {r["sample_id"]: r["task_id"] for r in rows if "gold_label" in json.loads(r["evidence"])}
    assert second.pushed == 6 and set(gold) <= set(first_four[:3]) and len(gold) == 2
    regular = [r["task_id"] for r in rows if r["sample_id"] not in gold]
    keys = {frozenset(c.get_task(t)["data"]) for t in [*gold.values(), *regular]}
    assert len(keys) == 1 and not any("gold" in k for k in next(iter(keys)))
    before = versions(project)
    for sid, task_id in gold.items():  # careless answers on gold change no label
        annotate(c, task_id, ann, "fox" if sid.endswith(("0", "3", "6", "9")) else "cat")
        annotate(c, task_id, bob, c.get_task(task_id)["data"]["given_label"])
    with Project.open(project) as p:
        s = pull(p, c)
        table = p.annotators().set_index("reviewer")
    assert s.gold == 2 and versions(project) == before
    assert table.loc["bob@relabel.test", "gold_tasks"] == 2
    assert table.loc["bob@relabel.test", "gold_accuracy"] == 1.0
    assert table.loc["ann@relabel.test", "gold_accuracy"] < 1.0
    out = CliRunner().invoke(main, ["annotators", str(project)])
    assert out.exit_code == 0 and "bob@relabel.test" in out.output and "2" in out.output


def _tiny_model(path: Path, image_size: list[int], channels: int) -> None:
    from relabel.training import import_keras

    keras = import_keras()[1]
    inputs = keras.Input((*image_size, channels))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(path)


def test_holdout_gold_and_dawid_skene_outvote_careless_reviewers(
    tmp_path: Path, studio_client: StudioClient, crowd: dict[str, int]
) -> None:
    project = make_project(tmp_path, 9, budget=6)
    holdout = ["id,path,label"]
    for i in range(6):
        write_png(tmp_path / "held" / f"h{i}.png", 100 + i)
        holdout.append(f"h{i},{tmp_path / 'held' / f'h{i}.png'},{['cat', 'dog', 'fox'][i % 3]}")
    (tmp_path / "holdout.csv").write_text("\n".join(holdout) + "\n")
    _configure(project, "dataset", holdout=str(tmp_path / "holdout.csv"))
    _configure(project, gold_fraction=0.5, consensus="dawid_skene", reviewers_per_task=3)
    with Project.open(project) as p:
        settings = p.train_settings()
    model = project / "runs" / "test-run" / "model.keras"
    _tiny_model(model, list(settings.image_size), settings.channels)
    c = studio_client
    ann, bob, dan = crowd["ann"], crowd["bob"], crowd["dan"]
    with Project.open(project) as p:
        summary = push(p, c)
        rows = p.store.conn.execute("SELECT sample_id, task_id, evidence FROM tasks").fetchall()
    held = [r for r in rows if r["sample_id"].startswith("h")]
    gold = {r["task_id"]: json.loads(r["evidence"])["gold_label"] for r in held}
    regular = {r["task_id"]: r["sample_id"] for r in rows if not r["sample_id"].startswith("h")}
    assert summary.pushed == 12 and len(gold) == 6  # six held-out images, shown like the rest
    header = c.get_task(next(iter(gold)))["data"]
    assert header["given_label"] in ("cat", "dog", "fox") and header["predicted_label"]
    # ann is always right; bob and dan are wrong on every gold task, and on the regular
    # tasks bob and dan agree on a wrong label against ann
    for task_id, label in gold.items():
        wrong = "dog" if label != "dog" else "cat"
        annotate(c, task_id, ann, label)
        annotate(c, task_id, bob, wrong)
        annotate(c, task_id, dan, wrong)
    # on the regular tasks bob and dan agree against ann: five times on a wrong label,
    # once on the given label that ann corrects
    fixed = min(regular)
    for task_id in regular:
        given = c.get_task(task_id)["data"]["given_label"]
        other = "fox" if given != "fox" else "cat"
        annotate(c, task_id, ann, other if task_id == fixed else given)
        annotate(c, task_id, bob, given if task_id == fixed else other)
        annotate(c, task_id, dan, given if task_id == fixed else other)
    with Project.open(project) as p:
        s = pull(p, c)
        changes = p.store.label_changes()
    assert s.gold == 6 and s.consensus == "dawid_skene"
    assert (s.confirmed, s.corrected) == (5, 1)  # the trusted reviewer wins 1 against 2
    assert changes["sample_id"].tolist() == [regular[fixed]]
    evidence = changes["evidence"].iloc[0]
    assert evidence["consensus"] == "dawid_skene" and evidence["posterior"] > 0.5
    assert sum(evidence["votes"].values()) == 3
    with Project.open(project) as p:
        stats = p.annotators().set_index("reviewer")
    assert stats.loc["ann@relabel.test", "estimated_accuracy"] > 0.8
    assert stats.loc["bob@relabel.test", "estimated_accuracy"] < 0.5
    assert np.isclose(stats.loc["dan@relabel.test", "gold_accuracy"], 0.0)


def test_a_cycle_whose_candidates_are_all_under_the_floor_pushes_nothing(
    tmp_path: Path, studio_client: StudioClient
) -> None:
    from relabel.errors import ExitCode
    from relabel.loop.cycle import run_cycle

    # the model agrees with every label (p_given 0.97): no label issue, and no sample
    # reaches the floor of a filled slot
    probs = np.full((9, 3), 0.015, dtype=np.float32)
    probs[np.arange(9), np.arange(9) % 3] = 0.97
    project = make_project(tmp_path, 9, budget=3, probs=probs)
    _configure(project, lane="label_issue", min_suspicion=0.1)
    said: list[str] = []
    with Project.open(project) as p:
        result = run_cycle(p, studio_client, progress=said.append)
    assert result.state == "nothing_to_do" and result.exit_code == ExitCode.NOTHING_TO_DO
    reason = next(m for m in said if "under review.min_suspicion" in m)
    assert "9 remaining candidate(s)" in reason
    assert float(reason.rsplit("highest is ", 1)[1].rstrip(")")) < 0.1
    assert task_map(project) == {}
    _configure(project, min_suspicion=0.0)  # without the floor the slots are filled
    with Project.open(project) as p:
        assert run_cycle(p, studio_client, until="pushed").state == "waiting"
    assert len(task_map(project)) == 3
