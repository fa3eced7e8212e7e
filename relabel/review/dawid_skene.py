"""Weighted consensus of reviewers (Dawid-Skene EM) and per-reviewer quality (pure).

Model (Dawid & Skene 1979, "Maximum likelihood estimation of observer error-rates using
the EM algorithm"): every reviewed item has one unknown true label ``t`` out of the
classes plus "Not a valid image" (:data:`relabel.review.majority.NOT_VALID`), drawn from a class
prior. Each reviewer ``r`` answers independently of the others given ``t``, with their own
confusion matrix ``confusion[r, t, a]`` = P(reviewer r answers ``a`` | truth ``t``). EM
alternates:

* E-step: the posterior of every item's true label given its answers, computed in log
  space (``log prior + sum of log confusion entries``) as one sparse matrix product;
* M-step: each reviewer's confusion matrix and the class prior from the posterior's soft
  counts, plus the smoothing pseudo-counts below.

It starts from the per-item vote shares (majority vote) and stops when no posterior entry
moves by ``tol`` or more, or after ``max_iter`` rounds. Nothing is random.

Smoothing, in two parts, added to the expected counts of every confusion row:

* fixed Dirichlet pseudo-counts, :data:`DIAGONAL_PSEUDO_COUNT` (2) on the diagonal and
  :data:`OFF_DIAGONAL_PSEUDO_MASS` (1) spread evenly over the other ``K - 1`` answers: a
  reviewer with no evidence is right two times in three and wrong uniformly, a prudent
  guess for people checking suspected labels, and no probability is ever 0 (one
  surprising answer cannot make a label impossible);
* reviewer-level pooling: :data:`POOLED_PSEUDO_COUNT` (30) answers' worth of the
  reviewer's own pooled row (their overall estimated accuracy on the diagonal, their
  errors spread evenly). A row with far more than 30 answers follows its own counts (a
  real confusion between two classes shows); a sparse row leans on how good the reviewer
  is overall instead of on a handful of answers. Without it a single answer can dominate
  an off-diagonal cell, and in simulations a strong reviewer outvoted by two weak ones
  who agree lost far more often. The pooled row comes from the current estimate
  (empirical Bayes), so EM's monotone likelihood is no longer guaranteed; it converges in
  practice, and ``max_iter`` bounds it.

A reviewer seen on few items thus stays near the 2/3 default. The class prior gets
:data:`PRIOR_PSEUDO_COUNT` (1) per label.

Gold: ``gold`` maps items to their known true label. Their posterior is clamped to
one-hot from the start and after every E-step, so their answers measure each reviewer's
confusion matrix directly and anchor the rest of the estimate. With gold, EM is seeded by
it: the first M-step learns the reviewers from the gold answers alone, so two careless
reviewers who agree cannot pull the start toward their answers (starting from the vote
shares, EM can settle where they are believed).

Limits: reviewers are assumed independent given the truth; reviewers who copy each other
(or share a bias) look more reliable than they are unless gold or other reviewers show
otherwise, and if they answer most items together they can pull the estimate their way.
With only two reviewers and no gold, disagreements cannot be attributed to either of them.
A reviewer seen on few items keeps an estimate close to the smoothing default. Confusion
matrices have ``K * K`` parameters per reviewer, so with many classes and few answers most
entries are the smoothing's, and a cell holding a couple of real mistakes can make the
model believe a strong reviewer erred again. "Not sure" answers, skips and unknown answers
carry no information here.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from relabel.review.majority import NOT_SURE, NOT_VALID, Resolution, Vote

__all__ = [
    "DIAGONAL_PSEUDO_COUNT",
    "OFF_DIAGONAL_PSEUDO_MASS",
    "POOLED_PSEUDO_COUNT",
    "PRIOR_PSEUDO_COUNT",
    "AnnotatorStats",
    "Answer",
    "CrowdEstimate",
    "annotator_stats",
    "dawid_skene",
    "resolve_posterior",
]

DIAGONAL_PSEUDO_COUNT = 2.0
"""Dirichlet pseudo-count on the diagonal of each confusion row."""
OFF_DIAGONAL_PSEUDO_MASS = 1.0
"""Dirichlet pseudo-counts spread evenly over the off-diagonal entries of each row."""
POOLED_PSEUDO_COUNT = 30.0
"""Weight, in answers, of each reviewer's pooled row added to every one of their rows."""
PRIOR_PSEUDO_COUNT = 1.0
"""Dirichlet pseudo-count per label of the class prior."""


