"""The Ray executor against a real local Ray of 2 CPUs (tier ``ray``).

The folds run as Ray tasks and the held-out images are predicted by Ray Data; the results
must be those of the local executor, a worker killed mid-fold must be retried, a fold that
keeps failing must be named, and the next run must train only what did not finish.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from relabel import config as config_mod
from relabel.errors import ConfigError, ExecutorUnavailableError, ExitCode
from relabel.ranking import score_samples
from relabel.training import (
    Executor,
    TrainSettings,
    cross_validated_probabilities,
    decode_images,
    on_ray,
    predict_probabilities,
    train_final_model,
)
from tests.imagefiles import write_digit_pngs

# Keras' own model.save() warns about TensorFlow tensors under numpy 2.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N_CLASSES = 10
# Two models per fold and test-time flips, so the Ray Data prediction averages as locally.
TINY = TrainSettings(
    image_size=(12, 12),
    channels=1,
    epochs=2,
    batch_size=32,
    folds=2,
    patience=2,
    ensemble=2,
    tta=True,
    flip="horizontal",
)
RAY = Executor(kind="ray")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], np.ndarray]:
    """120 digits (12 per class) written as 8x8 grayscale PNG files."""
    return write_digit_pngs(tmp_path_factory.mktemp("digits"), per_class=12, seed=1)


@pytest.fixture(scope="module")
def cache(digits, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The digits decoded once into a memory-mapped ``.npy``, as a run's decode cache."""
    out = tmp_path_factory.mktemp("cache") / "images.npy"
    return decode_images(digits[0], TINY, out)


@pytest.fixture(scope="module")
def local(digits, cache, keras) -> np.ndarray:
    """The local executor's out-of-fold probabilities of TINY."""
    paths, y = digits
    return cross_validated_probabilities(paths, y, N_CLASSES, TINY, images=cache).probabilities


def failing(fold: int, marker: Path | None = None, retries: int = 3) -> Executor:
    """A Ray executor whose worker kills itself (SIGKILL) in ``fold``'s first epoch."""
    env = {"RELABEL_FAILPOINT": f"ray_fold_{fold}"}
    if marker is not None:
        env["RELABEL_FAILPOINT_ONCE"] = str(marker)  # only the first worker dies
    return Executor(kind="ray", max_retries=retries, runtime_env={"env_vars": env})


def ranking(probs: np.ndarray, y: np.ndarray) -> list[int]:
    return score_samples(y, probs).rank.tolist()


def test_ray_gives_the_local_probabilities_and_ranking_though_a_worker_was_killed(
    digits, cache, local, ray_cluster, tmp_path
) -> None:
    paths, y = digits
    marker = tmp_path / "killed"
    messages: list[str] = []
    result = on_ray.cross_validated_probabilities(
        paths,
        y,
        N_CLASSES,
        TINY,
        messages.append,
        executor=failing(1, marker),
        images=cache,  # the workers read the run's decode cache, as in a project run
        checkpoints=tmp_path / "folds",
    )
    assert marker.is_file()  # a worker process was killed in fold 1's first epoch ...
    np.testing.assert_allclose(result.probabilities, local, atol=1e-5)  # ... and redone
    assert ranking(result.probabilities, y) == ranking(local, y)
    assert [f.fold for f in result.folds] == [1, 2]
    assert sum(f.n_heldout for f in result.folds) == len(paths)
    assert messages[0] == "2 fold(s) sent to Ray, each with {'num_cpus': 1}"
    assert any(m.startswith("fold 1/2: done in ") for m in messages)
    # Each fold's result was written as it finished.
    saved = sorted(p.name for p in (tmp_path / "folds").rglob("fold-*.npz"))
    assert saved == ["fold-1.npz", "fold-2.npz"]


