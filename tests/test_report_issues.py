"""The report's issue sections: duplicate sets, outliers, image health and the embedding
map, on a project trained by the test engine with planted cases, and on arrays alone."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from relabel import Project
from relabel.data.images import decode_many
from relabel.demo import digits
from relabel.findings import HEALTH_TYPES, find_issues
from relabel.project.runs import EMBEDDINGS_FILE, oof_sample_ids
from relabel.report import ReportInputError, ReportInputs, write_report
from relabel.report.build import build_report
from relabel.report.embedmap import embedding_map, map_sample
from relabel.report.issues import duplicate_groups
from tests.test_report import assert_images_exist, embedded_png, synthetic_inputs

#: Rows of the digits manifest the project keeps (a small, fast project).
ROWS = 300
#: Planted cases, by manifest row: an exact file copy of another class, a black image,
#: a near copy in embedding space, and an embedding far from everything.
EXACT, EXACT_COPY, DARK, NEAR, NEAR_COPY, OUTLIER = 10, 11, 20, 30, 31, 40
MAP_ALT = "embedding map"


def section(text: str, sid: str) -> str:
    """The HTML of one section of the report."""
    start = text.index(f'<section id="{sid}">')
    return text[start : text.index("</section>", start)]


def card_ids(html: str) -> list[str]:
    """The sample ids of the cards in some HTML, in order."""
    return re.findall(r'<div class="sid" title="[^"]*">([^<]+)</div>', html)


def map_src(text: str) -> str:
    """The ``data:`` URI of the embedding map."""
    found = re.search(rf'<img class="fig" src="([^"]+)" alt="{MAP_ALT}">', text)
    assert found, "no embedding map image"
    return found.group(1)


@pytest.fixture
def planted(tmp_path: Path, test_engine: str) -> tuple[Path, Path, list[str]]:
    """A small digits project with an exact copy across classes and a black image,
    trained once; returns the project, its run folder and the manifest's sample ids."""
    data = digits.write_digits(tmp_path / "data", size=16, seed=0)
    manifest = pd.read_csv(data.manifest).iloc[:ROWS]
    assert manifest.loc[EXACT, "label"] != manifest.loc[EXACT_COPY, "label"]
    images = data.root / manifest["path"]
    shutil.copyfile(images[EXACT], images[EXACT_COPY])
    Image.new("L", (16, 16), 0).save(images[DARK])
    manifest.to_csv(data.root / "small.csv", index=False)
    Project.init(tmp_path / "p", manifest=data.root / "small.csv", folds=3)
    with Project.open(tmp_path / "p") as project:
        run = project.train(final_model=False).run_dir
    (run / EMBEDDINGS_FILE).unlink(missing_ok=True)  # as a run trained before runs kept them
    return tmp_path / "p", run, manifest["id"].astype(str).tolist()


def write_embeddings(project: Path, run: Path, ids: list[str]) -> None:
    """An ``embeddings.npy`` as a run keeps it (float16, rows as ``oof.npz``): the images
    at 8x8, with a near copy and an outlier planted."""
    rows = {sid: i for i, sid in enumerate(oof_sample_ids(run / "oof.npz"))}
    with Project.open(project) as p:
        paths = p.active_samples().set_index("sample_id").loc[list(rows), "path"].tolist()
    emb = decode_many(paths, (8, 8), 1).reshape(len(paths), -1).astype(np.float16)
    emb[rows[ids[NEAR_COPY]]] = emb[rows[ids[NEAR]]]
    emb[rows[ids[OUTLIER]]] = np.random.default_rng(0).normal(size=emb.shape[1]) * 100
    np.save(run / EMBEDDINGS_FILE, emb)