@dataclass(frozen=True)
class Answer:
    """One reviewer's answer to one item.

    Attributes
    ----------
    item : str
        The task key (one reviewed item).
    reviewer : str
        Who answered.
    choice : str or None
        A class name, ``NOT_VALID``, ``NOT_SURE`` or ``None``.
    cancelled : bool
        The reviewer skipped the item.
    """

    item: str
    reviewer: str
    choice: str | None
    cancelled: bool = False


@dataclass(frozen=True)
class CrowdEstimate:
    """The result of :func:`dawid_skene`.

    Attributes
    ----------
    labels : list of str
        The latent labels: the classes, then ``NOT_VALID``.
    items : list of str
        Sorted keys of the items with at least one usable answer.
    posterior : ndarray
        ``(n_items, n_labels)``: P(true label | answers); rows sum to 1.
    reviewers : list of str
        Sorted names of every reviewer in the answers (skips and "Not sure" included; one
        without a usable answer has the smoothing's default confusion matrix).
    confusion : ndarray
        ``(n_reviewers, n_labels, n_labels)``: ``[r, true, answered]``; rows sum to 1.
    prior : ndarray
        ``(n_labels,)``: the class prior.
    iterations : int
        EM rounds run.
    converged : bool
        Whether the posterior moved by less than ``tol`` in the last round.
    """

    labels: list[str]
    items: list[str]
    posterior: np.ndarray
    reviewers: list[str]
    confusion: np.ndarray
    prior: np.ndarray
    iterations: int
    converged: bool

    def posterior_of(self, item: str) -> dict[str, float] | None:
        """The posterior of one item as ``{label: probability}``.

        Parameters
        ----------
        item : str
            The item key.

        Returns
        -------
        dict or None
            None when the item had no usable answer.
        """
        i = bisect.bisect_left(self.items, item)
        if i == len(self.items) or self.items[i] != item:
            return None
        return {label: float(p) for label, p in zip(self.labels, self.posterior[i], strict=True)}


@dataclass(frozen=True)
class _Encoded:
    """Usable answers as index arrays (one entry per answer)."""

    items: list[str]
    reviewers: list[str]
    item: np.ndarray
    reviewer: np.ndarray
    answer: np.ndarray


def _latest(answers: Sequence[Answer]) -> dict[tuple[str, str], str | None]:
    """The latest non-skipped choice of each (item, reviewer), in sequence order."""
    latest: dict[tuple[str, str], str | None] = {}
    for a in answers:
        if not a.cancelled:
            latest[(a.item, a.reviewer)] = a.choice
    return latest


def _encode(
    answers: Sequence[Answer], labels: Sequence[str], items: Sequence[str] | None = None
) -> _Encoded:
    """Index the usable answers (``items`` given: only answers to those items)."""
    label_index = {label: k for k, label in enumerate(labels)}
    usable = [(i, r, label_index[c]) for (i, r), c in _latest(answers).items() if c in label_index]
    reviewers = sorted({a.reviewer for a in answers})
    if items is None:
        items = sorted({i for i, _, _ in usable})
    item_index = {item: n for n, item in enumerate(items)}
    usable = [u for u in usable if u[0] in item_index]
    reviewer_index = {r: n for n, r in enumerate(reviewers)}
    return _Encoded(
        items=list(items),
        reviewers=reviewers,
        item=np.array([item_index[i] for i, _, _ in usable], dtype=np.int64),
        reviewer=np.array([reviewer_index[r] for _, r, _ in usable], dtype=np.int64),
        answer=np.array([k for _, _, k in usable], dtype=np.int64),
    )