def test_the_final_model_trained_on_ray_predicts_like_the_local_one(
    digits, ray_cluster, keras, tmp_path
) -> None:
    paths, y = digits
    one = dataclasses.replace(TINY, epochs=2)
    local_info = train_final_model(paths, y, N_CLASSES, one, tmp_path / "local.keras")
    ray_info = on_ray.train_final_model(
        paths, y, N_CLASSES, one, tmp_path / "ray.keras", executor=RAY
    )
    assert ray_info.epochs_run == local_info.epochs_run
    assert ray_info.train_loss == pytest.approx(local_info.train_loss, abs=1e-5)
    np.testing.assert_allclose(
        predict_probabilities(tmp_path / "ray.keras", paths[:40], one),
        predict_probabilities(tmp_path / "local.keras", paths[:40], one),
        atol=1e-5,
    )


def test_embedding_on_ray_data_equals_the_local_embedding(
    digits, ray_cluster, keras, tmp_path
) -> None:
    from relabel.training.embed import embed_images

    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    weights = tmp_path / "mobilenet_v2.weights.h5"
    backbone.save_weights(weights)
    settings = TrainSettings(
        image_size=(32, 32), channels=1, architecture="MobileNetV2", weights=str(weights)
    )
    paths = digits[0][:48]
    here = embed_images(paths, settings)
    there = on_ray.embed_images(paths, settings, executor=RAY)
    assert there.shape == here.shape == (48, 1280)
    np.testing.assert_allclose(there, here, atol=1e-4, rtol=1e-4)


def test_a_file_the_workers_cannot_read_is_refused_up_front(digits, ray_cluster) -> None:
    missing = "/nowhere/shared/0001.png"
    with pytest.raises(ExecutorUnavailableError) as refused:
        on_ray.check_workers_can_read(ray_cluster, [digits[0][0], missing], RAY)
    message = str(refused.value)
    assert f"cannot read {missing} (1 of the 2 files checked there)" in message
    assert "a shared file system mounted at the same place on every node" in message


def test_relabel_train_on_its_own_ray_fails_naming_the_fold_then_resumes_like_local(
    tmp_path: Path, trains: dict[str, str]
) -> None:
    from relabel.demo.digits import write_digits
    from relabel.project import Project

    data = write_digits(tmp_path / "data", size=8)
    rows = data.manifest.read_text().splitlines(keepends=True)
    data.manifest.write_text("".join(rows[:241]))  # 240 digits: failing and resuming is plumbing
    root = tmp_path / "proj"
    Project.init(root, manifest=data.manifest, folds=2, image_size=[8, 8])
    config = config_mod.load(root)
    training = dataclasses.replace(
        config.training,
        epochs=1,
        executor="ray",  # ray_address empty: relabel starts a local Ray
        ray_max_retries=0,
    )
    config = dataclasses.replace(config, training=training)
    config_mod.save(config, root)

    def train(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "relabel.cli", "train", str(root), "--no-final-model"],
            # A RAY_ADDRESS of no cluster: an empty ray_address must start a new local Ray.
            env={**trains, "RAY_ADDRESS": "127.0.0.1:9", **env},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    # Every worker that trains fold 2 kills itself: the run fails naming the fold ...
    failed = train(RELABEL_FAILPOINT="ray_fold_2")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "fold 2/2: its worker died (1 attempt, WorkerCrashedError)" in failed.stderr
    assert "(finished: 1)" in failed.stderr
    assert "run again to train only the rest" in failed.stderr
    assert not list((root / "runs").glob("*/metrics.json"))
    (saved,) = (root / "runs" / ".folds").rglob("fold-*.npz")
    assert saved.name == "fold-1.npz"

    # ... the next run trains only fold 2 ...
    done = train()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fold 1: saved, reused" in done.stderr
    assert "1 fold(s) sent to Ray" in done.stderr
    (run,) = (root / "runs").glob("*/metrics.json")
    metrics = json.loads(run.read_text())
    assert [f["fold"] for f in metrics["folds"]] == [1, 2]
    assert metrics["n_samples"] == len(data.manifest.read_text().splitlines()) - 1
    assert not (root / "runs" / ".folds").exists()  # kept only while a run has failed

    # ... and the resumed run's probabilities and ranking are those of the local executor.
    training = dataclasses.replace(config.training, executor="local")
    config_mod.save(dataclasses.replace(config, training=training), root)
    here = Project.open(root).train(final_model=False)
    ray_run, local_run = np.load(run.parent / "oof.npz"), np.load(here.run_dir / "oof.npz")
    assert np.array_equal(ray_run["labels"], local_run["labels"])
    np.testing.assert_allclose(ray_run["probs"], local_run["probs"], atol=1e-5)
    labels = ray_run["labels"]
    assert ranking(ray_run["probs"], labels) == ranking(local_run["probs"], labels)
    # The embeddings too: fold 1's from its checkpoint, fold 2's from Ray Data.
    ray_emb = np.load(run.parent / "embeddings.npy", mmap_mode="r")
    local_emb = np.load(here.run_dir / "embeddings.npy", mmap_mode="r")
    assert ray_emb.dtype == np.float16 and ray_emb.shape == local_emb.shape
    np.testing.assert_allclose(ray_emb.astype(np.float32), local_emb, rtol=1e-2, atol=1e-3)


