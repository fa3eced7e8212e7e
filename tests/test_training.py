"""Tests of relabel.training on small images written from sklearn's digits."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from sklearn.utils.class_weight import compute_class_weight

from relabel.config import KERAS_APPLICATIONS
from relabel.errors import ExitCode, TrainingError, WeightsNotFoundError
from relabel.training import (
    InvalidSettingsError,
    TrainSettings,
    available_architectures,
    build_model,
    check_settings,
    cross_validated_probabilities,
    fit_model,
    import_keras,
    make_dataset,
    predict_probabilities,
    train_final_model,
)
from relabel.training.fit import class_weights
from tests.imagefiles import write_digit_pngs

# Keras' own model.save() warns about TensorFlow tensors under numpy 2.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N_CLASSES = 10
# Small, fast settings: 12x12 grayscale digits, few epochs.
FAST = TrainSettings(image_size=(12, 12), channels=1, epochs=6, batch_size=32, folds=3, patience=2)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], np.ndarray]:
    """360 digits (36 per class) written as 8x8 grayscale PNG files."""
    return write_digit_pngs(tmp_path_factory.mktemp("digits"), per_class=36, seed=0)


def test_settings_are_a_dataclass_written_out_with_the_config_defaults() -> None:
    import typing

    from relabel import config as config_mod

    fields = {f.name: f for f in dataclasses.fields(TrainSettings)}
    assert list(fields) == list(config_mod.train_fields())
    sections = {
        "dataset": config_mod.DatasetConfig(),
        "model": config_mod.ModelConfig(),
        "training": config_mod.TrainingConfig(),
    }
    for name, section in config_mod.train_fields().items():
        if name in ("image_size", "channels"):
            assert fields[name].default is dataclasses.MISSING, name
        elif name == "weights":
            assert fields[name].default is None
        else:
            assert fields[name].default == getattr(sections[section], name), name
    # Real annotations, in the module that defines the class (no make_dataclass).
    assert TrainSettings.__module__ == "relabel.training.settings"
    hints = typing.get_type_hints(TrainSettings)
    assert hints["image_size"] == tuple[int, int] and hints["weights"] == str | None
    assert hints["folds"] is int and hints["tta"] is bool and hints["dropout"] is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        FAST.epochs = 3  # type: ignore[misc]


def test_importing_the_module_does_not_import_tensorflow() -> None:
    code = "import sys, relabel.training; assert 'tensorflow' not in sys.modules, 'tf imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_out_of_fold_probabilities_cover_every_sample_once(digits, keras) -> None:
    paths, y = digits
    messages: list[str] = []
    result = cross_validated_probabilities(paths, y, N_CLASSES, FAST, progress=messages.append)

    p = result.probabilities
    assert p.shape == (len(paths), N_CLASSES)
    assert p.dtype == np.float32
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    # Every sample was held out by exactly one fold, and the folds are stratified.
    assert sorted(set(result.fold_of_sample.tolist())) == [1, 2, 3]
    assert [f.fold for f in result.folds] == [1, 2, 3]
    assert [f.n_heldout for f in result.folds] == [
        int((result.fold_of_sample == k).sum()) for k in (1, 2, 3)
    ]
    assert sum(f.n_heldout for f in result.folds) == len(paths)
    for k in (1, 2, 3):
        counts = np.bincount(y[result.fold_of_sample == k], minlength=N_CLASSES)
        assert counts.min() >= 11 and counts.max() <= 13
    # Far above chance (0.1) even with these few epochs.
    predicted = p.argmax(axis=1)
    assert result.accuracy == pytest.approx(float(np.mean(predicted == y)))
    assert result.accuracy > 0.6
    for fold in result.folds:
        assert fold.heldout_accuracy == pytest.approx(
            float(
                np.mean(
                    predicted[result.fold_of_sample == fold.fold]
                    == y[result.fold_of_sample == fold.fold]
                )
            )
        )
        assert 1 <= fold.fit.best_epoch <= fold.fit.epochs_run <= FAST.epochs
        assert fold.fit.n_train + fold.fit.n_val + fold.n_heldout == len(paths)
        assert fold.fit.n_val == round(0.1 * (len(paths) - fold.n_heldout))
        assert fold.fit.val_accuracy is not None
    # Progress: the images are decoded once, then one line per epoch of each fold (with
    # its throughput), then one per finished fold.
    assert messages[0] == f"decoding {len(paths)} images once to 12x12x1"
    assert messages[1].startswith(f"decoded {len(paths)} images in ")
    assert messages[2].startswith("fold 1/3: epoch 1/6 loss=")
    assert "val_acc=" in messages[2] and messages[2].endswith(" img/s")
    assert all(fold.fit.images_per_second > 0 for fold in result.folds)
    assert sum(m.startswith("fold 2/3: epoch") for m in messages) == result.folds[1].fit.epochs_run
    assert any(m.startswith("fold 3/3: done") for m in messages)
    # The record can be stored as JSON by the caller.
    assert dataclasses.asdict(result.folds[0])["fit"]["epochs_run"] >= 1


# Every augmentation on, so determinism covers the random layers too.
AUGMENTED = dataclasses.replace(
    FAST, epochs=2, folds=2, translation=0.1, rotation=0.05, contrast=0.2, flip="horizontal", seed=7
)


@pytest.fixture(scope="module")
def augmented_run(digits, keras) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Out-of-fold probabilities of AUGMENTED on 120 digits, computed once."""
    paths, y = digits[0][:120], digits[1][:120]
    return paths, y, cross_validated_probabilities(paths, y, N_CLASSES, AUGMENTED).probabilities


