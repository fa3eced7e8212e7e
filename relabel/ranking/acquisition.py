"""Active learning: which unlabelled images to label next.

:func:`select_batch` picks ``budget`` samples of an unlabelled pool from the model's
predicted class probabilities of the pool (and, for the diversity strategies, the pool's
embeddings), by one of :data:`STRATEGIES`:

* ``random`` -- a seeded permutation of the pool (the baseline every strategy must beat);
* ``entropy`` -- the flattest predictions first (highest entropy of the probabilities);
* ``margin`` -- the smallest gap between the two most probable classes first;
* ``coreset`` -- k-center greedy (Sener and Savarese, ICLR 2018) on L2-normalised
  embeddings, started from the labelled samples' embeddings: each pick is the pool sample
  farthest from everything labelled or picked so far;
* ``badge`` -- BADGE (Ash et al., ICLR 2020): k-means++ seeding over the gradient
  embeddings ``g_i = (p_i - onehot(argmax p_i)) outer e_i``, which are large for
  uncertain samples and spread over the embedding space;
* ``mix`` -- clustered margin (after Citovsky et al., "Batch Active Learning at Scale",
  NeurIPS 2021, "Cluster-Margin"): the :data:`MIX_FACTOR` ``* budget`` samples of smallest
  margin are clustered into ``budget`` k-means clusters on normalised embeddings, and the
  smallest-margin sample of each cluster is picked: uncertain, but no two picks alike.

``class_balance=True`` spreads the budget over the predicted classes: each class gets an
equal share (the classes with fewer pool samples give their surplus to the others), the
strategy orders each class's samples on its own, and the picks are taken round-robin.

Everything is deterministic for a ``seed``; equal scores are ordered by pool index. No
``n x n`` matrix is built: distances are updated in blocks of rows, and BADGE's gradient
embeddings are never materialised (``g_i . g_j = (a_i . a_j)(e_i . e_j)`` with
``a = p - onehot``), so no random projection is needed whatever ``d * K``.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from relabel.errors import AcquisitionInputError, ScoringInputError
from relabel.ranking.validation import check_probs

__all__ = ["DEFAULT_STRATEGY", "MIX_FACTOR", "STRATEGIES", "select_batch"]

#: The acquisition strategies of :func:`select_batch`.
STRATEGIES: Final[tuple[str, ...]] = ("random", "entropy", "margin", "coreset", "badge", "mix")
#: The strategy relabel uses when none is named (chosen on MNIST learning curves, see
#: ``benchmarks/learning_curves.py``).
DEFAULT_STRATEGY: Final[str] = "mix"
#: ``mix`` clusters the ``MIX_FACTOR * budget`` smallest-margin samples.
MIX_FACTOR: Final[int] = 10
#: The strategies that need ``embeddings``.
NEEDS_EMBEDDINGS: Final[frozenset[str]] = frozenset({"coreset", "badge", "mix"})
#: Rows per block of the distance updates.
BLOCK_ROWS: Final[int] = 8192


def select_batch(
    strategy: str,
    probs: np.ndarray,
    budget: int,
    *,
    embeddings: np.ndarray | None = None,
    labelled_embeddings: np.ndarray | None = None,
    class_balance: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Indices (int64, into the pool rows of probs) of the `budget` pool samples to label next,
    in selection order.

    Parameters
    ----------
    strategy : str
        One of :data:`STRATEGIES`.
    probs : numpy.ndarray of float, shape (n_pool, K)
        Predicted class probabilities of the unlabelled pool (rows sum to 1).
    budget : int
        How many samples to pick (> 0); a budget over ``n_pool`` picks the whole pool.
    embeddings : numpy.ndarray of float, shape (n_pool, d), optional
        The pool's embeddings (float16/32/64, a memmap is fine); needed by ``coreset``,
        ``badge`` and ``mix``.
    labelled_embeddings : numpy.ndarray of float, shape (n_labelled, d), optional
        The labelled samples' embeddings: ``coreset`` starts its k-center greedy from them.
    class_balance : bool
        Spread the budget evenly over the predicted classes (round-robin over each class's
        own order).
    seed : int
        Seed of the random choices (``random``, ``badge``'s sampling, ``mix``'s k-means,
        ``coreset``'s first pick when nothing is labelled).

    Returns
    -------
    numpy.ndarray of int64, shape (min(budget, n_pool),)
        Distinct pool indices, the first pick first.

    Raises
    ------
    AcquisitionInputError
        If the strategy is unknown, the budget is not a positive integer, ``probs`` or the
        embeddings have a bad shape or hold NaN/inf, or the strategy needs embeddings and
        none were given.
    """
    p = _check_probs(probs)
    n = p.shape[0]
    _check_strategy(strategy, budget)
    emb, lab = _check_embeddings(strategy, n, embeddings, labelled_embeddings)
    take = min(int(budget), n)
    if not class_balance:
        return _order(strategy, p, np.arange(n), take, emb, lab, seed)
    predicted = np.argmax(p, axis=1)
    groups = [np.flatnonzero(predicted == c) for c in range(p.shape[1])]
    quotas = _quotas(np.array([len(g) for g in groups]), take)
    orders = [
        _order(strategy, p, g, int(q), emb, lab, seed) if q else np.empty(0, np.int64)
        for g, q in zip(groups, quotas, strict=True)
    ]
    return _round_robin(orders)


