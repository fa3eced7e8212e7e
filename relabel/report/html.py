"""Write the report: ONE self-contained file, ``report.html``.

The page opens offline and can be mailed as it is: inline CSS, no scripts, no web
fonts, every figure and thumbnail embedded as a PNG ``data:`` URI. Every piece of text
that comes from the inputs is escaped. The output is deterministic apart from what the
inputs hold (``generated_at``).

The page is made of :mod:`relabel.report.page` (the skeleton) and one module per section
in :mod:`relabel.report.sections`.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from relabel.infra.atomic import write_text
from relabel.report.context import Layout, ReportContext
from relabel.report.data import ReportInputs
from relabel.report.embedmap import MAP_POINTS
from relabel.report.page import render_page

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"
#: The folder of PNGs beside ``report.html`` of relabel <= 0.1 (removed when found).
OLD_FILES_DIR = "report_files"


def write_report(
    inputs: ReportInputs,
    out_dir: str | Path,
    *,
    top_n: int = 48,
    n_pairs: int = 6,
    examples_per_pair: int = 12,
    pair_thumbs: int = 4,
    issues_per_type: int = 24,
    map_points: int = MAP_POINTS,
) -> Path:
    """Write ``report.html``, one self-contained file, into ``out_dir``.

    The file is written atomically (:mod:`relabel.infra.atomic`): a failed write leaves
    the previous report as it was and no partial file. A ``report_files/`` folder that an
    older relabel wrote beside it is removed (the page no longer links to it).

    Parameters
    ----------
    inputs : ReportInputs
        Everything the report shows.
    out_dir : str or Path
        Folder to write into (created if missing).
    top_n : int
        Suspicious samples in the top gallery.
    n_pairs : int
        Confused class pairs listed and shown.
    examples_per_pair : int
        Thumbnails per direction of each pair in the galleries.
    pair_thumbs : int
        Thumbnails per pair in the label quality table.
    issues_per_type : int
        Samples (or duplicate sets) shown per issue type, the highest scores first.
    map_points : int
        At most this many points on the embedding map (a seeded sample beyond).

    Returns
    -------
    Path
        The ``report.html`` path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    layout = Layout(
        top_n=top_n,
        n_pairs=n_pairs,
        per_pair=examples_per_pair,
        pair_thumbs=pair_thumbs,
        issues_per_type=issues_per_type,
        map_points=map_points,
    )
    page = render_page(ReportContext(inputs, layout))
    dest = out / REPORT_NAME
    write_text(dest, page, encoding="utf-8")
    old_files = out / OLD_FILES_DIR
    if old_files.is_dir():
        shutil.rmtree(old_files)
    logger.info("report written to %s", dest)
    return dest
