"""Label noise with a known answer: parse noise specs and inject them into true labels.

The demo dataset (:mod:`relabel.demo.digits`), the benchmarks and the tests make label errors
whose true answer is known with :func:`inject_noise`.

Noise specs:

``"none"``
    No noise.
``"sym:0.1"``
    Symmetric: in every class, exactly ``round(0.1 * count)`` samples, chosen at random,
    get a uniformly random *other* class.
``"1>7:0.3,3>8:0.3"``
    Class pairs: exactly ``round(0.3 * count)`` of the samples of true class 1, chosen at
    random, are labelled 7, and so on. Several pairs may share a source class (their
    samples are disjoint); their rates must add up to at most 1.

Counts are exact rather than drawn per sample, so a given seed always produces the same
number of errors; ``round`` rounds halves up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from relabel.errors import ConfigError

__all__ = ["NoiseSpec", "inject_noise", "parse_noise"]


@dataclass(frozen=True)
class NoiseSpec:
    """A parsed noise spec (see the module docstring for the syntax).

    Attributes
    ----------
    kind : {"none", "symmetric", "pairs"}
        Which kind of noise.
    rate : float
        Flip rate of symmetric noise (0 otherwise).
    pairs : tuple of (int, int, float)
        ``(source, target, rate)`` of class-pair noise, in spec order.
    """

    kind: Literal["none", "symmetric", "pairs"]
    rate: float = 0.0
    pairs: tuple[tuple[int, int, float], ...] = ()

    def __str__(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "symmetric":
            return f"sym:{self.rate:g}"
        return ",".join(f"{a}>{b}:{r:g}" for a, b, r in self.pairs)

    def classes(self) -> set[int]:
        """Class indices the spec names."""
        return {c for a, b, _ in self.pairs for c in (a, b)}


def _bad(spec: str, part: str, why: str) -> ConfigError:
    where = f"noise spec {spec!r}" + (f", part {part!r}" if part != spec else "")
    return ConfigError(
        f"{where}: {why}. Write 'none', 'sym:RATE' (e.g. 'sym:0.1') or comma-separated "
        "class pairs 'SRC>DST:RATE' (e.g. '1>7:0.3,3>8:0.3')"
    )


def _parse_rate(spec: str, part: str, text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise _bad(spec, part, f"rate {text.strip()!r} is not a number") from None
    if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
        raise _bad(spec, part, f"rate {text.strip()} is not between 0 and 1")
    return rate


def _parse_class(spec: str, part: str, text: str, n_classes: int | None) -> int:
    t = text.strip()
    if not t.isdigit():
        raise _bad(spec, part, f"class {t!r} is not a class index (0, 1, 2, ...)")
    c = int(t)
    if n_classes is not None and c >= n_classes:
        raise _bad(spec, part, f"class {c} does not exist (classes are 0..{n_classes - 1})")
    return c


def parse_noise(spec: str, n_classes: int | None = None) -> NoiseSpec:
    """Parse a noise spec such as ``"sym:0.1"`` or ``"1>7:0.3,3>8:0.3"``.

    Parameters
    ----------
    spec : str
        ``"none"``, ``"sym:RATE"`` or comma-separated ``"SRC>DST:RATE"`` pairs, with class
        indices and rates in ``[0, 1]``.
    n_classes : int, optional
        When given, class indices must be below it.

    Returns
    -------
    NoiseSpec
        The parsed spec.

    Raises
    ------
    ConfigError
        The spec is malformed; the message quotes the offending part.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"noise spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise _bad(spec, spec, "it is empty")
    if text.lower() == "none":
        return NoiseSpec("none")
    head, sep, tail = text.partition(":")
    if head.strip().lower() in ("sym", "symmetric"):
        if not sep or "," in tail:
            raise _bad(spec, spec, "symmetric noise takes exactly one rate, as in 'sym:0.1'")
        return NoiseSpec("symmetric", rate=_parse_rate(spec, spec, tail))
    pairs: list[tuple[int, int, float]] = []
    per_source: dict[int, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise _bad(spec, spec, "it has an empty part (two commas, or a trailing comma)")
        classes, sep, rate_text = part.partition(":")
        if not sep:
            raise _bad(spec, part, "missing ':RATE'")
        src_text, arrow, dst_text = classes.partition(">")
        if not arrow:
            raise _bad(spec, part, "missing '>' between source and target class")
        src = _parse_class(spec, part, src_text, n_classes)
        dst = _parse_class(spec, part, dst_text, n_classes)
        if src == dst:
            raise _bad(spec, part, "source and target class are the same")
        if any(a == src and b == dst for a, b, _ in pairs):
            raise _bad(spec, part, f"pair {src}>{dst} is given twice")
        rate = _parse_rate(spec, part, rate_text)
        per_source[src] = per_source.get(src, 0.0) + rate
        if per_source[src] > 1.0 + 1e-9:
            raise _bad(spec, part, f"rates from class {src} add up to more than 1")
        pairs.append((src, dst, rate))
    return NoiseSpec("pairs", pairs=tuple(pairs))


def _exact(rate: float, count: int) -> int:
    """``round(rate * count)`` with halves rounded up."""
    return min(count, math.floor(rate * count + 0.5))


def inject_noise(
    labels: npt.ArrayLike, spec: NoiseSpec | str, n_classes: int, seed: int = 0
) -> np.ndarray:
    """Return a copy of ``labels`` with label noise injected as ``spec`` says.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        True class indices in ``0 .. n_classes - 1``.
    spec : NoiseSpec or str
        The noise, parsed or as text (see :func:`parse_noise`).
    n_classes : int
        Number of classes (at least 2).
    seed : int
        Seed of the random choice; the same seed gives the same labels.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        The noisy labels. Exactly ``round(rate * count)`` samples of each affected class
        change label; every changed label differs from the true one.

    Raises
    ------
    ConfigError
        The spec is malformed or names a class outside ``0 .. n_classes - 1``.
    """
    if n_classes < 2:
        raise ConfigError(f"noise needs at least 2 classes, got {n_classes}")
    if isinstance(spec, str):
        spec = parse_noise(spec, n_classes)
    else:
        bad = sorted(c for c in spec.classes() if not 0 <= c < n_classes)
        if bad:
            raise ConfigError(
                f"noise spec {str(spec)!r}: class {bad[0]} does not exist "
                f"(classes are 0..{n_classes - 1})"
            )
    true = np.asarray(labels)
    if true.ndim != 1 or (true.size and not np.issubdtype(true.dtype, np.integer)):
        raise ConfigError("labels to inject noise into must be a 1-D array of class indices")
    true = true.astype(np.int64)
    if true.size and (true.min() < 0 or true.max() >= n_classes):
        raise ConfigError(f"labels must be class indices 0..{n_classes - 1}")
    noisy = true.copy()
    rng = np.random.default_rng(seed)
    if spec.kind == "symmetric":
        for c in range(n_classes):
            members = np.flatnonzero(true == c)
            chosen = rng.permutation(members)[: _exact(spec.rate, members.size)]
            noisy[chosen] = (c + rng.integers(1, n_classes, chosen.size)) % n_classes
    elif spec.kind == "pairs":
        shuffled: dict[int, np.ndarray] = {}
        taken: dict[int, int] = {}
        for src, dst, rate in spec.pairs:
            if src not in shuffled:
                shuffled[src] = rng.permutation(np.flatnonzero(true == src))
                taken[src] = 0
            members = shuffled[src]
            m = min(_exact(rate, members.size), members.size - taken[src])
            noisy[members[taken[src] : taken[src] + m]] = dst
            taken[src] += m
    return noisy
