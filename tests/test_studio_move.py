"""The Label Studio project link survives a server move; URLs never leak credentials.

Fast tier (no server): URL redaction, the HTTP log line, the store's binding.
Studio tier (REAL servers): the session's server reached as ``localhost`` instead of
``127.0.0.1``, and a test's own server (``own_studio_server``) restarted on another port:
push and pull carry on in the same Label Studio project (no second project, no duplicate
task, no sample stuck); a bound project that is not at the new URL exits 7 and changes
nothing; ``relabel studio bind``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from relabel.errors import ConfigError, StudioUnreachableError
from relabel.loop.binding import MARKER_LABEL, marker_of
from relabel.project import Project
from relabel.studio.client import StudioClient
from relabel.studio.labeling import build_label_config
from relabel.studio.server import LocalServer, free_port
from relabel.studio.urls import redact_text, redact_url, same_server
from tests.test_roundtrip import (
    CLASSES,
    annotate,
    make_project,
    relabel_cmd,
    relabel_killed,
    studio_env,
    task_map,
    versions,
)

# ------------------------------------------------------------------------------- fast


def test_redact_url_masks_userinfo_query_and_fragment() -> None:
    assert redact_url("http://user:secret@host:8080/base/?token=abc&page=2#frag") == (
        "http://***@host:8080/base/?token=***&page=***#***"
    )
    assert redact_url("https://user:p@ss@host/x") == "https://***@host/x"  # raw "@" in it
    assert redact_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert redact_url("/api/tasks/?token=abc") == "/api/tasks/?token=***"
    assert redact_url("user:secret@host:8080") == "***@host:8080"  # a mistyped URL
    assert redact_url("http://h/?abc") == "http://h/?***"
    assert redact_url(redact_url("http://u:s@h/?t=1")) == redact_url("http://u:s@h/?t=1")
    text = redact_text("GET 'http://u:secret@h/p?token=abc' then https://h2/a")
    assert "secret" not in text and "abc" not in text and "https://h2/a" in text


def test_same_server_is_normalised_but_a_move_is_a_move() -> None:
    assert same_server("http://127.0.0.1:8080/", "http://127.0.0.1:8080")
    assert same_server("HTTP://Example.org:8080", "http://example.org:8080/")
    assert same_server("http://user:secret@h:1", "http://***@h:1")  # stored URLs are redacted
    assert not same_server("http://127.0.0.1:8080", "http://localhost:8080")
    assert not same_server("http://127.0.0.1:8080", "http://127.0.0.1:8081")


def test_credentials_in_the_url_never_reach_a_message_or_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://user:secret@127.0.0.1:{free_port()}/?token=abc"  # nothing listens there
    client = StudioClient(url, "x" * 40, retries=3, backoff=0.01, max_backoff=0.01)
    try:
        assert "secret" not in repr(client) and "abc" not in repr(client)
        with pytest.raises(StudioUnreachableError) as err:
            client.check()
    finally:
        client.close()
    message = str(err.value)
    assert "unreachable" in message and "127.0.0.1" in message
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2  # the retry warnings name the server too
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage()
        assert "secret" not in text and "abc" not in text, (record.name, text)
    assert "secret" not in message and "abc" not in message
    for bad in ("ftp://user:secret@h/?token=abc", "user:secret@h?token=abc"):
        with pytest.raises(ConfigError) as cfg:
            StudioClient(bad, "x" * 40)
        assert "secret" not in str(cfg.value) and "abc" not in str(cfg.value)
    with pytest.raises(ConfigError) as empty:
        StudioClient("http://user:secret@h/?token=abc", " ")
    assert "secret" not in str(empty.value) and "abc" not in str(empty.value)


def test_each_http_request_is_logged_on_relabel_studio_http(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="relabel.studio.http")
    port = free_port()
    client = StudioClient(f"http://127.0.0.1:{port}", "x" * 40, retries=2, backoff=0.01)
    with client, pytest.raises(StudioUnreachableError):
        client.check()
    lines = [r for r in caplog.records if r.name == "relabel.studio.http"]
    assert len(lines) == 2  # one per attempt
    for r in lines:
        assert r.levelno == logging.DEBUG
        assert re.fullmatch(
            rf"GET http://127\.0\.0\.1:{port}/api/version -> ConnectError \(\d+ ms\)",
            r.getMessage(),
        ), r.getMessage()


def test_the_binding_is_one_per_project_and_moves_with_the_url(tmp_path: Path) -> None:
    project = make_project(tmp_path, 6, budget=3)
    with Project.open(project) as p:
        store = p.store
        assert store.studio_project() is None
        store.add_studio_project(4, "http://127.0.0.1:8080", "relabel: proj", CLASSES)
        row = store.studio_project()
        assert same_server(row["url"], "http://127.0.0.1:8080/")
        assert not same_server(row["url"], "http://localhost:8080")
        store.rebind_studio_project(4, "http://127.0.0.1:8080", "http://localhost:8080")
        row = store.studio_project()
        assert (row["studio_project_id"], row["url"]) == (4, "http://localhost:8080")
        assert store.conn.execute("SELECT COUNT(*) FROM studio_projects").fetchone()[0] == 1
        # moving back onto an older binding of the same project keeps one row
        store.add_studio_project(4, "http://127.0.0.1:8080", "relabel: proj", CLASSES)
        store.rebind_studio_project(4, "http://127.0.0.1:8080", "http://localhost:8080")
        assert store.conn.execute("SELECT COUNT(*) FROM studio_projects").fetchone()[0] == 1
        # a re-bind to another project carries unfinished tasks over
        store.plan_tasks(4, [("s000", {}), ("s001", {}), ("s002", {})], cycle=None, batch="b")
        rows = store.tasks(4, ("planned",))
        store.open_tasks([(rows[0]["row_id"], 10), (rows[1]["row_id"], 11)])
        store.add_studio_project(9, "http://localhost:8080", "restored", CLASSES)
        assert store.carry_over_tasks(4, 9, {"s000": 70}) == (1, 2)
        assert store.studio_project()["studio_project_id"] == 9
        assert store.tasks(4, ("planned", "pending", "open")) == []
        moved = {
            r["sample_id"]: (r["state"], r["task_id"]) for r in store.tasks(9, ("planned", "open"))
        }
        assert moved == {"s000": ("open", 70), "s001": ("planned", None), "s002": ("planned", None)}


def test_marker_of_reads_relabels_line() -> None:
    assert marker_of(f"Label review.\n\n{MARKER_LABEL}: abc123\n") == "abc123"
    assert marker_of("Label review.") is None
    assert marker_of("") is None


# ------------------------------------------------------------------------------- studio


def count_projects(server: LocalServer) -> int:
    from label_studio_sdk import LabelStudio

    sdk = LabelStudio(base_url=server.url, api_key=server.token)
    return sum(1 for _ in sdk.projects.list(page_size=1000))


def tree_hash(root: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``root``."""
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*"))
        if f.is_file()
    }


