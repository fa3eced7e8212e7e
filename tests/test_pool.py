"""The unlabelled pool: manifest rows with an empty label, the store, training and the
reports (plumbing, with the test engine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relabel import Project
from relabel.config import PoolConfig
from relabel.config.choices import ACQUISITION_STRATEGIES
from relabel.data.manifest import read_manifest
from relabel.data.validate import validate_records
from relabel.demo import digits
from relabel.demo.pool import hide_labels
from relabel.errors import ConfigError, DatasetError
from relabel.loop.pool import FALLBACK_STRATEGY, choose_labels
from relabel.loop.pull import apply_reviews
from relabel.project.pool import POOL_FILE, pool_predictions, pool_samples
from relabel.project.runs import oof_sample_ids
from relabel.ranking.acquisition import DEFAULT_STRATEGY, STRATEGIES
from relabel.review.majority import NOT_VALID, Resolution
from relabel.review.outcome import decide_unlabelled
from relabel.serve.record import record_event
from relabel.store import Store
from relabel.studio.models import Annotation, ReviewedTask
from relabel.studio.webhooks import WebhookAnswer, WebhookEvent


def _pool_manifest(tmp_path: Path, hidden: int = 60) -> tuple[Path, dict[str, str]]:
    """The digits with the labels of every ``len // hidden``-th row hidden; the truth."""
    data = digits.write_digits(tmp_path / "data", size=16, seed=0)
    frame = pd.read_csv(data.manifest, dtype=str, keep_default_na=False)
    truth = dict(zip(frame["id"], frame["label"], strict=True))
    frame.loc[frame.index[:hidden], "label"] = ""
    out = tmp_path / "data" / "pool.csv"
    frame.to_csv(out, index=False)
    return out, truth


