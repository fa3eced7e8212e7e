"""The fast reads of the current labels give what the plain SQL and pandas paths gave.

Pinned here: the two-scan read of :meth:`Store.labels` equals the ``GROUP BY`` query it
replaced; its Parquet snapshot is keyed by the newest label version (rebuilt after a change,
ignored when stale or damaged, never written by a read-only store); the hashed lookups of
the project layer equal pandas' ``isin``/``loc``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relabel.errors import DatasetError, StoreError
from relabel.project.ranking import align_to_run
from relabel.project.samples import active_samples, is_member, label_indices
from relabel.store import Store
from relabel.store.current import snapshot_key, snapshot_path

#: The query ``Store.labels`` ran before it read two scans (the reference).
REFERENCE = """
    WITH cur AS (
        SELECT sample_id, MAX(version_id) AS vid, MIN(version_id) AS first_vid,
               COUNT(*) AS n_versions
        FROM label_versions GROUP BY sample_id
    )
    SELECT s.sample_id, s.ord, s.path, lv.label, lv.status, lv.source,
           lv.version_id, o.label AS original_label,
           CASE WHEN lv.source = 'original' THEN NULL ELSE lv.cycle END
               AS changed_in_cycle,
           cur.n_versions
    FROM samples s
    JOIN cur ON cur.sample_id = s.sample_id
    JOIN label_versions lv ON lv.version_id = cur.vid
    JOIN label_versions o ON o.version_id = cur.first_vid
    ORDER BY s.ord