def test_same_seed_gives_identical_probabilities_in_one_process(augmented_run) -> None:
    paths, y, first = augmented_run
    again = cross_validated_probabilities(paths, y, N_CLASSES, AUGMENTED)
    assert np.array_equal(first, again.probabilities)


def test_same_seed_gives_identical_probabilities_in_another_process(
    augmented_run, tmp_path
) -> None:
    """A fresh process gives the same probabilities, and predicts a saved model the same."""
    paths, y, here = augmented_run
    model, _ = fit_model(paths, y, N_CLASSES, dataclasses.replace(AUGMENTED, epochs=1))
    model.save(tmp_path / "model.keras")
    predicted_here = predict_probabilities(model, paths[:7], AUGMENTED)
    np.save(tmp_path / "labels.npy", y)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from relabel.training import (
            TrainSettings, cross_validated_probabilities, predict_probabilities
        )
        settings = TrainSettings(**{dataclasses.asdict(AUGMENTED)!r})
        paths = {paths!r}
        # Predicting first: a fresh process needs no seed for it.
        predicted = predict_probabilities(sys.argv[1] + "/model.keras", paths[:7], settings)
        np.save(sys.argv[1] + "/predicted.npy", predicted)
        y = np.load(sys.argv[1] + "/labels.npy")
        result = cross_validated_probabilities(paths, y, {N_CLASSES}, settings)
        np.save(sys.argv[1] + "/oof.npy", result.probabilities)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # nothing is printed to stdout
    assert "oneDNN" not in done.stderr  # TensorFlow's start-up notice is filtered out
    assert np.array_equal(np.load(tmp_path / "oof.npy"), here)
    assert np.array_equal(np.load(tmp_path / "predicted.npy"), predicted_here)