def test_empty_label_is_a_pool_record_and_empty_path_still_a_problem(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,path,label\na,a.png,cat\nb,b.png,\nc,,dog\n,d.png,dog\n")
    records, problems = read_manifest(manifest)
    assert [(r.sample_id, r.label, r.labelled) for r in records] == [
        ("a", "cat", True),
        ("b", "", False),
    ]
    assert [p.message for p in problems] == ["empty path", "empty id"]


def test_a_manifest_of_unlabelled_rows_only_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,path,label\na,a.png,\nb,b.png,\n")
    records, _ = read_manifest(manifest)
    with pytest.raises(DatasetError, match="every row is unlabelled"):
        validate_records(records, folds=2, check_images=False)


def test_unlabelled_records_count_for_no_class(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    rows = "".join(f"{i},{i}.png,{'ab'[i % 2]}\n" for i in range(6))
    manifest.write_text("id,path,label\n" + rows + "u1,u1.png,\nu2,u2.png,\n")
    records, _ = read_manifest(manifest)
    validated = validate_records(records, folds=3, classes=["a", "b"], check_images=False)
    assert validated.classes == ["a", "b"]
    assert sum(not r.labelled for r in validated.records) == 2
    assert validated.problems == []


def test_store_keeps_pool_samples_without_a_label_version(tmp_path: Path) -> None:
    samples = [("s1", "/p1", "a"), ("s2", "/p2", ""), ("s3", "/p3", "b")]
    with Store.create(tmp_path / "r.db", ["a", "b"], samples) as store:
        assert store.labels()["sample_id"].tolist() == ["s1", "s3"]
        assert store.pool()["sample_id"].tolist() == ["s2"]
        assert store.n_unlabelled() == 1
        assert store.history("s2") == []
        assert store.current_version_or_none("s2") is None
        store.add_version("s2", "b", source="review", evidence={"kind": "label"})
        labels = store.labels().set_index("sample_id")
        assert labels.loc["s2", "label"] == "b"
        assert pd.isna(labels.loc["s2", "original_label"])
        assert store.n_unlabelled() == 0
        changes = store.label_changes()
        assert changes["sample_id"].tolist() == ["s2"]
        assert changes["original_label"].isna().all()


def test_decide_unlabelled() -> None:
    labelled = decide_unlabelled(Resolution("label", "cat", {"cat": 2}, 1.0, "agreed"))
    assert (labelled.outcome, labelled.label, labelled.new_status) == ("labelled", "cat", "active")
    excluded = decide_unlabelled(Resolution("excluded", None, {}, 1.0, "not valid"))
    assert (excluded.outcome, excluded.new_status) == ("excluded", None)
    unsure = decide_unlabelled(Resolution("unresolved", None, {}, 0.5, "tie"))
    assert unsure.outcome == "unresolved"


def test_training_leaves_the_pool_out_and_predicts_it(tmp_path: Path, test_engine: str) -> None:
    manifest, _ = _pool_manifest(tmp_path)
    Project.init(tmp_path / "p", manifest=manifest, folds=3)
    with Project.open(tmp_path / "p") as project:
        result = project.train()
        pool_ids = set(project.store.pool()["sample_id"])
        assert len(pool_ids) == 60
        oof_ids = set(oof_sample_ids(result.run_dir / "oof.npz"))
        assert not oof_ids & pool_ids
        assert result.n_samples == project.store.n_samples() - 60
        predicted = pool_predictions(project.root, project.store)
        assert set(predicted.sample_ids) == pool_ids
        assert predicted.probs.shape == (60, len(project.config.dataset.classes))
        np.testing.assert_allclose(predicted.probs.sum(axis=1), 1.0, rtol=1e-4)
        assert predicted.embeddings is None  # the test engine gives no final embeddings
        ranked = project.rank()
        assert not set(ranked.table["sample_id"]) & pool_ids
        status = project.status()
        assert (status["labelled"], status["unlabelled"]) == (status["samples"], 60)
        out = tmp_path / "export.csv"
        project.export(out)
        exported = pd.read_csv(out, dtype=str, keep_default_na=False)
        pool_rows = exported[exported["id"].isin(pool_ids)]
        assert len(exported) == project.store.n_samples()
        assert len(pool_rows) == 60
        assert (pool_rows["label"] == "").all() and (pool_rows["original_label"] == "").all()
        assert project.history(sorted(pool_ids)[0]).empty


def test_a_run_without_final_model_has_no_pool_predictions(
    tmp_path: Path, test_engine: str
) -> None:
    manifest, _ = _pool_manifest(tmp_path)
    Project.init(tmp_path / "p", manifest=manifest, folds=3)
    with Project.open(tmp_path / "p") as project:
        result = project.train(final_model=False)
        assert not (result.run_dir / POOL_FILE).exists()
        with pytest.raises(Exception, match="no predictions of the unlabelled pool"):
            pool_predictions(project.root, project.store)


def _trained_pool(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    manifest, truth = _pool_manifest(tmp_path)
    Project.init(tmp_path / "p", manifest=manifest, folds=3)
    with Project.open(tmp_path / "p") as project:
        project.train()
    return tmp_path / "p", truth


def test_choose_labels_takes_the_pool_by_strategy(tmp_path: Path, test_engine: str) -> None:
    root, _ = _trained_pool(tmp_path)
    with Project.open(root) as project:
        items, used, candidates, run_id = choose_labels(project, 10, strategy="margin")
        again, *_ = choose_labels(project, 10, strategy="margin")
        assert items == again  # deterministic
        assert (used, candidates, len(items)) == ("margin", 60, 10)
        pool_ids = set(project.store.pool()["sample_id"])
        assert {sid for sid, _ in items} <= pool_ids
        assert [ev["pick"] for _, ev in items] == list(range(1, 11))
        assert all(ev["kind"] == "label" and ev["run_id"] == run_id for _, ev in items)
        predicted = pool_predictions(root, project.store)
        margin = np.sort(predicted.probs, axis=1)
        gaps = dict(zip(predicted.sample_ids, margin[:, -1] - margin[:, -2], strict=True))
        chosen = [gaps[sid] for sid, _ in items]
        assert max(chosen) <= min(v for k, v in gaps.items() if k not in dict(items))
        # the default strategy needs embeddings the test engine has not: margin instead
        assert choose_labels(project, 10)[1] == FALLBACK_STRATEGY


def _answer(task_id: int, sample_id: str, label: str, annotation_id: int) -> ReviewedTask:
    return ReviewedTask(
        task_id,
        sample_id,
        "2025-01-01T00:00:00Z",
        [Annotation(annotation_id, "ann", label, False, None)],
    )


def test_label_tasks_are_recorded_by_pull_and_webhook_exactly_once(
    tmp_path: Path, test_engine: str
) -> None:
    root, truth = _trained_pool(tmp_path)
    with Project.open(root) as project:
        store = project.store
        store.add_studio_project(7, "http://studio.test", "t", project.config.dataset.classes)
        items, *_ = choose_labels(project, 3, strategy="entropy")
        store.plan_tasks(7, items, cycle=None, batch="b")
        rows = store.tasks(7, ("planned",))
        store.open_tasks([(r["row_id"], 100 + i) for i, r in enumerate(rows)])
        (a, b, c) = [sid for sid, _ in items]
        tasks = [_answer(100, a, truth[a], 1), _answer(101, b, NOT_VALID, 2)]
        first = apply_reviews(project, 7, tasks, cursor="c1")
        assert (first.labelled, first.excluded) == (1, 1)
        assert project.store.labels().set_index("sample_id").loc[a, "label"] == truth[a]
        (version,) = store.history(a)
        assert (version.source, version.reviewers) == ("review", ["ann"])
        assert version.evidence["kind"] == "label" and version.evidence["task_id"] == 100
        assert b in store.dropped_sample_ids() and store.history(b) == []
        before = store.max_version()
        again = apply_reviews(project, 7, tasks, cursor="c2")
        assert (again.labelled, again.unchanged, store.max_version()) == (0, 2, before)
        event = WebhookEvent(
            "ANNOTATION_CREATED",
            [WebhookAnswer(7, 102, c, Annotation(3, "bob", truth[c], False, None))],
        )
        recorded = record_event(project, event)
        assert recorded.summary is not None and recorded.summary.labelled == 1
        assert store.history(c)[0].reviewers == ["bob"]
        pool = set(pool_samples(store)["sample_id"])
        assert not {a, b, c} & pool and len(pool) == 57
        assert project.status()["unlabelled"] == 58  # the dropped one stays unlabelled
        rest = {sid for sid, _ in choose_labels(project, 100, strategy="random")[0]}
        assert rest == pool  # neither labelled nor dropped samples are chosen again


def test_pool_strategies_are_the_acquisition_ones() -> None:
    assert ACQUISITION_STRATEGIES == STRATEGIES
    assert PoolConfig().strategy == DEFAULT_STRATEGY
    with pytest.raises(ConfigError, match="strategy"):
        PoolConfig(strategy="greedy")  # type: ignore[arg-type]


def test_the_pool_demo_hides_all_labels_but_a_few_per_class(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    rows = "".join(f"{i},{i}.png,{'abc'[i % 3]}\n" for i in range(30))
    manifest.write_text("id,path,label\n" + rows)
    hide_labels(manifest, 2, seed=0)
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    kept = frame[frame["label"] != ""]
    assert kept["label"].value_counts().to_dict() == {"a": 2, "b": 2, "c": 2}
    pairs = zip(kept["id"], kept["label"], strict=True)
    assert all(int(i) % 3 == "abc".index(lab) for i, lab in pairs)
