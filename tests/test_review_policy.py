"""Review policy without a server: the fill floor, gold mixing, trusted labels, the store
migration and the simulated reviewers' realistic mistakes (pure or SQLite only)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from relabel import config as config_mod
from relabel.demo.reviewers import Crowd, simulated_answer
from relabel.errors import ConfigError
from relabel.review.gold import SHOWN_FIELDS, mix_gold
from relabel.review.selection import select_for_review
from relabel.store import SCHEMA_VERSION, Store


def _ranking() -> pd.DataFrame:
    rows = [
        # sample, rank, lane, p_given
        ("a", 1, "label_issue", 0.05),
        ("b", 2, "ok", 0.40),
        ("c", 3, "ok", 0.85),
        ("d", 4, "ok", 0.97),
        ("e", 5, "ok", 0.99),
    ]
    frame = pd.DataFrame(rows, columns=["sample_id", "rank", "lane", "p_given"])
    return frame.assign(given_label="1", max_confidence=0.9)


def test_filled_slots_need_the_suspicion_floor() -> None:
    table = _ranking()
    assert select_for_review(table, 5)["sample_id"].tolist() == ["a", "b", "c", "d", "e"]
    floor = select_for_review(table, 5, min_suspicion=0.1)
    assert floor["sample_id"].tolist() == ["a", "b", "c"]  # 1 - p_given >= 0.1
    # the label-issue lane itself is never cut by the floor
    assert select_for_review(table, 5, min_suspicion=0.99)["sample_id"].tolist() == ["a"]
    # the ranking's p_error (the noise posterior) is the estimate when it is there
    table["p_error"] = [0.9, 0.02, 0.3, 0.5, 0.01]
    assert select_for_review(table, 5, min_suspicion=0.1)["sample_id"].tolist() == ["a", "c", "d"]


def test_review_keys_are_checked_when_the_config_loads(tmp_path: Path) -> None:
    cfg = config_mod.Config(name="x", dataset=config_mod.DatasetConfig(classes=["a", "b"]))
    for bad, says in [
        ({"consensus": "vote"}, "review.consensus"),
        ({"reviewers_per_task": 0}, "reviewers_per_task"),
        ({"gold_fraction": 1.0}, "gold_fraction"),
        ({"min_suspicion": 1.5}, "min_suspicion"),
    ]:
        text = config_mod.dumps(cfg)
        ((key, value),) = bad.items()
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(f"{key} ="))
        text = text.replace("[review]", f"[review]\n{key} = {json.dumps(value)}")
        (tmp_path / config_mod.CONFIG_FILE).write_text(text)
        with pytest.raises(ConfigError, match=says):
            config_mod.load(tmp_path)


def test_gold_tasks_take_their_neighbours_ranking_fields() -> None:
    items = [
        (f"s{i}", {"given_label": "1", "rank": i, "lane": "label_issue", "suspicion": 1 - i / 10})
        for i in range(1, 6)
    ]
    gold = [("g1", {"given_label": "7", "rank": 900, "lane": "ok", "suspicion": 0.01})]
    mixed = mix_gold(items, gold, seed=3)
    assert mix_gold(items, gold, seed=3) == mixed  # deterministic
    at = [sid for sid, _ in mixed].index("g1")
    ev = mixed[at][1]
    near = mixed[max(at - 1, 0)][1]
    assert ev["gold_label"] == "7" and ev["given_label"] == "7"
    assert {k: ev[k] for k in SHOWN_FIELDS} == {k: near[k] for k in SHOWN_FIELDS}
    assert [sid for sid, _ in mixed if sid != "g1"] == [sid for sid, _ in items]


def _store(tmp_path: Path) -> Store:
    return Store.create(
        tmp_path / "relabel.db",
        ["cat", "dog"],
        [("a", "/a.png", "cat"), ("b", "/b.png", "dog"), ("c", "/c.png", "cat")],
    )


def _review(store: Store, sample_id: str, label: str, votes: dict[str, int], outcome: str) -> None:
    store.plan_tasks(1, [(sample_id, {})], cycle=1, batch="x")
    row = store.tasks(1, ("planned",))[-1]
    task_id = int(row["row_id"]) + 100
    store.open_tasks([(row["row_id"], task_id)])
    row = store.task_rows_by_task_id(1)[task_id]
    with store.transaction():
        version = int(store.current_version(sample_id)["version_id"])
        if outcome == "corrected":
            version = store.add_version(sample_id, label, source="review", cycle=1)
        store.record_review(
            row,
            outcome=outcome,
            label=label,
            reviewers=["r1", "r2"],
            annotation_ids=[1, 2],
            votes=votes,
            fingerprint="f",
            version_after=version,
            still_open=False,
        )


def test_trusted_labels_need_two_agreeing_reviewers(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        _review(store, "a", "cat", {"cat": 2}, "confirmed")  # trusted
        _review(store, "b", "cat", {"cat": 2, "dog": 1}, "corrected")  # not unanimous
        _review(store, "c", "dog", {"dog": 1}, "corrected")  # one reviewer
        assert store.gold_labels() == {"a": "cat"}
        store.add_version("a", "dog", source="manual")  # changed since: no longer trusted
        assert store.gold_labels() == {}


def test_a_schema_1_store_is_migrated_on_open(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        _review(store, "a", "cat", {"cat": 2}, "confirmed")
    conn = sqlite3.connect(tmp_path / "relabel.db")
    conn.executescript(
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
        "CREATE TABLE t1 AS SELECT * FROM tasks; DROP TABLE tasks;"
        "CREATE TABLE tasks (row_id INTEGER PRIMARY KEY AUTOINCREMENT, sample_id TEXT NOT NULL "
        "REFERENCES samples(sample_id), studio_project_id INTEGER NOT NULL, task_id INTEGER, "
        "state TEXT NOT NULL, cycle INTEGER, batch TEXT NOT NULL, version_at_push INTEGER NOT "
        "NULL, planned_at TEXT NOT NULL, pushed_at TEXT, evidence TEXT NOT NULL DEFAULT '{}', "
        "fingerprint TEXT, outcome TEXT, resolved_at TEXT);"
        "INSERT INTO tasks SELECT row_id, sample_id, studio_project_id, task_id, state, cycle, "
        "batch, version_at_push, planned_at, pushed_at, evidence, fingerprint, outcome, "
        "resolved_at FROM t1; DROP TABLE t1;"
    )
    conn.close()
    with Store.open(tmp_path / "relabel.db", readonly=True) as old:  # read-only: untouched
        assert old.get_meta("schema_version") == "1" and old.gold_labels() == {"a": "cat"}
    with Store.open(tmp_path / "relabel.db") as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert len(store.tasks(1, ("resolved",))) == 1
        # a held-out gold image is not a sample of the store: schema 2 allows its task
        store.plan_tasks(
            1, [("held-1", {"gold_label": "dog", "path": "/h.png"})], cycle=2, batch="y"
        )
        assert store.gold_paths(1) == {"held-1": "/h.png"}


def test_simulated_mistakes_go_to_confusable_classes() -> None:
    choices = ["0", "1", "7", "Not a valid image / none of these"]
    looks_like = {"0": 0.0, "1": 0.3, "7": 0.7}
    wrong = [
        simulated_answer(
            0, f"s{i}", 1, "1", choices, accuracy=0.0, skip_rate=0.0, confusable=looks_like
        )
        for i in range(400)
    ]
    share_7 = wrong.count("7") / len(wrong)
    assert share_7 > 0.9  # 0.71 / (0.71 + 0.01 + 0.01) of the mistakes
    uniform = [
        simulated_answer(0, f"s{i}", 1, "1", choices, accuracy=0.0, skip_rate=0.0)
        for i in range(400)
    ]
    assert 0.2 < uniform.count("7") / 400 < 0.45


def test_the_crowd_answers_per_task_and_one_more_reviewer() -> None:
    crowd = Crowd(accuracy=[0.95, 0.85, 0.6], reviewers=3, answers_per_task=2, overlaps={7: 3})
    crowd.check()
    assert crowd.accuracy_of(3) == 0.6
    assert (crowd.needed(1), crowd.needed(7)) == (2, 3)
    assert Crowd(reviewers=2).needed(1) == 2  # default: every reviewer answers
    with pytest.raises(ValueError, match="accuracy"):
        Crowd(accuracy=[0.9, 1.2], reviewers=2).check()