"""

CLASSES = ["cat", "dog", "fox"]


def reference(store: Store) -> pd.DataFrame:
    frame = pd.read_sql_query(REFERENCE, store.conn)
    frame["changed_in_cycle"] = frame["changed_in_cycle"].astype("Int64")
    return frame


@pytest.fixture
def store(tmp_path: Path) -> Store:
    rng = np.random.default_rng(3)
    ids = [f"id{i:03d}" for i in rng.permutation(40)]  # ord order differs from id order
    samples = [(sid, f"/img/{sid}.png", CLASSES[i % 3]) for i, sid in enumerate(ids)]
    s = Store.create(tmp_path / "relabel.db", CLASSES, samples)
    yield s
    s.close()


def _change_some(store: Store) -> None:
    """Several versions per sample, interleaved, with and without cycles, an exclusion."""
    store.add_version("id005", "dog", source="review", cycle=1, reviewers=["r1"])
    store.add_version("id017", "fox", source="manual")
    store.add_version("id005", "fox", source="manual", cycle=2)
    store.add_version("id030", "cat", source="review", status="excluded", cycle=3)
    store.add_version("id017", "cat", source="import", cycle=4)


def test_labels_equal_the_group_by_query(store: Store) -> None:
    pd.testing.assert_frame_equal(store.labels(), reference(store))
    _change_some(store)
    labels = store.labels()
    pd.testing.assert_frame_equal(labels, reference(store))
    assert labels.set_index("sample_id").loc["id005", "n_versions"] == 3


def test_some_columns_are_the_same_columns_of_the_whole(store: Store) -> None:
    _change_some(store)
    whole = store.labels()
    for columns in (["label", "sample_id"], ["original_label"], ["changed_in_cycle", "ord"]):
        pd.testing.assert_frame_equal(store.labels(columns), whole[columns])
    snapshot_path(store.path).unlink()  # the same from the tables
    pd.testing.assert_frame_equal(store.labels(["status", "path"]), whole[["status", "path"]])
    with pytest.raises(StoreError, match="unknown label column"):
        store.labels(["label", "colour"])


def test_the_snapshot_is_rebuilt_after_a_label_change(store: Store) -> None:
    path = snapshot_path(store.path)
    before = store.labels()
    assert path.is_file()  # a writable store keeps what it read
    first_bytes = path.read_bytes()
    store.add_version("id011", "fox", source="manual")
    after = store.labels()  # the old snapshot's key is stale: read from the tables
    assert after.set_index("sample_id").loc["id011", "label"] == "fox"
    assert not after.equals(before)
    assert path.read_bytes() != first_bytes
    pd.testing.assert_frame_equal(after, reference(store))


def test_a_writable_store_refreshes_the_snapshot_when_it_closes(tmp_path: Path) -> None:
    db = tmp_path / "relabel.db"
    Store.create(db, CLASSES, [("a", "/a.png", "cat"), ("b", "/b.png", "dog")]).close()
    path = snapshot_path(db)
    assert path.is_file()
    with Store.open(db) as s:
        s.add_version("b", "fox", source="manual")
        key = snapshot_key(s.conn)
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    assert table.schema.metadata[b"relabel.labels_key"] == key.encode()
    assert pq.read_table(path, columns=["label"]).column("label").to_pylist() == ["cat", "fox"]


def test_a_read_only_store_reads_a_current_snapshot_and_writes_none(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    db = tmp_path / "relabel.db"
    Store.create(db, CLASSES, [("a", "/a.png", "cat"), ("b", "/b.png", "dog")]).close()
    path = snapshot_path(db)
    table = pq.read_table(path)
    marked = table.set_column(
        table.schema.get_field_index("path"), "path", pa.array(["/from-snapshot", "/x"])
    )
    pq.write_table(marked, path)  # same key, so it is used: proof that the snapshot is read
    with Store.open(db, readonly=True) as s:
        assert s.labels()["path"].tolist() == ["/from-snapshot", "/x"]
    path.unlink()
    with Store.open(db, readonly=True) as s:
        assert s.labels()["path"].tolist() == ["/a.png", "/b.png"]
    assert not path.exists()  # a read leaves the project folder as it was


@pytest.mark.parametrize("damage", ["stale", "garbage", "empty"])
def test_a_stale_or_damaged_snapshot_is_ignored(store: Store, damage: str) -> None:
    store.labels()
    path = snapshot_path(store.path)
    if damage == "stale":
        old = path.read_bytes()
        store.add_version("id002", "dog", source="manual")
        path.write_bytes(old)  # the key of the version before
    else:
        path.write_bytes(b"not parquet" if damage == "garbage" else b"")
    pd.testing.assert_frame_equal(store.labels(), reference(store))


def test_hashed_lookups_equal_isin_and_loc(store: Store) -> None:
    _change_some(store)
    store.add_drop("id001", True, source="manual")
    store.add_drop("id009", True, source="manual")
    store.add_drop("id009", False, source="manual")  # kept again
    labels = store.labels()
    ids = labels["sample_id"]
    members = {"id001", "id030", "nope"}
    assert is_member(ids, members).tolist() == ids.isin(members).tolist()
    assert not is_member(ids, set()).any()

    dropped = store.dropped_sample_ids()
    slow = labels[(labels["status"] == "active") & ~labels["sample_id"].isin(dropped)]
    active = active_samples(store)
    pd.testing.assert_frame_equal(active, slow.reset_index(drop=True))
    pd.testing.assert_frame_equal(active_samples(store, labels), active)

    rng = np.random.default_rng(0)
    for run_ids in (
        active["sample_id"].to_numpy(),  # the usual case: the same samples in the same order
        rng.permutation(active["sample_id"].to_numpy()),
        np.r_[active["sample_id"].to_numpy()[::2], ["id030", "gone"]],  # excluded, unknown
    ):
        run_ids = run_ids.astype(str)
        rows, keep = align_to_run(active, run_ids)
        indexed = active.set_index("sample_id", drop=False)
        expected_keep = pd.Index(run_ids).isin(indexed.index)
        assert keep.tolist() == expected_keep.tolist()
        expected = indexed.loc[run_ids[expected_keep]].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows, expected)


def test_label_indices_equal_the_mapping_and_name_unknown_labels() -> None:
    labels = pd.Series(["dog", "cat", "fox", "dog"])
    assert label_indices(CLASSES, labels).tolist() == [1, 0, 2, 1]
    assert label_indices(CLASSES, labels).dtype == np.int64
    with pytest.raises(DatasetError, match=r"\['cow'\] are not classes"):
        label_indices(CLASSES, pd.Series(["dog", "cow"]))