def test_report_shows_the_planted_issues_and_the_map(
    planted: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    project, run, ids = planted
    write_embeddings(project, run, ids)
    with Project.open(project) as p:
        html = build_report(p, tmp_path / "out")
    text = html.read_text(encoding="utf-8")
    for sid in ("duplicates", "outliers", "health", "map"):
        assert f'<section id="{sid}">' in text and f'href="#{sid}"' in text
    sets = re.findall(r'<div class="dupset[^"]*">.*?</div></div>', section(text, "duplicates"))
    members = [set(card_ids(s)) for s in sets]
    exact = sets[members.index({ids[EXACT], ids[EXACT_COPY]})]
    assert 'class="dupset conflict"' in exact and "conflicting labels" in exact
    assert {ids[NEAR], ids[NEAR_COPY]} in members
    # The black image is an outlier in these pixel embeddings too.
    assert set(card_ids(section(text, "outliers"))[:2]) == {ids[OUTLIER], ids[DARK]}
    dark = section(text, "health").split('id="health-dark"')[1].split("<h3")[0]
    assert ids[DARK] in card_ids(dark)
    shown = section(text, "map")
    assert f"all {ROWS} samples" in shown and "t-SNE" in shown and "seed 0" in shown
    with embedded_png(map_src(text)) as im:
        assert im.size[0] > 400 and im.size[1] > 300
    assert_images_exist(html)


def test_a_run_without_embeddings_says_how_to_get_them(
    planted: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    project, _, ids = planted
    with Project.open(project) as p:
        text = build_report(p, tmp_path / "out").read_text(encoding="utf-8")
    for sid in ("map", "outliers"):
        assert "no embeddings" in section(text, sid) and "relabel train" in section(text, sid)
    assert f'alt="{MAP_ALT}"' not in text
    duplicates = section(text, "duplicates")
    assert "Exact copies only" in duplicates
    assert {ids[EXACT], ids[EXACT_COPY]} <= set(card_ids(duplicates))
    assert ids[NEAR_COPY] not in card_ids(duplicates)
    dark = section(text, "health").split('id="health-dark"')[1].split("<h3")[0]
    assert ids[DARK] in card_ids(dark)


def arrays_report(tmp_path: Path, n_per_class: int = 12) -> tuple[ReportInputs, np.ndarray]:
    """Synthetic report inputs with the issues of their pixels as embeddings, a near copy
    (rows 0 and 1) and an outlier in each of three classes planted; returns the inputs
    and the embeddings."""
    inputs, _ = synthetic_inputs(tmp_path, n_per_class=n_per_class)
    emb = decode_many(inputs.paths, (8, 8), 1).reshape(inputs.n, -1).astype(np.float32)
    emb[1] = emb[0]
    far = np.random.default_rng(0).normal(size=(3, emb.shape[1])) * 100
    emb[[n_per_class + 2, 2 * n_per_class + 2, 3 * n_per_class + 2]] = far
    table = find_issues(emb, inputs.probs, inputs.given)
    base = {**inputs.__dict__, "issues": table, "embeddings": emb}
    return ReportInputs(**base), emb


def test_same_inputs_give_the_same_bytes_and_galleries_are_capped(tmp_path: Path) -> None:
    inputs, _ = arrays_report(tmp_path)
    a = write_report(inputs, tmp_path / "a", issues_per_type=2, map_points=60)
    b = write_report(inputs, tmp_path / "b", issues_per_type=2, map_points=60)
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text(encoding="utf-8")
    assert f"60 of the {inputs.n:,} samples" in section(text, "map")
    outliers = section(text, "outliers")
    assert int(inputs.issues["outlier_flag"].sum()) >= 3
    assert len(card_ids(outliers)) == 2 and "the 2 highest scores shown" in outliers
    scores = inputs.issues["outlier_score"].to_numpy()
    top = np.argsort(-scores, kind="stable")[:2]
    assert card_ids(outliers) == [inputs.sample_ids[i] for i in top]


def test_no_findings_say_none_found(tmp_path: Path) -> None:
    inputs, _ = arrays_report(tmp_path, n_per_class=6)
    stats = {
        "brightness": np.full(inputs.n, 0.5),
        "sharpness": np.linspace(1.0, 1.1, inputs.n),
        "entropy": np.linspace(5.0, 5.1, inputs.n),
        "colorfulness": np.full(inputs.n, 0.3),
        "height": np.full(inputs.n, 32),
        "width": np.full(inputs.n, 32),
        "content_hash": np.arange(inputs.n, dtype=np.uint64),
    }
    table = find_issues(hashes=stats["content_hash"], labels=inputs.given, image_stats=stats)
    assert not table[[f"{t}_flag" for t in HEALTH_TYPES if f"{t}_flag" in table]].any().any()
    quiet = ReportInputs(**{**inputs.__dict__, "issues": table, "embeddings": None})
    text = write_report(quiet, tmp_path / "q").read_text(encoding="utf-8")
    assert "None found." in section(text, "duplicates")
    health = section(text, "health")
    assert health.count("None found.") == sum(f"{t}_flag" in table for t in HEALTH_TYPES)
    assert "no embeddings" in section(text, "outliers")
    bare = ReportInputs(**{**inputs.__dict__, "issues": None, "issues_note": "too many"})
    text = write_report(bare, tmp_path / "b").read_text(encoding="utf-8")
    assert "were not computed for this report: too many." in section(text, "duplicates")


def test_issue_inputs_are_validated(tmp_path: Path) -> None:
    inputs, emb = arrays_report(tmp_path, n_per_class=3)
    base = dict(inputs.__dict__)
    with pytest.raises(ReportInputError, match="issues has 29 rows"):
        ReportInputs(**{**base, "issues": inputs.issues.iloc[1:]})
    shuffled = inputs.issues.assign(sample_id=inputs.sample_ids[::-1])
    with pytest.raises(ReportInputError, match="issues row 0 is sample"):
        ReportInputs(**{**base, "issues": shuffled})
    with pytest.raises(ReportInputError, match=r"embeddings has shape \(29, 64\)"):
        ReportInputs(**{**base, "embeddings": emb[1:]})


def test_map_sample_keeps_flagged_samples_first_and_is_seeded() -> None:
    flagged = np.zeros(1000, dtype=bool)
    flagged[[5, 50, 500]] = True
    rows = map_sample(flagged, 100)
    assert len(rows) == 100 and np.all(np.diff(rows) > 0) and {5, 50, 500} <= set(rows)
    assert np.array_equal(rows, map_sample(flagged, 100))
    many = np.ones(1000, dtype=bool)
    many[::2] = False
    assert int(many[map_sample(many, 100)].sum()) == 50
    assert np.array_equal(map_sample(flagged, 5000), np.arange(1000))
    emb = np.random.default_rng(1).normal(size=(1000, 8)).astype(np.float16)
    m = embedding_map(emb, flagged, limit=100)
    assert m.xy.shape == (100, 2) and np.array_equal(m.rows, rows) and m.method == "t-SNE"
    assert np.array_equal(m.xy, embedding_map(emb, flagged, limit=100).xy)
    tiny = embedding_map(emb[:3], flagged[:3])
    assert tiny.method == "PCA" and tiny.xy.shape == (3, 2)


def test_duplicate_groups_put_conflicts_and_holdout_leaks_first() -> None:
    table = pd.DataFrame(
        {
            "duplicate_flag": [True, True, True, True, True, False],
            "duplicate_score": [1.0, 1.0, 0.6, 0.6, 0.9, 0.1],
            "duplicate_set": [0, 0, 1, 1, -1, -1],
            "duplicate_conflict": [False, False, True, True, False, False],
            "duplicate_crosses_holdout": [False, False, False, False, True, False],
        }
    )
    groups = duplicate_groups(table)
    assert [(g.set_id, list(g.members)) for g in groups] == [(-1, [4]), (1, [2, 3]), (0, [0, 1])]
    assert groups[0].crosses_holdout and groups[1].conflict and not groups[2].conflict
