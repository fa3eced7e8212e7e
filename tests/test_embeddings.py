"""Out-of-fold embeddings as a run artifact (``runs/<id>/embeddings.npy``).

Every training run stores, row for row with ``oof.npz``, the input of the final Dense
layer of the fold model that predicted each sample, from the pass that gave its
probabilities. The plumbing (alignment, fold checkpoints, the typed error) runs on the
test engine (``tests/engine.py``); one tiny Keras run checks the real thing: float16, the
held-out fold's model, probabilities bit-identical to a prediction without embeddings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from relabel import Project
from relabel import config as config_mod
from relabel.demo.digits import write_digits
from relabel.errors import EmbeddingsMissingError, ExitCode, NotTrainedError
from relabel.project.runs import EMBEDDINGS_FILE, OOF_FILE, read_embeddings
from relabel.training import TrainSettings, crossval
from relabel.training.crossval import FoldFailedError
from tests import engine

# Keras' own model.save() warns about TensorFlow tensors under numpy 2.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def small_project(tmp_path: Path, rows: int, **training: Any) -> Path:
    """A digits project of the first ``rows`` images (8x8), with ``training`` settings."""
    data = write_digits(tmp_path / "data", size=8)
    lines = data.manifest.read_text().splitlines(keepends=True)
    data.manifest.write_text("".join(lines[: rows + 1]))
    root = tmp_path / "proj"
    Project.init(root, manifest=data.manifest, folds=training.pop("folds", 3), image_size=[8, 8])
    config = config_mod.load(root)
    model = dataclasses.replace(config.model, **training.pop("model", {}))
    config = dataclasses.replace(
        config, model=model, training=dataclasses.replace(config.training, **training)
    )
    config_mod.save(config, root)
    return root


# ------------------------------------------------------------------- the test engine


def test_a_run_stores_float16_embeddings_row_for_row_with_oof(
    tmp_path: Path, test_engine: str
) -> None:
    root = small_project(tmp_path, 150)
    with Project.open(root) as project:
        result = project.train(final_model=False)
        ids, embeddings = project.embeddings()
        samples = project.active_samples().set_index("sample_id")
        settings = project.train_settings()
        again = project.embeddings(result.run_id)
    with np.load(result.run_dir / OOF_FILE) as oof:
        assert np.array_equal(ids, oof["sample_ids"].astype(str))
    assert isinstance(embeddings, np.memmap) and embeddings.dtype == np.float16
    assert embeddings.shape == (150, engine.SIDE * engine.SIDE)
    # Row i is what the regression that predicted sample ids[i] read: its pixels.
    pixels = engine._features(samples.loc[ids, "path"].tolist(), settings, None)
    assert np.array_equal(embeddings, pixels.astype(np.float16))
    assert np.array_equal(again[1], embeddings)
    # read_embeddings gives the rows of the samples asked for, in their order.
    picked = read_embeddings(result.run_dir, samples.index[::-7].to_series())
    assert np.array_equal(
        picked, np.asarray(embeddings)[[list(ids).index(s) for s in samples.index[::-7]]]
    )


def test_missing_embeddings_raise_a_typed_error_that_says_how_to_get_them(
    tmp_path: Path, test_engine: str
) -> None:
    root = small_project(tmp_path, 60)
    with Project.open(root) as project:
        with pytest.raises(NotTrainedError, match="no trained run yet"):
            project.embeddings()
        result = project.train(final_model=False)
        (result.run_dir / EMBEDDINGS_FILE).unlink()  # a run trained before embeddings
        with pytest.raises(EmbeddingsMissingError, match=r"retrain with `relabel train ") as exc:
            project.embeddings()
        # The CLI exits with the error's code: 6, invalid input.
        assert exc.value.exit_code == ExitCode.INVALID_INPUT == 6
        assert result.run_id in str(exc.value)
        with pytest.raises(EmbeddingsMissingError, match="no final-model embeddings"):
            project.embeddings(result.run_id, final=True)
        with pytest.raises(NotTrainedError, match="not a finished run"):
            project.embeddings("20000101T000000000000-v1")


def digits_files(tmp_path: Path, n: int) -> tuple[list[str], np.ndarray]:
    data = write_digits(tmp_path / "data", size=8)
    rows = [line.split(",") for line in data.manifest.read_text().splitlines()[1 : n + 1]]
    paths = [str(data.manifest.parent / row[1]) for row in rows]
    classes = sorted({row[2] for row in rows})
    return paths, np.array([classes.index(row[2]) for row in rows])


def runner_stopping_after(first: int, embeds: bool = True) -> Any:
    """A fold runner that finishes ``first`` folds (the test engine's), then fails."""

    def runner(
        files: list[str],
        y: np.ndarray,
        n: int,
        settings: Any,
        splits: Any,
        pending: Sequence[int],
        finished: Any,
        *rest: Any,
    ) -> None:
        done = list(pending[:first])
        keep = finished if embeds else (lambda k, info, probs, _emb=None: finished(k, info, probs))
        engine._fold_runner(files, y, n, settings, splits, done, keep, *rest)
        raise FoldFailedError("a fold failed", list(pending[first:]), done)

    return runner


def test_fold_checkpoints_keep_the_embeddings_of_finished_folds(tmp_path: Path) -> None:
    paths, y = digits_files(tmp_path, 90)
    settings = TrainSettings((8, 8), 1, folds=3)
    folder = tmp_path / "folds"
    whole = crossval.cross_validated_probabilities(
        paths, y, 10, settings, runner=engine._fold_runner
    )
    with pytest.raises(FoldFailedError):
        crossval.cross_validated_probabilities(
            paths, y, 10, settings, runner=runner_stopping_after(2), checkpoints=folder
        )
    messages: list[str] = []
    resumed = crossval.cross_validated_probabilities(
        paths, y, 10, settings, messages.append, runner=engine._fold_runner, checkpoints=folder
    )
    assert sum("saved, reused" in m for m in messages) == 2
    assert whole.embeddings is not None and whole.embeddings.dtype == np.float16
    assert np.array_equal(resumed.embeddings, whole.embeddings)
    assert np.array_equal(resumed.probabilities, whole.probabilities)


def test_a_fold_without_embeddings_leaves_the_run_without_any(tmp_path: Path) -> None:
    """A fold saved without embeddings (an older checkpoint, a runner that gives none) is
    reused, and the run has no embeddings rather than rows of zeros."""
    paths, y = digits_files(tmp_path, 90)
    settings = TrainSettings((8, 8), 1, folds=3)
    folder = tmp_path / "folds"
    with pytest.raises(FoldFailedError):
        crossval.cross_validated_probabilities(
            paths,
            y,
            10,
            settings,
            runner=runner_stopping_after(1, embeds=False),
            checkpoints=folder,
        )
    resumed = crossval.cross_validated_probabilities(
        paths, y, 10, settings, runner=engine._fold_runner, checkpoints=folder
    )
    assert resumed.embeddings is None
    assert not np.isnan(resumed.probabilities).any()


def test_an_engine_without_embeddings_writes_no_file(
    tmp_path: Path, test_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = dataclasses.replace(
        engine.ENGINE,
        cross_validate=lambda *a, **k: dataclasses.replace(
            engine.cross_validate(*a, **k), embeddings=None
        ),
    )
    monkeypatch.setattr(engine, "PLAIN", plain, raising=False)
    monkeypatch.setenv("RELABEL_ENGINE", "tests.engine:PLAIN")
    root = small_project(tmp_path, 60)
    with Project.open(root) as project:
        result = project.train(final_model=False)
        assert result.oof_accuracy > 0
        assert not (result.run_dir / EMBEDDINGS_FILE).exists()
        with pytest.raises(EmbeddingsMissingError):
            project.embeddings()


# ------------------------------------------------------------------- a real Keras run


def test_a_keras_run_stores_the_embeddings_of_the_held_out_folds_model(
    tmp_path: Path, keras: Any
) -> None:
    """Fold 1 is fitted again (same seeds, same images: the same models): the run's rows
    of its held-out samples are its first member's embeddings, and the run's probabilities
    those of the two members predicting without embeddings, bit for bit."""
    from relabel.training.images import images_of
    from relabel.training.keras_env import quiet_keras_warnings
    from relabel.training.predict import as_float16, predict_positions, with_embeddings

    flip = {"flip": "horizontal"}  # with tta: two views averaged
    root = small_project(tmp_path, 80, folds=2, epochs=1, ensemble=2, tta=True, model=flip)
    with Project.open(root) as project:
        run = project.train(final_model=False)
        ids, embeddings = project.embeddings()
        settings = project.train_settings()
        samples = project.active_samples()
        y = project.label_indices(samples["label"])
    with np.load(run.run_dir / OOF_FILE) as oof:
        probs = oof["probs"]
    assert np.array_equal(ids, samples["sample_id"].to_numpy(dtype=str))
    assert embeddings.dtype == np.float16 and np.isfinite(embeddings).all()
    train_idx, held = crossval.stratified_folds(y, settings)[0]
    total = np.zeros((len(held), 10), np.float64)
    with images_of(samples["path"].tolist(), settings, None, None) as source:
        members = crossval.fold_models(source, y, 10, settings, 0, train_idx, None)
        for member, (model, _) in enumerate(members):
            plain, none = predict_positions(model, source, held, settings)
            total += plain
            assert none is None
            if member == 0:
                both, features = predict_positions(model, source, held, settings, embed=True)
                assert np.array_equal(both, plain)  # embeddings change no probability
                assert embeddings.shape == (80, model.layers[-1].input.shape[-1])
                assert np.array_equal(embeddings[held], as_float16(features))
                # One view through the final Dense layer gives that view's probabilities.
                ds = source.dataset(held, None, 10, settings, training=False, seed=0)
                with quiet_keras_warnings():
                    view_probs, view_features = with_embeddings(model).predict(ds, verbose=0)
                kernel, bias = model.layers[-1].get_weights()
                logits = view_features @ kernel + bias
                softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
                softmax /= softmax.sum(axis=1, keepdims=True)
                np.testing.assert_allclose(softmax, view_probs, atol=1e-5)
    assert np.array_equal((total / 2).astype(np.float32), probs[held])


def test_a_keras_run_with_a_final_model_stores_its_embeddings_of_every_sample(
    tmp_path: Path, keras: Any
) -> None:
    """final_embeddings.npy: the saved final model's embeddings of every sample, in
    oof.npz's order; oof.npz also says which fold held each sample out."""
    from relabel.training.predict import as_float16, predict_with_embeddings

    root = small_project(tmp_path, 40, folds=2, epochs=1)
    with Project.open(root) as project:
        run = project.train(final_model=True)
        ids, final = project.embeddings(final=True)
        _, oof_embeddings = project.embeddings()
        settings = project.train_settings()
        paths = project.active_samples().set_index("sample_id").loc[ids, "path"].tolist()
    with np.load(run.run_dir / OOF_FILE) as oof:
        folds = oof["folds"]
    assert sorted(np.unique(folds).tolist()) == [1, 2] and len(folds) == 40
    assert final.dtype == np.float16 and final.shape == oof_embeddings.shape
    probs, again = predict_with_embeddings(run.run_dir / "model.keras", paths, settings)
    assert again is not None and probs.shape == (40, 10)
    np.testing.assert_allclose(final.astype(np.float32), as_float16(again), atol=1e-2)
