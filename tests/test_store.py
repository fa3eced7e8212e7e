"""The SQLite label store: append-only versions, original kept, transactions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from relabel.errors import StoreError
from relabel.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.create(
        tmp_path / "relabel.db",
        ["cat", "dog", "fox"],
        [("a", "/img/a.png", "cat"), ("b", "/img/b.png", "dog"), ("c", "/img/c.png", "cat")],
    )
    yield s
    s.close()


def test_original_labels_and_order(store: Store) -> None:
    labels = store.labels()
    assert labels["sample_id"].tolist() == ["a", "b", "c"]
    assert labels["label"].tolist() == ["cat", "dog", "cat"]
    assert labels["original_label"].tolist() == ["cat", "dog", "cat"]
    assert labels["source"].tolist() == ["original"] * 3
    assert labels["changed_in_cycle"].isna().all()


def test_versions_append_and_original_is_kept(store: Store) -> None:
    v1 = store.add_version(
        "a",
        "dog",
        source="review",
        cycle=1,
        reviewers=["r1", "r2"],
        evidence={"task_id": 5, "p_given": 0.1},
    )
    v2 = store.add_version("a", "fox", source="manual", cycle=2)
    assert v2 > v1
    row = store.labels().set_index("sample_id").loc["a"]
    assert (row["label"], row["original_label"], row["changed_in_cycle"]) == ("fox", "cat", 2)
    assert row["n_versions"] == 3
    hist = store.history("a")
    assert [h.label for h in hist] == ["cat", "dog", "fox"]
    assert [h.source for h in hist] == ["original", "review", "manual"]
    assert hist[1].reviewers == ["r1", "r2"] and hist[1].evidence == {"p_given": 0.1, "task_id": 5}
    assert hist[1].cycle == 1


def test_exclusion_is_a_version(store: Store) -> None:
    store.add_version("b", "dog", source="review", status="excluded", cycle=1)
    labels = store.labels().set_index("sample_id")
    assert labels.loc["b", "status"] == "excluded"
    assert [h.status for h in store.history("b")] == ["active", "excluded"]


@pytest.mark.parametrize(
    ("sample", "label", "source", "message"),
    [
        ("zzz", "cat", "review", "unknown sample_id 'zzz'"),
        ("a", "cow", "review", "unknown label 'cow'"),
        ("a", "dog", "original", "label source must be one of"),
        ("a", "dog", "guess", "label source must be one of"),
    ],
)
def test_bad_writes_change_nothing(
    store: Store, sample: str, label: str, source: str, message: str
) -> None:
    before = store.max_version()
    with pytest.raises(StoreError, match=message):
        store.add_version(sample, label, source=source)
    assert store.max_version() == before


def test_transaction_rolls_back_everything(store: Store) -> None:
    before = store.max_version()
    with pytest.raises(RuntimeError), store.transaction():
        store.add_version("a", "dog", source="review")
        store.add_version("b", "cat", source="review")
        raise RuntimeError("crash in the middle")
    assert store.max_version() == before
    assert store.labels()["label"].tolist() == ["cat", "dog", "cat"]


def test_reopen_keeps_everything(store: Store, tmp_path: Path) -> None:
    store.add_version("c", "fox", source="import")
    store.close()
    with Store.open(tmp_path / "relabel.db") as again:
        assert again.classes == ["cat", "dog", "fox"]
        assert again.labels()["label"].tolist() == ["cat", "dog", "fox"]


def test_open_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not found"):
        Store.open(tmp_path / "nope.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a relabel label store"):
        Store.open(junk)


def test_create_refuses_duplicate_ids_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        Store.create(tmp_path / "x.db", ["a", "b"], [("s", "/p", "a"), ("s", "/q", "b")])
    assert not (tmp_path / "x.db").exists()


def _as_schema_1(db: Path) -> None:
    """Turn a store back into schema 1 (``tasks.sample_id`` referenced ``samples``; no task
    ``kind`` or ``members``, no ``drops``)."""
    conn = sqlite3.connect(db)
    conn.executescript(
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
        "CREATE TABLE t1 AS SELECT * FROM tasks; DROP TABLE tasks;"
        "CREATE TABLE tasks (row_id INTEGER PRIMARY KEY AUTOINCREMENT, sample_id TEXT NOT NULL "
        "REFERENCES samples(sample_id), studio_project_id INTEGER NOT NULL, task_id INTEGER, "
        "state TEXT NOT NULL, cycle INTEGER, batch TEXT NOT NULL, version_at_push INTEGER NOT "
        "NULL, planned_at TEXT NOT NULL, pushed_at TEXT, evidence TEXT NOT NULL DEFAULT '{}', "
        "fingerprint TEXT, outcome TEXT, resolved_at TEXT);"
        "CREATE INDEX tasks_sample ON tasks(sample_id);"
        "INSERT INTO tasks SELECT row_id, sample_id, studio_project_id, task_id, state, cycle, "
        "batch, version_at_push, planned_at, pushed_at, evidence, fingerprint, outcome, "
        "resolved_at FROM t1; DROP TABLE t1; DROP TABLE drops;"
    )
    conn.close()


def _tables(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        conn.close()


def test_migrations_reach_the_schema_of_a_new_store(store: Store, tmp_path: Path) -> None:
    from relabel.store import schema

    assert len(schema.MIGRATIONS) + 1 == schema.SCHEMA_VERSION
    store.plan_tasks(1, [("a", {"p": 0.5})], cycle=1, batch="x")
    store.close()
    fresh = Store.create(tmp_path / "fresh.db", ["cat", "dog", "fox"], [("a", "/a", "cat")])
    fresh.close()
    _as_schema_1(tmp_path / "relabel.db")
    assert _tables(tmp_path / "relabel.db") != _tables(tmp_path / "fresh.db")
    with Store.open(tmp_path / "relabel.db", readonly=True) as old:  # read as it is
        assert old.get_meta("schema_version") == "1" and len(old.tasks(1, ("planned",))) == 1
    with Store.open(tmp_path / "relabel.db") as migrated:
        assert migrated.get_meta("schema_version") == str(schema.SCHEMA_VERSION)
        assert [r["sample_id"] for r in migrated.tasks(1, ("planned",))] == ["a"]
    assert _tables(tmp_path / "relabel.db") == _tables(tmp_path / "fresh.db")


def test_a_failed_migration_leaves_the_store_as_it_was(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relabel.store import schema

    store.close()
    _as_schema_1(tmp_path / "relabel.db")
    before = _tables(tmp_path / "relabel.db")

    def half_done(conn: sqlite3.Connection) -> None:  # a step that crashes before its commit
        conn.execute("DROP TABLE tasks")
        raise RuntimeError("crash in a migration")

    monkeypatch.setattr(schema, "MIGRATIONS", (half_done,))
    with pytest.raises(RuntimeError, match="crash in a migration"):
        Store.open(tmp_path / "relabel.db")
    assert _tables(tmp_path / "relabel.db") == before
    monkeypatch.undo()
    with Store.open(tmp_path / "relabel.db") as migrated:
        assert migrated.get_meta("schema_version") == str(schema.SCHEMA_VERSION)


def test_history_numbers_each_samples_versions_from_one(store: Store) -> None:
    store.add_version("a", "dog", source="review", cycle=1)
    store.add_version("b", "fox", source="review", cycle=1)
    store.add_version("a", "fox", source="manual", cycle=2)
    assert [h.version for h in store.history("a")] == [1, 2, 3]
    assert [h.version for h in store.history("b")] == [1, 2]
    ids = [h.version_id for h in store.history("a")]
    assert ids == sorted(ids) and ids[1:] != [2, 3]  # the store's rows, not the numbers


def _opened(store: Store, items: list[tuple[str, dict]]) -> list[int]:
    """Plan and open one task per item (Label Studio project 1, task ids 101, 102, ...)."""
    store.plan_tasks(1, items, cycle=1, batch="b")
    rows = store.tasks(1, ("planned",))
    store.open_tasks([(r["row_id"], 101 + i) for i, r in enumerate(rows)])
    return [r["row_id"] for r in rows]


def test_an_extra_reviewer_is_listed_until_label_studio_took_it(store: Store) -> None:
    rows = _opened(store, [("a", {}), ("b", {}), ("c", {})])
    with store.transaction():  # what a pull commits
        store.request_extra_reviewer(rows[0], 3)
        store.request_extra_reviewer(rows[1], 3)
    assert store.overlaps_to_send(1) == {101: 3, 102: 3}  # a pull that died here: retried
    store.mark_overlaps_sent(1, [101])
    assert store.overlaps_to_send(1) == {102: 3}
    assert store.task_overlaps(1) == {101: 3, 102: 3}
    store.mark_overlaps_sent(1, [102])
    assert store.overlaps_to_send(1) == {}


def test_a_task_deleted_in_label_studio_frees_its_sample(store: Store) -> None:
    rows = _opened(store, [("a", {}), ("b", {})])
    assert store.busy_sample_ids() == {"a", "b"}
    store.release_deleted_tasks([rows[0]])
    assert store.busy_sample_ids() == {"b"}
    (row,) = store.sample_tasks("a")
    assert (row["state"], row["outcome"], row["task_id"]) == ("resolved", "deleted", None)
    assert json.loads(row["evidence"])["deleted_task_id"] == 101
    _opened(store, [("a", {})])  # pushed again, as task 101: Label Studio may reuse an id
    assert [r["state"] for r in store.sample_tasks("a")] == ["resolved", "open"]


def test_gold_tasks_are_found_by_their_evidence_key_not_by_text(store: Store) -> None:
    _opened(
        store,
        [
            ("a", {"gold_label": "cat", "path": "/held/a.png"}),
            ("b", {"note": "not a gold_label", "path": "/img/b.png"}),  # the text, not the key
        ],
    )
    assert store.gold_task_labels() == {(1, 101): "cat"}
    assert store.gold_paths(1) == {"a": "/held/a.png"}


def _checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the page checks (``PRAGMA quick_check``) the store's opens run."""
    from relabel.store import db

    calls: list[int] = []
    real = db._integrity_check
    monkeypatch.setattr(db, "_integrity_check", lambda conn: calls.append(1) or real(conn))
    return calls


