"""``relabel serve`` in process, over real HTTP on a free port (no Label Studio).

The project is trained by the fake engine (``tests/engine.py``) and "pushed" by recording
task ids in its store the way a push does, so that the routes see what they would see
after ``relabel push``: the model-backend protocol (``/health``, ``/setup``,
``/predict``), and webhooks: refused (401, 411, 413, 400) without changing anything,
answered once appended to the inbox and recorded by the worker, once however often they
come, and a pull after a webhook counts nothing twice.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from relabel.infra.lock import project_lock
from relabel.loop.pull import apply_reviews
from relabel.loop.push import plan
from relabel.project import Project
from relabel.serve import worker as worker_mod
from relabel.serve.app import (
    SECRET_HEADER,
    Backend,
    BackendServer,
    HTTPRefusalError,
    ServeOptions,
    start_backend,
)
from relabel.studio.models import Annotation, ReviewedTask, choice_result
from relabel.studio.webhooks import PayloadError, parse_webhook
from tests.imagefiles import write_manifest_dataset

CLASSES = ("cat", "dog", "fox")
SECRET = "s3cret-for-tests"
STUDIO_PROJECT = 7
FIRST_TASK = 100


@pytest.fixture
def project(tmp_path: Path, test_engine: str) -> Path:
    """A trained project whose four most suspicious samples were "pushed" as tasks 100-103
    of Label Studio project 7."""
    return pushed_project(tmp_path)


def pushed_project(tmp_path: Path) -> Path:
    """The project of the ``project`` fixture (the test engine must be set)."""
    manifest = write_manifest_dataset(tmp_path, per_class=6, classes=CLASSES)
    root = tmp_path / "proj"
    Project.init(root, manifest=manifest, folds=2)
    with Project.locked(root, "test") as p:
        p.train(final_model=False)
        p.store.add_studio_project(STUDIO_PROJECT, "http://studio.invalid", "t", list(CLASSES))
        plan(p, STUDIO_PROJECT, budget=4, lane="all")
        rows = p.store.tasks(STUDIO_PROJECT, ("planned",))
        p.store.open_tasks([(r["row_id"], FIRST_TASK + i) for i, r in enumerate(rows)])
    return root


@pytest.fixture
def server(project: Path) -> Iterator[BackendServer]:
    with start_backend(project, ServeOptions(port=0, secret=SECRET, max_body=4096)) as running:
        yield running


def call(
    server: BackendServer,
    path: str,
    body: Any = None,
    *,
    secret: str | None = SECRET,
    raw: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST JSON (or ``raw`` bytes) to the server, or GET without a body; status and JSON."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    request = urllib.request.Request(server.url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def pushed(project: Path) -> dict[int, str]:
    """Label Studio task id -> sample id of the pushed tasks."""
    with Project.open(project, readonly=True) as p:
        rows = p.store.task_rows_by_task_id(STUDIO_PROJECT)
    return {int(t): str(r["sample_id"]) for t, r in rows.items()}


def answer(
    task_id: int,
    sample_id: str | None,
    annotation_id: int,
    choice: str,
    *,
    action: str = "ANNOTATION_CREATED",
    project: int = STUDIO_PROJECT,
) -> dict[str, Any]:
    """A webhook body as Label Studio sends it for one answer."""
    data = {"image": "data:image/png;base64,AA"}
    if sample_id is not None:
        data["sample_id"] = sample_id
    return {
        "action": action,
        "annotation": {
            "id": annotation_id,
            "result": choice_result(choice),
            "was_cancelled": False,
            "completed_by": 5,
            "task": task_id,
            "project": project,
            "updated_at": "2026-01-02T03:04:05.000000Z",
        },
        "task": {"id": task_id, "data": data, "project": project},
        "project": {"id": project},
    }


def store_state(project: Path) -> dict[str, Any]:
    """Everything a webhook may write: label versions, tasks, reviews, answers, pulls."""
    with Project.open(project, readonly=True) as p:
        return {
            table: [tuple(r) for r in p.store.conn.execute(f"SELECT * FROM {table}")]
            for table in ("label_versions", "tasks", "reviews", "answers", "pulls")
        }


def wait_until(check: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the background work did not happen"
        time.sleep(0.05)


def post_webhook(server: BackendServer, body: Any) -> dict[str, Any]:
    """POST a webhook, wait until the worker recorded it; the reply with the batch's counts
    (a webhook's batch is its own: they are sent one at a time)."""
    status, reply = call(server, "/webhook", body)
    assert status == 200, reply
    wait_until(server.backend.worker.idle)
    if reply.get("duplicate") or not reply.get("answers"):
        return reply
    return {**reply, **server.backend.worker.state.last_batch}


def other_class(project: Path, sample_id: str) -> str:
    with Project.open(project, readonly=True) as p:
        current = p.store.current_version(sample_id)["label"]
    return next(c for c in CLASSES if c != current)


# -- the model backend --------------------------------------------------------------------


def test_health_and_setup_name_the_latest_run(server: BackendServer, project: Path) -> None:
    with Project.open(project, readonly=True) as p:
        run_id = p.store.latest_run("train")["run_id"]
    status, health = call(server, "/health")
    assert status == 200 and health["status"] == "UP" and health["model_version"] == run_id
    assert call(server, "/setup", {"project": "7.1", "schema": "<View/>"}) == (
        200,
        {"model_version": run_id},
    )
    assert call(server, "/nowhere", {})[0] == 404


def test_predict_gives_the_run_s_class_and_the_top3_of_reviewed_tasks(
    server: BackendServer, project: Path
) -> None:
    tasks = pushed(project)
    reviewed_task, reviewed_sample = sorted(tasks.items())[0]
    with Project.open(project, readonly=True) as p:
        run, samples, probs = p.latest_probabilities()
    ids = samples["sample_id"].tolist()
    other = next(s for s in ids if s not in tasks.values())
    body = {
        "tasks": [
            {"id": reviewed_task, "data": {"sample_id": reviewed_sample}},
            {"id": 999, "data": {"sample_id": other}},
            {"id": 998, "data": {"sample_id": "no-such-sample"}},
            {"id": 997, "data": {"image": "x"}},
        ],
        "project": "7.1",
    }
    status, out = call(server, "/predict", body)
    assert status == 200 and out["model_version"] == run["run_id"]
    first, second, unknown, foreign = out["results"]
    assert unknown == [] and foreign == []
    for pred, sid in ((first, reviewed_sample), (second, other)):
        p_row = probs[ids.index(sid)]
        (item,) = pred["result"]
        assert pred["model_version"] == run["run_id"]
        assert pred["score"] == pytest.approx(float(p_row.max()), abs=1e-6)
        assert item["value"]["choices"] == [CLASSES[int(np.argmax(p_row))]]
        assert (item["from_name"], item["to_name"], item["type"]) == ("label", "image", "choices")
    top3 = first["result"][0]["meta"]["top3"]
    p_first = probs[ids.index(reviewed_sample)]
    order = np.argsort(-p_first, kind="stable")[:3]
    assert [t["label"] for t in top3] == [CLASSES[int(i)] for i in order]
    assert [t["probability"] for t in top3] == pytest.approx(p_first[order], abs=1e-6)
    assert first["result"][0]["meta"]["text"][0].startswith("model's top 3: ")
    assert "meta" not in second["result"][0]


def test_predict_refuses_a_body_without_tasks(server: BackendServer) -> None:
    assert call(server, "/predict", {"tasks": "no"})[0] == 400
    assert call(server, "/predict", raw=b"{not json")[0] == 400


# -- webhooks: refused calls change nothing -----------------------------------------------


def test_unauthenticated_oversized_or_malformed_webhooks_change_nothing(
    server: BackendServer, project: Path
) -> None:
    task, sid = sorted(pushed(project).items())[0]
    good = answer(task, sid, 1, other_class(project, sid))
    before = store_state(project)
    assert call(server, "/webhook", good, secret=None)[0] == 401
    assert call(server, "/webhook", good, secret="wrong")[0] == 401
    assert call(server, "/webhook", good, secret=SECRET[:-1])[0] == 401
    big = {**good, "padding": "x" * 5000}
    assert call(server, "/webhook", big)[0] == 413
    assert call(server, "/webhook", big, secret=None)[0] == 401  # the secret comes first
    assert call(server, "/webhook", raw=b"{not json")[0] == 400
    assert call(server, "/webhook", ["a", "list"])[0] == 400
    assert call(server, "/webhook", {**good, "task": {"id": task + 1}})[0] == 400
    assert call(server, "/webhook", {**good, "annotation": {"task": task}})[0] == 400
    assert store_state(project) == before
    status, reply = call(server, "/webhook", {"action": "PROJECT_UPDATED", "project": {}})
    assert status == 200 and reply["answers"] == 0
    assert store_state(project) == before


def test_every_webhook_is_refused_without_a_configured_secret(project: Path) -> None:
    backend = Backend(project, ServeOptions(secret=None))
    with pytest.raises(HTTPRefusalError) as refused:
        backend.check_secret("")
    assert refused.value.status == 401
    with pytest.raises(HTTPRefusalError):
        backend.check_secret(SECRET)
    Backend(project, ServeOptions(secret=SECRET)).check_secret(SECRET)


def test_parse_webhook_reads_one_or_many_answers() -> None:
    one = parse_webhook(answer(100, "s1", 9, "cat"), {5: "ann@x.test"})
    (a,) = one.answers
    assert (a.project_id, a.task_id, a.sample_id) == (STUDIO_PROJECT, 100, "s1")
    assert (a.annotation.id, a.annotation.user, a.annotation.choice) == (9, "ann@x.test", "cat")
    many = answer(100, "s1", 9, "cat", action="ANNOTATIONS_CREATED")
    second = answer(101, None, 10, "dog")
    many["annotation"] = [many["annotation"], second["annotation"]]
    many["task"] = [many["task"], second["task"]]
    parsed = parse_webhook(many)
    assert [(x.task_id, x.sample_id, x.annotation.user) for x in parsed.answers] == [
        (100, "s1", "5"),
        (101, None, "5"),
    ]
    with pytest.raises(PayloadError):
        parse_webhook({"action": "ANNOTATION_CREATED", "annotation": [], "task": []})


# -- webhooks: exactly once -----------------------------------------------------------------


def test_the_same_webhook_twice_records_the_answer_once(
    server: BackendServer, project: Path
) -> None:
    task, sid = sorted(pushed(project).items())[0]
    new = other_class(project, sid)
    body = answer(task, sid, 41, new)
    first = post_webhook(server, body)
    assert first["reviewed"] == 1 and first["unchanged"] == 0 and not first["duplicate"]
    after_first = store_state(project)
    again = post_webhook(server, body)
    assert again["duplicate"] is True and again["event"] is None
    assert server.backend.worker.state.recorded == 1
    assert store_state(project) == after_first
    with Project.open(project, readonly=True) as p:
        assert p.store.current_version(sid)["label"] == new
        assert p.store.current_version(sid)["source"] == "review"
        assert len(p.store.reviews()) == 1
        assert p.store.answers()["annotation_id"].tolist() == [41]
        assert p.store.last_pull_cursor(STUDIO_PROJECT) is None  # a webhook is not a pull


def test_a_webhook_then_a_pull_of_the_same_answer_counts_it_once(
    server: BackendServer, project: Path
) -> None:
    task, sid = sorted(pushed(project).items())[1]
    new = other_class(project, sid)
    assert post_webhook(server, answer(task, sid, 42, new))["reviewed"] == 1
    recorded = store_state(project)
    same = Annotation(42, "5", new, False, None)
    pulled = ReviewedTask(task, sid, "2026-01-02T03:04:06Z", [same])
    with Project.locked(project, "test pull") as p:
        summary = apply_reviews(p, STUDIO_PROJECT, [pulled], cursor="2026-01-02T03:04:00Z")
    assert (summary.tasks_seen, summary.unchanged, summary.reviewed) == (1, 1, 0)
    after = store_state(project)
    assert {k: v for k, v in after.items() if k != "pulls"} == {
        k: v for k, v in recorded.items() if k != "pulls"
    }
    assert len(after["pulls"]) == 1


def test_an_updated_answer_is_resolved_again_and_foreign_tasks_are_ignored(
    server: BackendServer, project: Path
) -> None:
    (t1, s1), (t2, s2) = sorted(pushed(project).items())[2:4]
    original = {s1: None, s2: None}
    with Project.open(project, readonly=True) as p:
        original = {s: p.store.current_version(s)["label"] for s in original}
    many = answer(t1, s1, 51, other_class(project, s1), action="ANNOTATIONS_CREATED")
    others = [answer(t2, s2, 52, original[s2]), answer(555, None, 53, "cat")]
    others.append(answer(t2, s2, 54, "cat", project=STUDIO_PROJECT + 1))
    many["annotation"] = [many["annotation"], *(o["annotation"] for o in others)]
    many["task"] = [many["task"], *(o["task"] for o in others)]
    reply = post_webhook(server, many)
    assert reply["answers"] == 4 and reply["other_project"] == 1
    assert reply["tasks"] == 2 and reply["reviewed"] == 2
    edited = answer(t1, s1, 51, original[s1], action="ANNOTATION_UPDATED")
    reply = post_webhook(server, edited)
    assert reply["reviewed"] == 1
    with Project.open(project, readonly=True) as p:
        assert p.store.current_version(s1)["label"] == original[s1]
        assert p.store.current_version(s2)["label"] == original[s2]
        assert sorted(p.store.answers()["annotation_id"]) == [51, 52]
        assert list(p.store.reviews()["outcome"]) == ["corrected", "confirmed", "corrected"]


def test_a_webhook_is_answered_before_it_is_recorded_and_waits_for_a_held_lock(
    server: BackendServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_mod, "RETRY_SECONDS", 0.05)
    task, sid = sorted(pushed(project).items())[0]
    before = store_state(project)
    with project_lock(project, "another relabel process"):
        status, reply = call(server, "/webhook", answer(task, sid, 61, other_class(project, sid)))
        assert status == 200 and reply["pending"] == 1 and isinstance(reply["event"], int)
        assert call(server, "/health")[1]["pending_webhooks"] == 1
        time.sleep(0.2)  # the worker tries, and finds the lock held
        assert store_state(project) == before
    wait_until(lambda: server.backend.worker.idle() and server.backend.worker.state.recorded)
    health = call(server, "/health")[1]
    assert health["pending_webhooks"] == 0 and health["recorded_webhooks"] == 1
    with Project.open(project, readonly=True) as p:
        assert p.store.answers()["annotation_id"].tolist() == [61]
        assert len(p.store.reviews()) == 1


class NoUsers:
    """A stand-in for the Label Studio client: it knows no reviewer's e-mail address."""

    def user_emails(self, user_ids: set[int]) -> dict[int, str]:
        return {}


def test_answers_in_start_a_cycle_in_the_background(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The waiting cycle's last answer asks for a cycle; the webhook is answered while the
    cycle (here a stand-in that waits) runs under the project lock in the worker."""
    with Project.locked(project, "test") as p:
        p.store.start_cycle(1)
        for step in ("train", "select", "push"):
            info = {"studio_project_id": STUDIO_PROJECT, "planned": 4}
            p.store.finish_cycle_step(1, step, info, started_at="2026-01-01", seconds=0.0)
        p.store.conn.execute("UPDATE tasks SET cycle = 1")
        p.store.conn.commit()
    release, calls = threading.Event(), []

    def cycle_stand_in(p: Project, client: Any, **kwargs: Any) -> Any:
        """Cycle 1 ends (pull, retrain...), then cycle 2 starts and waits for answers."""
        calls.append(kwargs["min_reviews"])
        if len(calls) > 1:
            return worker_mod.CycleResult(2, "waiting")
        with (
            pytest.raises(Exception, match="another relabel process"),
            project_lock(project, "probe"),
        ):
            pass
        release.wait(30)
        p.store.finish_cycle(1, "done", {})
        return worker_mod.CycleResult(1, "done", ["pull", "retrain", "evaluate"])

    monkeypatch.setattr(worker_mod, "run_cycle", cycle_stand_in)
    options = ServeOptions(port=0, secret=SECRET, cycle_on_answers=True, cycle_after=2)
    tasks = sorted(pushed(project).items())
    with start_backend(project, options, client=NoUsers()) as running:  # type: ignore[arg-type]
        assert post_webhook(running, answer(*tasks[0], 71, "cat"))["tasks"] == 1
        assert calls == [] and running.backend.worker.idle()
        assert call(running, "/webhook", answer(*tasks[1], 72, "dog"))[0] == 200
        wait_until(lambda: calls == [2])
        assert running.backend.worker.state.cycle_running
        status, reply = call(running, "/webhook", answer(*tasks[2], 73, "fox"))
        assert status == 200 and reply["pending"] == 1  # the cycle holds the lock
        assert running.backend.worker.pending == 1
        release.set()
        wait_until(running.backend.worker.idle)
        assert calls == [2, 2]
        assert running.backend.worker.state.cycles == [
            {"cycle": 1, "state": "done", "steps": ["pull", "retrain", "evaluate"]},
            {"cycle": 2, "state": "waiting", "steps": []},
        ]
        with Project.open(project, readonly=True) as p:
            assert sorted(p.store.answers()["annotation_id"]) == [71, 72, 73]
