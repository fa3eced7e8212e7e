"""The declared protocol (``benchmarks/protocol.toml``) and the label settings it names.

A label setting is a dataset with a set of given labels and the truth about which of them
are wrong: the original labels against the human-confirmed errors, one CIFAR-10H
annotator's vote per image, the most-voted wrong class of CIFAR-10H, or labels flipped at
a rate along real class confusions (:func:`asymmetric_labels`). The CIFAR-10 images are
split into a tuning half and a held-out half (:func:`split_halves`): defaults are chosen
on the first, and only reported on the second.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import human_noise
from benchmarks.datasets import BenchDataset

PROTOCOL_FILE = Path(__file__).with_name("protocol.toml")


@dataclass(frozen=True)
class SettingSpec:
    """One ``[[settings]]`` row of the protocol."""

    dataset: str
    labels: str
    truth: str
    seeds: tuple[int, ...]
    halves: tuple[str, ...]

    @property
    def key(self) -> str:
        """``dataset/labels``, the row's name in the JSON and the tables."""
        return f"{self.dataset}/{self.labels}"


@dataclass(frozen=True)
class Protocol:
    """The parsed protocol file."""

    split_seed: int
    top_fraction: float
    settings: tuple[SettingSpec, ...]
    quick: dict[str, Any]
    text: str


def load_protocol(path: Path = PROTOCOL_FILE) -> Protocol:
    """Read and check ``protocol.toml``."""
    text = path.read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    specs = tuple(
        SettingSpec(s["dataset"], s["labels"], s["truth"], tuple(s["seeds"]), tuple(s["halves"]))
        for s in raw["settings"]
    )
    for spec in specs:
        if not set(spec.halves) <= {"tuning", "heldout"} or not spec.seeds:
            raise ValueError(f"{path}: setting {spec.key}: bad halves or seeds")
    return Protocol(
        int(raw["split"]["seed"]), float(raw["budget"]["top_fraction"]), specs, raw["quick"], text
    )


def split_halves(ds: BenchDataset, seed: int) -> np.ndarray:
    """A boolean mask of the tuning half: half of each (class, confirmed) group, seeded.

    The human-confirmed errors split with their images, as evenly as their count allows.
    """
    rng = np.random.default_rng(seed)
    confirmed = np.zeros(ds.n, bool)
    confirmed[ds.confirmed] = True
    tuning = np.zeros(ds.n, bool)
    for group in sorted(set(zip(ds.labels.tolist(), confirmed.tolist(), strict=True))):
        members = np.flatnonzero((ds.labels == group[0]) & (confirmed == group[1]))
        members = members[rng.permutation(len(members))]
        tuning[members[: (len(members) + int(rng.integers(0, 2))) // 2]] = True
    return tuning


def class_confusions(ds: BenchDataset, data: Path) -> np.ndarray:
    """How often each class is confused with each other class, row-normalised, diagonal 0.

    CIFAR-10: CIFAR-10H's human votes summed per original class; other datasets: the
    reference probabilities summed per original class (a strong model's confusions).
    """
    if ds.name == "cifar10":
        counts = human_noise.load_counts(data, ds.n, len(ds.classes)).astype(float)
    elif ds.reference_probs is not None:
        counts = np.asarray(ds.reference_probs, dtype=float)
    else:
        counts = np.ones((ds.n, len(ds.classes)))
    k = len(ds.classes)
    matrix = np.zeros((k, k))
    np.add.at(matrix, ds.labels, counts)
    np.fill_diagonal(matrix, 0.0)
    return matrix / matrix.sum(axis=1, keepdims=True)


def asymmetric_labels(
    labels: np.ndarray, confusions: np.ndarray, rate: float, seed: int
) -> np.ndarray:
    """Flip ``rate`` of each class's labels, each to a class drawn from its confusion row.

    Exactly ``round(rate * n_c)`` samples of each class ``c`` (chosen at random) get a new
    label drawn from ``confusions[c]``: noise that is asymmetric as real confusions are.
    """
    rng = np.random.default_rng(seed)
    given = labels.copy()
    for c in range(confusions.shape[0]):
        members = np.flatnonzero(labels == c)
        flip = rng.choice(members, size=round(rate * len(members)), replace=False)
        given[flip] = rng.choice(confusions.shape[0], size=len(flip), p=confusions[c])
    return given


@dataclass(frozen=True)
class LabelSetting:
    """A dataset with given labels and the truth of which are wrong."""

    spec: SettingSpec
    seed: int
    given: np.ndarray
    is_error: np.ndarray


def build_setting(ds: BenchDataset, spec: SettingSpec, seed: int, data: Path) -> LabelSetting:
    """The given labels and error mask of ``spec`` drawn with ``seed``."""
    kind, _, arg = spec.labels.partition(":")
    if kind == "original":
        is_error = np.zeros(ds.n, bool)
        is_error[ds.confirmed] = True
        return LabelSetting(spec, seed, ds.labels.copy(), is_error)
    if kind in ("human-sampled", "human-worst"):
        counts = human_noise.load_counts(data, ds.n, len(ds.classes))
        given = (
            human_noise.sampled_labels(counts, ds.labels, seed=seed)
            if kind == "human-sampled"
            else human_noise.worst_labels(counts, ds.labels)
        )
        return LabelSetting(spec, seed, given, given != ds.labels)
    if kind == "asymmetric":
        given = asymmetric_labels(ds.labels, class_confusions(ds, data), float(arg), seed)
        return LabelSetting(spec, seed, given, given != ds.labels)
    raise ValueError(f"unknown label setting {spec.labels!r}")
