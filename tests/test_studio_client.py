"""The Label Studio edge: labeling config (pure) and StudioClient against a REAL server."""

from __future__ import annotations

import contextlib
import http.server
import io
import logging
import re
import sqlite3
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from relabel.demo.reviewers import REVIEWER_EMAIL, simulate_reviews, simulated_answer
from relabel.errors import (
    ConfigError,
    DatasetError,
    StudioAuthError,
    StudioConfigMismatchError,
    StudioError,
    StudioProjectMissingError,
    StudioUnreachableError,
)
from relabel.studio import server as server_mod
from relabel.studio.client import Prediction, StudioClient, TaskSpec, to_dm_datetime
from relabel.studio.labeling import (
    NOT_SURE,
    NOT_VALID,
    build_label_config,
    parse_classes,
)
from relabel.studio.models import choice_of
from tests.imagefiles import write_png

CLASSES = ["cat", "dog", 'a & b <"c">']


# ------------------------------------------------------------------------------- pure


def test_label_config_round_trips_classes() -> None:
    config = build_label_config(CLASSES)
    assert parse_classes(config) == CLASSES
    root = ET.fromstring(config)
    choices = [c.get("value") for c in root.iter("Choice")]
    assert choices == [*CLASSES, NOT_SURE, NOT_VALID]
    # only ONE named object tag: the image; the header is unnamed
    named_objects = [e for e in root.iter() if e.tag not in ("Choices",) and e.get("name")]
    assert [e.tag for e in named_objects] == ["Image"]
    header = next(root.iter("Header"))
    assert header.get("name") is None
    for var in ("$given_label", "$predicted_label", "$predicted_confidence"):
        assert var in (header.get("value") or "")
    tag = next(root.iter("Choices"))
    assert tag.get("required") == "true" and tag.get("showInline") == "true"
    hotkeys = [c.get("hotkey") for c in root.iter("Choice")]
    assert hotkeys[:3] == ["1", "2", "3"] and hotkeys[-2:] == ["n", "x"]
    assert len(set(hotkeys)) == len(hotkeys)


def test_label_config_many_classes_and_bad_names() -> None:
    many = [f"class{i}" for i in range(40)]
    config = build_label_config(many)
    assert parse_classes(config) == many
    hotkeys = [c.get("hotkey") for c in ET.fromstring(config).iter("Choice") if c.get("hotkey")]
    assert len(set(hotkeys)) == len(hotkeys)
    for bad in ([], ["a", "a"], [""], [" a"], [NOT_SURE], ["x\ny"]):
        with pytest.raises(ValueError):
            build_label_config(bad)


def test_parse_classes_rejects_foreign_configs() -> None:
    with pytest.raises(StudioConfigMismatchError):
        parse_classes("<View><Image name='i' value='$i'/>")
    with pytest.raises(StudioConfigMismatchError):
        parse_classes("<View><Image name='i' value='$i'/></View>")
    other = (
        "<View><Image name='i' value='$i'/><Choices name='x' toName='i'>"
        "<Choice value='p'/><Choice value='Not sure'/></Choices></View>"
    )
    assert parse_classes(other) == ["p"]


def test_dm_datetime_format() -> None:
    assert to_dm_datetime("2026-01-02T03:04:05Z") == "2026-01-02T03:04:05.000000Z"
    assert to_dm_datetime("2026-01-02T05:04:05.5+02:00") == "2026-01-02T03:04:05.500000Z"
    with pytest.raises(ValueError):
        to_dm_datetime("yesterday")


def test_simulated_answers_are_deterministic() -> None:
    choices = ["a", "b", "c", NOT_VALID]
    kw = {"accuracy": 0.6, "skip_rate": 0.2}
    first = [
        simulated_answer(7, f"s{i}", r, "a", choices, **kw) for i in range(300) for r in (1, 2)
    ]
    again = [
        simulated_answer(7, f"s{i}", r, "a", choices, **kw) for i in range(300) for r in (1, 2)
    ]
    assert first == again
    skips = sum(a is None for a in first) / len(first)
    right = sum(a == "a" for a in first) / sum(a is not None for a in first)
    assert 0.12 < skips < 0.28 and 0.5 < right < 0.7
    assert {a for a in first if a is not None} <= set(choices)
    assert simulated_answer(8, "s0", 1, "a", choices, accuracy=1.0, skip_rate=0.0) == "a"