def _pseudo_counts(n_labels: int) -> np.ndarray:
    """The Dirichlet pseudo-counts of one confusion row per true label, ``(K, K)``."""
    off = OFF_DIAGONAL_PSEUDO_MASS / max(n_labels - 1, 1)
    alpha = np.full((n_labels, n_labels), off)
    np.fill_diagonal(alpha, DIAGONAL_PSEUDO_COUNT)
    return alpha


def _answer_matrix(enc: _Encoded, n_labels: int) -> sp.csr_matrix:
    """``(n_items, n_reviewers * K)`` one-hot matrix: column ``r * K + answer``."""
    columns = enc.reviewer * n_labels + enc.answer
    shape = (len(enc.items), len(enc.reviewers) * n_labels)
    data = np.ones(len(columns))
    return sp.csr_matrix((data, (enc.item, columns)), shape=shape)


def _soft_confusion(
    answer_matrix: sp.csr_matrix, posterior: np.ndarray, n_reviewers: int
) -> np.ndarray:
    """Expected counts ``[r, true, answered]`` under the posterior (no smoothing)."""
    n_labels = posterior.shape[1]
    counts = np.asarray(answer_matrix.T @ posterior)  # rows r * K + answered, columns true
    return counts.reshape(n_reviewers, n_labels, n_labels).transpose(0, 2, 1)


def _pooled_rows(soft: np.ndarray) -> np.ndarray:
    """Each reviewer's pooled row: overall accuracy on the diagonal, errors spread evenly.

    ``soft`` is ``(R, K, K)`` expected counts; the accuracy is smoothed like one row of
    :func:`_pseudo_counts`, so a reviewer with few answers gets the default 2/3.
    """
    n_labels = soft.shape[1]
    correct = np.trace(soft, axis1=1, axis2=2) + DIAGONAL_PSEUDO_COUNT
    accuracy = correct / (soft.sum(axis=(1, 2)) + DIAGONAL_PSEUDO_COUNT + OFF_DIAGONAL_PSEUDO_MASS)
    rows = ((1.0 - accuracy) / max(n_labels - 1, 1))[:, None, None] * np.ones((n_labels, n_labels))
    diagonal = np.arange(n_labels)
    rows[:, diagonal, diagonal] = accuracy[:, None]
    return rows


def _m_step(
    answer_matrix: sp.csr_matrix, posterior: np.ndarray, n_reviewers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed confusion matrices and class prior from the posterior."""
    n_labels = posterior.shape[1]
    soft = _soft_confusion(answer_matrix, posterior, n_reviewers)
    counts = soft + _pseudo_counts(n_labels) + POOLED_PSEUDO_COUNT * _pooled_rows(soft)
    confusion = counts / counts.sum(axis=2, keepdims=True)
    prior = posterior.sum(axis=0) + PRIOR_PSEUDO_COUNT
    return confusion, prior / prior.sum()


def _seed(posterior: np.ndarray, gold_rows: np.ndarray) -> np.ndarray:
    """The posterior the first M-step learns from: the gold items alone when there are
    any (the reviewers are first measured on answers whose truth is known), else the
    vote shares of every item."""
    if len(gold_rows) == 0:
        return posterior
    seed = np.zeros_like(posterior)
    seed[gold_rows] = posterior[gold_rows]
    return seed


def _e_step(answer_matrix: sp.csr_matrix, confusion: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The posterior of every item given the answers, computed in log space."""
    n_reviewers, n_labels, _ = confusion.shape
    log_conf = np.log(confusion).transpose(0, 2, 1).reshape(n_reviewers * n_labels, n_labels)
    log_post = np.log(prior) + np.asarray(answer_matrix @ log_conf)
    log_post -= log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post)
    return post / post.sum(axis=1, keepdims=True)


