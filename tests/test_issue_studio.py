"""Issue reviews against a REAL Label Studio: a duplicate set and an outlier are pushed,
answered through the API and pulled; the store, the export's ``drop`` column and a second
pull (which changes nothing) are checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relabel.loop.issues import issue_project, pull_issues, push_issues
from relabel.project import Project
from relabel.review.issues import KEEP_ONE, REMOVE, issue_choices
from relabel.studio.client import StudioClient
from relabel.studio.labeling import parse_classes
from tests.test_roundtrip import make_project

pytestmark = pytest.mark.studio


def _plant(project: Path, n: int) -> None:
    """Embeddings of the test run: s001 a copy of s000, s002 pointing the other way."""
    emb = (3 + np.random.default_rng(0).normal(size=(n, 16))).astype(np.float16)
    emb[1] = emb[0]
    emb[2] = -emb[2]
    np.save(project / "runs" / "test-run" / "embeddings.npy", emb)


def _state(project: Path, out: Path) -> tuple[pd.DataFrame, list[dict], int]:
    with Project.open(project) as p:
        p.export(out)
        return pd.read_csv(out), p.store.drop_events(), p.store.max_version()


def test_duplicates_and_outliers_round_trip(tmp_path: Path, studio_client: StudioClient) -> None:
    project = make_project(tmp_path, 24, budget=24)
    _plant(project, 24)
    ann = studio_client.ensure_user("ann@relabel.test")
    with Project.open(project) as p:
        dup = push_issues(p, studio_client, "duplicates")
        out = push_issues(p, studio_client, "outliers")
        assert (dup.planned, dup.pushed, out.planned, out.pushed) == (1, 1, 1, 1)
        assert dup.studio_project_id != out.studio_project_id
        again = push_issues(p, studio_client, "duplicates")  # the set is covered now
        assert (again.planned, again.pushed, again.excluded_covered) == (0, 0, 1)
        (dup_row,) = p.store.tasks(dup.studio_project_id, ("open",))
        (out_row,) = p.store.tasks(out.studio_project_id, ("open",))
        assert dup_row["members"] == '["s000", "s001"]' and out_row["sample_id"] == "s002"
        classes = p.config.dataset.classes
    info = studio_client.get_project(dup.studio_project_id)
    assert parse_classes(info.label_config) == issue_choices("duplicates", classes)[:-1]
    task = studio_client.get_task(dup_row["task_id"])
    assert task["data"]["image"].startswith("data:image/png;base64,")
    assert task["data"]["members_text"] == "1: s000 (cat) \u00b7 2: s001 (dog)"

    studio_client.create_annotation(dup_row["task_id"], KEEP_ONE, ann)
    studio_client.create_annotation(out_row["task_id"], REMOVE, ann)
    with Project.open(project) as p:
        pulled = [pull_issues(p, studio_client, k) for k in ("duplicates", "outliers")]
        assert [s.outcomes for s in pulled] == [{"kept_one": 1}, {"removed": 1}]
        assert [s.dropped for s in pulled] == [1, 1]
        assert p.store.dropped_sample_ids() == {"s001", "s002"}
        assert "s001" not in set(p.active_samples()["sample_id"])
        assert p.store.tasks(dup.studio_project_id, ("resolved",))[0]["outcome"] == "kept_one"
    exported, events, version = _state(project, tmp_path / "first.csv")
    assert sorted(exported.loc[exported["drop"], "id"]) == ["s001", "s002"]
    assert len(exported) == 24  # nothing deleted
    (s001,) = [e for e in events if e["sample_id"] == "s001"]
    assert s001["reviewers"] == ["ann@relabel.test"]
    assert s001["evidence"]["task_id"] == dup_row["task_id"]
    assert s001["evidence"]["members"] == ["s000", "s001"]

    with Project.open(project) as p:  # a second pull changes nothing
        again = [pull_issues(p, studio_client, k) for k in ("duplicates", "outliers")]
        assert all(s.dropped == s.resolved == 0 for s in again)
        assert issue_project(p, studio_client, "duplicates", create=False) == dup.studio_project_id
    assert _state(project, tmp_path / "second.csv")[1:] == (events, version)
    assert pd.read_csv(tmp_path / "second.csv").equals(exported)
