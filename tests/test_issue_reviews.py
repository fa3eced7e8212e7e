"""Issue reviews without a server: the answer -> event mapping (pure), the store's drop
events and the schema 3 migration, and what a drop does to training and the export."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from relabel.errors import StoreError
from relabel.loop.issues import duplicate_items, outlier_items
from relabel.project.reports import export
from relabel.project.samples import active_samples
from relabel.review.issues import (
    BELONGS,
    KEEP_ONE,
    NOT_DUPLICATES,
    REMOVE,
    IssueDecision,
    MemberState,
    all_labelled,
    issue_choices,
    issue_decision,
    relabel_as,
)
from relabel.review.majority import NOT_SURE
from relabel.store import Store
from relabel.store.schema import SCHEMA_VERSION
from relabel.studio.labeling import build_issue_label_config, parse_classes

CLASSES = ["cat", "dog", "fox"]
SET = [MemberState("a", "cat"), MemberState("b", "dog"), MemberState("c", "cat")]


# -- the answer -> event mapping ------------------------------------------------------------
def test_choices_of_each_kind_offer_every_class_and_not_sure() -> None:
    dup = issue_choices("duplicates", CLASSES)
    assert dup == [KEEP_ONE, *(all_labelled(c) for c in CLASSES), NOT_DUPLICATES, NOT_SURE]
    out = issue_choices("outliers", CLASSES)
    assert out == [BELONGS, REMOVE, *(relabel_as(c) for c in CLASSES), NOT_SURE]
    with pytest.raises(ValueError, match="issue kind"):
        issue_choices("labels", CLASSES)


def test_keep_one_drops_every_member_but_the_first() -> None:
    d = issue_decision("duplicates", KEEP_ONE, SET, CLASSES)
    assert d == IssueDecision("kept_one", drop=["b", "c"])
    again = [MemberState("a", "cat", dropped=True), MemberState("b", "dog", dropped=True)]
    assert issue_decision("duplicates", KEEP_ONE, again, CLASSES) == IssueDecision(
        "kept_one", keep=["a"]
    )


def test_all_labelled_relabels_the_members_that_differ() -> None:
    d = issue_decision("duplicates", all_labelled("dog"), SET, CLASSES)
    assert d == IssueDecision("relabelled", relabel={"a": "dog", "c": "dog"})
    assert issue_decision("duplicates", all_labelled("emu"), SET, CLASSES).outcome == "unresolved"


def test_not_duplicates_changes_nothing_but_undoes_a_drop() -> None:
    assert not issue_decision("duplicates", NOT_DUPLICATES, SET, CLASSES).changes
    edited = [MemberState("a", "cat"), MemberState("b", "dog", dropped=True)]
    assert issue_decision("duplicates", NOT_DUPLICATES, edited, CLASSES).keep == ["b"]


def test_outlier_answers() -> None:
    one = [MemberState("x", "fox")]
    assert issue_decision("outliers", REMOVE, one, CLASSES) == IssueDecision("removed", drop=["x"])
    assert issue_decision("outliers", BELONGS, one, CLASSES) == IssueDecision("kept")
    assert issue_decision("outliers", relabel_as("cat"), one, CLASSES).relabel == {"x": "cat"}
    gone = [MemberState("x", "fox", dropped=True)]
    assert issue_decision("outliers", BELONGS, gone, CLASSES).keep == ["x"]
    assert issue_decision("outliers", REMOVE, gone, CLASSES) == IssueDecision("removed")


@pytest.mark.parametrize("choice", [None, NOT_SURE, KEEP_ONE, relabel_as("emu")])
def test_no_answer_or_an_answer_of_another_kind_leaves_an_outlier_open(
    choice: str | None,
) -> None:
    assert issue_decision("outliers", choice, [MemberState("x", "fox")], CLASSES) == (
        IssueDecision("unresolved")
    )


def test_issue_config_reads_back_its_answers() -> None:
    config = build_issue_label_config("Set of $set_size", issue_choices("duplicates", CLASSES))
    assert parse_classes(config) == issue_choices("duplicates", CLASSES)[:-1]
    assert config.count(' name="') == 2  # one object tag (the image) and the choices
    with pytest.raises(ValueError, match="distinct"):
        build_issue_label_config("h", ["a", "a"])


def test_selection_orders_sets_by_score_and_skips_covered_ones() -> None:
    table = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d", "e", "f"],
            "given_label": ["cat", "dog", "cat", "cat", "fox", "fox"],
            "duplicate_set": [0, 0, 1, 1, -1, -1],
            "duplicate_score": [0.6, 0.6, 1.0, 1.0, 0.1, 0.2],
            "duplicate_conflict": [True, True, False, False, False, False],
            "duplicate_crosses_holdout": [False] * 6,
            "outlier_flag": [False, False, False, True, True, True],
            "outlier_score": [0, 0, 0, 4.0, 9.0, 4.0],
            "reasons": ["", "", "", "far", "far", "far"],
        }
    )
    sets = duplicate_items(table, set())
    assert [m for m, _ in sets] == [["c", "d"], ["a", "b"]]
    assert sets[1][1]["conflict"] and sets[1][1]["given_labels"] == ["cat", "dog"]
    assert [m for m, _ in duplicate_items(table, {"d"})] == [["a", "b"]]
    assert [m for m, _ in outlier_items(table, {"f"})] == [["e"], ["d"]]


# -- the store: drop events, issue tasks, the migration ---------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    labels = ["cat", "dog", "cat", "fox"]
    samples = [(s, f"/{s}.png", lab) for s, lab in zip("abcd", labels, strict=True)]
    s = Store.create(tmp_path / "relabel.db", CLASSES, samples)
    yield s
    s.close()


def test_a_drop_is_an_event_and_the_latest_one_counts(store: Store, tmp_path: Path) -> None:
    store.add_drop("b", True, cycle=1, reviewers=["ann"], evidence={"task_id": 7})
    store.add_drop("c", True)
    store.add_drop("c", False)
    assert store.dropped_sample_ids() == {"b"}
    events = store.drop_events("c")
    assert [e["dropped"] for e in events] == [True, False]
    assert store.drop_events("b")[0]["evidence"] == {"task_id": 7}
    assert store.n_samples() == 4  # nothing deleted
    assert list(active_samples(store)["sample_id"]) == ["a", "c", "d"]
    export(store, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert out.columns[-1] == "drop" and list(out["drop"]) == [False, True, False, False]
    with pytest.raises(StoreError, match="unknown sample_id"):
        store.add_drop("zz", True)
    with pytest.raises(StoreError, match="source"):
        store.add_drop("a", True, source="magic")


def test_issue_tasks_record_their_members(store: Store) -> None:
    store.plan_issue_tasks(5, "duplicates", [(["a", "b"], {"score": 1.0})], cycle=None, batch="x")
    store.plan_issue_tasks(6, "outliers", [(["d"], {"score": 4.0})], cycle=None, batch="y")
    (row,) = store.tasks(5, ("planned",))
    assert (row["sample_id"], row["kind"], row["members"]) == ("a", "duplicates", '["a", "b"]')
    assert store.issue_covered_samples("duplicates") == {"a", "b"}
    assert store.issue_covered_samples("outliers") == {"d"}
    assert store.busy_sample_ids() == set()  # label pushes are not held up by issue tasks
    store.plan_tasks(1, [("c", {"p": 0.5})], cycle=None, batch="z")
    assert store.busy_sample_ids() == {"c"} and store.tasks(1, ("planned",))[0]["kind"] == "labels"
    with pytest.raises(StoreError, match="issue kind"):
        store.plan_issue_tasks(5, "labels", [(["a"], {})], cycle=None, batch="x")


def _as_schema_2(db: Path) -> None:
    """Turn a store back into schema 2: no ``kind``/``members`` in tasks, no ``drops`` (and
    none of the later schemas' tables: ``studio_parts``)."""
    conn = sqlite3.connect(db)
    conn.executescript(
        "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
        "DROP TABLE drops; DROP TABLE studio_parts; ALTER TABLE tasks DROP COLUMN members;"
        "ALTER TABLE tasks DROP COLUMN kind;"
    )
    conn.close()


def test_schema_2_migrates_to_the_tables_of_a_new_store(store: Store, tmp_path: Path) -> None:
    store.plan_tasks(1, [("a", {"p": 0.5})], cycle=1, batch="x")
    store.close()
    Store.create(tmp_path / "fresh.db", CLASSES, [("a", "/a", "cat")]).close()
    _as_schema_2(tmp_path / "relabel.db")

    def tables(db: Path) -> list[tuple[str, str]]:
        conn = sqlite3.connect(db)
        try:
            return sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
        finally:
            conn.close()

    assert tables(tmp_path / "relabel.db") != tables(tmp_path / "fresh.db")
    with Store.open(tmp_path / "relabel.db") as migrated:
        assert migrated.get_meta("schema_version") == str(SCHEMA_VERSION)
        (row,) = migrated.tasks(1, ("planned",))
        assert (row["sample_id"], row["kind"], row["members"]) == ("a", "labels", None)
        migrated.add_drop("a", True)
        assert migrated.dropped_sample_ids() == {"a"}
    assert tables(tmp_path / "relabel.db") == tables(tmp_path / "fresh.db")
