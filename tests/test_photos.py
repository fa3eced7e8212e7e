"""Photos: the decode cache, resnet_small, schedules, test-time flips, ensembles, the photo
defaults of ``relabel init`` and the pretrained-backbone ``embed`` path (random weights
here: mechanics, not quality)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from relabel import config as config_mod
from relabel.cli import main
from relabel.errors import ExitCode, TrainingError, WeightsNotFoundError
from relabel.project import Project
from relabel.ranking.neighbours import neighbour_label_distribution
from relabel.training import (
    TrainSettings,
    build_model,
    cross_validated_probabilities,
    decode_images,
    fit_model,
    import_keras,
    make_dataset,
    predict_probabilities,
)

N_CLASSES = 3


def write_photos(root: Path, per_class: int = 12, size: int = 16) -> Path:
    """RGB images of three colour-coded classes with noise, and a manifest."""
    rng = np.random.default_rng(0)
    lines = ["id,path,label"]
    colours = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}
    n = 0
    for name, colour in colours.items():
        for _ in range(per_class):
            pixels = np.clip(rng.normal(colour, 50, (size, size, 3)), 0, 255).astype(np.uint8)
            rel = f"img/{name}_{n:03d}.png"
            (root / "img").mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels, mode="RGB").save(root / rel)
            lines.append(f"p{n:03d},{rel},{name}")
            n += 1
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], np.ndarray, Path]:
    root = tmp_path_factory.mktemp("photos")
    manifest = write_photos(root)
    rows = [line.split(",") for line in manifest.read_text().splitlines()[1:]]
    classes = ["red", "green", "blue"]
    paths = [str(root / r[1]) for r in rows]
    y = np.array([classes.index(r[2]) for r in rows], dtype=np.int64)
    return paths, y, manifest


SMALL = TrainSettings(
    image_size=(8, 8),
    channels=3,
    architecture="resnet_small",
    epochs=2,
    batch_size=16,
    folds=2,
    validation_fraction=0.0,
    optimizer="sgd",
    schedule="one_cycle",
    learning_rate=0.05,
    flip="horizontal",
    translation=0.125,
    tta=True,
)


def test_decoded_images_match_the_streamed_ones_and_are_memory_mapped(photos, tmp_path) -> None:
    paths, _, _ = photos
    out = tmp_path / "cache" / "images.npy"
    messages: list[str] = []
    array = decode_images(paths, SMALL, out, messages.append)
    assert isinstance(array, np.memmap) and array.dtype == np.uint8
    assert array.shape == (len(paths), 8, 8, 3) and not array.flags.writeable
    assert out.is_file() and not list(out.parent.glob("*.partial*"))
    streamed = np.concatenate(
        [b.numpy() for b in make_dataset(paths, None, N_CLASSES, SMALL, training=False)]
    )
    np.testing.assert_array_equal(array / np.float32(255.0), streamed)
    assert messages[0] == f"decoding {len(paths)} images once to 8x8x3"
    assert np.array_equal(decode_images(paths, SMALL), array)  # in memory, same values


@pytest.mark.parametrize("channels", [1, 3])
def test_one_decoder_gives_the_same_pixels_on_every_path(photos, tmp_path, channels) -> None:
    """THE decoder (relabel.data.images.decode_image) and the paths that use it: the decode
    cache, the streaming dataset (training without the cache, prediction, embedding) and
    the Ray workers' decoding, on small images and on large ones (decoded at reduced size
    on every path, where TensorFlow once decoded them whole when streaming)."""
    from relabel.data.images import LARGE_IMAGE_PIXELS, decode_image
    from relabel.training.images import decode_files

    rng = np.random.default_rng(1)
    large = []
    for fmt, (height, width) in [("jpg", (2000, 2100)), ("png", (2400, 1700))]:
        assert height * width > LARGE_IMAGE_PIXELS
        noise = rng.integers(0, 256, (height // 100, width // 100, 3), dtype=np.uint8)
        path = tmp_path / f"large.{fmt}"
        Image.fromarray(noise).resize((width, height), Image.BILINEAR).save(path)
        large.append(str(path))
    files = [*photos[0][:6], *large]
    settings = dataclasses.replace(SMALL, image_size=(24, 20), channels=channels)
    one_by_one = np.stack([decode_image(f, (24, 20), channels) for f in files])
    assert one_by_one.shape == (len(files), 24, 20, channels)
    cache = decode_images(files, settings, tmp_path / "images.npy")
    np.testing.assert_array_equal(cache, one_by_one)
    np.testing.assert_array_equal(decode_files(files, settings), one_by_one)  # Ray workers
    streamed = np.concatenate(
        [b.numpy() for b in make_dataset(files, None, N_CLASSES, settings, training=False)]
    )
    np.testing.assert_array_equal(streamed, one_by_one / np.float32(255.0))


def test_an_unreadable_image_is_named_and_no_cache_is_left(photos, tmp_path) -> None:
    paths, _, _ = photos
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    out = tmp_path / "images.npy"
    with pytest.raises(TrainingError, match=r"cannot read image .*broken\.jpg"):
        decode_images([*paths[:5], str(broken)], SMALL, out)
    assert not out.exists() and not list(tmp_path.glob("*.partial*"))
    with pytest.raises(TrainingError, match=r"not found: .*nope\.png"):
        decode_images([str(tmp_path / "nope.png")], SMALL, out)


def test_one_cycle_warms_up_then_decays_to_zero(keras) -> None:
    from relabel.training.fit import learning_rate_schedule

    schedule = learning_rate_schedule(dataclasses.replace(SMALL, learning_rate=0.1), 100)
    rates = [float(schedule(step)) for step in (0, 15, 57, 100)]
    assert rates[0] == pytest.approx(0.1 / 25, rel=1e-3)
    assert rates[1] == pytest.approx(0.1, rel=1e-3)
    assert rates[1] > rates[2] > rates[3] and rates[3] == pytest.approx(0.0, abs=1e-6)
    cosine = learning_rate_schedule(dataclasses.replace(SMALL, schedule="cosine"), 10)
    assert float(cosine(0)) == pytest.approx(0.05) and float(cosine(10)) == pytest.approx(0.0)
    assert learning_rate_schedule(dataclasses.replace(SMALL, schedule="constant"), 10) == 0.05


@pytest.mark.parametrize("size", [(8, 8), (32, 32), (96, 64)])
def test_resnet_small_builds_for_small_and_large_images(size) -> None:
    model = build_model(N_CLASSES, dataclasses.replace(SMALL, image_size=size))
    assert model.output_shape == (None, N_CLASSES)
    assert any(layer.__class__.__name__ == "Add" for layer in model.layers)  # residual
    # Bigger images get more pooling stages, so the pooled map stays small.
    pooled = [layer for layer in model.layers if layer.__class__.__name__ == "MaxPooling2D"]
    assert min(pooled[-1].output.shape[1:3]) <= 4


@pytest.fixture(scope="module")
def small_run(photos, keras) -> np.ndarray:
    """Out-of-fold probabilities of SMALL (one model per fold), the images decoded by the
    cross-validation itself; computed once for the two tests below."""
    paths, y, _ = photos
    return cross_validated_probabilities(paths, y, N_CLASSES, SMALL).probabilities


def test_cached_and_given_images_train_identically_with_flip_tta(
    photos, small_run, tmp_path, keras
) -> None:
    paths, y, _ = photos
    images = decode_images(paths, SMALL, tmp_path / "images.npy")
    given = cross_validated_probabilities(paths, y, N_CLASSES, SMALL, images=images)
    decoded_here = small_run
    np.testing.assert_array_equal(given.probabilities, decoded_here)
    assert all(f.fit.images_per_second > 0 and f.members == 1 for f in given.folds)

    # Test-time augmentation is the mean of the image's and its mirror's predictions.
    model, _ = fit_model(paths, y, N_CLASSES, SMALL, images=images)
    with_tta = predict_probabilities(model, paths, SMALL)
    x = np.asarray(images, np.float32) / 255.0
    plain = model.predict(x, verbose=0)
    mirrored = model.predict(x[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(with_tta, (plain + mirrored) / 2, atol=1e-5)
    no_tta = predict_probabilities(model, paths, dataclasses.replace(SMALL, tta=False))
    np.testing.assert_allclose(no_tta, plain, atol=1e-5)


def test_an_ensemble_averages_models_of_other_seeds(photos, small_run, keras) -> None:
    paths, y, _ = photos
    two = cross_validated_probabilities(paths, y, N_CLASSES, dataclasses.replace(SMALL, ensemble=2))
    one = small_run  # the same settings, one model per fold
    assert all(f.members == 2 for f in two.folds)
    assert not np.allclose(two.probabilities, one)
    np.testing.assert_allclose(two.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_streaming_without_the_cache_still_trains(photos, keras) -> None:
    paths, y, _ = photos
    settings = dataclasses.replace(SMALL, cache_images=False, folds=2, epochs=1)
    messages: list[str] = []
    result = cross_validated_probabilities(paths, y, N_CLASSES, settings, messages.append)
    assert result.probabilities.shape == (len(paths), N_CLASSES)
    assert not any(m.startswith("decoding") for m in messages)


def init_project(root: Path, manifest: Path, *extra: str) -> Path:
    result = CliRunner().invoke(main, ["init", str(root), "--manifest", str(manifest), *extra])
    assert result.exit_code == 0, result.output
    return root


def test_init_writes_photo_defaults_for_rgb_and_keeps_grey_defaults(photos, tmp_path) -> None:
    _, _, manifest = photos
    rgb = tomllib.loads((init_project(tmp_path / "rgb", manifest) / "relabel.toml").read_text())
    assert rgb["dataset"]["channels"] == 3
    assert rgb["model"]["architecture"] == "resnet_small"
    assert rgb["model"]["flip"] == "horizontal" and rgb["model"]["translation"] > 0
    assert rgb["model"]["schedule"] == "one_cycle" and rgb["model"]["optimizer"] == "sgd"
    assert rgb["training"]["validation_fraction"] == 0.0 and rgb["training"]["tta"] is True
    assert rgb["training"]["epochs"] == config_mod.PHOTO_EPOCHS
    grey_root = init_project(tmp_path / "grey", manifest, "--channels", "1")
    grey = tomllib.loads((grey_root / "relabel.toml").read_text())
    defaults = config_mod.Config(name="x")
    assert grey["model"]["architecture"] == defaults.model.architecture == "small_cnn"
    assert grey["model"]["flip"] == "none" and grey["training"]["tta"] is False


def test_photo_project_trains_from_the_cache_and_removes_it(photos, tmp_path, keras) -> None:
    _, _, manifest = photos
    root = init_project(tmp_path / "proj", manifest, "--folds", "2", "--image-size", "8")
    epochs = f"epochs = {config_mod.PHOTO_EPOCHS}\n"
    text = (root / "relabel.toml").read_text().replace(epochs, "epochs = 1\n")
    (root / "relabel.toml").write_text(text)
    with Project.open(root) as project:
        result = project.train(final_model=False)
    oof = np.load(result.run_dir / "oof.npz")
    assert result.oof_accuracy == pytest.approx((oof["probs"].argmax(1) == oof["labels"]).mean())
    assert not (result.run_dir / "images.npy").exists()
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert all(f["fit"]["images_per_second"] > 0 for f in metrics["folds"])


# ---------------------------------------------------------------- the embed (fast) path


@pytest.fixture(scope="module")
def random_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MobileNetV2 no-top weights file with random weights, saved here."""
    _, keras = import_keras()
    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.weights.h5"
    backbone.save_weights(path)
    return path


