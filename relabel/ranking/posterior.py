"""The noise posterior: the probability that each given label is wrong, under the label
noise that the confident joint estimates (the default ranking, see
:data:`relabel.ranking.suspicion.DEFAULT_METHOD`)."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from relabel.errors import ScoringInputError
from relabel.ranking.confidence import BLOCK_ELEMENTS
from relabel.ranking.confident_joint import estimate_joint
from relabel.ranking.validation import check_inputs

__all__ = ["POSTERIOR_PSEUDO_COUNT", "noise_posterior"]

#: Pseudo-count added to every cell of the confident joint's counts by ``noise_posterior``.
POSTERIOR_PSEUDO_COUNT: Final[float] = 0.1


def _flip_rates(counts: np.ndarray, pseudo_count: float) -> np.ndarray:
    q = counts.astype(np.float64) + pseudo_count
    return q / q.sum(axis=0, keepdims=True)


def posterior_scores(
    y: np.ndarray,
    p: np.ndarray,
    p_given: np.ndarray,
    counts: np.ndarray,
    pseudo_count: float = POSTERIOR_PSEUDO_COUNT,
) -> np.ndarray:
    """The noise posterior of checked inputs, before clipping (see :func:`noise_posterior`).

    Parameters
    ----------
    y : numpy.ndarray of intp, shape (n,)
        Given labels.
    p : numpy.ndarray of float, shape (n, K)
        Checked class probabilities.
    p_given : numpy.ndarray of float64, shape (n,)
        ``p[i, y[i]]``.
    counts : numpy.ndarray of int64, shape (K, K)
        The confident joint's raw counts.
    pseudo_count : float
        Added to every cell of ``counts``.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``1 - T[y, y] p_y / sum_j T[y, j] p_j``.
    """
    t = _flip_rates(counts, pseudo_count)
    n, k = p.shape
    denom = np.empty(n, dtype=np.float64)
    # sum_j T[y, j] p_j, in row blocks so the gathered T[y] stays small
    block = max(1, BLOCK_ELEMENTS // k)
    for start in range(0, n, block):
        stop = min(n, start + block)
        denom[start:stop] = np.einsum("ij,ij->i", p[start:stop], t[y[start:stop]], dtype=np.float64)
    num = t[y, y] * p_given
    return 1.0 - num / np.maximum(denom, np.finfo(np.float64).tiny)


def noise_posterior(
    labels: npt.ArrayLike,
    probs: npt.ArrayLike,
    pseudo_count: float = POSTERIOR_PSEUDO_COUNT,
) -> np.ndarray:
    """Posterior probability that each given label is wrong, under the estimated noise.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Given labels.
    probs : array_like of float, shape (n, K)
        Out-of-fold class probabilities.
    pseudo_count : float
        Added to every cell of the confident joint's counts (``> 0``), so that a flip
        never seen is unlikely, not impossible.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``1 - T[y, y] p_y / sum_j T[y, j] p_j`` in ``[0, 1]``.

    Notes
    -----
    With ``C`` the confident joint's raw counts (given ``i`` x confident true ``j``, see
    :func:`relabel.ranking.confident_joint.confident_joint`) plus ``pseudo_count``,
    ``T[i, j] = C[i, j] / sum_i C[i, j]`` estimates the noise process
    ``P(given = i | true = j)``. Taking the model's
    probabilities ``p`` as the prior over the true class, Bayes' rule gives
    ``P(true = j | x, given = y)`` proportional to ``T[y, j] p_j``; the score is the
    posterior mass of every class but ``y``.

    So a class the model finds likely counts as evidence against the given label only as
    far as labels of that class are estimated to get flipped into the given one. Under
    symmetric noise this ranks like ``1 - p[given]``; under class-pair noise (1 labelled 7,
    3 labelled 8) it puts the flips that actually happen first, where self-confidence is
    distracted by look-alike classes that are never mislabelled.

    Raw counts estimate ``T`` column by column without bias under class-conditional
    noise: whether a sample of true class ``j`` clears the threshold ``t_j`` does not
    depend on the label it was given. (cleanlab's calibrated joint rescales rows to the
    given-label counts instead, which shrinks the flip rate into a class whose own
    samples often fall below their threshold.)
    """
    if not pseudo_count > 0:
        raise ScoringInputError(f"pseudo_count must be > 0, got {pseudo_count}")
    y, p = check_inputs(labels, probs)
    rows = np.arange(p.shape[0])
    pred = p.argmax(axis=1)
    p_given = p[rows, y].astype(np.float64, copy=False)
    joint = estimate_joint(y, p, p_given, pred, p[rows, pred], None)
    s = posterior_scores(y, p, p_given, joint.counts, pseudo_count)
    return np.clip(s, 0.0, 1.0, out=s)