def test_make_dataset_streams_batches_from_files(digits, tmp_path) -> None:
    paths, y = digits
    settings = dataclasses.replace(FAST, batch_size=32)
    ds = make_dataset(paths[:70], y[:70], N_CLASSES, settings, training=False)
    batches = list(ds)
    assert [len(images) for images, _ in batches] == [32, 32, 6]
    images, onehot = batches[0]
    assert images.shape == (32, 12, 12, 1) and images.dtype.name == "float32"
    assert onehot.shape == (32, N_CLASSES) and onehot.dtype.name == "float32"
    assert np.array_equal(np.argmax(onehot, axis=1), y[:32])
    values = np.concatenate([b.numpy() for b, _ in batches])
    assert values.min() >= 0.0 and values.max() <= 1.0 and values.max() > 0.9
    # Order is kept without training; the first image matches its file.
    tf, _ = import_keras()
    original = np.asarray(Image.open(paths[0]), dtype=np.float32)[..., None]
    resized = tf.image.resize(original, (12, 12), antialias=True).numpy()
    expected = np.clip(np.round(resized), 0, 255) / 255.0  # resized, then uint8 as cached
    np.testing.assert_allclose(values[0], expected, atol=1e-6)

    # Images only (prediction), and a training dataset is a shuffled permutation.
    only_images = next(iter(make_dataset(paths[:70], None, N_CLASSES, settings, training=False)))
    assert only_images.shape == (32, 12, 12, 1)
    shuffled = make_dataset(paths[:70], y[:70], N_CLASSES, settings, training=True, shuffle_seed=1)
    labels = np.concatenate([np.argmax(b[1], axis=1) for b in shuffled])
    assert sorted(labels.tolist()) == sorted(y[:70].tolist())
    assert not np.array_equal(labels, y[:70])
    # Nothing cached in memory: the pipeline reads the files again on every pass.
    graph = ds._as_serialized_graph().numpy()
    assert b"CacheDataset" not in graph
    changing = tmp_path / "changing.png"
    shutil.copyfile(paths[0], changing)
    one = make_dataset([changing], None, N_CLASSES, settings, training=False)
    first_pass = next(iter(one)).numpy()
    shutil.copyfile(paths[1], changing)
    assert not np.array_equal(next(iter(one)).numpy(), first_pass)


@pytest.mark.parametrize("suffix", ["png", "jpg", "bmp", "gif"])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_format_decodes_to_the_asked_channels(tmp_path, suffix, mode, channels) -> None:
    if suffix in ("jpg", "gif", "bmp") and mode == "RGBA":
        mode = "RGB"  # these formats have no alpha in Pillow's writers we use
    rng = np.random.default_rng(0)
    shape = (20, 30) if mode == "L" else (20, 30, len(mode))
    path = tmp_path / f"image.{suffix}"
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    settings = TrainSettings(image_size=(10, 16), channels=channels)
    (images,) = list(make_dataset([path], None, 2, settings, training=False))
    assert images.shape == (1, 10, 16, channels)
    assert 0.0 <= float(images.numpy().min()) <= float(images.numpy().max()) <= 1.0


@pytest.mark.parametrize(("height", "width"), [(4, 4), (12, 12), (7, 30), (64, 48)])
@pytest.mark.parametrize("channels", [1, 3])
def test_the_decoder_resizes_bit_for_bit_like_tensorflow(height, width, channels) -> None:
    """relabel.data.resample gives the pixels of tf.image.resize (antialiased bilinear)
    after tf.image.rgb_to_grayscale: those the models were trained on."""
    from relabel.data.resample import grey, resize

    tf, _ = import_keras()
    rng = np.random.default_rng(height * width + channels)
    for source in [(8, 8), (32, 32), (50, 17), (300, 200)]:
        rgb = rng.integers(0, 256, (*source, 3), dtype=np.uint8)
        image = tf.constant(rgb)
        if channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        resized = tf.image.resize(image, (height, width), antialias=True)
        expected = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8).numpy()
        mine = resize(grey(rgb) if channels == 1 else rgb, (height, width))
        np.testing.assert_array_equal(mine, expected)
        np.testing.assert_array_equal(resize(np.stack([mine, mine]), (height, width))[1], mine)
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)[None]
    np.testing.assert_array_equal(grey(ramp)[0, :, 0], np.arange(256))  # grey stays itself


@pytest.fixture(scope="module")
def large_jpeg(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, np.ndarray]:
    """A 2100 x 2000 JPEG (over LARGE_IMAGE_PIXELS) of a horizontal ramp, and its pixels."""
    from relabel.data.images import LARGE_IMAGE_PIXELS

    ramp = np.linspace(0, 255, 2100, dtype=np.float32)
    pixels = np.stack([np.broadcast_to(ramp, (2000, 2100))] * 3, axis=-1).astype(np.uint8)
    assert LARGE_IMAGE_PIXELS < 2000 * 2100
    path = tmp_path_factory.mktemp("large") / "big.jpg"
    Image.fromarray(pixels).save(path)
    return str(path), pixels