def embed_project(root: Path, manifest: Path, weights: str) -> Path:
    init_project(root, manifest, "--folds", "3", "--image-size", "32")
    config = config_mod.load(root)
    model = dataclasses.replace(
        config.model, mode="embed", architecture="MobileNetV2", weights=weights
    )
    config_mod.save(dataclasses.replace(config, model=model), root)
    return root


def test_embed_mode_runs_end_to_end_on_a_saved_backbone(
    photos, tmp_path, random_backbone, keras
) -> None:
    _, _, manifest = photos
    root = embed_project(tmp_path / "proj", manifest, str(random_backbone))
    with Project.open(root) as project:
        result = project.train()
        ranked = project.rank()
        settings = project.train_settings()
    features = np.load(result.run_dir / "embeddings.npy")
    assert features.shape[0] == 36 and features.shape[1] > 0
    assert (result.run_dir / "model.keras").is_file()
    assert ranked.probs.shape == (36, N_CLASSES)
    np.testing.assert_allclose(ranked.probs.sum(axis=1), 1.0, atol=1e-5)
    # The saved model is backbone + the regression fitted on every sample: it predicts the
    # same probabilities as the regression on the stored embeddings.
    paths = [str(p) for p in sorted((manifest.parent / "img").glob("*.png"))]
    saved = predict_probabilities(result.run_dir / "model.keras", paths, settings)
    assert saved.shape == (36, N_CLASSES)
    np.testing.assert_allclose(saved.sum(axis=1), 1.0, atol=1e-5)

    # The k-nearest-neighbour label agreement ranks instead when asked.
    config = config_mod.load(root)
    scoring = dataclasses.replace(config.scoring, probabilities="knn", knn_k=5)
    config_mod.save(dataclasses.replace(config, scoring=scoring), root)
    with Project.open(root) as project:
        knn = project.rank()
    with np.load(result.run_dir / "oof.npz") as oof:
        given = oof["labels"]
    expected = neighbour_label_distribution(features, given, N_CLASSES, 5)
    np.testing.assert_allclose(knn.probs, expected, atol=1e-6)
    assert not np.allclose(knn.probs, ranked.probs)