def test_client_rejects_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError):
        StudioClient("localhost:8080", "token123")
    with pytest.raises(ConfigError):
        StudioClient("http://127.0.0.1:8080", " ")
    monkeypatch.delenv("RELABEL_TEST_LS_URL", raising=False)
    monkeypatch.setenv("RELABEL_TEST_LS_KEY", "abcdef123")
    with pytest.raises(ConfigError, match="RELABEL_TEST_LS_URL"):
        StudioClient.from_env("RELABEL_TEST_LS_URL", "RELABEL_TEST_LS_KEY")
    monkeypatch.setenv("RELABEL_TEST_LS_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("RELABEL_TEST_LS_KEY")
    with pytest.raises(ConfigError, match="RELABEL_TEST_LS_KEY"):
        StudioClient.from_env("RELABEL_TEST_LS_URL", "RELABEL_TEST_LS_KEY")


def test_unreachable_server_is_reported_with_its_url(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="relabel.studio.http")
    url = f"http://127.0.0.1:{server_mod.free_port()}"
    client = StudioClient(url, "token-123456", retries=2, backoff=0.01)
    with pytest.raises(StudioUnreachableError, match=r"127\.0\.0\.1"):
        client.check()
    # it gave up after its two tries (one log line each), without waiting on anything else
    tries = [r.getMessage() for r in caplog.records if r.name == "relabel.studio.http"]
    assert len(tries) == 2, tries
    for line in tries:
        assert re.fullmatch(rf"GET {re.escape(url)}/api/version -> ConnectError \(\d+ ms\)", line)
    with pytest.raises(StudioUnreachableError):
        client.import_tasks(1, [TaskSpec("s1", "data:image/png;base64,AAAA")], "inline")


# ------------------------------------------------------------------------------- helpers


def _project(client: StudioClient, classes: list[str] | None = None) -> int:
    return client.create_project(
        f"test {uuid.uuid4().hex[:8]}", build_label_config(classes or CLASSES), "a test project"
    )


def _images(folder: Path, n: int, prefix: str = "img") -> list[Path]:
    return [write_png(folder / f"{prefix}{i}.png", seed=i, mode="RGB") for i in range(n)]


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on 127.0.0.1 serving a temporary folder (for the url mode)."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    finally:
        httpd.shutdown()
        httpd.server_close()


# ------------------------------------------------------------------------------- server


def test_check_and_token_secrecy(
    studio_server: server_mod.LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = studio_server.token
    caplog.set_level(logging.DEBUG)
    client = studio_server.client(retries=2, backoff=0.01)
    assert client.check() == server_mod.DEFAULT_VERSION
    pid = _project(client)
    client.get_project(pid)
    bad = StudioClient(studio_server.url, token + "x", retries=1)
    with pytest.raises(StudioAuthError) as err:
        bad.get_project(pid)
    for text in (repr(client), repr(studio_server), caplog.text, str(err.value)):
        assert token not in text
    for name in (server_mod.LOG_FILE, server_mod.PID_FILE):
        assert token not in (studio_server.data_dir / name).read_text(errors="replace")


def test_wrong_token_is_an_auth_error(studio_server: server_mod.LocalServer) -> None:
    bad = StudioClient(studio_server.url, "not-the-token-123", retries=3, backoff=0.01)
    with pytest.raises(StudioAuthError, match="refused"):
        bad.check()
    with pytest.raises(StudioAuthError):
        bad.list_reviewed_tasks(1)


def test_personal_access_token_works(studio_client: StudioClient) -> None:
    resp = studio_client._raw("POST", "/api/token/")  # create a personal access token
    pat = resp.json()["token"]
    assert pat.count(".") == 2  # a JWT refresh token
    client = StudioClient(studio_client.url, pat, retries=1)
    pid = _project(client)
    assert client.project_classes(pid) == CLASSES


def test_project_round_trip_and_deletion(studio_client: StudioClient) -> None:
    pid = _project(studio_client)
    info = studio_client.get_project(pid)
    assert info.title.startswith("test ") and info.description == "a test project"
    assert studio_client.project_classes(pid) == CLASSES
    studio_client.delete_project(pid)
    with pytest.raises(StudioProjectMissingError, match=str(pid)):
        studio_client.get_project(pid)
    with pytest.raises(StudioProjectMissingError):
        studio_client.list_reviewed_tasks(pid)
    with pytest.raises(StudioProjectMissingError):
        studio_client.import_tasks(pid, [TaskSpec("s", "data:image/png;base64,AA")], "inline")
    with pytest.raises(StudioProjectMissingError):
        studio_client.delete_project(pid)
    studio_client.delete_project(pid, missing_ok=True)


@pytest.mark.parametrize("mode", ["upload", "local-files", "inline", "url"])
def test_import_serves_the_images(
    mode: str,
    studio_client: StudioClient,
    studio_document_root: Path,
    http_files: tuple[str, Path],
) -> None:
    pid = _project(studio_client)
    base, www = http_files
    folder = www if mode == "url" else studio_document_root / f"imgs-{uuid.uuid4().hex[:6]}"
    files = _images(folder, 5)
    images = [f"{base}/{p.name}" for p in files] if mode == "url" else files
    specs = [
        TaskSpec(
            f"{mode}-{i}",
            img,
            {"given_label": "cat", "suspicion": 0.25 * i, "rank": i, "cycle": 1},
            Prediction("dog", 0.75, "run-1") if i % 2 else {"label": "cat", "score": 0.5},
        )
        for i, img in enumerate(images)
    ]
    ids = studio_client.import_tasks(pid, specs, mode)
    assert len(ids) == 5 and ids == sorted(ids)
    for spec, task_id, path in zip(specs, ids, files, strict=True):
        task = studio_client.get_task(task_id)
        data = task["data"]
        assert data["sample_id"] == spec.sample_id
        assert data["given_label"] == "cat" and data["rank"] == spec.data["rank"]
        assert data["predicted_label"] in ("cat", "dog") and data["predicted_confidence"]
        assert len(task["predictions"]) == 1
        assert studio_client.fetch_image(task_id) == path.read_bytes()
    assert studio_client.get_project(pid).task_count == 5


def test_upload_pipeline_keeps_order_and_converts_other_formats(
    studio_server: server_mod.LocalServer, tmp_path: Path
) -> None:
    client = studio_server.client(
        upload_batch_size=3, import_batch_size=4, threads=2, retries=2, backoff=0.01
    )
    pid = _project(client)
    files = _images(tmp_path / "many", 10)
    tif = tmp_path / "odd name #1.tif"
    Image.new("RGB", (9, 7), (10, 200, 30)).save(tif)
    specs = [TaskSpec(f"u{i}", p) for i, p in enumerate(files)] + [TaskSpec("tif", tif)]
    ids = client.import_tasks(pid, specs)
    assert ids == sorted(ids) and len(set(ids)) == 11
    for spec, task_id in zip(specs[:-1], ids, strict=False):
        assert client.get_task(task_id)["data"]["sample_id"] == spec.sample_id
        assert client.fetch_image(task_id) == Path(spec.image).read_bytes()
    converted = Image.open(io.BytesIO(client.fetch_image(ids[-1])))
    assert converted.format == "PNG" and converted.getpixel((3, 3)) == (10, 200, 30)
    with pytest.raises(DatasetError, match="missing"):
        client.import_tasks(pid, [TaskSpec("gone", tmp_path / "missing.png")])


def test_import_mode_errors(studio_client: StudioClient, tmp_path: Path) -> None:
    pid = _project(studio_client)
    img = write_png(tmp_path / "x.png", 1)
    with pytest.raises(ConfigError, match="document root"):
        studio_client.import_tasks(pid, [TaskSpec("x", img)], "local-files")
    with pytest.raises(ConfigError, match="url"):
        studio_client.import_tasks(pid, [TaskSpec("x", img)], "url")
    with pytest.raises(ConfigError):
        studio_client.import_tasks(pid, [TaskSpec("x", img)], "ftp")
    with pytest.raises(ValueError, match="duplicate"):
        studio_client.import_tasks(pid, [TaskSpec("x", img), TaskSpec("x", img)], "inline")
    with pytest.raises(ValueError, match="reserved"):
        studio_client.import_tasks(pid, [TaskSpec("x", img, {"image": "y"})], "inline")
    assert studio_client.get_project(pid).task_count == 0


def test_find_tasks_by_sample_ids(studio_client: StudioClient) -> None:
    pid = _project(studio_client)
    uri = "data:image/png;base64,AAAA"
    ids = studio_client.import_tasks(pid, [TaskSpec(f"s{i}", uri) for i in range(12)], "inline")
    again = studio_client.import_tasks(pid, [TaskSpec("s3", uri)], "inline")  # a duplicate
    found = studio_client.find_tasks_by_sample_ids(pid, ["s1", "s3", "s11", "nope"])
    assert found == {"s1": [ids[1]], "s3": sorted([ids[3], again[0]]), "s11": [ids[11]]}
    everything = studio_client.list_task_sample_ids(pid)
    assert len(everything) == 12 and everything["s3"] == sorted([ids[3], again[0]])
    assert studio_client.find_tasks_by_sample_ids(pid, []) == {}


def test_reviewed_tasks_incremental_with_skips(studio_client: StudioClient) -> None:
    pid = _project(studio_client)
    uri = "data:image/png;base64,AAAA"
    ids = studio_client.import_tasks(pid, [TaskSpec(f"r{i}", uri) for i in range(5)], "inline")
    alice = studio_client.ensure_user("alice@relabel.test")
    bob = studio_client.ensure_user("bob@relabel.test")
    assert studio_client.ensure_user("ALICE@relabel.test") == alice != bob
    assert studio_client.list_reviewed_tasks(pid) == []

    a1 = studio_client.create_annotation(ids[0], "dog", alice)
    studio_client.create_annotation(ids[0], None, bob, was_cancelled=True)
    studio_client.create_annotation(ids[1], None, alice, was_cancelled=True)  # only a skip
    first = studio_client.list_reviewed_tasks(pid)
    assert [t.task_id for t in first] == [ids[0], ids[1]]
    t0, t1 = first
    assert t0.sample_id == "r0" and t1.sample_id == "r1"
    assert [(a.user, a.choice, a.was_cancelled) for a in t0.annotations] == [
        ("alice@relabel.test", "dog", False),
        ("bob@relabel.test", None, True),
    ]
    assert t0.annotations[0].id == a1 and t0.annotations[0].user_id == alice
    assert [(a.choice, a.was_cancelled) for a in t1.annotations] == [(None, True)]
    assert first.watermark and first.watermark.endswith("Z")

    # nothing is newer than the newest update seen
    cursor = max(t.updated_at for t in first)
    assert studio_client.list_reviewed_tasks(pid, cursor) == []
    # the watermark lies a few seconds before the listing: it re-reads, never misses
    assert {t.task_id for t in studio_client.list_reviewed_tasks(pid, first.watermark)} == {
        ids[0],
        ids[1],
    }
    studio_client.update_annotation(a1, NOT_VALID)
    studio_client.create_annotation(ids[3], "cat", bob)
    later = studio_client.list_reviewed_tasks(pid, cursor)
    assert [t.task_id for t in later] == [ids[0], ids[3]]
    assert later[0].annotations[0].choice == NOT_VALID
    assert later[0].updated_at > cursor
    assert {ids[0], ids[3]} <= {
        t.task_id for t in studio_client.list_reviewed_tasks(pid, first.watermark)
    }


def test_reviewed_tasks_over_several_pages_match_each_task(
    studio_client: StudioClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paged listing (annotations expanded by the server) says what each task says."""
    monkeypatch.setattr("relabel.studio.tasks.REVIEWED_PAGE_SIZE", 2)
    pid = _project(studio_client)
    uri = "data:image/png;base64,AAAA"
    specs = [TaskSpec(f"p{i}", uri, prediction=Prediction("dog", 0.9)) for i in range(6)]
    ids = studio_client.import_tasks(pid, specs, "inline")
    alice = studio_client.ensure_user("alice@relabel.test")
    bob = studio_client.ensure_user("bob@relabel.test")
    studio_client.create_annotation(ids[0], "cat", alice)
    studio_client.create_annotation(ids[0], "dog", bob)
    studio_client.create_annotation(ids[2], None, bob, was_cancelled=True)  # only a skip
    for i in (3, 4, 5):
        studio_client.create_annotation(ids[i], "dog", alice)
    listed = studio_client.list_reviewed_tasks(pid)
    assert [t.task_id for t in listed] == [ids[0], ids[2], ids[3], ids[4], ids[5]]
    emails = {alice: "alice@relabel.test", bob: "bob@relabel.test"}
    for task in listed:
        served = studio_client.get_task(task.task_id)
        assert task.sample_id == served["data"]["sample_id"]
        expected = []
        for a in sorted(served["annotations"], key=lambda a: a["id"]):
            cb = a["completed_by"]
            uid = cb["id"] if isinstance(cb, dict) else cb
            choice = None if a["was_cancelled"] else choice_of(a["result"])
            expected.append((a["id"], emails[uid], uid, choice, a["was_cancelled"]))
        got = [(a.id, a.user, a.user_id, a.choice, a.was_cancelled) for a in task.annotations]
        assert got == expected
    assert listed[0].annotations[0].choice == "cat"  # not the pre-annotation


def test_import_chunks_resolve_references_ahead(
    studio_server: server_mod.LocalServer, studio_document_root: Path, tmp_path: Path
) -> None:
    """Several import chunks: order kept; a bad file in a later chunk stops the import there."""
    client = studio_server.client(import_batch_size=2, retries=2, backoff=0.01)
    pid = _project(client)
    urls = [f"http://127.0.0.1:9/img/{i}.png" for i in range(5)]
    ids = client.import_tasks(pid, [TaskSpec(f"w{i}", u) for i, u in enumerate(urls)], "url")
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert [client.get_task(t)["data"]["image"] for t in ids] == urls
    inside = _images(studio_document_root / f"ahead-{uuid.uuid4().hex[:6]}", 4)
    outside = write_png(tmp_path / "outside.png", 1)
    specs = [TaskSpec(f"f{i}", p) for i, p in enumerate([*inside, outside])]
    with pytest.raises(ConfigError, match="outside the Label Studio document root"):
        client.import_tasks(pid, specs, "local-files")
    assert client.get_project(pid).task_count == 5 + 4  # the two chunks before it
    client.close()


def test_ambiguous_import_failure_is_reconciled(
    studio_client: StudioClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lost after the server imported: the retry must not duplicate tasks."""
    pid = _project(studio_client)
    real = studio_client._raw
    calls = {"n": 0}

    def flaky(method: str, path: str, **kw):  # type: ignore[no-untyped-def]
        resp = real(method, path, **kw)
        if method == "POST" and path.endswith("/import") and calls["n"] == 0:
            calls["n"] += 1
            raise httpx.ReadTimeout("lost the answer")
        return resp

    monkeypatch.setattr(studio_client, "_raw", flaky)
    uri = "data:image/png;base64,AAAA"
    ids = studio_client.import_tasks(pid, [TaskSpec(f"k{i}", uri) for i in range(4)], "inline")
    monkeypatch.undo()
    assert calls["n"] == 1
    assert studio_client.get_project(pid).task_count == 4
    assert [studio_client.get_task(i)["data"]["sample_id"] for i in ids] == [
        f"k{i}" for i in range(4)
    ]


def test_transient_failures_are_retried(
    studio_client: StudioClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = _project(studio_client)
    uri = "data:image/png;base64,AAAA"
    (task,) = studio_client.import_tasks(pid, [TaskSpec("t", uri)], "inline")
    user = studio_client.ensure_user("carol@relabel.test")
    real = studio_client._raw
    failures = {"get": 0, "post": 0}

    def flaky(method: str, path: str, **kw):  # type: ignore[no-untyped-def]
        if method == "GET" and failures["get"] < 2:
            failures["get"] += 1
            raise httpx.ConnectError("connection refused")
        resp = real(method, path, **kw)
        if method == "POST" and "/annotations/" in path and failures["post"] == 0:
            failures["post"] += 1
            raise httpx.RemoteProtocolError("connection reset")
        return resp

    monkeypatch.setattr(studio_client, "_raw", flaky)
    assert studio_client.list_task_sample_ids(pid) == {"t": [task]}
    ann = studio_client.create_annotation(task, "cat", user)
    monkeypatch.undo()
    assert failures == {"get": 2, "post": 1}
    (reviewed,) = studio_client.list_reviewed_tasks(pid)
    assert [a.id for a in reviewed.annotations] == [ann]  # no duplicate annotation


def test_simulated_reviewers(studio_client: StudioClient) -> None:
    pid = _project(studio_client, ["cat", "dog", "bird"])
    uri = "data:image/png;base64,AAAA"
    ids = studio_client.import_tasks(pid, [TaskSpec(f"v{i}", uri) for i in range(6)], "inline")
    truth = {f"v{i}": ["cat", "dog", "bird"][i % 3] for i in range(5)}  # v5 has no truth
    summary = simulate_reviews(
        studio_client, pid, truth, accuracy=1.0, reviewers=2, skip_rate=0.0, seed=3, threads=3
    )
    assert summary.created == 10 and summary.answered_tasks == 5
    assert summary.missing_truth == 1 and summary.correct == 10 and summary.wrong == 0
    reviewed = {t.sample_id: t for t in studio_client.list_reviewed_tasks(pid)}
    assert set(reviewed) == set(truth)
    emails = {REVIEWER_EMAIL.format(k=1), REVIEWER_EMAIL.format(k=2)}
    for sid, task in reviewed.items():
        assert {a.user for a in task.annotations} == emails
        assert [a.choice for a in task.annotations] == [truth[sid]] * 2
    again = simulate_reviews(
        studio_client, pid, truth, accuracy=1.0, reviewers=2, skip_rate=0.0, seed=3
    )
    assert again.created == 0 and again.already_complete == 5
    # a third reviewer only adds its own answers; earlier answers stay as they were
    more = simulate_reviews(
        studio_client, pid, truth, accuracy=0.0, reviewers=3, skip_rate=0.0, seed=3
    )
    assert more.created == 5 and more.wrong == 5
    after = {t.sample_id: t for t in studio_client.list_reviewed_tasks(pid)}
    for sid in truth:
        assert [a.id for a in after[sid].annotations][:2] == [
            a.id for a in reviewed[sid].annotations
        ]
    assert ids


def test_webhook_reaches_a_local_receiver(studio_client: StudioClient) -> None:
    received: list[bytes] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        pid = _project(studio_client)
        hook_id = studio_client.create_webhook(pid, f"http://127.0.0.1:{httpd.server_address[1]}/")
        assert hook_id > 0
        (task,) = studio_client.import_tasks(pid, [TaskSpec("w", "data:image/png;base64,AA")])
        studio_client.create_annotation(task, "cat", studio_client.ensure_user("w@relabel.test"))
        deadline = time.monotonic() + 10
        while not any(b"ANNOTATION_CREATED" in r for r in received) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(b"ANNOTATION_CREATED" in r for r in received)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_server_refuses_a_second_start(
    studio_server: server_mod.LocalServer, tmp_path: Path
) -> None:
    venv = server_mod.default_venv()
    with pytest.raises(StudioError, match="already running"):
        server_mod.start_server(
            venv, studio_server.data_dir, username="a@b.c", password="x" * 10, token="y" * 10
        )
    with pytest.raises(StudioError, match=f"port {studio_server.port}"):
        server_mod.start_server(
            venv,
            tmp_path / "other",
            port=studio_server.port,
            username="a@b.c",
            password="x" * 10,
            token="y" * 10,
        )
    assert server_mod.server_status(studio_server.data_dir)["pid"] == studio_server.pid
    assert server_mod.stop_server(tmp_path / "nothing-here") is False
    assert studio_server.alive()
    # a restarted data folder keeps its first token: start_server checks the one given
    assert server_mod._token_accepted(studio_server.url, studio_server.token)
    assert not server_mod._token_accepted(studio_server.url, "another-token-123")


def test_a_new_data_folder_is_a_copy_of_the_migrated_template(
    studio_server: server_mod.LocalServer,
    own_studio_server: server_mod.LocalServer,
    tmp_path: Path,
) -> None:
    """Label Studio's migrations run once per version, into the cached template; a new data
    folder is a copy of it that starts without migrating, with its own admin, token and
    secret key (the template holds none)."""
    own, venv = own_studio_server, studio_server.venv_dir
    assert venv is not None
    version = server_mod.installed_version(venv)
    assert version is not None
    template = server_mod.template_dir(version)
    names = {p.name for p in template.iterdir()}
    assert server_mod.DATABASE in names
    assert not names & {".env", server_mod.PID_FILE, server_mod.LOG_FILE}
    uri = f"file:{template / server_mod.DATABASE}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        assert db.execute("SELECT COUNT(*) FROM django_migrations").fetchone()[0] > 100
        assert db.execute("SELECT COUNT(*) FROM htx_user").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM authtoken_token").fetchone() == (0,)
    for file in template.rglob("*"):
        if file.is_file():
            assert studio_server.token.encode() not in file.read_bytes(), file
            assert own.token.encode() not in file.read_bytes(), file
    # the copy started without migrating (Label Studio prints this before it migrates)
    assert "Initializing database" not in own.log_file.read_text()

    # each server has its own admin and token, and its own secret key
    assert server_mod._token_accepted(own.url, own.token)
    assert not server_mod._token_accepted(own.url, studio_server.token)
    assert not server_mod._token_accepted(studio_server.url, own.token)
    keys = [(d / ".env").read_text() for d in (studio_server.data_dir, own.data_dir)]
    assert all("SECRET_KEY=" in k for k in keys) and keys[0] != keys[1]

    # a folder that was started before is left alone; a new one is filled
    assert server_mod.seed_data_dir(venv, own.data_dir) is False
    fresh = tmp_path / "fresh"
    assert server_mod.seed_data_dir(venv, fresh) is True
    assert (fresh / server_mod.DATABASE).read_bytes() == (
        template / server_mod.DATABASE
    ).read_bytes()
    assert not (fresh / ".env").exists()
    assert server_mod.seed_data_dir(venv, fresh) is False


def test_stop_server_by_pid_file(tmp_path: Path) -> None:
    """stop_server ends the process group named in the pid file, and only a Label Studio."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "import time; time.sleep(120)", "label-studio"]
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        (tmp_path / server_mod.PID_FILE).write_text(json.dumps({"pid": proc.pid, "port": 1}))
        assert server_mod.server_status(tmp_path) is not None
        assert server_mod.stop_server(tmp_path, timeout=5) is True
        assert proc.wait(timeout=5) is not None
        assert not (tmp_path / server_mod.PID_FILE).exists()
        assert server_mod.server_status(tmp_path) is None
        assert server_mod.stop_server(tmp_path) is False
    finally:
        if proc.poll() is None:
            proc.kill()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:  # a pid file pointing at some other program: never killed
        (tmp_path / server_mod.PID_FILE).write_text(json.dumps({"pid": other.pid}))
        assert server_mod.stop_server(tmp_path) is False
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_default_venv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(server_mod.VENV_ENV, str(tmp_path / "v"))
    assert server_mod.default_venv() == tmp_path / "v"
    monkeypatch.delenv(server_mod.VENV_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert server_mod.default_venv() == tmp_path / "xdg" / "relabel" / "studio-venv"
    assert server_mod.installed_version(tmp_path / "nothing") is None
    with pytest.raises(StudioError, match="no Label Studio"):
        server_mod.start_server(
            tmp_path / "nothing", tmp_path / "d", username="a@b.c", password="x" * 8, token="y" * 8
        )


def test_upload_falls_back_to_smaller_batches(
    studio_server: server_mod.LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that takes fewer files per request (Label Studio's default is 100)."""
    from relabel.studio import client as client_mod

    client = studio_server.client(upload_batch_size=8, retries=2, backoff=0.01)
    real = client._raw

    def limited(method: str, path: str, **kw):  # type: ignore[no-untyped-def]
        if kw.get("files") and len(kw["files"]) > 3:
            raise client_mod._HTTPError(
                500, "The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES."
            )
        return real(method, path, **kw)

    monkeypatch.setattr(client, "_raw", limited)
    pid = _project(client)
    files = _images(tmp_path / "few", 7)
    ids = client.import_tasks(pid, [TaskSpec(f"f{i}", p) for i, p in enumerate(files)])
    assert client.upload_batch_size <= 3
    assert [client.fetch_image(i) for i in ids] == [p.read_bytes() for p in files]