@pytest.mark.parametrize("side", [8, 96, 224])
def test_a_large_jpeg_decodes_at_reduced_size_to_any_image_size(large_jpeg, side) -> None:
    from relabel.data.images import decode_image
    from relabel.data.resample import resize

    path, pixels = large_jpeg
    decoded = decode_image(path, (side, side), 3)
    assert decoded.shape == (side, side, 3) and decoded.dtype == np.uint8
    # Close to the same filter on the image decoded whole (the reduced decode's last box
    # is partial, which shifts an 8-pixel ramp by a few levels).
    whole = resize(pixels, (side, side))
    assert np.abs(decoded.astype(int) - whole.astype(int)).mean() < 4


def test_training_without_the_trains_fixture_is_refused_on_every_path(digits, tmp_path) -> None:
    """The guard of tests/conftest.py replaces relabel.training.fit.keras_fit, the one call
    of Keras' model.fit: every fold of a cross-validation, and the final model (a
    ``fit_model`` that is saved; the plain ``fit_model`` is the same call)."""
    paths, y = digits[0][:60], digits[1][:60]
    settings = dataclasses.replace(FAST, epochs=1, folds=2)
    with pytest.raises(AssertionError, match="trains a model"):
        cross_validated_probabilities(paths, y, N_CLASSES, settings)
    with pytest.raises(AssertionError, match="trains a model"):
        train_final_model(paths, y, N_CLASSES, settings, tmp_path / "model.keras")
    assert not (tmp_path / "model.keras").exists()


@pytest.fixture(scope="module")
def training_in_a_module_fixture(digits) -> tuple[str, str | None]:
    """What happens when a module-scoped fixture trains while set up for a test without
    ``trains``: the error (or "trained") and $RELABEL_REFUSE (what children inherit)."""
    paths, y = digits[0][:60], digits[1][:60]
    refuse = os.environ.get("RELABEL_REFUSE")
    try:
        fit_model(paths, y, N_CLASSES, dataclasses.replace(FAST, epochs=1, folds=2))
    except AssertionError as exc:
        return str(exc), refuse
    return "trained", refuse


def test_training_in_a_shared_fixture_is_refused_too(training_in_a_module_fixture) -> None:
    """The guard starts before the test's fixtures of every scope are set up."""
    error, refuse = training_in_a_module_fixture
    assert "test_training_in_a_shared_fixture_is_refused_too trains a model" in error
    assert refuse == "training"


def test_a_missing_weights_file_is_refused_before_training(digits) -> None:
    settings = TrainSettings(
        image_size=(32, 32), channels=3, architecture="MobileNetV2", weights="missing/weights.h5"
    )
    with pytest.raises(WeightsNotFoundError, match=r"missing/weights\.h5 does not exist") as info:
        build_model(N_CLASSES, settings)
    assert "imagenet" in str(info.value) and info.value.exit_code == ExitCode.INVALID_INPUT
    with pytest.raises(WeightsNotFoundError):
        check_settings(settings)
    # Cross-validation refuses before training anything.
    paths, y = digits
    with pytest.raises(WeightsNotFoundError):
        cross_validated_probabilities(paths, y, N_CLASSES, settings)


@pytest.mark.parametrize("weights", ["imagenet", "ImageNet"])
def test_imagenet_weights_offline_name_the_keras_cache_and_the_alternative(
    weights, tmp_path, monkeypatch
) -> None:
    # Offline for real: an empty Keras cache, and the download address points at a local
    # port nothing listens on (so the test holds on a machine with internet too).
    import keras.src.applications.mobilenet_v2 as mobilenet_v2
    from keras.src.backend import config as keras_config

    (tmp_path / "keras-home").mkdir()
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras-home"))
    monkeypatch.setattr(mobilenet_v2, "BASE_WEIGHT_PATH", "http://127.0.0.1:9/")
    settings = TrainSettings(
        image_size=(32, 32), channels=3, architecture="MobileNetV2", weights=weights
    )
    with pytest.raises(WeightsNotFoundError, match="cannot download the ImageNet weights") as info:
        check_settings(settings)
    message = str(info.value)
    assert str(tmp_path / "keras-home" / "models") in message and "model.weights" in message
    assert info.value.exit_code == ExitCode.INVALID_INPUT