# ----------------------------------------------------------------- config and install


def test_executor_config_round_trips_and_is_checked(tmp_path: Path) -> None:
    config = config_mod.Config(
        name="p",
        dataset=config_mod.DatasetConfig(classes=["a", "b"]),
        training=config_mod.TrainingConfig(
            executor="ray",
            ray_address="ray://head:10001",
            ray_resources={"num_cpus": 4, "num_gpus": 1},
        ),
    )
    config_mod.save(config, tmp_path)
    text = (tmp_path / config_mod.CONFIG_FILE).read_text()
    assert "ray_resources = { num_cpus = 4, num_gpus = 1 }" in text
    loaded = config_mod.load(tmp_path)
    assert Executor.from_config(loaded) == Executor(
        kind="ray", address="ray://head:10001", resources={"num_cpus": 4, "num_gpus": 1}
    )
    assert "executor" not in config_mod.train_fields()  # where, not how: not a setting

    def refused(line: str, says: str) -> None:
        (tmp_path / config_mod.CONFIG_FILE).write_text(text.replace(text_line(line), line))
        with pytest.raises(ConfigError, match=says):
            config_mod.load(tmp_path)

    def text_line(line: str) -> str:
        key = line.split(" = ")[0]
        return next(x for x in text.splitlines() if x.startswith(f"{key} = "))

    refused('executor = "dask"', "'dask' is not one of local, ray")
    refused("ray_resources = { gpus = 1 }", "unknown key 'gpus'")
    refused("ray_resources = { num_cpus = -1 }", "num_cpus must be a number >= 0")
    refused("ray_resources = { num_gpus = 1.5 }", "num_gpus above 1 must be a whole number")
    refused("ray_resources = 4", "expected a table")
    refused('ray_address = "head"', "training.ray_address must be")
    refused("ray_max_retries = -1", "training.ray_max_retries must be at least 0")


def test_without_ray_installed_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ExecutorUnavailableError, match=r'pip install "relabel\[ray\]"') as no:
        on_ray.connect(RAY)
    assert no.value.exit_code == ExitCode.INVALID_INPUT


def test_the_local_executor_never_imports_ray() -> None:
    code = (
        "import sys; from relabel.training import Executor, cross_validated_probabilities; "
        "assert not Executor().is_ray; assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


def test_train_without_ray_installed_exits_6_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relabel.demo.digits import write_digits
    from relabel.project import Project

    data = write_digits(tmp_path / "data", size=8)
    root = tmp_path / "proj"
    Project.init(root, manifest=data.manifest, folds=2, image_size=[8, 8])
    config = config_mod.load(root)
    training = dataclasses.replace(config.training, executor="ray")
    config_mod.save(dataclasses.replace(config, training=training), root)
    monkeypatch.setitem(sys.modules, "ray", None)
    project = Project.open(root)

    def state() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    before = state()
    with pytest.raises(ExecutorUnavailableError, match="relabel\\[ray\\]"):
        project.train()
    assert state() == before  # no run recorded, no run folder
