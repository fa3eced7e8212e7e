"""More tasks than one Label Studio project holds (``studio.max_tasks_per_project``).

Fast tier: how new tasks spread over projects (:func:`relabel.loop.push.spread_tasks`), the
store's bookkeeping of a binding's further projects (``studio_parts``, schema 4), its
move with the binding, and the config key.
Studio tier (the REAL session server): 7 tasks at 3 per project make 3 projects, through a
push killed after creating the second project and one killed after importing into it;
answers given through the API are pulled exactly once from every project.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from relabel.errors import ConfigError
from relabel.loop.binding import MARKER_META, marker_of, part_of
from relabel.loop.pull import pull
from relabel.loop.push import spread_tasks
from relabel.project import Project
from relabel.store import Store
from relabel.studio.client import StudioClient
from tests.test_roundtrip import (
    CLASSES,
    make_project,
    relabel_cmd,
    relabel_killed,
    studio_env,
    versions,
)

URL = "http://127.0.0.1:8080"

# ------------------------------------------------------------------------------- fast


@pytest.mark.parametrize(
    ("used", "limit", "n", "spread"),
    [
        ([0], 100_000, 7, [7]),  # below the limit: one project, as before
        ([0], 3, 7, [3, 3, 1]),
        ([2], 3, 7, [1, 3, 3]),
        ([3, 1], 3, 7, [0, 2, 3, 2]),
        ([1, 3], 3, 2, [2, 0]),  # room left in an earlier project is used first
        ([5], 3, 1, [0, 1]),  # a project past the limit (the limit was lowered) gets none
        ([3], 3, 0, [0]),
    ],
)
def test_new_tasks_fill_each_project_up_to_the_limit(
    used: list[int], limit: int, n: int, spread: list[int]
) -> None:
    assert spread_tasks(used, limit, n) == spread


def test_the_limit_must_be_at_least_one(tmp_path: Path) -> None:
    project = make_project(tmp_path, 6, budget=3)
    toml = project / "relabel.toml"
    toml.write_text(
        toml.read_text().replace("max_tasks_per_project = 100000", "max_tasks_per_project = 0")
    )
    with pytest.raises(ConfigError, match=r"studio\.max_tasks_per_project must be at least 1"):
        Project.open(project)


def test_a_binding_records_its_further_projects_and_they_move_with_it(tmp_path: Path) -> None:
    store = Store.create(
        tmp_path / "relabel.db", CLASSES, [(f"s{i}", f"/{i}", "cat") for i in range(5)]
    )
    with store:
        assert store.studio_parts() == []
        store.add_studio_project(4, URL, "relabel: p", CLASSES)
        store.add_studio_part(2, 7, "relabel: p (2)")
        store.add_studio_part(3, 9, "relabel: p (3)")
        parts = store.studio_parts()
        assert [(p["part"], p["studio_project_id"], p["title"]) for p in parts] == [
            (1, 4, "relabel: p"),
            (2, 7, "relabel: p (2)"),
            (3, 9, "relabel: p (3)"),
        ]
        with pytest.raises(sqlite3.IntegrityError):  # a part is recorded once
            store.add_studio_part(2, 8, "relabel: p (2)")
        # one transaction plans over several projects; counts leave deleted tasks out
        items = [(f"s{i}", {"i": i}) for i in range(5)]
        assert store.plan_split_tasks([(4, items[:3]), (7, items[3:])], cycle=None, batch="b") == 5
        assert store.task_counts([4, 7, 9]) == {4: 3, 7: 2, 9: 0}
        opened = store.tasks(4, ("planned",))[0]
        store.open_tasks([(opened["row_id"], 11)])
        store.release_deleted_tasks([opened["row_id"]])
        assert store.task_counts([4, 7, 9]) == {4: 2, 7: 2, 9: 0}
        # the server moved: every project of the binding moves with it
        store.rebind_studio_project(4, URL, "http://localhost:8080")
        assert {p["url"] for p in store.studio_parts()} == {"http://localhost:8080"}
        assert len(store.studio_parts()) == 3
        # another binding has its own (no) further projects
        store.add_studio_project(20, "http://localhost:8080", "restored", CLASSES)
        assert [p["studio_project_id"] for p in store.studio_parts()] == [20]


def test_a_schema_3_store_gains_the_parts_table(tmp_path: Path) -> None:
    from relabel.store import schema

    Store.create(tmp_path / "relabel.db", CLASSES, [("a", "/a", "cat")]).close()
    conn = sqlite3.connect(tmp_path / "relabel.db")
    conn.executescript(
        "DROP TABLE studio_parts; UPDATE meta SET value = '3' WHERE key = 'schema_version';"
    )
    conn.close()
    with Store.open(tmp_path / "relabel.db", readonly=True) as old:
        assert old.get_meta("schema_version") == "3"
    with Store.open(tmp_path / "relabel.db") as migrated:
        assert migrated.get_meta("schema_version") == str(schema.SCHEMA_VERSION) == "4"
        migrated.add_studio_project(1, URL, "t", CLASSES)
        migrated.add_studio_part(2, 5, "t (2)")
        assert [p["studio_project_id"] for p in migrated.studio_parts()] == [1, 5]


def test_a_further_projects_description_names_its_part() -> None:
    assert part_of("text\n\nrelabel-project-id: abc\nrelabel-part: 3") == 3
    assert part_of("text\n\nrelabel-project-id: abc") == 1
    assert marker_of("relabel-project-id: abc\nrelabel-part: 3") == "abc"


# ----------------------------------------------------------------------------- studio


def _ours(client: StudioClient, title: str, marker: str) -> list[int]:
    """Label Studio projects with this title that carry this relabel project's marker."""
    return [
        pid
        for pid in client.project_ids_titled(title)
        if marker_of(client.get_project(pid).description) == marker
    ]


