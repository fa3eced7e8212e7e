"""The cycle history: what each relabel cycle achieved, as figures, and when to stop.

Pure: the cycle loop (:mod:`relabel.loop.cycle`) records each cycle in the label store;
the facade (:meth:`relabel.project.Project.status`) and the report pass those records
here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol


class StopRules(Protocol):
    """When to hint at stopping (``relabel.config.ReviewConfig`` has these settings)."""

    stop_hit_rate: float
    stop_errors_left: float


def cycle_history(
    cycles: Iterable[Mapping[str, Any]], n_samples: int, review: StopRules
) -> list[dict[str, Any]]:
    """Per cycle: budget, reviewed, corrected, hit rate, errors left (the confident joint's
    count, and the calibrated estimate with its 95 % interval and the next cycle's expected
    finds, :mod:`relabel.review.stopping`), accuracy, step times.

    Parameters
    ----------
    cycles : iterable of mapping
        The cycles as recorded (:meth:`relabel.store.Store.cycles`), oldest first.
    n_samples : int
        Samples in the store (the errors left are compared as a fraction of them).
    review : StopRules
        The stopping thresholds.

    Returns
    -------
    list of dict
        One dict per cycle, oldest first, with a ``stop_hint`` on the last finished one
        when the hit rate or the estimated errors left fall under the configured thresholds.
    """
    out = []
    for row in cycles:
        summary = row["summary"]
        out.append(
            {
                "cycle": row["cycle"],
                "status": row["status"],
                "budget": summary.get("budget"),
                "reviewed": summary.get("reviewed"),
                "corrected": summary.get("corrected"),
                "excluded": summary.get("excluded"),
                "hit_rate": summary.get("hit_rate"),
                "estimated_errors_left": summary.get("estimated_errors_left"),
                "errors_left": summary.get("errors_left"),
                "errors_left_low": summary.get("errors_left_low"),
                "errors_left_high": summary.get("errors_left_high"),
                "next_cycle_expected": summary.get("next_cycle_expected"),
                "accuracy": summary.get("accuracy"),
                "macro_f1": summary.get("macro_f1"),
                "accuracy_source": summary.get("accuracy_source"),
                "step_seconds": row["step_seconds"],
                "started_at": row["started_at"],
                "finished_at": row["finished_at"],
            }
        )
    done = [c for c in out if c["status"] == "done" and c["reviewed"] is not None]
    if done:
        hint = stop_hint(done[-1], review, n_samples)
        if hint:
            done[-1]["stop_hint"] = hint
    return out


def stop_hint(cycle: Mapping[str, Any], review: StopRules, n_samples: int) -> str | None:
    """Why to consider stopping after a finished cycle, or None.

    Parameters
    ----------
    cycle : dict
        One entry of :func:`cycle_history`.
    review : StopRules
        ``stop_hit_rate`` and ``stop_errors_left`` are the thresholds.
    n_samples : int
        Samples in the store (the errors left are a fraction of them).
    """
    hints = []
    if cycle["hit_rate"] is not None and cycle["hit_rate"] < review.stop_hit_rate:
        hints.append(f"hit rate {cycle['hit_rate']:.2f} < {review.stop_hit_rate}")
    left = cycle["estimated_errors_left"]
    if left is not None and left / max(n_samples, 1) < review.stop_errors_left:
        hints.append(f"estimated errors left {left} < {review.stop_errors_left:.1%} of samples")
    return "consider stopping: " + "; ".join(hints) if hints else None
