"""The Python API for notebooks: ``import relabel``.

Two ways in:

* :func:`find_label_issues` scores labels against any model's out-of-fold probabilities
  (the pure numpy core, no project, no files) and returns one row per sample;
* :class:`Project` is a relabel project opened from Python: the same steps as the CLI
  (``train``, ``rank``, ``push``, ``pull``) with results as pandas DataFrames. Each step
  that writes holds the project lock, like its command.

Example::

    import relabel

    issues = relabel.find_label_issues(labels, probs)
    issues.sort_values("rank").head(20)

    with relabel.Project.open("projects/digits") as project:
        project.train()
        ranking = project.rank().table     # most suspicious first
        project.push(budget=50)            # to Label Studio ($LABEL_STUDIO_URL)
        project.pull()
        project.history()                  # every label change, with provenance
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from relabel import ranking as scoring
from relabel.infra.lock import project_lock
from relabel.project import Progress, TrainResult
from relabel.project import Project as _Project

if TYPE_CHECKING:
    from relabel.loop.pull import PullSummary
    from relabel.loop.push import PushSummary
    from relabel.studio.client import StudioClient


def find_label_issues(
    labels: npt.ArrayLike,
    probs: npt.ArrayLike,
    *,
    classes: Sequence[str] | None = None,
    method: str = scoring.DEFAULT_METHOD,
    uncertain_threshold: float = 0.5,
) -> pd.DataFrame:
    """Score every sample's label against out-of-fold probabilities.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        The given label of each sample, as a class index.
    probs : array-like of float, shape (n, k)
        Out-of-fold class probabilities (each row sums to 1).
    classes : sequence of str, optional
        Class names, to show names instead of indices.
    method : str
        The suspicion score (see :func:`relabel.ranking.score_samples`).
    uncertain_threshold : float
        ``max_confidence`` below which a sample that is not a label issue is uncertain.

    Returns
    -------
    pandas.DataFrame
        One row per sample, in input order: ``given_label``, ``predicted_label``,
        ``p_given``, ``p_predicted``, ``suspicion``, ``rank`` (1 = most suspicious),
        ``lane`` (``label_issue``, ``uncertain`` or ``ok``) and ``is_label_issue``.

    Raises
    ------
    relabel.errors.ScoringInputError
        Labels and probabilities do not fit together (the message says how).
    """
    s = scoring.score_samples(labels, probs, method=method, uncertain_threshold=uncertain_threshold)
    names = np.asarray(classes, dtype=object) if classes is not None else None
    return pd.DataFrame(
        {
            "given_label": names[s.given] if names is not None else s.given,
            "predicted_label": names[s.predicted] if names is not None else s.predicted,
            "p_given": s.p_given,
            "p_predicted": s.p_predicted,
            "suspicion": s.suspicion,
            "rank": s.rank,
            "lane": s.lane,
            "is_label_issue": s.lane == "label_issue",
        }
    )


class Project(_Project):
    """A relabel project opened from Python (:meth:`open`, :meth:`init` as in the CLI).

    Adds to :class:`relabel.project.Project` the Label Studio steps and DataFrame views;
    ``train``, ``add_run``, ``push``, ``pull`` hold the project lock while they run, as
    the commands do (:class:`relabel.errors.ProjectLockedError` when another process holds it).
    """

    def train(self, **kwargs: Any) -> TrainResult:
        """Cross-validate on the current labels (see :meth:`relabel.project.Project.train`)."""
        with project_lock(self.root, "relabel train (Python API)"):
            return super().train(**kwargs)

    def add_run(
        self,
        probs: np.ndarray | pd.DataFrame | str | os.PathLike[str],
        embeddings: np.ndarray | str | os.PathLike[str] | None = None,
        ids: Sequence[str] | str | os.PathLike[str] | None = None,
        *,
        model_name: str | None = None,
        logits: bool = False,
    ) -> str:
        """Record a run from any model's out-of-fold outputs, under the project lock
        (see :meth:`relabel.project.Project.add_run` and ``relabel import-run``); return
        its id."""
        with project_lock(self.root, "relabel import-run (Python API)"):
            return super().add_run(probs, embeddings, ids, model_name=model_name, logits=logits)

    def push(
        self,
        client: StudioClient | None = None,
        *,
        budget: float | None = None,
        lane: str | None = None,
        progress: Progress | None = None,
    ) -> PushSummary:
        """Send the top of the ranking to Label Studio (see ``relabel push``).

        Parameters
        ----------
        client : StudioClient, optional
            Default: one built from the environment variables ``studio.url_env`` and
            ``studio.token_env`` name (closed again afterwards).
        budget : float, optional
            A count, or a fraction of the samples in (0, 1); default ``review.budget``.
        lane : str, optional
            ``label_issue``, ``uncertain`` or ``all``; default ``review.lane``.
        progress : callable, optional
            Receives progress messages.
        """
        from relabel.loop.push import push

        with self._studio(client) as studio, project_lock(self.root, "relabel push (API)"):
            return push(self, studio, budget=budget, lane=lane, progress=progress)

    def pull(
        self, client: StudioClient | None = None, *, progress: Progress | None = None
    ) -> PullSummary:
        """Apply reviewers' answers as label versions, exactly once (see ``relabel pull``)."""
        from relabel.loop.pull import pull

        with self._studio(client) as studio, project_lock(self.root, "relabel pull (API)"):
            return pull(self, studio, progress=progress)

    def history(self, sample_id: str | None = None) -> pd.DataFrame:  # type: ignore[override]
        """Label versions with provenance, oldest first, as a DataFrame.

        Parameters
        ----------
        sample_id : str, optional
            One sample's versions (its original label first); default: every change
            made after init (reviews, manual and imported labels) of every sample.
        """
        if sample_id is not None:
            return pd.DataFrame(super().history(sample_id))
        return self.store.label_changes()

    @contextmanager
    def _studio(self, client: StudioClient | None) -> Iterator[StudioClient]:
        if client is not None:
            yield client
            return
        from relabel.studio.client import StudioClient

        studio = self.config.studio
        made = StudioClient.from_env(studio.url_env, studio.token_env, retries=studio.retries)
        try:
            yield made
        finally:
            made.close()