def states(project: Path) -> list[str]:
    with Project.open(project) as p:
        return [r[0] for r in p.store.conn.execute("SELECT state FROM tasks ORDER BY row_id")]


def binding(project: Path) -> tuple[int, str]:
    with Project.open(project) as p:
        row = p.store.studio_project()
    return int(row["studio_project_id"]), str(row["url"])


@pytest.fixture
def reviewer(studio_client: StudioClient) -> int:
    return studio_client.ensure_user("ann@relabel.test")


@pytest.fixture
def new_client(studio_server: LocalServer) -> Iterator[list[StudioClient]]:
    """Clients made during a test (closed at its end)."""
    made: list[StudioClient] = []
    yield made
    for c in made:
        c.close()


def test_push_and_pull_carry_on_when_reached_as_localhost(
    tmp_path: Path,
    studio_server: LocalServer,
    studio_client: StudioClient,
    reviewer: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project = make_project(tmp_path, 6, budget=3)
    env = studio_env(studio_client, studio_server.token)
    first = relabel_cmd(["push", str(project)], env)
    assert first.returncode == 0, first.stderr
    sp, url = binding(project)
    assert url == studio_client.url
    description = studio_client.get_project(sp).description
    assert marker_of(description) is not None
    # the "created" line is logged once
    assert first.stderr.count(f"created Label Studio project {sp}") == 1
    n_projects = count_projects(studio_server)

    local = studio_client.url.replace("127.0.0.1", "localhost")
    assert local != studio_client.url
    lenv = {**env, "LABEL_STUDIO_URL": local}
    second = relabel_cmd(["-vv", "push", str(project)], lenv)
    assert second.returncode == 0, second.stderr
    assert f"Label Studio moved: project {sp} found at {local} (was {studio_client.url})" in (
        second.stderr
    )
    # -vv shows one line per HTTP request, with the status and the time it took
    assert re.search(rf"GET {re.escape(local)}/api/projects/{sp}/ -> 200 \(\d+ ms\)", second.stderr)
    assert binding(project) == (sp, local)
    assert count_projects(studio_server) == n_projects  # no second project
    tasks = task_map(project)
    assert sorted(tasks) == [f"s{i:03d}" for i in range(6)]
    in_studio = studio_client.list_task_sample_ids(sp)
    assert {k: len(v) for k, v in in_studio.items()} == dict.fromkeys(tasks, 1)
    assert {k: v[0] for k, v in in_studio.items()} == tasks
    assert set(states(project)) == {"open"}

    for task in tasks.values():
        annotate(studio_client, task, reviewer, "fox")
    pulled = relabel_cmd(["pull", str(project)], lenv)
    assert pulled.returncode == 0, pulled.stderr
    assert "moved" not in pulled.stderr  # already bound at localhost
    expected = [(f"s{i:03d}", "fox", "active", "review") for i in (0, 1, 3, 4)]
    assert versions(project) == expected
    # back at 127.0.0.1: another move; the pull finds nothing new
    back = relabel_cmd(["pull", str(project)], env)
    assert back.returncode == 0, back.stderr
    assert f"Label Studio moved: project {sp} found at {studio_client.url}" in back.stderr
    assert versions(project) == expected
    assert binding(project) == (sp, studio_client.url)
    assert count_projects(studio_server) == n_projects

    # the client logs each request on relabel.studio.http (a real server answering 200)
    caplog.set_level(logging.DEBUG, logger="relabel.studio.http")
    studio_client.get_project(sp)
    lines = [r.getMessage() for r in caplog.records if r.name == "relabel.studio.http"]
    assert any(re.fullmatch(rf"GET .*/api/projects/{sp}/ -> 200 \(\d+ ms\)", m) for m in lines)


def test_killed_push_finishes_after_the_server_moved_to_another_port(
    tmp_path: Path, own_studio_server: LocalServer, new_client: list[StudioClient]
) -> None:
    server = own_studio_server  # this test's own server: moving it disturbs no other test
    client = server.client(retries=3, backoff=0.05, max_backoff=0.2)
    new_client.append(client)
    reviewer = client.ensure_user("ann@relabel.test")
    project = make_project(tmp_path, 9, budget=9)
    env = studio_env(client, server.token)
    killed = relabel_killed(
        ["push", str(project), "--batch-size", "2"],
        {**env, "RELABEL_FAILPOINT": "push:after_import:2"},
    )
    assert killed.returncode == -9, killed.stderr  # SIGKILL after the 2nd batch's import
    s = states(project)
    assert (s.count("open"), s.count("pending"), s.count("planned")) == (2, 2, 5)
    sp, _ = binding(project)
    n_projects = count_projects(server)
    old_url, old_port = server.url, server.port
    server.restart()  # the same data folder and token, on a free port
    assert server.port != old_port
    new_url = server.url
    client = server.client(retries=3, backoff=0.05, max_backoff=0.2)
    new_client.append(client)
    nenv = {**env, "LABEL_STUDIO_URL": new_url}
    done = relabel_cmd(["push", str(project), "--batch-size", "2"], nenv)
    assert done.returncode == 0, done.stderr
    assert f"Label Studio moved: project {sp} found at {new_url} (was {old_url})" in (done.stderr)
    assert binding(project) == (sp, new_url)
    assert count_projects(server) == n_projects  # the same project, no second
    assert set(states(project)) == {"open"}  # nothing stuck planned or pending
    tasks = task_map(project)
    assert sorted(tasks) == [f"s{i:03d}" for i in range(9)]
    in_studio = client.list_task_sample_ids(sp)
    assert {k: len(v) for k, v in in_studio.items()} == dict.fromkeys(tasks, 1)
    assert {k: v[0] for k, v in in_studio.items()} == tasks

    for task in tasks.values():
        annotate(client, task, reviewer, "cat")
    pulled = relabel_cmd(["pull", str(project)], nenv)
    assert pulled.returncode == 0, pulled.stderr
    assert "moved" not in pulled.stderr
    corrected = [f"s{i:03d}" for i in range(9) if CLASSES[i % 3] != "cat"]
    assert versions(project) == [(sid, "cat", "active", "review") for sid in corrected]
    assert set(states(project)) == {"resolved"}


def test_a_bound_project_missing_at_the_new_url_exits_7_and_changes_nothing(
    tmp_path: Path, studio_server: LocalServer, studio_client: StudioClient
) -> None:
    env = studio_env(studio_client, studio_server.token)
    local = studio_client.url.replace("127.0.0.1", "localhost")
    lenv = {**env, "LABEL_STUDIO_URL": local}
    projects = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        project = make_project(tmp_path / name, 6, budget=3)
        assert relabel_cmd(["push", str(project)], env).returncode == 0
        projects.append(project)
    a, b = projects
    sp_a, _ = binding(a)
    sp_b, _ = binding(b)
    studio_client.delete_project(sp_a)
    n_projects = count_projects(studio_server)
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\ns000,cat\n")
    before = tree_hash(a)
    for args in (
        ["push", str(a)],
        ["pull", str(a)],
        ["review-simulate", str(a), "--truth", str(truth)],
    ):
        r = relabel_cmd(args, lenv)
        assert r.returncode == 7, (args, r.stderr)
        assert studio_client.url in r.stderr and local in r.stderr, r.stderr
        assert f"relabel studio bind {a} --studio-project ID" in r.stderr
        assert "Traceback" not in r.stderr
    assert tree_hash(a) == before
    assert count_projects(studio_server) == n_projects  # never a silent second project

    # the bound id exists at the new URL but is another relabel project's (same title and
    # classes): refused at the new URL and at the old one
    with sqlite3.connect(a / "relabel.db") as conn:
        conn.execute("UPDATE studio_projects SET studio_project_id = ?", (sp_b,))
    conn.close()
    before = tree_hash(a)
    for e in (lenv, env):
        r = relabel_cmd(["push", str(a)], e)
        assert r.returncode == 7, r.stderr
        assert "another relabel project" in r.stderr
        assert f"relabel studio bind {a} --studio-project ID" in r.stderr
    assert tree_hash(a) == before
    assert count_projects(studio_server) == n_projects
    in_b = studio_client.list_task_sample_ids(sp_b)  # B's project is untouched
    assert {k: v[0] for k, v in in_b.items()} == task_map(b) and len(in_b) == 3


def test_studio_bind(
    tmp_path: Path, studio_server: LocalServer, studio_client: StudioClient
) -> None:
    project = make_project(tmp_path, 6, budget=3)
    env = studio_env(studio_client, studio_server.token)
    assert relabel_cmd(["push", str(project)], env).returncode == 0
    sp, _ = binding(project)
    old_tasks = task_map(project)
    studio_client.delete_project(sp)  # lost with the old server
    local = studio_client.url.replace("127.0.0.1", "localhost")
    lenv = {**env, "LABEL_STUDIO_URL": local}

    def bind(target: int) -> object:
        return relabel_cmd(["studio", "bind", str(project), "--studio-project", str(target)], lenv)

    before = tree_hash(project)
    other = studio_client.create_project("other classes", build_label_config(["cat", "dog", "owl"]))
    refused = bind(other)
    assert refused.returncode == 7 and "classes" in refused.stderr, refused.stderr
    foreign = studio_client.create_project(
        "someone else's", build_label_config(CLASSES), f"{MARKER_LABEL}: 0123abcd"
    )
    refused = bind(foreign)
    assert refused.returncode == 7 and "another relabel project" in refused.stderr
    missing = bind(10_000_000)
    assert missing.returncode == 7 and "does not exist" in missing.stderr
    assert tree_hash(project) == before

    right = studio_client.create_project("restored by hand", build_label_config(CLASSES))
    n_projects = count_projects(studio_server)
    bound = bind(right)
    assert bound.returncode == 0, bound.stderr
    assert f"Label Studio project {right} at {local}" in bound.stdout
    assert "0 found" in bound.stdout and "3 to be pushed again" in bound.stdout
    assert binding(project) == (right, local)
    with Project.open(project) as p:
        marker = p.store.get_meta("studio_marker")
    assert marker and marker_of(studio_client.get_project(right).description) == marker

    pushed = relabel_cmd(["push", str(project)], lenv)
    assert pushed.returncode == 0, pushed.stderr
    assert "moved" not in pushed.stderr
    assert count_projects(studio_server) == n_projects  # pushed into the bound project
    tasks = task_map(project)
    assert sorted(tasks) == sorted(old_tasks)  # the same samples, re-sent
    in_studio = studio_client.list_task_sample_ids(right)
    assert {k: len(v) for k, v in in_studio.items()} == dict.fromkeys(tasks, 1)
    assert {k: v[0] for k, v in in_studio.items()} == tasks
    assert set(states(project)) == {"open"}
