"""What every section of the report draws on: the inputs, their evaluation, the confused
pairs, the review order and the figures and thumbnails made so far."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relabel.report.assets import Assets
from relabel.report.data import ReportInputs
from relabel.report.embedmap import MAP_POINTS
from relabel.report.evaluation import ConfusedPair, Evaluation, confused_pairs, evaluate


@dataclass(frozen=True)
class Layout:
    """How much the report shows (see :func:`relabel.report.write_report`).

    Attributes
    ----------
    top_n : int
        Suspicious samples in the top gallery.
    n_pairs : int
        Confused class pairs listed and shown.
    per_pair : int
        Thumbnails per direction of each pair in the galleries.
    pair_thumbs : int
        Thumbnails per pair in the label quality table.
    issues_per_type : int
        Samples (or duplicate sets) shown per issue type, the highest scores first.
    map_points : int
        At most this many points on the embedding map (a seeded sample beyond).
    """

    top_n: int
    n_pairs: int
    per_pair: int
    pair_thumbs: int
    issues_per_type: int = 24
    map_points: int = MAP_POINTS


class ReportContext:
    """The inputs of one report and what is computed from them once for every section.

    Parameters
    ----------
    inputs : ReportInputs
        Everything the report shows.
    layout : Layout
        How much it shows.

    Attributes
    ----------
    x : ReportInputs
        The inputs.
    assets : Assets
        Figures and thumbnails, embedded as PNG ``data:`` URIs.
    ev : Evaluation
        The out-of-fold evaluation against the given labels.
    pairs : list of ConfusedPair
        The most confused class pairs, at most ``layout.n_pairs``.
    order : numpy.ndarray
        Review order: rank ascending, then suspicion descending, then index.
    """

    def __init__(self, inputs: ReportInputs, layout: Layout) -> None:
        self.x = inputs
        self.layout = layout
        self.assets = Assets(inputs.paths)
        self.ev: Evaluation = evaluate(inputs.given, inputs.probs, inputs.classes)
        self.pairs: list[ConfusedPair] = confused_pairs(inputs.errors_per_pair, top=layout.n_pairs)
        self.order = np.lexsort((-inputs.suspicion, inputs.rank))

    def cls(self, k: int) -> str:
        """The name of a class.

        Parameters
        ----------
        k : int
            A class index.

        Returns
        -------
        str
            ``classes[k]``.
        """
        return self.x.classes[int(k)]

    def pair_examples(self, a: int, b: int, limit: int) -> np.ndarray:
        """Samples given one class and predicted another, in review order.

        Parameters
        ----------
        a, b : int
            The given and the predicted class.
        limit : int
            At most this many samples.

        Returns
        -------
        numpy.ndarray
            Sample indices, most suspicious first.
        """
        hit = (self.x.given[self.order] == a) & (self.ev.predicted[self.order] == b)
        return self.order[hit][:limit]
