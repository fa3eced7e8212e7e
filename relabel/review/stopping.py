"""When more review stops paying: the label errors left and what the next cycle finds, and
the accuracy the next batch of labels buys (a learning curve).

Pure: the project (:mod:`relabel.project.gains`) passes the newest ranking's estimated
error probabilities, the review outcomes and the runs' accuracies here.

Errors left
-----------
Each unreviewed sample ``i`` has an estimated probability ``p_i`` that its label is wrong
(the noise posterior of the newest run, :func:`relabel.ranking.noise_posterior`: the
confident joint's noise matrix applied to the model's probabilities), so the model expects
``sum p_i`` errors among them. Reviews say how far to trust that: the reviewed tasks had
``p_r`` when they were sent and ``H`` of them were wrong (corrected or excluded), so the
model's probabilities are scaled by ``kappa = H / sum p_r`` (observed over expected, as a
standardised mortality ratio). ``kappa`` is uncertain: with the hits taken as Poisson its
posterior under the Jeffreys prior is ``Gamma(H + 1/2, 1 / sum p_r)``. Given ``kappa``,
each unreviewed label is wrong with probability ``min(1, kappa p_i)`` independently, and
the count of wrong labels is Poisson-binomial (drawn here from its normal approximation).
The interval is the central ``level`` share of the counts drawn over ``kappa``'s
posterior; the next cycle's expected finds are the same sum over the next ``budget``
samples in rank order. Without reviews ``kappa`` is 1 and the interval only holds the
sampling spread: the model's own estimate, uncalibrated.

The scaling assumes the model is off by the same factor at every rank; the reviewed top
of the ranking is where it is measured.

Learning curve
--------------
Out-of-fold accuracy as a function of the number of labelled samples,
``acc(n) = a - b n^-c`` (a power law, fitted by least squares with
:func:`scipy.optimize.curve_fit`), gives the gain of the next ``batch`` labels,
``acc(n + batch) - acc(n)``; its interval comes from the fit's parameter covariance (the
delta method, with Student's t for the points beyond the three parameters). It needs runs
at three or more different labelled counts, and an interval needs four (three points fit
three parameters exactly). With few points the interval is optimistic (on synthetic
power-law points with noise, nine counts cover the true gain about 95 % of the time, five
about two times in three).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from relabel.errors import ScoringInputError

__all__ = ["ErrorsLeft", "LearningCurve", "errors_left", "learning_curve", "stop_reason"]

#: Draws of the calibration factor (errors left).
DRAWS = 4000
#: The fewest different labelled counts a learning curve is fitted to.
MIN_CURVE_POINTS = 3


@dataclass(frozen=True)
class ErrorsLeft:
    """The label errors left among the unreviewed samples, and what the next cycle finds.

    Attributes
    ----------
    expected, low, high : float
        Expected wrong labels among the unreviewed samples, and the ``level`` interval.
    model_expected : float
        ``sum p_i`` over the unreviewed samples: the model's own estimate, uncalibrated.
    calibration, calibration_low, calibration_high : float
        ``kappa`` (observed hits over the hits the model expected of the reviewed tasks) and
        its interval; 1, 1, 1 without reviews.
    reviewed, hits : int
        Reviewed tasks (confirmed, corrected or excluded) and how many were wrong labels.
    hit_rate, hit_rate_low, hit_rate_high : float or None
        ``hits / reviewed`` and its Wilson interval; None without reviews.
    unreviewed : int
        Samples not reviewed since their label last changed.
    next_budget : int
        Samples the next cycle reviews (the next ranks among the unreviewed).
    next_expected, next_low, next_high : float
        Wrong labels the next cycle is expected to find, and the interval.
    level : float
        The interval's coverage (0.95).
    """

    expected: float
    low: float
    high: float
    model_expected: float
    calibration: float
    calibration_low: float
    calibration_high: float
    reviewed: int
    hits: int
    hit_rate: float | None
    hit_rate_low: float | None
    hit_rate_high: float | None
    unreviewed: int
    next_budget: int
    next_expected: float
    next_low: float
    next_high: float
    level: float

    @property
    def calibrated(self) -> bool:
        """Whether reviews scaled the model's estimate."""
        return self.reviewed > 0

    def as_dict(self) -> dict[str, Any]:
        """The fields (and ``calibrated``) as a JSON-serialisable dict."""
        return {**asdict(self), "calibrated": self.calibrated}


