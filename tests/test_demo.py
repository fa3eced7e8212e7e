"""Tests of relabel.data.noise_injection (noise specs, exact noise injection) and
relabel.demo.digits (the written digits dataset)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from relabel.data.noise_injection import NoiseSpec, inject_noise, parse_noise
from relabel.demo.digits import DIGIT_CLASSES, write_digits
from relabel.errors import ConfigError

# --- the spec parser ---------------------------------------------------------------------


def test_parse_good_specs() -> None:
    assert parse_noise("none") == NoiseSpec("none")
    assert parse_noise(" None ") == NoiseSpec("none")
    assert parse_noise("sym:0.1") == NoiseSpec("symmetric", rate=0.1)
    assert parse_noise("symmetric: 0.25") == NoiseSpec("symmetric", rate=0.25)
    spec = parse_noise("1>7:0.3, 3>8:0.3,5>6:1")
    assert spec == NoiseSpec("pairs", pairs=((1, 7, 0.3), (3, 8, 0.3), (5, 6, 1.0)))
    assert str(spec) == "1>7:0.3,3>8:0.3,5>6:1"
    assert str(parse_noise("sym:0.1")) == "sym:0.1"
    assert parse_noise("1>7:0.6,1>4:0.4").pairs == ((1, 7, 0.6), (1, 4, 0.4))
    assert parse_noise("12>3:0", n_classes=13).pairs == ((12, 3, 0.0),)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "it is empty"),
        ("sym", "exactly one rate"),
        ("sym:abc", "rate 'abc' is not a number"),
        ("sym:1.5", "rate 1.5 is not between 0 and 1"),
        ("sym:-0.1", "not between 0 and 1"),
        ("sym:nan", "not between 0 and 1"),
        ("sym:0.1,1>2:0.3", "exactly one rate"),
        ("1>7", "noise spec '1>7': missing ':RATE'"),
        ("1-7:0.3,2>3:0.1", "part '1-7:0.3': missing '>'"),
        ("1>7:0.3,x>8:0.3", "part 'x>8:0.3': class 'x' is not a class index"),
        ("1>7:0.3,3>3:0.2", "part '3>3:0.2': source and target class are the same"),
        ("1>7:0.3,1>7:0.1", "pair 1>7 is given twice"),
        ("1>7:0.7,1>4:0.4", "part '1>4:0.4': rates from class 1 add up to more than 1"),
        ("1>7:0.3,,3>8:0.3", "empty part"),
        ("1>7:0.3,", "empty part"),
        ("1>10:0.3", "'1>10:0.3': class 10 does not exist"),
        ("-1>2:0.3", "class '-1' is not a class index"),
    ],
)
def test_parse_bad_specs_name_the_bad_part(spec: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_noise(spec, n_classes=10)


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(ConfigError, match="must be a string"):
        parse_noise(0.1)  # type: ignore[arg-type]


# --- injection ---------------------------------------------------------------------------

TRUE = np.repeat(np.arange(10), [100, 90, 80, 70, 60, 50, 40, 30, 20, 11])


def test_pair_noise_counts_are_exact_and_stay_in_their_pairs() -> None:
    noisy = inject_noise(TRUE, "1>7:0.3,3>8:0.3,5>6:0.3", n_classes=10, seed=3)
    flipped = noisy != TRUE
    pairs = {(int(a), int(b)) for a, b in zip(TRUE[flipped], noisy[flipped], strict=True)}
    assert pairs == {(1, 7), (3, 8), (5, 6)}
    assert np.count_nonzero(flipped & (TRUE == 1)) == 27  # round(0.3 * 90)
    assert np.count_nonzero(flipped & (TRUE == 3)) == 21  # round(0.3 * 70)
    assert np.count_nonzero(flipped & (TRUE == 5)) == 15  # round(0.3 * 50)
    assert flipped.sum() == 63


def test_pairs_sharing_a_source_take_disjoint_samples() -> None:
    noisy = inject_noise(TRUE, "0>1:0.5,0>2:0.5", n_classes=10, seed=0)
    src = TRUE == 0
    assert np.count_nonzero(noisy[src] == 1) == 50
    assert np.count_nonzero(noisy[src] == 2) == 50
    np.testing.assert_array_equal(noisy[~src], TRUE[~src])


def test_halves_round_up() -> None:
    # class 9 has 11 samples: 0.5 * 11 = 5.5 -> 6
    noisy = inject_noise(TRUE, "9>0:0.5", n_classes=10, seed=0)
    assert np.count_nonzero(noisy != TRUE) == 6


def test_symmetric_noise_counts_per_class_and_targets_other_classes() -> None:
    noisy = inject_noise(TRUE, "sym:0.1", n_classes=10, seed=1)
    flipped = noisy != TRUE
    for c, count in enumerate([100, 90, 80, 70, 60, 50, 40, 30, 20, 11]):
        assert np.count_nonzero(flipped & (c == TRUE)) == int(np.floor(0.1 * count + 0.5))
    assert ((noisy >= 0) & (noisy < 10)).all()
    # targets are spread over the other classes, not a fixed shift
    assert len({int(t - s) % 10 for s, t in zip(TRUE[flipped], noisy[flipped], strict=True)}) > 3


def test_injection_is_deterministic_and_seeded() -> None:
    a = inject_noise(TRUE, "sym:0.2", n_classes=10, seed=5)
    b = inject_noise(TRUE, parse_noise("sym:0.2"), n_classes=10, seed=5)
    c = inject_noise(TRUE, "sym:0.2", n_classes=10, seed=6)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert (a != TRUE).sum() == (c != TRUE).sum()


def test_injection_leaves_input_alone_and_handles_none_and_zero() -> None:
    labels = TRUE.copy()
    inject_noise(labels, "sym:0.5", n_classes=10, seed=0)
    np.testing.assert_array_equal(labels, TRUE)
    np.testing.assert_array_equal(inject_noise(TRUE, "none", 10), TRUE)
    np.testing.assert_array_equal(inject_noise(TRUE, "sym:0", 10), TRUE)
    everything = inject_noise(TRUE, "sym:1", 10, seed=2)
    assert (everything != TRUE).all()


def test_injection_refuses_bad_classes() -> None:
    with pytest.raises(ConfigError, match="class 12 does not exist"):
        inject_noise(TRUE, "1>12:0.1", n_classes=10)
    with pytest.raises(ConfigError, match="class 12 does not exist"):
        inject_noise(TRUE, NoiseSpec("pairs", pairs=((1, 12, 0.1),)), n_classes=10)
    with pytest.raises(ConfigError, match=r"class indices 0\.\.9"):
        inject_noise(np.array([0, 10]), "sym:0.1", n_classes=10)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        inject_noise(TRUE, "sym:0.1", n_classes=1)


# --- the written dataset ---------------------------------------------------------------


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_write_digits_files(tmp_path: Path) -> None:
    data = write_digits(tmp_path / "demo", noise="1>7:0.3,3>8:0.3,5>6:0.3", seed=0)
    digits = load_digits()
    manifest = _read(data.manifest)
    truth = _read(data.truth)
    assert list(manifest[0]) == ["id", "path", "label"]
    assert list(truth[0]) == ["id", "label"]
    assert len(manifest) == len(truth) == 1797 == len(data.ids)
    assert [r["id"] for r in manifest] == [r["id"] for r in truth] == list(data.ids)
    assert manifest[0]["id"] == "digit_00001" and manifest[0]["path"] == "images/digit_00001.png"
    # the truth file holds sklearn's targets; the manifest the noisy labels
    np.testing.assert_array_equal([int(r["label"]) for r in truth], digits.target)
    given = np.array([int(r["label"]) for r in manifest])
    np.testing.assert_array_equal(given, data.given_labels)
    np.testing.assert_array_equal(data.true_labels, digits.target)
    expected_flips = sum(
        int(np.floor(0.3 * np.count_nonzero(digits.target == c) + 0.5)) for c in (1, 3, 5)
    )
    assert data.n_errors == expected_flips == np.count_nonzero(given != digits.target)
    assert data.class_names == DIGIT_CLASSES == tuple("0123456789")
    # file names do not leak the class
    assert {p.parent for p in data.images_dir.iterdir()} == {data.images_dir}
    assert len(list(data.images_dir.glob("digit_*.png"))) == 1797

    for row, index in ((manifest[0], 0), (manifest[1000], 1000), (manifest[-1], 1796)):
        with Image.open(tmp_path / "demo" / row["path"]) as im:
            assert im.mode == "L" and im.size == (32, 32)
            pixels = np.asarray(im)
        # each 8x8 pixel is a 4x4 block of round(v * 255 / 16)
        expected = np.rint(digits.images[index] * 255 / 16).astype(np.uint8)
        np.testing.assert_array_equal(pixels[::4, ::4], expected)
        np.testing.assert_array_equal(pixels, expected.repeat(4, 0).repeat(4, 1))


def test_write_digits_is_deterministic(tmp_path: Path) -> None:
    a = write_digits(tmp_path / "a", noise="sym:0.1", seed=4, size=8)
    b = write_digits(tmp_path / "b", noise="sym:0.1", seed=4, size=8)
    assert a.manifest.read_bytes() == b.manifest.read_bytes()
    assert (a.images_dir / "digit_00042.png").read_bytes() == (
        b.images_dir / "digit_00042.png"
    ).read_bytes()
    with Image.open(a.images_dir / "digit_00042.png") as im:
        assert im.size == (8, 8)
    # another seed flips other samples, as many (files are not rewritten for that)
    other = inject_noise(a.true_labels, "sym:0.1", n_classes=10, seed=5)
    assert (other != a.given_labels).any()
    assert np.count_nonzero(other != a.true_labels) == a.n_errors


def test_write_digits_without_noise_and_odd_size(tmp_path: Path) -> None:
    data = write_digits(tmp_path, size=20)
    assert data.n_errors == 0 and data.noise.kind == "none"
    with Image.open(data.images_dir / "digit_00001.png") as im:
        assert im.size == (20, 20)


def test_write_digits_refuses_to_overwrite(tmp_path: Path) -> None:
    write_digits(tmp_path, size=8)
    with pytest.raises(ConfigError, match="already exists"):
        write_digits(tmp_path, size=8)
    again = write_digits(tmp_path, size=8, noise="sym:0.05", overwrite=True)
    assert again.n_errors > 0


@pytest.mark.parametrize("size", [4, 2000, 16.0, True])
def test_write_digits_refuses_bad_size(tmp_path: Path, size: object) -> None:
    with pytest.raises(ConfigError, match="size"):
        write_digits(tmp_path, size=size)  # type: ignore[arg-type]


def test_write_digits_refuses_bad_noise(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="part '1>7:x': rate 'x' is not a number"):
        write_digits(tmp_path, noise="3>8:0.1,1>7:x")
    assert not (tmp_path / "manifest.csv").exists()
