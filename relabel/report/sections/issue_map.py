"""The embedding map: the run's embeddings in 2-D, coloured by given label, issues marked."""

from __future__ import annotations

import numpy as np

from relabel.report import figures
from relabel.report.context import ReportContext
from relabel.report.embedmap import MAP_SEED, PCA_DIMS, embedding_map
from relabel.report.issues import map_marks
from relabel.report.markup import Html, join, note
from relabel.report.sections.issues import NO_EMBEDDINGS


def render(ctx: ReportContext) -> Html:
    """A static image of the embedding map, with a caption stating its sample.

    Parameters
    ----------
    ctx : ReportContext
        The report being written.

    Returns
    -------
    Html
        The section's content.
    """
    x = ctx.x
    if x.embeddings is None:
        return note(NO_EMBEDDINGS)
    marks = map_marks(x.issues, x.n)
    flagged = np.zeros(x.n, dtype=bool)
    for _, mask in marks:
        flagged |= mask
    m = embedding_map(x.embeddings, flagged, ctx.layout.map_points, MAP_SEED)
    png = figures.embedding_map(
        m.xy,
        x.given[m.rows],
        x.classes,
        [(text, mask[m.rows]) for text, mask in marks],
        ctx.assets.buffer(),
        title=f"Out-of-fold embeddings ({m.method}), {len(m.rows):,} of {x.n:,} samples",
    )
    if len(m.rows) < x.n:
        sample = (
            f"{len(m.rows):,} of the {x.n:,} samples: the flagged ones first (up to half "
            f"the points), the others a random sample (seed {MAP_SEED})"
        )
    else:
        sample = f"all {x.n:,} samples"
    how = (
        f"scikit-learn's t-SNE (PCA to at most {PCA_DIMS} dimensions, PCA initialisation, "
        f"seed {MAP_SEED})"
        if m.method == "t-SNE"
        else "PCA (too few points for t-SNE)"
    )
    caption = (
        f"The run's embeddings of {sample} (the final model's when the run has them, one "
        "space for every sample; else each fold model's out-of-fold ones), laid out in 2-D by "
        f"{how}. Dots are "
        "coloured by given label; hollow markers show the issue types (legend). Close "
        "points look alike to the model; distances between far-apart groups mean little."
    )
    if not marks:
        caption += " No issue types were computed, so none are marked."
    return join([note(caption), ctx.assets.img(png, "embedding map")])