def test_a_read_only_open_of_a_store_left_intact_skips_the_page_check(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relabel.store.db import stamp_path

    path = tmp_path / "relabel.db"
    store.add_version("a", "dog", source="manual")
    store.close()
    assert stamp_path(path).is_file()
    calls = _checks(monkeypatch)
    with Store.open(path, readonly=True) as s:
        assert [h.label for h in s.history("a")] == ["cat", "dog"]
    assert calls == []
    with Store.open(path) as s:  # nor does a writable one
        s.add_version("a", "fox", source="manual")
    with Store.open(path, readonly=True) as s:  # the write re-stamped the file
        assert s.history("a")[-1].label == "fox"
    assert calls == []


def test_a_store_changed_outside_relabel_is_checked_and_refused_when_damaged(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "relabel.db"
    store.close()
    calls = _checks(monkeypatch)
    raw = bytearray(path.read_bytes())
    raw[4096:8192] = b"\xa5" * 4096  # a table's b-tree page
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="damaged"):
        Store.open(path, readonly=True)
    with pytest.raises(StoreError, match="damaged"):
        Store.open(path)
    assert calls == [1, 1]


def test_a_wal_left_beside_the_store_or_no_stamp_means_a_check(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relabel.store.db import stamp_path

    path = tmp_path / "relabel.db"
    store.close()
    calls = _checks(monkeypatch)
    writer = sqlite3.connect(path, isolation_level=None)  # a process still writing
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("INSERT INTO meta VALUES ('note', 'x')")
    with Store.open(path, readonly=True) as s:
        assert s.get_meta("note") == "x"
    assert calls == [1]
    writer.close()
    stamp_path(path).unlink()
    Store.open(path, readonly=True).close()
    assert calls == [1, 1]
    assert not stamp_path(path).exists()  # a read-only open writes nothing


def test_an_open_that_writes_nothing_leaves_the_folder_as_it_was(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relabel.store.db import stamp_path

    path = tmp_path / "relabel.db"
    store.close()
    with sqlite3.connect(path) as conn:  # changed outside relabel: the stamp no longer fits
        conn.execute("INSERT INTO meta VALUES ('note', 'x')")
    conn.close()
    stamp = stamp_path(path).read_text()
    calls = _checks(monkeypatch)
    for _ in range(2):  # a refused command: checked each time, and nothing written
        Store.open(path).close()
    assert calls == [1, 1] and stamp_path(path).read_text() == stamp
    with Store.open(path) as s:  # one that writes stamps the file it leaves
        s.add_version("a", "dog", source="manual")
    Store.open(path, readonly=True).close()
    assert calls == [1, 1, 1]
