"""Intervals and honest comparisons of detection figures.

Every detection figure is a mean over seeds (training seed; noise seed or human draw),
each seed with its own labels and out-of-fold probabilities. Its 95 % interval comes from a
paired bootstrap over samples: in each of :data:`N_BOOT` rounds the samples of every seed
are resampled with replacement (the same resample for every ranking of that seed), the
figure is recomputed per seed and averaged over the seeds. The 2.5th and 97.5th
percentiles are the interval.

A comparison "A beats B" uses the same resamples: the mean over seeds of
``figure(A) - figure(B)``; A beats B only when the whole interval of that difference is
above 0 (:func:`verdict`). Otherwise the two are tied, and a tie never passes a ">" check.

A resample is a matrix of counts (how often each sample was drawn), so that every figure
of every round is computed at once from the ranking's order: ties in a score are broken by
sample index, as relabel's ranking breaks them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Bootstrap rounds.
N_BOOT = 1000
#: Interval coverage.
LEVEL = 0.95
#: Seed the resampling is drawn from (fixed: the same data give the same intervals).
BOOT_SEED = 20261206

#: A figure of one ranking on one seed: ``(err, counts)`` -> one value per round, where
#: ``err`` says which samples are errors and ``counts`` (rounds x n) how often each sample
#: is drawn in each round, both in the ranking's order (most suspicious first).
Figure = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its bootstrap interval."""

    mean: float
    low: float
    high: float
    per_seed: tuple[float, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly: ``mean``, ``low``, ``high``, ``per_seed``."""
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "per_seed": list(self.per_seed),
        }


def top_k(fraction: float, n: int) -> int:
    """The review budget's cut: ``fraction`` of ``n`` samples, at least 1."""
    return max(1, round(fraction * n))


def _taken(counts: np.ndarray, k: np.ndarray) -> np.ndarray:
    """How many draws of each position fall within the first ``k`` (per round)."""
    before = np.cumsum(counts, axis=1) - counts
    return np.clip(k[:, None] - before, 0, counts)


def precision_at_fraction(fraction: float) -> Figure:
    """Precision among the top ``fraction`` of the samples (a review budget)."""

    def figure(err: np.ndarray, counts: np.ndarray) -> np.ndarray:
        k = np.full(len(counts), top_k(fraction, counts.shape[1]))
        return (_taken(counts, k) * err).sum(axis=1) / k

    return figure


def precision_at_errors(err: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Precision at k = the number of errors drawn (a cutoff only an oracle knows)."""
    k = (counts * err).sum(axis=1)
    hits = (_taken(counts, k) * err).sum(axis=1)
    return np.where(k > 0, hits / np.maximum(k, 1), np.nan)


def hits_at(k: int) -> Figure:
    """How many errors are among the ``k`` most suspicious samples."""

    def figure(err: np.ndarray, counts: np.ndarray) -> np.ndarray:
        return (_taken(counts, np.full(len(counts), k)) * err).sum(axis=1).astype(float)

    return figure


def auroc(err: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The chance that an error ranks above a correct label (ties by index)."""
    clean = counts * ~err
    clean_after = clean.sum(axis=1, keepdims=True) - np.cumsum(clean, axis=1)
    pairs = (counts * err * clean_after).sum(axis=1)
    total = (counts * err).sum(axis=1) * clean.sum(axis=1)
    return np.where(total > 0, pairs / np.maximum(total, 1), np.nan)


@dataclass(frozen=True)
class SeedRankings:
    """One seed: which samples are errors and every ranking's scores (higher: worse)."""

    is_error: np.ndarray
    scores: Mapping[str, np.ndarray]


def order_of(score: np.ndarray) -> np.ndarray:
    """Most suspicious first, ties by sample index."""
    return np.lexsort((np.arange(len(score)), -np.asarray(score, dtype=np.float64)))


def _resample_counts(n: int, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """``rounds`` x ``n`` draw counts of a bootstrap over ``n`` samples."""
    draws = rng.integers(0, n, size=(rounds, n)) + n * np.arange(rounds)[:, None]
    return np.bincount(draws.ravel(), minlength=rounds * n).reshape(rounds, n).astype(np.int32)


Rounds = dict[str, dict[str, tuple[list[float], np.ndarray]]]


def bootstrap(
    figures: Mapping[str, Figure],
    seeds: Sequence[SeedRankings],
    *,
    rounds: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> Rounds:
    """Per figure and ranking: the value on each seed, and the bootstrap rounds averaged
    over the seeds. Every ranking of a seed sees the same resamples (paired)."""
    rng = np.random.default_rng(seed)
    names = list(seeds[0].scores)
    out: Rounds = {f: {n: ([], np.zeros(rounds)) for n in names} for f in figures}
    for s in seeds:
        n = len(s.is_error)
        counts = _resample_counts(n, rounds, rng)
        ones = np.ones((1, n), dtype=np.int32)
        for name in names:
            order = order_of(s.scores[name])
            err = np.asarray(s.is_error, bool)[order]
            drawn = counts[:, order]
            for f, figure in figures.items():
                out[f][name][0].append(float(figure(err, ones)[0]))
                out[f][name][1][:] += figure(err, drawn) / len(seeds)
    return out


def interval(per_seed: Sequence[float], rounds: np.ndarray) -> Estimate:
    """The mean of ``per_seed`` with the percentile interval of ``rounds``."""
    tail = (1.0 - LEVEL) / 2 * 100
    low, high = np.nanpercentile(rounds, [tail, 100 - tail])
    return Estimate(float(np.mean(per_seed)), float(low), float(high), tuple(map(float, per_seed)))


def compare(
    figures: Mapping[str, Figure],
    seeds: Sequence[SeedRankings],
    pairs: Sequence[tuple[str, str]] = (),
) -> dict[str, tuple[dict[str, Estimate], dict[tuple[str, str], Estimate]]]:
    """Per figure: estimates of every ranking, and of the paired differences ``a - b``."""
    out = {}
    for f, boot in bootstrap(figures, seeds).items():
        single = {name: interval(*boot[name]) for name in boot}
        diffs = {}
        for a, b in pairs:
            per_seed = [x - y for x, y in zip(boot[a][0], boot[b][0], strict=True)]
            diffs[(a, b)] = interval(per_seed, boot[a][1] - boot[b][1])
        out[f] = (single, diffs)
    return out


def verdict(diff: Estimate, margin: float = 0.0) -> str:
    """``"higher"`` when the interval of ``A - B - margin`` is above 0, ``"lower"`` when
    below, else ``"tie"``."""
    if diff.low - margin > 0:
        return "higher"
    if diff.high - margin < 0:
        return "lower"
    return "tie"
