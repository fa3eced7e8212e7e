"""The unlabelled pool against a REAL Label Studio: ``push --type label`` sends the chosen
pool samples with the model's prediction, a reviewer answers, ``pull`` makes the answers
their first labels, exactly once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from relabel.loop.pool import push_labels
from relabel.loop.pull import pull
from relabel.project import Project
from relabel.studio.client import StudioClient
from tests.test_pool import _trained_pool

pytestmark = pytest.mark.studio


def test_label_push_and_pull_round_trip(
    tmp_path: Path, test_engine: str, studio_client: StudioClient
) -> None:
    root, truth = _trained_pool(tmp_path)
    ann = studio_client.ensure_user("ann@relabel.test")
    with Project.open(root) as p:
        pushed = push_labels(p, studio_client, budget=4, strategy="margin")
        assert (pushed.planned, pushed.pushed, pushed.pool) == (4, 4, 60)
        rows = p.store.tasks(pushed.studio_project_id, ("open",))
        assert len(rows) == 4
        again = push_labels(p, studio_client, budget=4, strategy="margin")
        assert again.pool == 56  # the open tasks' samples are not chosen again
    for row in rows:
        task = studio_client.get_task(row["task_id"])
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == pushed.run_id
        assert task["data"]["given_label"] == "(unlabelled)"
        studio_client.create_annotation(row["task_id"], truth[row["sample_id"]], ann)
    labelled = [r["sample_id"] for r in rows]
    with Project.open(root) as p:
        first = pull(p, studio_client)
        assert first.labelled == 4
        labels = p.store.labels().set_index("sample_id")
        assert [labels.loc[s, "label"] for s in labelled] == [truth[s] for s in labelled]
        (version,) = p.store.history(labelled[0])
        assert version.reviewers == ["ann@relabel.test"]
        assert version.evidence["kind"] == "label"
        assert p.status()["unlabelled"] == 60 - 4
        state = (p.store.max_version(), p.export(tmp_path / "first.csv"))
    with Project.open(root) as p:  # a second pull changes nothing
        second = pull(p, studio_client)
        assert second.labelled == 0
        assert (p.store.max_version(), p.export(tmp_path / "second.csv")) == state
    assert pd.read_csv(tmp_path / "first.csv").equals(pd.read_csv(tmp_path / "second.csv"))