def _gold_rows(
    gold: Mapping[str, str] | None, items: Sequence[str], labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Row and label indices of the gold items among ``items``."""
    if not gold:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    label_index = {label: k for k, label in enumerate(labels)}
    unknown = sorted({v for v in gold.values() if v not in label_index})
    if unknown:
        raise ValueError(f"gold labels not among the classes or {NOT_VALID!r}: {unknown}")
    pairs = [(n, label_index[gold[i]]) for n, i in enumerate(items) if i in gold]
    rows = np.array([n for n, _ in pairs], dtype=np.int64)
    return rows, np.array([k for _, k in pairs], dtype=np.int64)


def _clamp(posterior: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Set the gold rows of ``posterior`` to one-hot (in place) and return it."""
    posterior[rows] = 0.0
    posterior[rows, cols] = 1.0
    return posterior


def dawid_skene(
    answers: Sequence[Answer],
    classes: Sequence[str],
    *,
    gold: Mapping[str, str] | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> CrowdEstimate:
    """Estimate true labels and reviewers' confusion matrices (Dawid-Skene EM).

    Parameters
    ----------
    answers : sequence of Answer
        Every answer. Usable ones are not skipped and name a class or ``NOT_VALID``; of
        a reviewer's several non-skipped answers to an item, the latest in sequence order
        counts (a later "Not sure" withdraws an earlier answer).
    classes : sequence of str
        The class names.
    gold : mapping of str to str, optional
        Item -> known true label (a class or ``NOT_VALID``); clamped in every E-step. Gold
        items without a usable answer are ignored.
    max_iter : int
        At most this many EM rounds.
    tol : float
        Stop once no posterior entry moves by this much or more.

    Returns
    -------
    CrowdEstimate

    Raises
    ------
    ValueError
        A gold label is neither a class nor ``NOT_VALID``; or the classes repeat a name or
        name one of the special answers.
    """
    labels = [*classes, NOT_VALID]
    if len(set(labels)) != len(labels) or NOT_SURE in labels:
        raise ValueError(f"classes must be distinct and not {NOT_VALID!r} or {NOT_SURE!r}")
    enc = _encode(answers, labels)
    gold_rows, gold_cols = _gold_rows(gold, enc.items, labels)
    n_labels, n_reviewers = len(labels), len(enc.reviewers)
    matrix = _answer_matrix(enc, n_labels)
    votes = np.zeros((len(enc.items), n_labels))
    np.add.at(votes, (enc.item, enc.answer), 1.0)
    posterior = _clamp(
        votes / np.maximum(votes.sum(axis=1, keepdims=True), 1.0), gold_rows, gold_cols
    )
    confusion, prior = _m_step(matrix, _seed(posterior, gold_rows), n_reviewers)
    iterations, converged = 0, len(enc.items) == 0
    while not converged and iterations < max_iter:
        new = _clamp(_e_step(matrix, confusion, prior), gold_rows, gold_cols)
        converged = bool(np.max(np.abs(new - posterior)) < tol)
        posterior, iterations = new, iterations + 1
        confusion, prior = _m_step(matrix, posterior, n_reviewers)
    return CrowdEstimate(
        labels=labels,
        items=enc.items,
        posterior=posterior,
        reviewers=enc.reviewers,
        confusion=confusion,
        prior=prior,
        iterations=iterations,
        converged=converged,
    )


def resolve_posterior(
    votes: Sequence[Vote],
    posterior: Mapping[str, float] | None,
    *,
    classes: Sequence[str],
    min_posterior: float = 0.5,
) -> Resolution:
    """Resolve one task from its Dawid-Skene posterior.

    Parameters
    ----------
    votes : sequence of Vote
        Every annotation of the task, skipped ones included (as for
        :func:`relabel.review.majority.resolve`); they give the tally and the reason.
    posterior : mapping of str to float or None
        The task's posterior (:meth:`CrowdEstimate.posterior_of`); None when it had no
        usable answer.
    classes : sequence of str
        The valid class names.
    min_posterior : float
        The top label needs a posterior strictly above this.

    Returns
    -------
    Resolution
        ``agreement`` is the top posterior. A task with votes but no posterior (answered
        after the estimate) stays ``unresolved`` ("no posterior").
    """
    valid = set(classes) | {NOT_SURE, NOT_VALID}
    tally = Counter(v.choice for v in votes if not v.cancelled and v.choice in valid)
    total = sum(tally.values())
    votes_dict = dict(sorted(tally.items()))
    if total == 0:
        return Resolution("unresolved", None, votes_dict, 0.0, "no votes")
    if posterior is None:
        reason = "not sure" if tally[NOT_SURE] == total else "no posterior"
        return Resolution("unresolved", None, votes_dict, 0.0, reason)
    labels = [*classes, NOT_VALID]
    top = max(labels, key=lambda label: float(posterior.get(label, 0.0)))
    p = float(posterior.get(top, 0.0))
    shown = "not valid" if top == NOT_VALID else top
    if p <= min_posterior:
        reason = f"posterior {p:.2f} for {shown}, need more than {min_posterior:.0%}"
        return Resolution("unresolved", None, votes_dict, round(p, 4), reason)
    count = f"({tally[top]}/{total} votes)"
    if top == NOT_VALID:
        reason = f"Dawid-Skene posterior {p:.2f} for not valid {count}"
        return Resolution("excluded", None, votes_dict, round(p, 4), reason)
    return Resolution(
        "label", top, votes_dict, round(p, 4), f"Dawid-Skene posterior {p:.2f} {count}"
    )


@dataclass(frozen=True)
class AnnotatorStats:
    """Quality figures of one reviewer.

    Attributes
    ----------
    reviewer : str
        The reviewer.
    tasks : int
        Items answered with a usable answer (a class or ``NOT_VALID``).
    skips : int
        Skipped (cancelled) answers.
    not_sure : int
        Items whose latest non-skipped answer is "Not sure".
    gold_tasks : int
        Usable answers to gold items.
    gold_correct : int
        Of those, the answers equal to the gold label.
    gold_accuracy : float or None
        ``gold_correct / gold_tasks``; None without gold answers.
    estimated_accuracy : float
        Expected share of the reviewer's usable answers equal to the true label under the
        Dawid-Skene posterior (the soft count of correct answers over the answers); from
        the confusion matrix and the prior when no answer is in the estimate.
    interval : tuple of float
        95 % interval of ``estimated_accuracy``: ``Beta(correct + 1, wrong + 1)`` on the
        soft counts.
    agreement : float or None
        Share of the reviewer's usable answers equal to the plurality answer of the other
        reviewers on the same item (items where the others tie or did not answer are left
        out); None when no item qualifies.
    confusions : list of (str, str, float)
        Up to three ``(true, answered, expected count)`` off-diagonal pairs with an
        expected count of at least 0.5, largest first.
    """

    reviewer: str
    tasks: int
    skips: int
    not_sure: int
    gold_tasks: int
    gold_correct: int
    gold_accuracy: float | None
    estimated_accuracy: float
    interval: tuple[float, float]
    agreement: float | None
    confusions: list[tuple[str, str, float]]


def _agreements(enc: _Encoded) -> dict[int, tuple[int, int]]:
    """Per reviewer index: (answers equal to the others' plurality, answers compared)."""
    by_item: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for i, r, a in zip(enc.item.tolist(), enc.reviewer.tolist(), enc.answer.tolist(), strict=True):
        by_item[i].append((r, a))
    result: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for answered in by_item.values():
        for r, a in answered:
            ranked = Counter(b for s, b in answered if s != r).most_common(2)
            if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
                continue
            result[r][0] += int(ranked[0][0] == a)
            result[r][1] += 1
    return {r: (same, n) for r, (same, n) in result.items()}


def _top_confusions(
    counts: np.ndarray, labels: Sequence[str], limit: int = 3
) -> list[tuple[str, str, float]]:
    """The largest off-diagonal expected counts (at least 0.5) of one ``[true, answered]``."""
    off = counts.copy()
    np.fill_diagonal(off, 0.0)
    order = np.argsort(-off, axis=None, kind="stable")[:limit]
    pairs = [np.unravel_index(k, off.shape) for k in order]
    return [(labels[t], labels[a], float(off[t, a])) for t, a in pairs if off[t, a] >= 0.5]


def _interval(correct: float, n: float) -> tuple[float, float]:
    """95 % interval of a Beta(correct + 1, n - correct + 1) posterior."""
    from scipy.stats import beta  # imported here: every pull imports this module, few use it

    low, high = beta.ppf([0.025, 0.975], correct + 1.0, n - correct + 1.0)
    return float(low), float(high)


def annotator_stats(
    answers: Sequence[Answer], estimate: CrowdEstimate, *, gold: Mapping[str, str] | None = None
) -> list[AnnotatorStats]:
    """Per-reviewer quality figures from the answers and a Dawid-Skene estimate.

    Parameters
    ----------
    answers : sequence of Answer
        The answers (normally those given to :func:`dawid_skene`).
    estimate : CrowdEstimate
        The estimate; answers to items outside ``estimate.items`` count in ``tasks`` and
        ``agreement`` but not in the estimated figures.
    gold : mapping of str to str, optional
        Item -> known true label.

    Returns
    -------
    list of AnnotatorStats
        One per reviewer in the answers, sorted by reviewer.
    """
    labels, gold = estimate.labels, gold or {}
    everything = _encode(answers, labels)
    enc = _encode(answers, labels, items=estimate.items)
    matrix = _answer_matrix(enc, len(labels))
    soft = _soft_confusion(matrix, estimate.posterior, len(enc.reviewers))
    agreement = _agreements(everything)
    latest = _latest(answers)
    skips = Counter(a.reviewer for a in answers if a.cancelled)
    not_sure = Counter(r for (_, r), c in latest.items() if c == NOT_SURE)
    known = {r: n for n, r in enumerate(estimate.reviewers)}
    default = _pseudo_counts(len(labels))
    label_index = {label: k for k, label in enumerate(labels)}
    gold_of_item = np.array([label_index.get(gold.get(i), -1) for i in everything.items])
    gold_answer = gold_of_item[everything.item] if len(everything.item) else everything.item
    stats = []
    for n, reviewer in enumerate(enc.reviewers):
        mine = everything.reviewer == n
        on_gold = (everything.answer == gold_answer)[mine & (gold_answer >= 0)].tolist()
        n_soft = float(soft[n].sum())
        correct = float(np.trace(soft[n]))
        if n_soft > 0:
            accuracy = correct / n_soft
        else:
            conf = estimate.confusion[known[reviewer]] if reviewer in known else default
            conf = conf / conf.sum(axis=1, keepdims=True)
            accuracy = float(np.dot(estimate.prior, np.diag(conf)))
        same, compared = agreement.get(n, (0, 0))
        stats.append(
            AnnotatorStats(
                reviewer=reviewer,
                tasks=int(mine.sum()),
                skips=skips[reviewer],
                not_sure=not_sure[reviewer],
                gold_tasks=len(on_gold),
                gold_correct=sum(on_gold),
                gold_accuracy=sum(on_gold) / len(on_gold) if on_gold else None,
                estimated_accuracy=accuracy,
                interval=_interval(correct, n_soft),
                agreement=same / compared if compared else None,
                confusions=_top_confusions(soft[n], labels),
            )
        )
    return stats