def test_seven_tasks_at_three_per_project_make_three_projects_through_two_kills(
    tmp_path: Path, studio_server, studio_client: StudioClient
) -> None:
    project = make_project(tmp_path, 7, budget=7)
    toml = project / "relabel.toml"
    toml.write_text(
        toml.read_text().replace("max_tasks_per_project = 100000", "max_tasks_per_project = 3")
    )
    env = studio_env(studio_client, studio_server.token)
    argv = ["push", str(project)]
    # killed after Label Studio created the second project, before the store recorded it
    killed = relabel_killed(argv, {**env, "RELABEL_FAILPOINT": "push:after_create_part"})
    assert killed.returncode == -9, killed.stderr
    with Project.open(project) as p:
        assert len(p.store.studio_parts()) == 1
        assert p.store.conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 0
    # killed after the import into the second project, before its tasks were opened
    killed = relabel_killed(argv, {**env, "RELABEL_FAILPOINT": "push:after_import:2"})
    assert killed.returncode == -9, killed.stderr
    with Project.open(project) as p:
        parts = [int(x["studio_project_id"]) for x in p.store.studio_parts()]
        states = {
            pid: sorted(r["state"] for r in p.store.tasks(pid, ("planned", "pending", "open")))
            for pid in parts
        }
    assert len(parts) == 3
    assert list(states.values()) == [["open"] * 3, ["pending"] * 3, ["planned"]]
    done = relabel_cmd(argv, env)
    assert done.returncode == 0, done.stderr

    with Project.open(project) as p:
        rows = p.store.studio_parts()
        marker = p.store.get_meta(MARKER_META)
        assert {r[0] for r in p.store.conn.execute("SELECT state FROM tasks")} == {"open"}
        task_ids = {
            pid: {r["sample_id"]: int(r["task_id"]) for r in p.store.tasks(pid, ("open",))}
            for pid in parts
        }
    title = rows[0]["title"]
    assert [r["title"] for r in rows] == [title, f"{title} (2)", f"{title} (3)"]
    # one Label Studio project per part (the one created before the kill was found again)
    assert [_ours(studio_client, r["title"], marker) for r in rows[1:]] == [[parts[1]], [parts[2]]]
    assert [part_of(studio_client.get_project(pid).description) for pid in parts] == [1, 2, 3]
    in_studio = {pid: studio_client.list_task_sample_ids(pid) for pid in parts}
    assert [len(v) for v in in_studio.values()] == [3, 3, 1]
    every = [sid for v in in_studio.values() for sid, ids in v.items() for _ in ids]
    assert sorted(every) == [f"s{i:03d}" for i in range(7)]  # each sample once, anywhere

    for pid in parts:  # every task answered "fox" through the API
        assert studio_client.bulk_annotate(pid, dict.fromkeys(task_ids[pid].values(), "fox")) > 0
    with Project.open(project) as p:
        first = pull(p, studio_client)
        assert (first.studio_projects, first.tasks_seen, first.reviewed) == (3, 7, 7)
        assert (first.corrected, first.confirmed) == (5, 2)
        again = pull(p, studio_client)
        assert (again.reviewed, again.corrected) == (0, 0)
        assert p.store.conn.execute("SELECT COUNT(*) FROM pulls").fetchone()[0] == 6
    assert versions(project) == [
        (f"s{i:03d}", "fox", "active", "review") for i in range(7) if CLASSES[i % 3] != "fox"
    ]