def test_unknown_architecture_lists_valid_names() -> None:
    # Refused when the settings are made (as when relabel.toml loads), before any Keras.
    with pytest.raises(InvalidSettingsError, match="ResNet9000") as info:
        TrainSettings(image_size=(32, 32), channels=3, architecture="ResNet9000")
    message = str(info.value)
    assert "small_cnn" in message and "MobileNetV2" in message and "EfficientNetB0" in message
    for name in ("preprocess_input", "imagenet_utils", "mobilenet_v2"):
        with pytest.raises(InvalidSettingsError, match=name):
            TrainSettings(image_size=(32, 32), channels=3, architecture=name)


def test_the_static_architecture_list_names_keras_applications() -> None:
    _, keras = import_keras()
    installed = {
        name
        for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    }
    assert set(KERAS_APPLICATIONS) <= installed
    assert available_architectures() == ["small_cnn", "resnet_small", *KERAS_APPLICATIONS]


@pytest.mark.parametrize(
    "changes",
    [
        {"channels": 2},
        {"image_size": (0, 16)},
        {"image_size": (16,)},
        {"flip": "diagonal"},
        {"loss": "hinge"},
        {"class_weight": "auto"},
        {"folds": 1},
        {"validation_fraction": 1.0},
        {"epochs": 0},
        {"dropout": 1.0},
        {"rotation": -0.1},
    ],
)
def test_invalid_settings_are_refused(changes) -> None:
    values = {"image_size": (16, 16), "channels": 1, **changes}
    with pytest.raises(InvalidSettingsError) as info:
        TrainSettings(**values)
    assert info.value.exit_code == ExitCode.INVALID_INPUT
    assert next(iter(changes)) in str(info.value)


def test_image_size_from_a_list_becomes_a_tuple() -> None:
    assert TrainSettings(image_size=[16, 20], channels=3).image_size == (16, 20)


def test_backbone_builds_and_trains_one_step_with_random_weights(digits, tmp_path, keras) -> None:
    paths, y = digits[0][:40], digits[1][:40]
    settings = TrainSettings(
        image_size=(32, 32),  # MobileNetV2's smallest input
        channels=1,
        architecture="MobileNetV2",
        epochs=1,
        batch_size=40,  # one step
        validation_fraction=0.0,
        translation=0.1,
    )
    model, info = fit_model(paths, y, N_CLASSES, settings)
    assert info.epochs_run == 1 and info.n_val == 0 and info.val_accuracy is None
    assert np.isfinite(info.train_loss)
    assert model.output_shape == (None, N_CLASSES)
    # Gray [0, 1] images become RGB in MobileNetV2's [-1, 1] range.
    backbone_input = model.get_layer("backbone_input")
    mapped = np.asarray(backbone_input(np.array([[[[0.0]], [[0.5]], [[1.0]]]], np.float32)))
    np.testing.assert_allclose(mapped[0, :, 0], [[-1, -1, -1], [0, 0, 0], [1, 1, 1]], atol=1e-6)
    # Saved with its custom input layer and reloaded.
    saved = tmp_path / "mobilenet.keras"
    model.save(saved)
    in_memory = predict_probabilities(model, paths, settings)
    assert in_memory.shape == (40, N_CLASSES)
    np.testing.assert_allclose(predict_probabilities(saved, paths, settings), in_memory, atol=1e-6)


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_backbone_loads_a_local_weights_file_and_freezes_it(tmp_path, suffix) -> None:
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    _, keras = import_keras()
    backbone = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    weights_file = tmp_path / f"mobilenet_v2_no_top{suffix}"
    if suffix == ".h5":
        # The legacy format of the files keras.applications publishes.
        with h5py.File(weights_file, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, backbone)
    else:
        backbone.save_weights(weights_file)
    settings = TrainSettings(
        image_size=(32, 32), channels=3, architecture="MobileNetV2", weights=str(weights_file)
    )
    check_settings(settings)
    model = build_model(N_CLASSES, settings)
    loaded = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert not loaded.trainable
    assert len(model.trainable_weights) == 2  # only the dense head
    for mine, theirs in zip(loaded.get_weights(), backbone.get_weights(), strict=True):
        assert np.array_equal(mine, theirs)
    # A file of another architecture is refused with its path.
    wrong = dataclasses.replace(settings, architecture="MobileNetV3Small")
    with pytest.raises(TrainingError, match=re.escape(str(weights_file))):
        build_model(N_CLASSES, wrong)