def _probabilities(values: npt.ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size and (np.isnan(a).any() or a.min() < 0 or a.max() > 1):
        raise ScoringInputError(f"{name} must be probabilities in [0, 1] (no NaN)")
    return a


class _PoissonBinomial:
    """``sum_i min(1, kappa p_i)`` and its variance for many ``kappa`` at once (sorted sums)."""

    def __init__(self, p: np.ndarray) -> None:
        self.p = np.sort(p)
        self.s1 = np.concatenate([[0.0], np.cumsum(self.p)])
        self.s2 = np.concatenate([[0.0], np.cumsum(self.p**2)])

    def moments(self, kappa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the count of wrong labels for each ``kappa``."""
        with np.errstate(divide="ignore"):
            cut = np.where(kappa > 0, 1.0 / kappa, np.inf)
        below = np.searchsorted(self.p, cut, side="left")  # kappa p < 1 there
        s1, s2 = self.s1[below], self.s2[below]
        mean = kappa * s1 + (self.p.size - below)
        var = np.maximum(kappa * s1 - kappa**2 * s2, 0.0)
        return mean, var


def _hit_rate(hits: int, reviewed: int, level: float) -> tuple[float | None, ...]:
    if reviewed == 0:
        return None, None, None
    from scipy.stats import binomtest

    ci = binomtest(hits, reviewed).proportion_ci(confidence_level=level, method="wilson")
    return hits / reviewed, float(ci.low), float(ci.high)


def _kappa(
    review_p: np.ndarray, hits: int, level: float, rng: np.random.Generator
) -> tuple[float, np.ndarray, float, float]:
    """Calibration factor, its draws and interval (1 everywhere without reviews)."""
    expected = float(review_p.sum())
    if review_p.size == 0 or expected <= 0:
        return 1.0, np.ones(DRAWS), 1.0, 1.0
    draws = rng.gamma(hits + 0.5, 1.0 / expected, DRAWS)
    from scipy.stats import gamma

    tail = (1 - level) / 2
    low, high = gamma.ppf([tail, 1 - tail], hits + 0.5, scale=1.0 / expected)
    return hits / expected, draws, float(low), float(high)


def _count_interval(
    pb: _PoissonBinomial, kappa: float, draws: np.ndarray, level: float, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Expected count at ``kappa`` and the interval of counts drawn over ``draws``."""
    mean, _ = pb.moments(np.array([kappa]))
    means, variances = pb.moments(draws)
    counts = np.clip(rng.normal(means, np.sqrt(variances)), 0.0, pb.p.size)
    tail = (1 - level) / 2
    low, high = np.quantile(counts, [tail, 1 - tail])
    return float(mean[0]), float(low), float(high)


def errors_left(
    p_error: npt.ArrayLike,
    reviewed: npt.ArrayLike,
    review_p: npt.ArrayLike,
    review_hit: npt.ArrayLike,
    next_budget: int,
    *,
    order: npt.ArrayLike | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> ErrorsLeft:
    """Estimate the wrong labels left among the unreviewed samples, with an interval.

    Parameters
    ----------
    p_error : array_like of float, shape (n,)
        Each sample's estimated probability that its current label is wrong.
    reviewed : array_like of bool, shape (n,)
        Samples reviewed since their label last changed (they hold no error left).
    review_p : array_like of float, shape (r,)
        The estimated error probability of each reviewed task when it was sent.
    review_hit : array_like of bool, shape (r,)
        Whether each reviewed task's label was wrong (corrected or excluded).
    next_budget : int
        Samples the next cycle reviews.
    order : array_like of int, shape (n,), optional
        Sample indices, most suspicious first (the ranking); default by ``p_error``.
    level : float
        Coverage of the intervals, in (0, 1).
    seed : int
        Seed of the draws (the result is deterministic).

    Returns
    -------
    ErrorsLeft
    """
    p = _probabilities(p_error, "p_error")
    done = np.asarray(reviewed, dtype=bool).ravel()
    rp = _probabilities(review_p, "review_p")
    hit = np.asarray(review_hit, dtype=bool).ravel()
    if done.shape != p.shape or hit.shape != rp.shape:
        raise ScoringInputError("reviewed must match p_error, and review_hit review_p")
    if not 0 < level < 1 or next_budget < 0:
        raise ScoringInputError("level must be in (0, 1) and next_budget >= 0")
    rank = np.argsort(-p, kind="stable") if order is None else np.asarray(order, dtype=np.intp)
    following = rank[~done[rank]][:next_budget]
    rng = np.random.default_rng(seed)
    hits = int(hit.sum())
    kappa, draws, k_low, k_high = _kappa(rp, hits, level, rng)
    left = _count_interval(_PoissonBinomial(p[~done]), kappa, draws, level, rng)
    found = _count_interval(_PoissonBinomial(p[following]), kappa, draws, level, rng)
    rate, rate_low, rate_high = _hit_rate(hits, rp.size, level)
    return ErrorsLeft(
        *left,
        model_expected=float(p[~done].sum()),
        calibration=kappa,
        calibration_low=k_low,
        calibration_high=k_high,
        reviewed=int(rp.size),
        hits=hits,
        hit_rate=rate,
        hit_rate_low=rate_low,
        hit_rate_high=rate_high,
        unreviewed=int((~done).sum()),
        next_budget=int(following.size),
        next_expected=found[0],
        next_low=found[1],
        next_high=found[2],
        level=level,
    )


@dataclass(frozen=True)
class LearningCurve:
    """The accuracy the next batch of labels is expected to add.

    Attributes
    ----------
    points : int
        Different labelled counts the curve was fitted to.
    n_labelled : int
        The largest labelled count (where the next batch starts).
    batch : int
        Labels in the next batch.
    a, b, c : float or None
        ``acc(n) = a - b n^-c``; None when not fitted.
    accuracy_now : float or None
        ``acc(n_labelled)``.
    gain, low, high : float or None
        ``acc(n_labelled + batch) - acc(n_labelled)`` and its ``level`` interval (the
        interval None with fewer than four points).
    level : float
        The interval's coverage.
    reason : str
        Why there is no estimate or no interval; empty when both exist.
    """

    points: int
    n_labelled: int
    batch: int
    a: float | None = None
    b: float | None = None
    c: float | None = None
    accuracy_now: float | None = None
    gain: float | None = None
    low: float | None = None
    high: float | None = None
    level: float = 0.95
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serialisable dict."""
        return asdict(self)


def _power_law(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(x, -c)


def _latest_per_count(n: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One point per labelled count: the last one given (the newest run's), by count."""
    last = {int(k): float(v) for k, v in zip(n, acc, strict=True)}
    keys = np.array(sorted(last), dtype=np.float64)
    return keys, np.array([last[int(k)] for k in keys])


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares power law on counts scaled to the largest (raises on no fit)."""
    from scipy.optimize import OptimizeWarning, curve_fit

    spread = max(float(y.max() - y.min()), 1e-3)
    p0 = (min(float(y.max()) + spread / 2, 1.0), spread, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        popt, pcov = curve_fit(
            _power_law,
            x,
            y,
            p0=p0,
            bounds=([0.0, 0.0, 1e-3], [1.0, np.inf, 5.0]),
            maxfev=20_000,
        )
    return popt, pcov


def learning_curve(
    n_labelled: npt.ArrayLike,
    accuracy: npt.ArrayLike,
    batch: int,
    *,
    level: float = 0.95,
) -> LearningCurve:
    """Fit ``acc(n) = a - b n^-c`` to past runs and predict the gain of the next batch.

    Parameters
    ----------
    n_labelled : array_like of int, shape (m,)
        Labelled samples each run trained on, oldest run first.
    accuracy : array_like of float, shape (m,)
        Each run's out-of-fold accuracy. Of runs with the same count the last one counts.
    batch : int
        Labels the next batch adds (>= 1).
    level : float
        Coverage of the interval, in (0, 1).

    Returns
    -------
    LearningCurve
        ``reason`` says why there is no estimate (fewer than three different counts, no
        fit) or no interval (three counts).
    """
    n = np.asarray(n_labelled, dtype=np.float64).ravel()
    acc = np.asarray(accuracy, dtype=np.float64).ravel()
    if n.shape != acc.shape or (n.size and (n.min() < 1 or np.isnan(acc).any())):
        raise ScoringInputError("n_labelled (>= 1) and accuracy must be paired, without NaN")
    if batch < 1 or not 0 < level < 1:
        raise ScoringInputError("batch must be >= 1 and level in (0, 1)")
    x, y = _latest_per_count(n, acc)
    now = int(x.max()) if x.size else 0
    base = LearningCurve(points=int(x.size), n_labelled=now, batch=int(batch), level=level)
    if x.size < MIN_CURVE_POINTS:
        return replace(
            base, reason=f"needs runs at {MIN_CURVE_POINTS} or more labelled counts, has {x.size}"
        )
    scale = float(x.max())
    try:
        popt, pcov = _fit(x / scale, y)
    except (RuntimeError, ValueError) as exc:
        return replace(base, reason=f"the power law did not fit: {exc}")
    at = np.array([1.0, (now + batch) / scale])
    fitted = _power_law(at, *popt)
    a, b, c = popt
    out = replace(
        base,
        a=float(a),
        b=float(b * scale**c),  # back to unscaled counts: b n^-c
        c=float(c),
        accuracy_now=float(fitted[0]),
        gain=float(fitted[1] - fitted[0]),
    )
    return _with_interval(out, popt, pcov, at, level)


def _with_interval(
    curve: LearningCurve, popt: np.ndarray, pcov: np.ndarray, at: np.ndarray, level: float
) -> LearningCurve:
    """The gain's interval: the delta method on the fit's covariance, with Student's t
    quantile for the points left over after the three parameters."""
    dof = curve.points - 3
    if dof < 1:
        return replace(curve, reason="an interval needs runs at 4 or more labelled counts")
    if not np.isfinite(pcov).all():
        return replace(curve, reason="the fit's covariance is undetermined: no interval")
    from scipy.stats import t as student

    _, b, c = popt
    x0, x1 = at
    grad = np.array([0.0, x0**-c - x1**-c, b * (np.log(x1) * x1**-c - np.log(x0) * x0**-c)])
    se = float(np.sqrt(max(grad @ pcov @ grad, 0.0)))
    half = float(student.ppf(0.5 + level / 2, dof)) * se
    assert curve.gain is not None
    return replace(curve, low=max(curve.gain - half, 0.0), high=curve.gain + half)


def stop_reason(
    errors: ErrorsLeft | None,
    curve: LearningCurve | None,
    gain_below: float,
    accuracy_gain_below: float,
) -> str | None:
    """Why not to start another cycle, or None (``review.stop_when_gain_below`` and
    ``review.stop_when_accuracy_gain_below``; 0 turns a rule off).

    Parameters
    ----------
    errors : ErrorsLeft, optional
        The label errors left (None before the first run).
    curve : LearningCurve, optional
        The learning curve (a rule on it needs its ``gain``).
    gain_below : float
        Stop when the next cycle is expected to find fewer label errors than this.
    accuracy_gain_below : float
        Stop when the next batch of labels is expected to add less accuracy than this.
    """
    pct = f"{errors.level:.0%}" if errors is not None else ""
    if errors is not None and gain_below > 0 and errors.next_expected < gain_below:
        return (
            f"the next cycle is expected to find {errors.next_expected:.1f} label errors "
            f"({pct} interval {errors.next_low:.1f}-{errors.next_high:.1f}) in "
            f"{errors.next_budget} reviews, below review.stop_when_gain_below = {gain_below:g}"
        )
    gain = None if curve is None else curve.gain
    if (
        curve is not None
        and gain is not None
        and accuracy_gain_below > 0
        and gain < accuracy_gain_below
    ):
        return (
            f"the learning curve expects the next {curve.batch} labels to add "
            f"{gain:.4f} out-of-fold accuracy, below "
            f"review.stop_when_accuracy_gain_below = {accuracy_gain_below:g}"
        )
    return None
