"""The cycle history: what each relabel cycle recorded in the label store, as figures.

The cycle loop (:mod:`relabel.loop.cycle`) writes the records; the facade
(:meth:`relabel.project.Project.status`) and the report read them here, without the loop.
"""

from __future__ import annotations

from typing import Any

from relabel.config import ReviewConfig
from relabel.store import Store


def cycle_history(store: Store, review: ReviewConfig) -> list[dict[str, Any]]:
    """Per cycle: budget, reviewed, corrected, hit rate, errors left, accuracy, step times.

    Parameters
    ----------
    store : Store
        The project's label store.
    review : ReviewConfig
        The project's review settings (the stopping thresholds).

    Returns
    -------
    list of dict
        One dict per cycle, oldest first, with a ``stop_hint`` on the last finished one
        when the hit rate or the estimated errors left fall under the configured thresholds.
    """
    out = []
    for row in store.cycles():
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
        hint = stop_hint(done[-1], review, store.n_samples())
        if hint:
            done[-1]["stop_hint"] = hint
    return out


def stop_hint(cycle: dict[str, Any], review: ReviewConfig, n_samples: int) -> str | None:
    """Why to consider stopping after a finished cycle, or None.

    Parameters
    ----------
    cycle : dict
        One entry of :func:`cycle_history`.
    review : ReviewConfig
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