def _order(
    strategy: str,
    p: np.ndarray,
    rows: np.ndarray,
    take: int,
    emb: np.ndarray | None,
    lab: np.ndarray | None,
    seed: int,
) -> np.ndarray:
    """``take`` pool indices among ``rows`` by ``strategy``, in selection order."""
    sub = p[rows]
    if strategy == "random":
        local = np.random.default_rng(seed).permutation(len(rows))[:take]
    elif strategy == "entropy":
        local = _most_uncertain(-_entropy(sub), take)
    elif strategy == "margin":
        local = _most_uncertain(_margin(sub), take)
    else:
        assert emb is not None
        x = _normalised(emb, rows)
        if strategy == "coreset":
            centres = None if lab is None else _normalised(lab, np.arange(lab.shape[0]))
            local = k_center_greedy(x, take, centres=centres, seed=seed)
        elif strategy == "badge":
            local = badge_seeding(sub, x, take, seed=seed)
        else:
            local = clustered_margin(sub, x, take, seed=seed)
    return rows[np.asarray(local, dtype=np.int64)].astype(np.int64)


def _most_uncertain(score: np.ndarray, take: int) -> np.ndarray:
    """The ``take`` smallest scores' positions, ties by position (a stable sort)."""
    return np.argsort(score, kind="stable")[:take]


def _entropy(p: np.ndarray) -> np.ndarray:
    """Row entropies in nats, float64, ``0 log 0 = 0``."""
    q = p.astype(np.float64)
    return -np.einsum("ij,ij->i", q, np.log(np.maximum(q, np.finfo(np.float64).tiny)))


