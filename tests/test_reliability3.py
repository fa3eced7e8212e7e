"""Reliability and security, round 3: the cases of the third reliability issue.

The same table as :mod:`tests.test_reliability` (one :class:`~tests.test_reliability.Case`
per bad input or fault: exit code, message, the project folder unchanged or what must
have changed), for read-only projects, the project lock, Ctrl-C, tasks deleted in Label
Studio, secrets in debug logs and stranded samples; and the faults that need their own
test function (a real Label Studio, a process killed at a failpoint). Every case here
did not hold before that issue (``issue=True``). ``docs/reliability.md`` lists both
tables (``tests/reliability_readme.py``).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from relabel.errors import StudioUnreachableError
from relabel.loop.pull import pull
from relabel.loop.push import push
from relabel.project import Project
from relabel.studio.client import StudioClient
from tests.test_reliability import (
    INVALID,
    LOCKED,
    ROOT,
    STUDIO,
    Case,
    Fault,
    _after,
    _created,
    _no_runs,
    _nothing_at,
    data,
    init_argv,
    project,
    relabel_child,
    relabel_here,
    run_case,
    set_key,
    studio_env,
    trained,
    tree,
)

# ---------------------------------------------------------------------------------------
# Setups and checks
# ---------------------------------------------------------------------------------------


def _old_schema(proj: Path) -> None:
    """Mark the store as schema 1, as a store written by an older relabel is: a writable
    open migrates it (and so changes the file)."""
    conn = sqlite3.connect(proj / "relabel.db")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()


def _no_side_files(tmp: Path, out: str) -> None:
    left = [p.name for p in (tmp / "proj").iterdir() if p.name.endswith(("-wal", "-shm"))]
    assert not left, left


def _wrote(name: str) -> object:
    def check(tmp: Path, out: str) -> None:
        assert (tmp / name).exists(), out
        _no_side_files(tmp, out)

    return check


def _foreign_holdout(proj: Path) -> None:
    """A held-out manifest whose second row names a class the project does not have."""
    held = proj.parent / "held"
    held.mkdir()
    for name in ("h0.png", "h1.png"):
        (held / name).write_bytes((proj.parent / "img" / "000.png").read_bytes())
    (held / "holdout.csv").write_text("id,path,label\nh0,h0.png,cat\nh1,h1.png,cow\n")
    set_key(proj, "dataset", "holdout", f'"{held / "holdout.csv"}"')


def _manifest_edited(edit: Callable[[str], str], *extra: str) -> Callable[[Path], list[str]]:
    """Setup: the twelve-image manifest (``s000,img/cat_000.png,cat`` ...) with its text
    edited, then init."""

    def setup(tmp: Path) -> list[str]:
        manifest = data(tmp)
        manifest.write_text(edit(manifest.read_text()))
        return init_argv(tmp, manifest, *extra)

    return setup


def _classes_are(*classes: str) -> Callable[[Path, str], None]:
    def check(tmp: Path, out: str) -> None:
        with Project.open(tmp / "proj") as p:
            assert p.store.classes == list(classes)
            assert p.store.n_samples() == 12

    return check


def _no_secret_placeholder(tmp: Path, out: str) -> None:
    assert "change-me-label-studio-token" not in out, out  # the value is never shown


_NOT_WRITABLE = r"proj is not writable \({}\)[\s\S]*nothing was done"
_FOLDER_RO = _NOT_WRITABLE.format("its folder is read-only")
_DB_RO = _NOT_WRITABLE.format(r"relabel\.db is read-only")

CASES: list[Case] = [
    # -- a read-only project: a mounted snapshot, or a store without write permission ------
    Case(
        "read-only-folder-status",
        "status on a read-only project folder (a mounted snapshot)",
        _after(trained, "status", "PROJ"),
        0,
        r"project proj: 9 samples",
        read_only="proj",
        then=_no_side_files,
        issue=True,
    ),
    Case(
        "read-only-folder-export",
        "export --out elsewhere from a read-only project folder",
        _after(trained, "export", "PROJ", "--out", "TMP/e.csv"),
        0,
        r"wrote 9 rows to .*e\.csv",
        read_only="proj",
        then=_wrote("e.csv"),
        issue=True,
    ),
    Case(
        "read-only-folder-report",
        "report --out elsewhere from a read-only project folder",
        _after(trained, "report", "PROJ", "--out", "TMP/rep"),
        0,
        r"wrote .*rep/report\.html",
        read_only="proj",
        then=_wrote("rep/report.html"),
        issue=True,
    ),
    Case(
        "read-only-folder-train",
        "train in a read-only project folder",
        _after(project, "train", "PROJ"),
        INVALID,
        _FOLDER_RO,
        read_only="proj",
        then=_no_runs,
        issue=True,
    ),
    Case(
        "read-only-folder-pull",
        "pull in a read-only project folder",
        _after(trained, "pull", "PROJ"),
        INVALID,
        _FOLDER_RO,
        env=studio_env(),
        read_only="proj",
        issue=True,
    ),
    Case(
        "read-only-store-train",
        "train with only relabel.db read-only (no -wal/-shm left)",
        _after(project, "train", "PROJ"),
        INVALID,
        _DB_RO,
        read_only="proj/relabel.db",
        then=_no_runs,
        issue=True,
    ),
    Case(
        "read-only-store-status",
        "status with only relabel.db read-only (no -wal/-shm left)",
        _after(trained, "status", "PROJ"),
        0,
        r"project proj: 9 samples",
        read_only="proj/relabel.db",
        then=_no_side_files,
        issue=True,
    ),
    # -- found by reading the code ---------------------------------------------------------
    *[
        Case(
            f"holdout-label-not-a-class-{command}",
            f"{command} with a held-out manifest whose label is not a class",
            _after(trained, command, "PROJ", edit=_foreign_holdout),
            INVALID,
            r"dataset\.holdout = .*1 row\(s\) with a label that is not one of the project's "
            r"classes[\s\S]*holdout\.csv line 3: label 'cow' is not a class",
            env=studio_env(),
            issue=True,
        )
        for command in ("cycle", "push")
    ],
    # -- push checks what it needs before it creates a Label Studio project ------------------
    Case(
        "push-runs-folder-missing",
        "push after runs/ was deleted (checked before Label Studio is called)",
        _after(trained, "push", "PROJ", edit=lambda p: shutil.rmtree(p / "runs")),
        INVALID,
        r"test-run.*(missing|not found|gone)",
        env=studio_env(),
        issue=True,
    ),
    Case(
        "push-local-files-without-document-root",
        'push with image_mode = "local-files" and no document root',
        _after(
            trained,
            "push",
            "PROJ",
            edit=lambda p: set_key(p, "review", "image_mode", '"local-files"'),
        ),
        INVALID,
        r"image mode local-files needs the server's document root",
        env={**studio_env(), "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": None},
        issue=True,
    ),
    # -- ids and labels: warned about, never changed silently ---------------------------------
    Case(
        "spaced-id-warned",
        'a manifest id "  s001  " (spaces around it)',
        _manifest_edited(lambda t: t.replace("s001,", "  s001  ,")),
        0,
        r"W manifest\.csv: 1 id\(s\) with spaces around them, trimmed: line 3 '  s001  ' "
        r"is read as 's001'; export writes the trimmed ids",
        unchanged=False,
        then=_created(12),
        issue=True,
    ),
    Case(
        "spaced-label-warned",
        'a manifest label " dog" (a space before it) among "dog"',
        _manifest_edited(lambda t: t.replace("img/dog_006.png,dog", "img/dog_006.png, dog")),
        0,
        r"W manifest\.csv: 1 label\(s\) with spaces around them, trimmed: line 8 ' dog' is "
        r"read as 'dog'",
        unchanged=False,
        then=_classes_are("cat", "dog"),
        issue=True,
    ),
    Case(
        "labels-differing-by-case",
        'labels "Cat" and "cat" in one manifest',
        _manifest_edited(lambda t: t.replace(",dog\n", ",Cat\n")),
        0,
        r"W labels 'Cat', 'cat' differ only by case: they are 2 classes",
        unchanged=False,
        then=_classes_are("Cat", "cat"),
        issue=True,
    ),
    Case(
        "classes-with-a-comma",
        '--classes as a JSON list holding a name with a comma ("cat, big")',
        _manifest_edited(
            lambda t: t.replace(",cat\n", ',"cat, big"\n'),
            "--classes",
            '["cat, big", "dog"]',
        ),
        0,
        r"12 samples, 2 classes",
        unchanged=False,
        then=_classes_are("cat, big", "dog"),
        issue=True,
    ),
    # -- config checked before anything is written ----------------------------------------
    Case(
        "image-size-too-large",
        "dataset.image_size = [10000, 10000], then train",
        _after(
            project,
            "train",
            "PROJ",
            edit=lambda p: set_key(p, "dataset", "image_size", "[10000, 10000]"),
        ),
        INVALID,
        r"dataset\.image_size must be \[height, width\], each an integer from 4 to 1024",
        then=_no_runs,
        issue=True,
    ),
    Case(
        "folds-over-smallest-class",
        "training.folds = 40 with 6 images per class, then train",
        _after(project, "train", "PROJ", edit=lambda p: set_key(p, "training", "folds", "40")),
        INVALID,
        r"training\.folds = 40, but class 'cat' has 6 active sample\(s\), fewer than the "
        r"folds .*set training\.folds to at most 6",
        then=_no_runs,
        issue=True,
    ),
    *[
        Case(
            f"dataset-path-edited-{command}",
            f"dataset.path edited after init, then {command}",
            _after(
                project,
                command,
                "PROJ",
                edit=lambda p: set_key(p, "dataset", "path", '"/elsewhere/manifest.csv"'),
            ),
            INVALID,
            r"dataset\.path was changed after init \(now '/elsewhere/manifest\.csv', init "
            r"read '.*manifest\.csv'\)[\s\S]*set dataset\.path back",
            then=_no_runs,
            issue=True,
        )
        for command in ("status", "train")
    ],
    # -- .env.example's placeholders are secrets nobody chose ------------------------------
    Case(
        "placeholder-token-push",
        "push with LABEL_STUDIO_API_KEY still .env.example's change-me-label-studio-token",
        _after(trained, "push", "PROJ"),
        INVALID,
        r"the token in LABEL_STUDIO_API_KEY is still the placeholder of \.env\.example",
        env=studio_env(token="change-me-label-studio-token"),
        then=_no_secret_placeholder,
        issue=True,
    ),
    *[
        Case(
            f"placeholder-{what}-studio-start",
            f"studio start with {what} still .env.example's change-me placeholder",
            lambda t: ["studio", "start", "--data-dir", str(t / "ls-data")],
            INVALID,
            rf"{said} is still the placeholder of \.env\.example",
            env={"LABEL_STUDIO_API_KEY": token, "LABEL_STUDIO_PASSWORD": password},
            then=_nothing_at("ls-data"),
            issue=True,
        )
        for what, said, token, password in (
            ("token", "the Label Studio token", "change-me-label-studio-token", "pw" * 8),
            ("password", "the admin's password", "t" * 40, "change-me-admin-password"),
        )
    ],
    # -- the lock comes before the store is opened -------------------------------------------
    *[
        Case(
            f"locked-{command}-old-schema",
            f"{command} while another process holds the project whose store has an older "
            "schema: not migrated by the process that waits",
            _after(trained, command, "PROJ", edit=_old_schema),
            LOCKED,
            r"another relabel process \(pid \d+",
            env=studio_env(),
            hold_lock=True,
            issue=True,
        )
        for command in ("train", "pull")
    ],
]

_HOLDS = "0 duplicates, 0 lost, 0 stranded: one Label Studio task per open task row"
FAULTS: list[Fault] = [
    Fault(
        "task-deleted-in-studio",
        "a task deleted in Label Studio, then pull, history and push",
        "test_a_task_deleted_in_label_studio_is_noticed_and_its_sample_pushed_again",
        "0",
        "pull warns and frees the sample (history shows it); the next push sends it again; "
        + _HOLDS,
        issue=True,
    ),
    *[
        Fault(
            f"kill-9-before-overlap-then-{then}",
            f"pull killed between its commit (one more reviewer) and the overlap call, then {then}",
            f"test_kill_9_between_the_reviewer_commit_and_the_overlap_call[{then}]",
            "-9, then 0",
            f"the {then} raises the overlap in Label Studio; the third answer resolves the "
            "task; " + _HOLDS,
            issue=True,
        )
        for then in ("pull", "push")
    ],
    Fault(
        "studio-stopped-mid-push-and-mid-pull",
        "Label Studio stopped between two import batches, and before a pull's overlap call",
        "test_label_studio_stopped_mid_push_and_mid_pull",
        "7, then 0",
        "the push resumes; the pull warns, the next pull asks again; " + _HOLDS,
        issue=True,
    ),
    Fault(
        "no-secret-at-any-verbosity",
        "push and pull with a ?key= query in LABEL_STUDIO_URL, then user:password@, at -q, "
        "default, -v, -vv and -vv --json-logs",
        "test_no_secret_in_any_log_line_at_any_verbosity",
        "0 / 7 Label Studio",
        "no line or file holds the password, the token or the query value; the query is "
        "sent as parameters of each request, never glued before its path",
        issue=True,
    ),
    Fault(
        "answer-names-no-class",
        "an answer (given through the API) naming a class the project does not have",
        "test_an_answer_naming_no_class_is_warned_about_and_recorded",
        "0",
        "pull warns (task, sample, reviewer, answer), counts it (ignored_answers), records "
        "it with the task (shown by relabel history) and does not count it as a vote",
        issue=True,
    ),
    Fault(
        "studio-data-folder-private",
        "relabel studio start (the test session's own local Label Studio)",
        "test_the_local_label_studio_data_folder_is_its_owners_alone",
        "0",
        "the data folder is 0700; the SQLite database holding the admin's token, the log and "
        "the pid file are 0600",
        issue=True,
    ),
    Fault(
        "answer-not-json",
        "LABEL_STUDIO_URL pointing at a login page that answers HTTP 200 with HTML",
        "test_an_answer_that_is_not_json_is_reported_with_its_status_and_content_type",
        "7 Label Studio",
        "the answer was not JSON (HTTP 200, text/html); project folder unchanged",
        issue=True,
    ),
    *[
        Fault(
            f"train-{how}",
            f"{what} during train, after its first fold, then train again",
            f"test_ctrl_c_or_sigterm_during_train_stops_cleans_up_and_resumes[{how}]",
            f"{code}, then 0",
            "stops at once (or at the next progress line): the message says finished folds "
            "are kept and `relabel train` resumes; the run is marked failed, no partial "
            "folder is left; the next train reuses the finished fold",
            issue=True,
        )
        for how, what, code in (
            ("int", "Ctrl-C", 130),
            ("ignored", "Ctrl-C while Python ignores it (a finalizer between folds)", 130),
            ("converted", "Ctrl-C turned into another error by native code (an epoch)", 130),
            ("term", "SIGTERM", 143),
        )
    ],
    Fault(
        "train-after-a-killed-train",
        "train after a train killed with SIGKILL left its run running",
        "test_a_run_left_running_by_a_killed_train_is_closed_by_the_next",
        "0",
        "the stale run is marked failed, its partial folder removed, and the train says so",
        issue=True,
    ),
    Fault(
        "report-disk-full",
        "report --out on a full disk (a 16 KiB tmpfs) holding an older report",
        "test_disk_full_while_writing_the_report_keeps_the_old_one_and_no_partial_file",
        "6 invalid input",
        "cannot write the report there (No space left on device); the old report intact, "
        "no partial file",
        issue=True,
    ),
    # found by reading the code (tests of units; the first two in other files, which
    # `make reliability` runs too)
    Fault(
        "weighted-entropy-one-hot-rows",
        "confidence_weighted_entropy on one-hot rows (float32 softmax, unanimous kNN)",
        "test_confidence_weighted_entropy_on_one_hot_rows[float32]",
        "-",
        "an agreeing one-hot row scores about 1e-5 (least suspicious), a contradicting one "
        "about 0.85 (most suspicious); the values are asserted, not only their bounds",
        issue=True,
    ),
    Fault(
        "gold-found-by-json-key",
        "task evidence that mentions gold_label as text, not as its key",
        "test_gold_tasks_are_found_by_their_evidence_key_not_by_text",
        "-",
        "gold tasks and paths are found with json_extract: only the key counts",
        issue=True,
    ),
    Fault(
        "run-ids-never-collide",
        "two runs started within one second (or one microsecond)",
        "test_run_ids_have_sub_second_resolution_and_never_collide",
        "-",
        "run ids carry microseconds; an id the store has is never given again",
        issue=True,
    ),
    Fault(
        "cycle-after-config-change",
        "a cycle after relabel.toml's model or training settings changed",
        "test_a_cycle_does_not_reuse_a_run_trained_before_relabel_toml_changed",
        "-",
        "the cycle trains anew instead of reusing the run (executor and cache settings aside)",
        issue=True,
    ),
    Fault(
        "history-numbered-per-sample",
        "relabel history of a sample changed twice",
        "test_history_numbers_a_samples_versions_1_2_3",
        "0",
        "its versions are v1, v2, v3 (not the store's global row numbers)",
        issue=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, tmp_path, monkeypatch)


# ---------------------------------------------------------------------------------------
# Faults with the real Label Studio
# ---------------------------------------------------------------------------------------


def _state(proj: Path) -> list[dict[str, Any]]:
    with Project.open(proj, readonly=True) as p:
        rows = p.store.conn.execute("SELECT * FROM tasks ORDER BY row_id").fetchall()
        return [dict(r) for r in rows]


def assert_consistent(proj: Path, client: StudioClient) -> None:
    """0 duplicates, 0 lost, 0 stranded: every open row has its task in Label Studio, one
    task per sample there, no row left planned or pending, and no extra reviewer the
    store asked for that Label Studio does not know."""
    rows = _state(proj)
    sp = rows[0]["studio_project_id"]
    in_studio = client.list_task_sample_ids(sp)
    assert all(len(ids) == 1 for ids in in_studio.values()), in_studio  # no duplicate
    open_rows = [r for r in rows if r["state"] == "open"]
    assert {r["state"] for r in rows} <= {"open", "resolved"}
    assert {(r["sample_id"], r["task_id"]) for r in open_rows} <= {
        (sid, ids[0]) for sid, ids in in_studio.items()
    }  # none lost
    with Project.open(proj, readonly=True) as p:
        assert p.store.overlaps_to_send(sp) == {}  # none stranded
        for task_id, overlap in p.store.task_overlaps(sp).items():
            assert client.get_task(task_id)["overlap"] == overlap


def _env(client: StudioClient, token: str) -> dict[str, str]:
    return {"LABEL_STUDIO_URL": client.url, "LABEL_STUDIO_API_KEY": token}


def test_a_task_deleted_in_label_studio_is_noticed_and_its_sample_pushed_again(
    tmp_path: Path, studio_server: Any, studio_client: StudioClient
) -> None:
    proj = trained(tmp_path)
    env = _env(studio_client, studio_server.token)
    assert relabel_here(["push", str(proj)], env).returncode == 0
    first = {r["sample_id"]: r["task_id"] for r in _state(proj)}
    gone_sample, gone_task = sorted(first.items())[0]
    studio_client.delete_task(gone_task)

    pulled = relabel_here(["pull", str(proj)], env)
    out = pulled.stdout + pulled.stderr
    assert pulled.returncode == 0, out
    assert f"task {gone_task} (sample {gone_sample}) was deleted in Label Studio" in out
    assert f"deleted [{gone_task}]" in out
    (row,) = [r for r in _state(proj) if r["sample_id"] == gone_sample]
    assert (row["state"], row["outcome"], row["task_id"]) == ("resolved", "deleted", None)
    history = relabel_here(["history", str(proj), gone_sample], env)
    assert re.search(rf"task {gone_task} .*deleted in Label Studio", history.stdout)
    again = relabel_here(["pull", str(proj)], env)
    assert again.returncode == 0 and "was deleted" not in again.stderr  # noticed once

    pushed = relabel_here(["push", str(proj)], env)
    assert pushed.returncode == 0, pushed.stderr
    rows = [r for r in _state(proj) if r["sample_id"] == gone_sample]
    assert [r["state"] for r in rows] == ["resolved", "open"]  # sent again
    assert_consistent(proj, studio_client)


def _tie(proj: Path, client: StudioClient, users: list[int]) -> int:
    """Two reviewers answer every task: they agree on all but the first, a tie."""
    tasks = sorted((r["task_id"], r["sample_id"]) for r in _state(proj) if r["state"] == "open")
    for i, (task_id, _) in enumerate(tasks):
        given = client.get_task(task_id)["data"]["given_label"]
        client.create_annotation(task_id, "cat" if i == 0 else given, users[0])
        client.create_annotation(task_id, "dog" if i == 0 else given, users[1])
    return tasks[0][0]


def _two_reviewers(tmp_path: Path) -> Path:
    proj = trained(tmp_path)
    set_key(proj, "review", "reviewers_per_task", "2")
    return proj


@pytest.mark.parametrize("then", ["pull", "push"])
def test_kill_9_between_the_reviewer_commit_and_the_overlap_call(
    tmp_path: Path, studio_server: Any, studio_client: StudioClient, then: str
) -> None:
    proj = _two_reviewers(tmp_path)
    env = _env(studio_client, studio_server.token)
    users = [studio_client.ensure_user(f"{n}@relabel.test") for n in ("ann", "bob", "cid")]
    assert relabel_here(["push", str(proj)], env).returncode == 0
    tie = _tie(proj, studio_client, users)
    killed = relabel_child(["pull", str(proj)], {**env, "RELABEL_FAILPOINT": "pull:before_overlap"})
    assert killed.returncode == -9, killed.stderr
    assert studio_client.get_task(tie)["overlap"] == 2  # Label Studio never heard of it
    with Project.open(proj, readonly=True) as p:
        sp = int(p.store.studio_project()["studio_project_id"])
        assert p.store.overlaps_to_send(sp) == {tie: 3}  # recorded, not lost

    done = relabel_here([then, str(proj)], env)
    assert done.returncode == 0, done.stderr
    assert studio_client.get_task(tie)["overlap"] == 3
    assert_consistent(proj, studio_client)
    studio_client.create_annotation(tie, "cat", users[2])  # the third reviewer breaks it
    assert relabel_here(["pull", str(proj)], env).returncode == 0
    (row,) = [r for r in _state(proj) if r["task_id"] == tie]
    assert row["state"] == "resolved" and row["outcome"] in {"confirmed", "corrected"}
    assert_consistent(proj, studio_client)


def test_label_studio_stopped_mid_push_and_mid_pull(
    tmp_path: Path, own_studio_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = own_studio_server
    proj = _two_reviewers(tmp_path)
    client = server.client(retries=1, backoff=0.05, max_backoff=0.1, timeout=60.0)
    real_import, real_overlap = client.import_tasks, client.set_task_overlap
    calls: list[str] = []

    def import_then_stop(*args: Any, **kwargs: Any) -> list[int]:
        calls.append("import")
        if len(calls) == 2:  # the server goes away between two import batches
            server.stop()
        return real_import(*args, **kwargs)

    with client, Project.open(proj) as p:
        client.import_tasks = import_then_stop  # type: ignore[method-assign]
        with pytest.raises(StudioUnreachableError):
            push(p, client, batch_size=2)
        server.restart(port=server.port)
        client.import_tasks = real_import  # type: ignore[method-assign]
        assert push(p, client, batch_size=2).reconciled == 0  # the 2nd batch never arrived
        assert_consistent(proj, client)
        users = [client.ensure_user(f"{n}@relabel.test") for n in ("ann", "bob", "cid")]
        tie = _tie(proj, client, users)

        def stop_then_overlap(task_id: int, overlap: int) -> None:
            server.stop()  # the server goes away after the pull's commit
            real_overlap(task_id, overlap)

        client.set_task_overlap = stop_then_overlap  # type: ignore[method-assign]
        summary = pull(p, client)
        assert summary.more_reviewers == [tie]
        assert "the next pull or push asks again" in caplog.text
        server.restart(port=server.port)
        client.set_task_overlap = real_overlap  # type: ignore[method-assign]
        pull(p, client)  # the answers are unchanged: it only asks again
        assert client.get_task(tie)["overlap"] == 3
        assert_consistent(proj, client)


# ---------------------------------------------------------------------------------------
# Found by reading the code: what is not a single command's outcome
# ---------------------------------------------------------------------------------------


def test_run_ids_have_sub_second_resolution_and_never_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from relabel.project import runs

    proj = project(tmp_path)
    with Project.open(proj) as p:
        ids = [runs.new_run_id(p.store) for _ in range(50)]
        assert all(re.fullmatch(r"\d{8}T\d{12}-v12", i) for i in ids), ids[:3]
        frozen = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        ticks = iter([frozen, frozen, frozen.replace(microsecond=678902)])

        class Clock(datetime):
            @classmethod
            def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
                return next(ticks)

        monkeypatch.setattr(runs, "datetime", Clock)
        first = runs.new_run_id(p.store)
        p.store.start_run(first, "train", {}, None)
        second = runs.new_run_id(p.store)  # the same microsecond: the next one
    assert first == "20260102T030405678901-v12"
    assert second == "20260102T030405678902-v12"


def test_a_cycle_does_not_reuse_a_run_trained_before_relabel_toml_changed(
    tmp_path: Path,
) -> None:
    from relabel.loop.cycle import _fresh_run

    proj = trained(tmp_path)
    with Project.open(proj) as p:
        assert _fresh_run(p) is not None  # the labels and the settings it was trained on
    set_key(proj, "training", "cache_images", "false")  # how, not what: still fresh
    with Project.open(proj) as p:
        assert _fresh_run(p) is not None
    set_key(proj, "training", "epochs", "3")
    with Project.open(proj) as p:
        assert _fresh_run(p) is None


def test_history_numbers_a_samples_versions_1_2_3(tmp_path: Path) -> None:
    proj = trained(tmp_path)
    with Project.open(proj) as p:
        p.store.add_version("s001", "cat", source="manual", cycle=1)
        p.store.add_version("s004", "fox", source="manual", cycle=1)
        p.store.add_version("s004", "dog", source="manual", cycle=2)
    done = relabel_here(["history", str(proj), "s004"], {})
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["v1", "v2", "v3"]


# ---------------------------------------------------------------------------------------
# Secrets: no password, token or query value in any output, at any verbosity
# ---------------------------------------------------------------------------------------

_PASSWORD = "pw-Secr3t-7f1c"
_QUERY_SECRET = "qs-Secr3t-91ab"
_VERBOSITY = (["-q"], [], ["-v"], ["-vv"], ["-vv", "--json-logs"])


def _outputs(argv: list[str], env: dict[str, str]) -> list[tuple[int, str]]:
    """``relabel ARGV`` at every verbosity: exit code and stdout + stderr of each."""
    runs = [relabel_here([*flags, *argv], env) for flags in _VERBOSITY]
    return [(r.returncode, r.stdout + r.stderr) for r in runs]


def _no_secret_in(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} in:\n{text}"


def test_no_secret_in_any_log_line_at_any_verbosity(
    tmp_path: Path, studio_server: Any, studio_client: StudioClient
) -> None:
    token = studio_server.token
    proj = trained(tmp_path)
    with_query = f"{studio_client.url}/?key={_QUERY_SECRET}"
    env = {"LABEL_STUDIO_URL": with_query, "LABEL_STUDIO_API_KEY": token}
    pushed = _outputs(["push", str(proj)], env)
    assert [code for code, _ in pushed] == [0] * len(_VERBOSITY), pushed
    pulled = _outputs(["pull", str(proj)], env)
    assert [code for code, _ in pulled] == [0] * len(_VERBOSITY), pulled
    debug = "\n".join(out for _, out in pushed + pulled)
    # -vv shows each request: relabel's line and httpx's, the path before the query string
    assert re.search(r"GET http://127\.0\.0\.1:\d+/api/\S*\?\S*key=\*\*\*", debug), debug
    assert "key=***/" not in debug and "?key=***/api" not in debug
    # user:password@ in the URL: refused or not, nothing tells the password
    host = studio_client.url.split("://", 1)[1]
    with_user = f"http://relabel-user:{_PASSWORD}@{host}/?key={_QUERY_SECRET}"
    failed = _outputs(["pull", str(proj)], {**env, "LABEL_STUDIO_URL": with_user})
    closed = _outputs(
        ["pull", str(proj)],
        {**env, "LABEL_STUDIO_URL": f"http://u:{_PASSWORD}@127.0.0.1:9/?key={_QUERY_SECRET}"},
    )
    for _, out in pushed + pulled + failed + closed:
        assert "Traceback" not in out, out
        _no_secret_in(out, token, _PASSWORD, _QUERY_SECRET)
    for file in proj.rglob("*"):
        if file.is_file():
            for secret in (token, _PASSWORD, _QUERY_SECRET):
                assert secret.encode() not in file.read_bytes(), (file, secret)


@contextmanager
def _login_page() -> Iterator[str]:
    """A web server that answers every request with HTTP 200 and an HTML page (a proxy's
    login page where Label Studio was expected); yields its URL."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body><form>Sign in</form></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PATCH = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_that_is_not_json_is_reported_with_its_status_and_content_type(
    tmp_path: Path,
) -> None:
    proj = trained(tmp_path)
    before = tree(proj)
    with _login_page() as url:
        done = relabel_here(
            ["push", str(proj)], {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": "t" * 40}
        )
    out = done.stdout + done.stderr
    assert done.returncode == STUDIO, out
    assert "Traceback" not in out, out
    assert re.search(r"not JSON \(HTTP 200, text/html\)", out), out
    assert tree(proj) == before


# ---------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM during train (the test engine signals its own process after fold 1)
# ---------------------------------------------------------------------------------------

_SIGNALS = {
    "int": (130, "interrupted"),
    "ignored": (130, "interrupted"),
    "converted": (130, "interrupted"),
    "term": (143, r"terminated \(SIGTERM\)"),
}


@pytest.mark.parametrize("how", list(_SIGNALS))
def test_ctrl_c_or_sigterm_during_train_stops_cleans_up_and_resumes(
    tmp_path: Path, how: str
) -> None:
    from tests.engine import SPEC

    code, said = _SIGNALS[how]
    proj = project(tmp_path)  # 3 folds
    env = {"RELABEL_ENGINE": SPEC}
    stopped = relabel_child(["train", str(proj)], {**env, "RELABEL_TEST_SIGNAL": f"{how}:1"})
    out = stopped.stdout + stopped.stderr
    assert stopped.returncode == code, out
    assert "Traceback" not in out, out
    assert re.search(rf"{said}; finished folds are kept, `relabel train` resumes", out), out
    assert "fold 3/3" not in out  # stopped within a fold, not at the end
    runs = proj / "runs"
    assert not [p.name for p in runs.iterdir() if p.name.endswith(".partial")]
    with Project.open(proj, readonly=True) as p:
        statuses = [r[0] for r in p.store.conn.execute("SELECT status FROM runs")]
    assert statuses == ["failed"]
    again = relabel_here(["train", str(proj)], env)
    assert again.returncode == 0, again.stderr
    assert "fold 1: saved, reused" in again.stderr, again.stderr


def test_a_run_left_running_by_a_killed_train_is_closed_by_the_next(tmp_path: Path) -> None:
    from relabel.infra.atomic import partial_path
    from relabel.project.runs import run_dir
    from tests.engine import SPEC

    proj = project(tmp_path)
    stale = "20260101T000000000000-v12"
    with Project.open(proj) as p:
        p.store.start_run(stale, "train", {}, None)
    partial = partial_path(run_dir(proj, stale))
    assert partial.name == f".{stale}.partial"
    partial.mkdir(parents=True)
    (partial / "images.npy").write_bytes(b"\0" * 64)
    done = relabel_here(["train", str(proj)], {"RELABEL_ENGINE": SPEC})
    assert done.returncode == 0, done.stderr
    assert re.search(rf"run {stale} was left unfinished .*marked failed", done.stderr)
    assert not partial.exists()
    with Project.open(proj, readonly=True) as p:
        rows = dict(p.store.conn.execute("SELECT run_id, status FROM runs").fetchall())
    assert rows.pop(stale) == "failed"
    assert list(rows.values()) == ["done"]


def test_disk_full_while_writing_the_report_keeps_the_old_one_and_no_partial_file(
    tmp_path: Path,
) -> None:
    """A real full disk: the report folder is a 16 KiB tmpfs (a private mount namespace of
    the child process), holding the old report; the new one does not fit."""
    proj = trained(tmp_path)
    out = tmp_path / "rep"
    out.mkdir()
    script = (
        'mount -t tmpfs -o size=16k tmpfs "$0" && printf old > "$0/report.html" && "$@"; '
        'echo "exit=$?"; ls -A "$0"; cat "$0/report.html"'
    )
    command = ["unshare", "-r", "-m", "--propagation", "private", "sh", "-c", script, str(out)]
    command += [sys.executable, "-m", "relabel.cli", "report", str(proj), "--out", str(out)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert "exit=6" in done.stdout, done.stdout + done.stderr
    assert "cannot write the report there (No space left on device)" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    listing = done.stdout.split("exit=6", 1)[1].split()
    assert listing == ["report.html", "old"]  # no partial file; the old report intact


def test_an_answer_naming_no_class_is_warned_about_and_recorded(
    tmp_path: Path, studio_server: Any, studio_client: StudioClient
) -> None:
    proj = trained(tmp_path)
    env = _env(studio_client, studio_server.token)
    assert relabel_here(["push", str(proj)], env).returncode == 0
    row = sorted(_state(proj), key=lambda r: r["task_id"])[0]
    user = studio_client.ensure_user("ann@relabel.test")
    studio_client.create_annotation(row["task_id"], "wolf", user)  # through the API
    pulled = relabel_here(["pull", str(proj)], env)
    out = pulled.stdout + pulled.stderr
    assert pulled.returncode == 0, out
    assert re.search(
        rf"task {row['task_id']} \(sample {row['sample_id']}\): ann@relabel\.test answered "
        r"'wolf', which is not a class of the project: not counted",
        out,
    ), out
    assert "ignored_answers 1" in out
    (after,) = [r for r in _state(proj) if r["row_id"] == row["row_id"]]
    assert json.loads(after["evidence"])["ignored_answers"] == [
        {"annotation_id": mock.ANY, "choice": "wolf", "reviewer": "ann@relabel.test"}
    ]
    assert after["outcome"] == "unresolved"  # not counted as a vote
    history = relabel_here(["history", str(proj), row["sample_id"]], env)
    assert "ignored ann@relabel.test's answer 'wolf' (not a class)" in history.stdout


def test_the_local_label_studio_data_folder_is_its_owners_alone(studio_server: Any) -> None:
    """The data folder is 0700 (nothing in it is reachable by others), the SQLite database
    holding the admin's token 0600, and so are the files relabel writes there; Django
    gives uploaded images 0644, inside the private folder."""
    data = Path(studio_server.data_dir)
    database = data / "label_studio.sqlite3"
    assert data.stat().st_mode & 0o777 == 0o700
    private = [database, data / "relabel-studio.log", data / "relabel-studio.pid"]
    private += [p for p in data.glob("label_studio.sqlite3-*")]
    assert database.is_file() and len(private) >= 3
    for path in private:
        assert path.stat().st_mode & 0o777 == 0o600, f"{path}: {oct(path.stat().st_mode)}"