def test_embed_offline_imagenet_exits_6_and_writes_nothing(photos, tmp_path, monkeypatch) -> None:
    import keras.src.applications.mobilenet_v2 as mobilenet_v2
    from keras.src.backend import config as keras_config

    _, _, manifest = photos
    (tmp_path / "keras-home").mkdir()
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras-home"))
    monkeypatch.setattr(mobilenet_v2, "BASE_WEIGHT_PATH", "http://127.0.0.1:9/")
    root = embed_project(tmp_path / "proj", manifest, "imagenet")
    before = sorted(p.name for p in root.iterdir())
    result = CliRunner().invoke(main, ["train", str(root)])
    assert result.exit_code == ExitCode.INVALID_INPUT, result.output
    assert "cannot download the ImageNet weights" in result.output
    assert str(tmp_path / "keras-home" / "models") in result.output
    assert "model.weights" in result.output
    assert sorted(p.name for p in root.iterdir()) == before  # no runs/ folder
    with Project.open(root) as project:
        assert project.store.latest_run("train") is None
    with pytest.raises(WeightsNotFoundError):
        embed_missing = dataclasses.replace(
            SMALL, architecture="MobileNetV2", weights=str(tmp_path / "none.h5")
        )
        from relabel.training import check_settings

        check_settings(embed_missing)