def _margin(p: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of each row, float64."""
    top2 = np.partition(p.astype(np.float64), p.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def _normalised(emb: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``emb[rows]`` as float32 with unit L2 rows (zero rows stay zero), in blocks."""
    out = np.empty((len(rows), emb.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), BLOCK_ROWS):
        block = np.asarray(emb[rows[start : start + BLOCK_ROWS]], dtype=np.float32)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block / np.where(norms > 0, norms, 1.0)
    return out


def _nearest_sq(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared distance of each row of unit-norm ``x`` to its nearest unit-norm centre."""
    best = np.full(x.shape[0], np.inf, dtype=np.float32)
    for start in range(0, x.shape[0], BLOCK_ROWS):
        xb = x[start : start + BLOCK_ROWS]
        sq_x = np.einsum("ij,ij->i", xb, xb)
        for c0 in range(0, centres.shape[0], BLOCK_ROWS):
            cb = centres[c0 : c0 + BLOCK_ROWS]
            d = sq_x[:, None] + np.einsum("ij,ij->i", cb, cb)[None, :] - 2.0 * (xb @ cb.T)
            view = best[start : start + len(xb)]
            np.minimum(view, d.min(axis=1), out=view)
    return np.maximum(best, 0.0)


def k_center_greedy(
    x: np.ndarray, take: int, *, centres: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """k-center greedy (Sener and Savarese, ICLR 2018): ``take`` rows of ``x``, each the
    farthest from the centres and the rows picked before it.

    Parameters
    ----------
    x : numpy.ndarray of float32, shape (n, d)
        Candidate points (normalised by the caller).
    take : int
        How many to pick (at most ``n``).
    centres : numpy.ndarray of float32, shape (m, d), optional
        Points already covered (the labelled samples); without them the first pick is a
        seeded random row.
    seed : int
        Seed of that first pick.

    Returns
    -------
    numpy.ndarray of int64, shape (take,)
        Row positions in pick order; ties go to the lowest position.
    """
    n = x.shape[0]
    picks = np.empty(take, dtype=np.int64)
    if centres is not None and centres.shape[0]:
        dist = _nearest_sq(x, centres)
        first = 0
    else:
        picks[0] = np.random.default_rng(seed).integers(n)
        dist = _nearest_sq(x, x[picks[:1]])
        first = 1
    for i in range(first, take):
        dist[picks[:i]] = -1.0  # never pick twice, even among duplicates
        picks[i] = int(np.argmax(dist))
        np.minimum(dist, _nearest_sq(x, x[picks[i] : picks[i] + 1]), out=dist)
    return picks


def badge_seeding(p: np.ndarray, x: np.ndarray, take: int, *, seed: int = 0) -> np.ndarray:
    """BADGE (Ash et al., ICLR 2020): k-means++ seeding over gradient embeddings.

    The gradient embedding of sample ``i`` is ``g_i = a_i outer e_i`` with
    ``a_i = p_i - onehot(argmax p_i)``; since ``g_i . g_j = (a_i . a_j)(e_i . e_j)`` the
    squared distances are computed from ``a`` and ``e`` without forming ``g``. The first
    pick is the largest gradient; each next one is drawn with probability proportional to
    the squared distance to the nearest pick (seeded).

    Parameters
    ----------
    p : numpy.ndarray of float, shape (n, K)
        Class probabilities of the candidates.
    x : numpy.ndarray of float32, shape (n, d)
        Their (normalised) embeddings.
    take : int
        How many to pick (at most ``n``).
    seed : int
        Seed of the draws.

    Returns
    -------
    numpy.ndarray of int64, shape (take,)
        Row positions in pick order.
    """
    n = p.shape[0]
    a = p.astype(np.float32)
    a[np.arange(n), np.argmax(p, axis=1)] -= 1.0
    sq_norm = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", x, x)
    rng = np.random.default_rng(seed)
    picks = np.empty(take, dtype=np.int64)
    picks[0] = int(np.argmax(sq_norm))
    dist = np.full(n, np.inf, dtype=np.float64)
    for i in range(1, take):
        c = picks[i - 1]
        cross = (a @ a[c]) * (x @ x[c])
        np.minimum(dist, np.maximum(sq_norm + sq_norm[c] - 2.0 * cross, 0.0), out=dist)
        dist[picks[:i]] = 0.0
        total = dist.sum()
        if total > 0:
            picks[i] = int(rng.choice(n, p=dist / total))
        else:  # every remaining gradient equals a pick: take the lowest unpicked row
            free = np.ones(n, dtype=bool)
            free[picks[:i]] = False
            picks[i] = int(np.flatnonzero(free)[0])
    return picks


def clustered_margin(p: np.ndarray, x: np.ndarray, take: int, *, seed: int = 0) -> np.ndarray:
    """Clustered margin (after Citovsky et al. 2021, "Cluster-Margin"): the
    ``MIX_FACTOR * take`` smallest-margin rows in ``take`` k-means clusters, and the
    smallest-margin row of each cluster.

    Parameters
    ----------
    p, x, take
        As for :func:`badge_seeding`.
    seed : int
        Seed of k-means.

    Returns
    -------
    numpy.ndarray of int64, shape (take,)
        Row positions, smallest margin first (rows of empty clusters, which only duplicate
        points leave, are filled by the next smallest margins).
    """
    from sklearn.cluster import KMeans

    by_margin = _most_uncertain(_margin(p), min(p.shape[0], MIX_FACTOR * take))
    if len(by_margin) <= take:
        return by_margin[:take]
    km = KMeans(n_clusters=take, n_init=1, random_state=seed).fit(x[by_margin])
    # by_margin is sorted: the first row of each cluster in it is that cluster's best.
    _, first = np.unique(km.labels_, return_index=True)
    chosen = by_margin[np.sort(first)]
    if len(chosen) < take:
        rest = by_margin[~np.isin(by_margin, chosen)]
        chosen = np.concatenate([chosen, rest[: take - len(chosen)]])
    return chosen


def _quotas(sizes: np.ndarray, take: int) -> np.ndarray:
    """Round-robin shares of ``take`` picks over groups of ``sizes`` (water-filling)."""
    quotas = np.zeros(len(sizes), dtype=np.int64)
    left = take
    while left > 0:
        open_ = np.flatnonzero(quotas < sizes)
        if not len(open_):
            break
        step = max(1, left // len(open_))
        for g in open_:
            add = min(step, sizes[g] - quotas[g], left)
            quotas[g] += add
            left -= add
            if left == 0:
                break
    return quotas


def _round_robin(orders: list[np.ndarray]) -> np.ndarray:
    """One pick from each group's order in turn, skipping exhausted groups."""
    out = []
    for depth in range(max((len(o) for o in orders), default=0)):
        out.extend(int(o[depth]) for o in orders if depth < len(o))
    return np.asarray(out, dtype=np.int64)


def _check_probs(probs: np.ndarray) -> np.ndarray:
    """``probs`` checked (see :func:`relabel.ranking.validation.check_probs`)."""
    try:
        return check_probs(probs)
    except ScoringInputError as error:
        raise AcquisitionInputError(f"select_batch: {error}") from error


def _check_strategy(strategy: str, budget: int) -> None:
    """Raise unless ``strategy`` is known and ``budget`` a positive integer."""
    if strategy not in STRATEGIES:
        raise AcquisitionInputError(
            f"select_batch: unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}"
        )
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget <= 0:
        raise AcquisitionInputError(
            f"select_batch: budget must be a positive integer, got {budget!r}"
        )


def _check_embeddings(
    strategy: str, n: int, embeddings: np.ndarray | None, labelled: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The embeddings (and labelled embeddings) checked against the pool, or raise."""
    if strategy not in NEEDS_EMBEDDINGS:
        return None, None
    if embeddings is None:
        raise AcquisitionInputError(
            f"select_batch: strategy {strategy!r} needs the pool's embeddings "
            f"(embeddings=, shape ({n}, d)); pass them, or use 'entropy', 'margin' or 'random'"
        )
    emb = _check_matrix("embeddings", embeddings)
    if emb.shape[0] != n:
        raise AcquisitionInputError(
            f"select_batch: embeddings has {emb.shape[0]} rows but probs has {n} "
            "(one row per pool sample in both)"
        )
    if labelled is None:
        return emb, None
    lab = _check_matrix("labelled_embeddings", labelled)
    if lab.shape[1] != emb.shape[1]:
        raise AcquisitionInputError(
            f"select_batch: labelled_embeddings has {lab.shape[1]} columns but embeddings "
            f"has {emb.shape[1]} (both from the same model)"
        )
    return emb, lab


def _check_matrix(name: str, value: np.ndarray) -> np.ndarray:
    """``value`` as a 2-D float array without NaN or inf (checked in blocks), or raise."""
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating) or arr.shape[1] == 0:
        raise AcquisitionInputError(
            f"select_batch: {name} must be a 2-D float array (rows x dimensions), "
            f"got shape {arr.shape} and dtype {arr.dtype}"
        )
    for start in range(0, arr.shape[0], BLOCK_ROWS):
        bad = ~np.isfinite(arr[start : start + BLOCK_ROWS]).all(axis=1)
        if bad.any():
            row = start + int(np.argmax(bad))
            raise AcquisitionInputError(f"select_batch: {name} row {row} holds NaN or inf")
    return arr
