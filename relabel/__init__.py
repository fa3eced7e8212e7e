"""relabel: find wrong labels in image-classification datasets and get them fixed by people.

The package is library first: :mod:`relabel.ranking` is pure numpy over
``(labels, probabilities)``; :mod:`relabel.data`, :mod:`relabel.store` and
:mod:`relabel.studio` are the edges (files, SQLite, Label Studio); :mod:`relabel.loop.cycle`
orchestrates them; :mod:`relabel.cli` is a thin click front end.

For notebooks, the package exports a small API (:mod:`relabel.api`):

* :func:`find_label_issues` scores labels against out-of-fold probabilities (arrays in,
  a pandas DataFrame out; no project, no files);
* :func:`find_issues` finds duplicates, holdout leaks, outliers and unhealthy images from
  embeddings, probabilities, labels and image statistics (arrays in, a DataFrame out), and
  :func:`issue_summary` counts them;
* :class:`Project` opens (``Project.open(path)``) or creates (``Project.init``) a project,
  with ``train()``, ``issues()``, ``rank()`` (``.table`` is the ranking as a DataFrame), ``push()``,
  ``pull()`` and ``history()``.

The heavy dependencies (TensorFlow, the Label Studio SDK) are imported only when a step
needs them.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Project", "__version__", "find_issues", "find_label_issues", "issue_summary"]


def __getattr__(name: str) -> Any:
    """Import the API on first use, so that ``relabel --help`` stays fast."""
    if name in ("Project", "find_label_issues"):
        from relabel import api

        return getattr(api, name)
    if name in ("find_issues", "issue_summary"):
        from relabel import findings

        return getattr(findings, name)
    raise AttributeError(f"module 'relabel' has no attribute {name!r}")
