"""The training engine a project uses: local, or the one ``RELABEL_ENGINE`` names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from relabel import Project
from relabel.config import Config
from relabel.demo import digits
from relabel.errors import ConfigError
from relabel.infra.failpoints import RefusedError, refuse
from relabel.project.engine import engine_for

ROOT = Path(__file__).resolve().parents[1]


def test_the_default_engine_is_relabels_own_and_a_replacement_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RELABEL_ENGINE", raising=False)
    assert engine_for(Config(name="x")).name == "local"
    monkeypatch.setenv("RELABEL_ENGINE", "tests.engine:nothing_here")
    with pytest.raises(ConfigError, match=r"RELABEL_ENGINE=tests\.engine:nothing_here"):
        engine_for(Config(name="x"))
    monkeypatch.setenv("RELABEL_ENGINE", "tests.engine:SIDE")
    with pytest.raises(ConfigError, match="not an engine"):
        engine_for(Config(name="x"))


def test_the_test_engine_trains_predicts_and_finds_pair_noise(
    tmp_path: Path, test_engine: str
) -> None:
    data = digits.write_digits(tmp_path / "data", noise="1>7:0.3,3>8:0.3,5>6:0.3", seed=0)
    Project.init(tmp_path / "p", manifest=data.manifest)
    with Project.open(tmp_path / "p") as project:
        first = project.train()
        ranked = project.rank().table.sort_values("rank")
        again = project.train()
        probs = project.predict(ranked["path"].head(5).tolist())
    assert first.oof_accuracy == again.oof_accuracy > 0.8  # deterministic, and a model
    truth = dict(zip(data.ids, data.true_labels, strict=True))
    top = ranked.head(int(data.n_errors))
    wrong = [
        digits.DIGIT_CLASSES[truth[s]] != g
        for s, g in zip(top.sample_id, top.given_label, strict=True)
    ]
    assert np.mean(wrong) > 0.8
    assert probs.shape == (5, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # No TensorFlow: asked of a fresh process (an earlier test may have imported it here).
    code = (
        "import sys; from relabel import Project; "
        f"Project.open({str(tmp_path / 'p')!r}).train(final_model=False); "
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0 and done.stdout.split()[-1:] == ["False"], done.stderr


def test_refused_training_is_refused_in_child_processes_too() -> None:
    """The guard of tests/conftest.py sets RELABEL_REFUSE=training for this test."""
    with pytest.raises(RefusedError, match="training is refused"):
        refuse("training")
    code = "from relabel.infra.failpoints import refuse; refuse('training')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode != 0 and "training is refused" in done.stderr
