"""``relabel serve``'s webhook inbox: exactly once through crashes and replays.

A webhook is appended to the store's inbox and answered; the worker records it later. The
server is killed (``kill -9`` at a failpoint, as a child process) after the append and
before its answer, or inside the worker's transaction after the answer: either way the
event is pending in the store, and the next start records it first, exactly once. A
replayed webhook is not appended again, and answers already recorded (a replay under
another key, or an older version of an edited answer) change nothing.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from relabel.project import Project
from relabel.serve.record import record_inbox
from tests.test_serve import (
    SECRET,
    STUDIO_PROJECT,
    answer,
    other_class,
    pushed,
    pushed_project,
    store_state,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path, test_engine: str) -> Path:
    """The trained and "pushed" project of ``tests/test_serve.py``."""
    return pushed_project(tmp_path)


class ServeChild:
    """``relabel serve PROJECT --port 0`` as a child process."""

    def __init__(self, root: Path, failpoint: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO")}
        env.pop("RELABEL_FAILPOINT", None)
        env["RELABEL_WEBHOOK_SECRET"] = SECRET
        if failpoint:
            env["RELABEL_FAILPOINT"] = failpoint
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relabel.cli", "serve", str(root), "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stderr is not None
        seen = []
        for line in self.proc.stderr:
            seen.append(line)
            if "listening at " in line:
                self.url = line.split("listening at ", 1)[1].split()[0]
                return
        raise AssertionError("relabel serve did not start: " + "".join(seen)[-2000:])

    def post(self, body: Any) -> dict[str, Any] | None:
        """POST a webhook; its JSON answer, or None when the server died first."""
        request = urllib.request.Request(
            self.url + "/webhook",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-Relabel-Secret": SECRET},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return dict(json.loads(resp.read()))
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError):
            return None

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/health", timeout=30) as resp:
            return dict(json.loads(resp.read()))

    def wait_killed(self) -> int:
        return self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


def inbox(root: Path) -> tuple[int, int]:
    """Events pending and events done in the store's inbox."""
    with Project.open(root, readonly=True) as p:
        pending = p.store.pending_webhook_count()
        total = p.store.conn.execute("SELECT COUNT(*) FROM webhook_inbox").fetchone()[0]
    return pending, int(total) - pending


@pytest.mark.parametrize("failpoint", ["serve:after_inbox", "serve:before_commit"])
def test_a_webhook_pending_at_a_crash_is_recorded_once_by_the_next_start(
    project: Path, failpoint: str
) -> None:
    """Killed after the append, before the answer; or in the worker's transaction, which
    may begin before the answer is written (the answer may or may not arrive)."""
    task, sid = sorted(pushed(project).items())[0]
    body = answer(task, sid, 91, other_class(project, sid))
    before = store_state(project)
    killed = ServeChild(project, failpoint)
    try:
        reply = killed.post(body)
        assert reply is None or failpoint == "serve:before_commit"
        assert killed.wait_killed() == -signal.SIGKILL
    finally:
        killed.stop()
    assert store_state(project) == before and inbox(project) == (1, 0)
    again = ServeChild(project)
    try:
        deadline = time.monotonic() + 60
        while again.health()["pending_webhooks"]:
            assert time.monotonic() < deadline, "the pending webhook was not recorded"
            time.sleep(0.05)
        assert again.health()["recorded_webhooks"] == 1
        recorded = store_state(project)
        replay = again.post(body)
        assert replay is not None and replay["duplicate"] is True
        assert again.health()["pending_webhooks"] == 0
    finally:
        again.stop()
    assert store_state(project) == recorded and inbox(project) == (0, 1)
    with Project.open(project, readonly=True) as p:
        assert p.store.answers()["annotation_id"].tolist() == [91]
        assert len(p.store.reviews()) == 1
        assert p.store.current_version(sid)["source"] == "review"


def stamp(body: dict[str, Any], updated_at: str) -> dict[str, Any]:
    return {**body, "annotation": {**body["annotation"], "updated_at": updated_at}}


def test_answers_recorded_already_or_older_change_nothing(project: Path) -> None:
    """A replay under another key (the inbox cannot tell) is unchanged by the pull's
    fingerprint; an older version of an edited answer is left out."""
    task, sid = sorted(pushed(project).items())[1]
    new = other_class(project, sid)
    newer = stamp(answer(task, sid, 92, new), "2026-01-02T03:05:00.000000Z")
    older = stamp(answer(task, sid, 92, "cat" if new != "cat" else "dog"), "2026-01-02T03:00:00Z")
    with Project.locked(project, "test") as p:
        assert p.store.add_webhook("newer", newer["action"], json.dumps(newer)) is not None
        assert p.store.add_webhook("newer", newer["action"], json.dumps(newer)) is None
        first = record_inbox(p, 10)
    assert first is not None and first.events == 1 and first.recorded.summary is not None
    assert first.recorded.summary.reviewed == 1
    recorded = store_state(project)
    with Project.locked(project, "test") as p:
        p.store.add_webhook("replay", newer["action"], json.dumps(newer))
        p.store.add_webhook("older", older["action"], json.dumps(older))
        second = record_inbox(p, 10)
        assert record_inbox(p, 10) is None
    assert second is not None and second.events == 2 and second.recorded.summary is not None
    assert (second.recorded.summary.unchanged, second.recorded.summary.reviewed) == (1, 0)
    assert store_state(project) == recorded and inbox(project) == (0, 4 - 1)
    with Project.open(project, readonly=True) as p:
        assert p.store.current_version(sid)["label"] == new
        assert p.store.answers()["choice"].tolist() == [new]
        assert STUDIO_PROJECT in p.store.answers()["studio_project_id"].tolist()
