"""``relabel serve`` against a REAL Label Studio (tier ``studio``).

The backend connected to a project gives predictions that Label Studio stores; an answer
given in Label Studio reaches ``relabel serve`` by webhook, is recorded once, and the pull
after it counts nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from relabel.loop.pull import pull
from relabel.loop.push import push
from relabel.project import Project
from relabel.serve.app import BackendServer, ServeOptions, start_backend
from relabel.serve.connect import connect_backend
from relabel.studio.client import StudioClient
from tests.test_roundtrip import make_project

SECRET = "studio-webhook-secret"


@pytest.fixture
def served(tmp_path: Path, studio_client: StudioClient) -> Iterator[tuple[Path, BackendServer]]:
    """A pushed project (no static pre-annotations) with ``relabel serve`` connected."""
    project = make_project(tmp_path, 6, budget=3)
    config = project / "relabel.toml"
    config.write_text(config.read_text().replace("pre_annotate = true", "pre_annotate = false"))
    with Project.locked(project, "test") as p:
        assert not p.config.review.pre_annotate
        summary = push(p, studio_client)
    options = ServeOptions(port=0, secret=SECRET)
    with start_backend(project, options, studio_client) as server:
        with Project.locked(project, "test") as p:
            connected = connect_backend(
                p, studio_client, summary.studio_project_id, server.url, secret=SECRET
            )
            again = connect_backend(
                p, studio_client, summary.studio_project_id, server.url, secret=SECRET
            )
        assert again == connected and connected.webhook_id is not None
        yield project, server


def tasks_of(project: Path) -> dict[int, str]:
    with Project.open(project, readonly=True) as p:
        bound = int(p.store.studio_project()["studio_project_id"])
        return {int(t): str(r["sample_id"]) for t, r in p.store.task_rows_by_task_id(bound).items()}


def wait_for(check: Callable[[], object], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "Label Studio's call did not arrive"
        time.sleep(0.1)


def test_label_studio_stores_the_backend_s_predictions(
    served: tuple[Path, BackendServer], studio_client: StudioClient
) -> None:
    project, _ = served
    with Project.open(project, readonly=True) as p:
        run, samples, probs = p.latest_probabilities()
        classes = p.config.dataset.classes
    ids = samples["sample_id"].tolist()
    for task_id, sample_id in tasks_of(project).items():
        # opening a task without predictions makes Label Studio ask the backend (as the
        # labeling screen does) and store what it answers
        opened = studio_client.get_task(task_id)
        (pred,) = opened["predictions"]
        row = probs[ids.index(sample_id)]
        assert pred["model_version"] == run["run_id"]
        assert pred["score"] == pytest.approx(float(row.max()), abs=1e-5)
        (item,) = pred["result"]
        assert item["value"]["choices"] == [classes[int(row.argmax())]]
        assert item["meta"]["top3"][0]["label"] == item["value"]["choices"][0]
        assert item["meta"]["text"][0].startswith("model's top 3: ")
        stored = studio_client.get_task(task_id)["predictions"]
        assert [s["id"] for s in stored] == [pred["id"]]  # kept, not asked again


def test_an_answer_in_label_studio_is_recorded_once_by_webhook(
    served: tuple[Path, BackendServer], studio_client: StudioClient
) -> None:
    project, server = served
    task_id, sample_id = sorted(tasks_of(project).items())[0]
    with Project.open(project, readonly=True) as p:
        given = p.store.current_version(sample_id)["label"]
        new = next(c for c in p.config.dataset.classes if c != given)
    user = studio_client.ensure_user("webhook@relabel.test")
    annotation = studio_client.create_annotation(task_id, new, user)
    wait_for(lambda: server.backend.worker.state.recorded)
    with Project.open(project, readonly=True) as p:
        answers = p.store.answers()
        assert answers["annotation_id"].tolist() == [annotation]
        assert answers["reviewer"].tolist() == ["webhook@relabel.test"]
        assert p.store.current_version(sample_id)["label"] == new
        assert len(p.store.reviews()) == 1
    with Project.locked(project, "test pull") as p:
        summary = pull(p, studio_client)
    assert summary.tasks_seen == 1 and summary.unchanged == 1 and summary.reviewed == 0
    with Project.open(project, readonly=True) as p:
        assert len(p.store.reviews()) == 1
        assert p.store.answers()["annotation_id"].tolist() == [annotation]
