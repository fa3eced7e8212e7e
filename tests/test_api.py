"""The Python API (``import relabel``) and the progress bars.

The Python blocks of ``docs/python-api.md`` run here as written: its scoring blocks in the
fast tier, its project block (training, a push and a pull) against the session's real Label
Studio. What trains here is the test engine (``tests/engine.py``): these tests are about
the API's and the CLI's steps, not the model (``tests/test_training.py`` trains Keras).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relabel
from relabel import ranking as scoring
from relabel.errors import ScoringInputError
from relabel.infra.progress import TerminalProgress, bars_wanted, count
from tests.clirun import Ran, relabel_in_process

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = "docs/python-api.md"


def doc_blocks(path: str = API_PAGE) -> list[str]:
    """The ```python blocks of a documentation page (relative to the repository), in order."""
    return re.findall(r"```python\n(.*?)```", (ROOT / path).read_text(), re.S)


def test_find_label_issues_is_the_scoring_core_as_a_dataframe() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 4, size=50)
    table = relabel.find_label_issues(labels, probs)
    s = scoring.score_samples(labels, probs)
    assert len(table) == 50
    np.testing.assert_array_equal(table["rank"], s.rank)
    np.testing.assert_allclose(table["suspicion"], s.suspicion)
    assert (table["is_label_issue"] == (s.lane == "label_issue")).all()
    named = relabel.find_label_issues(labels, probs, classes=["a", "b", "c", "d"])
    assert set(named["given_label"]) <= {"a", "b", "c", "d"}
    with pytest.raises(ScoringInputError):
        relabel.find_label_issues(labels[:-1], probs)


def test_the_api_page_scoring_block_runs(capsys: pytest.CaptureFixture[str]) -> None:
    scope: dict[str, object] = {}
    exec(compile(doc_blocks()[0], API_PAGE, "exec"), scope)
    out = capsys.readouterr().out
    issues = scope["issues"]
    assert isinstance(issues, pd.DataFrame)
    # both wrong labels found: sample 1 (a dog labelled cat), sample 5 (a cat labelled fox)
    assert issues["is_label_issue"].tolist() == [False, True, False, False, False, True]
    # it prints the three most suspicious samples, most suspicious first
    assert out == f"{issues.sort_values('rank').head(3)}\n"
    rows = [line.split() for line in out.splitlines()[1:4]]
    assert [row[:3] for row in rows] == [
        ["1", "cat", "dog"],
        ["5", "fox", "cat"],
        ["0", "cat", "cat"],
    ]
    assert [row[-3:] for row in rows] == [
        ["1", "label_issue", "True"],
        ["2", "label_issue", "True"],
        ["3", "ok", "False"],
    ]


def test_the_api_page_scoring_functions_block_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = doc_blocks()
    assert len(blocks) == 4, f"{API_PAGE}: a new python block needs a test that runs it"
    exec(compile(blocks[2], API_PAGE, "exec"), {})
    out = capsys.readouterr().out
    assert "'label_issue'" in out and "0.15" in out  # a lane, and 1 - p_given of sample 3


def test_the_api_page_bring_your_own_outputs_block_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(doc_blocks()[3], API_PAGE, "exec"), scope)
    assert "img4" in capsys.readouterr().out
    with relabel.Project.open(tmp_path / "byo-project", readonly=True) as project:
        ranking = project.rank()
        assert ranking.run_id == scope["run_id"]
        assert ranking.table.sort_values("rank")["sample_id"].iloc[0] == "img4"
        assert project.store.latest_run()["settings"]["model_name"] == "my-vit"


def test_importing_relabel_does_not_import_tensorflow_or_the_sdk() -> None:
    code = (
        "import sys, relabel; relabel.find_label_issues([0, 1], [[0.9, 0.1], [0.2, 0.8]]);"
        "print('tensorflow' in sys.modules, 'label_studio_sdk' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_bars_show_each_task_with_its_eta_and_messages_still_reach_the_log() -> None:
    stream, lines = io.StringIO(), []
    progress = TerminalProgress(lines.append, bars=True, stream=stream)
    for epoch in range(1, 4):
        count(progress, "fold 1/2", epoch, 3, f"fold 1/2: epoch {epoch}/3")
    count(progress, "folds", 1, 2)
    progress.close()
    shown = stream.getvalue()
    assert "fold 1/2" in shown and "3/3" in shown and "folds" in shown
    assert re.search(r"<\d\d:\d\d", shown), shown  # tqdm's ETA
    assert lines == [f"fold 1/2: epoch {e}/3" for e in (1, 2, 3)]
    plain: list[str] = []
    count(plain.append, "push", 1, 2, "push: 1/2 tasks")
    count(None, "push", 2, 2, "ignored")
    assert plain == ["push: 1/2 tasks"]


def test_bars_only_on_a_terminal_without_json_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("RELABEL_PROGRESS", raising=False)
    assert bars_wanted(False, False, Tty())
    assert not bars_wanted(True, False, Tty()) and not bars_wanted(False, True, Tty())
    assert not bars_wanted(False, False, io.StringIO())
    monkeypatch.setenv("RELABEL_PROGRESS", "always")
    assert bars_wanted(True, False, io.StringIO())


def _tiny_project(tmp_path: Path) -> Path:
    from relabel.demo.digits import write_digits
    from relabel.project import Project

    data = write_digits(tmp_path / "data", size=8)
    rows = data.manifest.read_text().splitlines(keepends=True)
    data.manifest.write_text("".join(rows[:241]))  # 240 digits: the bars are what is tested
    Project.init(tmp_path / "proj", manifest=data.manifest, folds=2, image_size=[8, 8])
    return tmp_path / "proj"


def _relabel(args: list[str], env: dict[str, str]) -> Ran:
    """``relabel ARGS`` in this process, with ``env`` on top of this environment."""
    return relabel_in_process(args, {**os.environ, **env})


def test_train_shows_bars_with_eta_and_json_logs_show_none(
    tmp_path: Path, test_engine: str
) -> None:
    proj = _tiny_project(tmp_path)
    argv = ["train", str(proj), "--no-final-model"]
    bars = _relabel(argv, {"RELABEL_PROGRESS": "always"})
    assert bars.returncode == 0, bars.stderr
    assert "fold 1/2" in bars.stderr and "folds" in bars.stderr
    assert re.search(r"<\d\d:\d\d", bars.stderr), bars.stderr
    quiet = _relabel(["--json-logs", *argv], {})
    assert quiet.returncode == 0, quiet.stderr
    lines = [line for line in quiet.stderr.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines), quiet.stderr
    assert "\r" not in quiet.stderr


def test_the_api_page_project_block_runs_against_label_studio(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    test_engine: str,
    studio_server,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABEL_STUDIO_URL", studio_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", studio_server.token)
    # The block runs as written; the test engine trains: this test is about the API's
    # steps, not the model (the benchmarks measure that).
    scope: dict[str, object] = {}
    exec(compile(doc_blocks()[1], API_PAGE, "exec"), scope)
    assert scope["result"].n_samples == 1797  # type: ignore[attr-defined]
    assert len(scope["ranking"]) == 1797  # type: ignore[arg-type]
    assert scope["pushed"].pushed == 20  # type: ignore[attr-defined]
    assert scope["pulled"].reviewed == 0  # type: ignore[attr-defined]  # nobody answered yet
    assert scope["changes"].empty  # type: ignore[attr-defined]
    with relabel.Project.open(tmp_path / "digits-project") as project:
        assert project.store.busy_sample_ids() and len(project.store.busy_sample_ids()) == 20


def test_push_and_pull_show_bars_and_json_logs_show_none(
    tmp_path: Path,
    studio_server,
    studio_client,
) -> None:
    from relabel.project import Project
    from tests.test_roundtrip import make_project

    proj = make_project(tmp_path, 9, budget=6)
    env = {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": studio_server.token}
    bars = {**env, "RELABEL_PROGRESS": "always"}
    pushed = _relabel(["push", str(proj), "--batch-size", "2"], bars)
    assert pushed.returncode == 0, pushed.stderr
    assert re.search(r"push: .*\d/6 .*<\d\d:\d\d", pushed.stderr), pushed.stderr
    with Project.open(proj) as p:
        tasks = [r[0] for r in p.store.conn.execute("SELECT task_id FROM tasks")]
    reviewer = studio_client.ensure_user("bars@relabel.test")
    for task in tasks:
        studio_client.create_annotation(task, "fox", reviewer)
    pulled = _relabel(["pull", str(proj)], bars)
    assert pulled.returncode == 0, pulled.stderr
    assert re.search(r"pull: .*6/6", pulled.stderr), pulled.stderr
    quiet = _relabel(["--json-logs", "pull", str(proj)], env)
    lines = [line for line in quiet.stderr.splitlines() if line.strip()]
    assert quiet.returncode == 0 and all(json.loads(line) for line in lines), quiet.stderr