def test_focal_loss_and_balanced_class_weights_run(digits, keras) -> None:
    paths, y = digits
    # Imbalanced: all of classes 0 and 1, a few of the others.
    keep = np.flatnonzero((y <= 1) | (np.arange(len(y)) % 6 == 0))
    settings = dataclasses.replace(
        FAST, loss="focal", focal_gamma=2.0, class_weight="balanced", epochs=3
    )
    model, info = fit_model([paths[i] for i in keep], y[keep], N_CLASSES, settings)
    assert info.epochs_run >= 1 and np.isfinite(info.train_loss)
    probabilities = predict_probabilities(model, [paths[i] for i in keep], settings)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_balanced_class_weights_follow_sklearn() -> None:
    y = np.array([0, 0, 0, 1, 2, 2, 4])  # class 3 absent
    weights = class_weights(y, 5)
    expected = compute_class_weight("balanced", classes=np.unique(y), y=y)
    assert [weights[k] for k in (0, 1, 2, 4)] == pytest.approx(expected.tolist())
    assert weights[3] == 1.0


def test_final_model_is_saved_and_reloaded_with_the_same_predictions(
    digits, tmp_path, keras
) -> None:
    paths, y = digits
    settings = dataclasses.replace(FAST, epochs=3, rotation=0.05)
    out = tmp_path / "runs" / "r1" / "model.keras"
    messages: list[str] = []
    info = train_final_model(paths, y, N_CLASSES, settings, out, progress=messages.append)
    assert out.is_file()
    assert not list(out.parent.glob("*.partial.keras"))
    assert info.n_train + info.n_val == len(paths) and info.n_val == 36
    assert messages[0].startswith(f"decoding {len(paths)} images once")
    assert messages[2].startswith("final: epoch 1/3 ")

    from_file = predict_probabilities(out, paths, settings)
    assert from_file.shape == (len(paths), N_CLASSES) and from_file.dtype == np.float32
    # The same fit in memory (same seed, deterministic) predicts the same.
    model, _ = fit_model(paths, y, N_CLASSES, settings, tag="final")
    in_memory = predict_probabilities(model, paths, settings)
    assert np.array_equal(from_file, in_memory)
    assert float(np.mean(from_file.argmax(axis=1) == y)) > 0.6

    with pytest.raises(TrainingError, match=r"\(16, 16, 1\)"):
        predict_probabilities(out, paths, dataclasses.replace(settings, image_size=(16, 16)))
    with pytest.raises(TrainingError, match="does not exist"):
        predict_probabilities(tmp_path / "nope.keras", paths, settings)
    with pytest.raises(InvalidSettingsError, match=r"\.keras"):
        train_final_model(paths, y, N_CLASSES, settings, tmp_path / "model.h5")


def test_unreadable_or_missing_image_is_named(digits, tmp_path, keras) -> None:
    paths, y = digits
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not an image")
    bad_paths = [*paths[:59], str(broken)]
    settings = dataclasses.replace(FAST, epochs=1)
    with pytest.raises(TrainingError, match=r"broken\.png"):
        fit_model(bad_paths, y[:60], N_CLASSES, settings)
    missing = str(tmp_path / "missing.png")
    with pytest.raises(TrainingError, match=r"missing\.png"):
        cross_validated_probabilities([*paths[:59], missing], y[:60], N_CLASSES, settings)
    with pytest.raises(TrainingError, match="labels"):
        fit_model(paths[:10], y[:9], N_CLASSES, settings)
    with pytest.raises(TrainingError, match="labels must be in"):
        fit_model(paths[:10], np.full(10, N_CLASSES), N_CLASSES, settings)


def test_training_respects_the_keras_backend_variable() -> None:
    assert os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"
    _, keras = import_keras()
    assert keras.backend.backend() == "tensorflow"


def test_small_cnn_takes_no_weights(tmp_path) -> None:
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"")
    with pytest.raises(InvalidSettingsError, match="small_cnn"):
        TrainSettings(image_size=(16, 16), channels=1, weights=str(weights))
    assert build_model(3, TrainSettings(image_size=(96, 64), channels=3)).output_shape == (None, 3)