def test_neighbour_label_distribution_counts_the_labels_of_near_samples() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    y = np.repeat(np.arange(3), 20)
    features = centres[y] + rng.normal(0, 1, (60, 3))
    given = y.copy()
    given[5] = 2  # a wrong label among class-0 neighbours
    dist = neighbour_label_distribution(features, given, 3, k=5)
    assert dist.shape == (60, 3) and np.allclose(dist.sum(axis=1), 1.0)
    assert dist[5, 0] == 1.0 and dist[5, 2] == 0.0  # its neighbours disagree with it
    assert dist[0, 0] >= 0.8


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "embed", "architecture": "MobileNetV2"}, "needs pretrained weights"),
        ({"mode": "embed", "architecture": "resnet_small", "weights": "w.h5"}, "backbone"),
        ({"label_smoothing": 0.7}, "label_smoothing"),
    ],
)
def test_inconsistent_photo_settings_are_refused_naming_the_key(
    photos, tmp_path, changes, message
) -> None:
    _, _, manifest = photos
    root = init_project(tmp_path / "proj", manifest)
    text = (root / "relabel.toml").read_text()
    for key, value in changes.items():
        text = text.replace("[model]\n", f"[model]\n{key} = {json.dumps(value)}\n", 1)
        text = _drop_second(text, key)
    (root / "relabel.toml").write_text(text)
    before = (root / "relabel.toml").read_text()
    result = CliRunner().invoke(main, ["train", str(root)])
    assert result.exit_code == ExitCode.INVALID_INPUT, result.output
    assert message in result.output and "relabel.toml" in result.output
    assert not (root / "runs").exists() and (root / "relabel.toml").read_text() == before


def test_knn_scoring_needs_embed_mode(photos, tmp_path) -> None:
    _, _, manifest = photos
    root = init_project(tmp_path / "proj", manifest)
    text = (
        (root / "relabel.toml")
        .read_text()
        .replace('probabilities = "model"', 'probabilities = "knn"')
    )
    (root / "relabel.toml").write_text(text)
    result = CliRunner().invoke(main, ["score", str(root), "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert 'scoring.probabilities = "knn" needs embeddings' in result.output


def _drop_second(text: str, key: str) -> str:
    """Keep the first ``key = ...`` line of the [model] table (the one just inserted)."""
    lines, seen, out = text.splitlines(), False, []
    for line in lines:
        if line.startswith(f"{key} = "):
            if seen:
                continue
            seen = True
        out.append(line)
    return "\n".join(out) + "\n"
