"""Time relabel's ``score_samples`` against cleanlab's ``find_label_issues``.

Run::

    .venv/bin/python benchmarks/bench_scoring.py           # 1,000,000 x 10 and x 100
    .venv/bin/python benchmarks/bench_scoring.py --quick   # 100,000 rows, 2 repeats

The probabilities are synthetic and seeded: each row is a Dirichlet draw with
concentration 3/K on every class plus 4 on its true class, and 10% of the given labels
are flipped to another class. Each case is timed best-of-``--repeat`` for relabel and for
cleanlab (default ``filter_by="prune_by_noise_rate"``), each with every core (relabel: numpy's
BLAS threads; cleanlab: its own multiprocessing, ``n_jobs=None``) and with one
(``threadpoolctl`` limits; ``n_jobs=1``), and cleanlab's ``get_label_quality_scores``.
``main`` returns the figures as a dict so that a harness can import it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from relabel.ranking import score_samples


def make_probs(
    n: int, k: int, *, seed: int = 0, noise: float = 0.1, dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded model-like probabilities: (given labels, probs, is_error)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    probs = np.empty((n, k), dtype=np.float64)
    block = 100_000
    for start in range(0, n, block):
        t = true[start : start + block]
        alpha = np.full((t.size, k), 3.0 / k)
        alpha[np.arange(t.size), t] += 4.0
        g = rng.gamma(alpha)
        probs[start : start + block] = g / g.sum(axis=1, keepdims=True)
    given = true.copy()
    flip = rng.random(n) < noise
    given[flip] = (true[flip] + rng.integers(1, k, int(flip.sum()))) % k
    return given, probs.astype(dtype, copy=False), flip


def stage_times(
    labels: np.ndarray, probs: np.ndarray, repeat: int
) -> tuple[dict[str, float], tuple[np.ndarray, np.ndarray]]:
    """Where ``score_samples`` spends its time: best-of-``repeat`` seconds per stage.

    The stages are ``score_samples``'s own steps, called in its order (a test checks that
    they give its scores and order). Returns the times and the last (suspicion, order).
    """
    from relabel.ranking.confidence import row_entropy
    from relabel.ranking.confident_joint import estimate_joint
    from relabel.ranking.lanes import assign_lanes
    from relabel.ranking.ordering import order_by_score
    from relabel.ranking.suspicion import DEFAULT_METHOD, method_scores
    from relabel.ranking.validation import check_inputs

    best: dict[str, float] = {}
    for _ in range(repeat):
        laps = [time.perf_counter()]
        y, p = check_inputs(labels, probs)
        laps.append(time.perf_counter())
        rows = np.arange(p.shape[0])
        pred = p.argmax(axis=1)
        p_given = p[rows, y].astype(np.float64, copy=False)
        p_pred = p[rows, pred].astype(np.float64, copy=False)
        ent = row_entropy(p)
        laps.append(time.perf_counter())
        joint = estimate_joint(y, p, p_given, pred, p_pred, None)
        laps.append(time.perf_counter())
        susp = method_scores(DEFAULT_METHOD, y, p, p_given, pred, p_pred, ent, joint)
        laps.append(time.perf_counter())
        order = order_by_score(susp)
        rank = np.empty(p.shape[0], dtype=np.int64)
        rank[order] = np.arange(1, p.shape[0] + 1)
        laps.append(time.perf_counter())
        assign_lanes(order, p_pred - p_given, p_pred, joint.n_label_errors, 0.5)
        laps.append(time.perf_counter())
        for name, t0, t1 in zip(STAGES, laps[:-1], laps[1:], strict=True):
            best[name] = min(best.get(name, float("inf")), t1 - t0)
    return best, (susp, order)


#: The stages of :func:`stage_times`, in order.
STAGES = ("input checks", "per-sample values", "confident joint", "score", "ordering", "lanes")


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Smallest wall time of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table and return the figures.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    dict
        ``{"n": ..., "repeat": ..., "cases": [{"n", "k", "dtype", "relabel_s", "cleanlab_s",
        "speedup", "relabel_n_label_errors", "cleanlab_n_issues", "true_errors"}, ...]}``;
        the cleanlab fields are None with ``--no-cleanlab``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 2 repeats")
    parser.add_argument("--n", type=int, default=None, help="rows (default 1,000,000)")
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--repeat", type=int, default=None, help="best of N (default 3)")
    parser.add_argument("--no-cleanlab", action="store_true", help="time relabel only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = args.n or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (2 if args.quick else 3)

    find_label_issues = None
    if not args.no_cleanlab:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

    cases: list[dict[str, Any]] = []
    for k in args.classes:
        given, probs64, flip = make_probs(n, k, seed=args.seed)
        for dtype in (np.float64, np.float32):
            probs = probs64 if dtype is np.float64 else probs64.astype(np.float32)
            score_samples(given[:1000], probs[:1000])  # warm-up
            t_relabel, scores = best_of(lambda y=given, p=probs: score_samples(y, p), repeat)
            with threadpool_limits(1):
                t_relabel_1, _ = best_of(lambda y=given, p=probs: score_samples(y, p), repeat)
            stages = stage_times(given, probs, repeat)[0] if k == 10 else None
            t_clean = t_clean_1 = t_quality = n_clean = None
            if find_label_issues is not None:
                t_clean, mask = best_of(lambda y=given, p=probs: find_label_issues(y, p), repeat)
                n_clean = int(mask.sum())
                t_clean_1, _ = best_of(
                    lambda y=given, p=probs: find_label_issues(y, p, n_jobs=1), repeat
                )
                t_quality, _ = best_of(
                    lambda y=given, p=probs: get_label_quality_scores(y, p), repeat
                )
            cases.append(
                {
                    "n": n,
                    "k": k,
                    "dtype": np.dtype(dtype).name,
                    "cores": os.cpu_count(),
                    "relabel_s": t_relabel,
                    "relabel_1thread_s": t_relabel_1,
                    "relabel_stages_s": stages,
                    "cleanlab_s": t_clean,
                    "cleanlab_1thread_s": t_clean_1,
                    "cleanlab_quality_s": t_quality,
                    "speedup": None if t_clean is None else t_clean / t_relabel,
                    "relabel_n_label_errors": scores.joint.n_label_errors,
                    "cleanlab_n_issues": n_clean,
                    "true_errors": int(flip.sum()),
                }
            )
            del probs, scores
        del probs64

    header = (
        f"{'rows':>9} {'K':>4} {'dtype':>7} {'relabel s':>10} {'cleanlab s':>11} "
        f"{'speed-up':>9} {'est errors':>11} {'cl issues':>10} {'true':>8}"
    )
    print(f"score_samples vs cleanlab find_label_issues, best of {repeat}")
    print(header)
    print("-" * len(header))
    for c in cases:
        clean = "-" if c["cleanlab_s"] is None else f"{c['cleanlab_s']:.3f}"
        speed = "-" if c["speedup"] is None else f"{c['speedup']:.1f}x"
        issues = "-" if c["cleanlab_n_issues"] is None else str(c["cleanlab_n_issues"])
        print(
            f"{c['n']:>9} {c['k']:>4} {c['dtype']:>7} {c['relabel_s']:>10.3f} {clean:>11} "
            f"{speed:>9} {c['relabel_n_label_errors']:>11} {issues:>10} {c['true_errors']:>8}"
        )
    sys.stdout.flush()
    return {"n": n, "repeat": repeat, "cases": cases}


if __name__ == "__main__":
    main()
