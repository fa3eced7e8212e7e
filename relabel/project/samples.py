"""The samples a project trains and scores on: the active ones, their labels as indices."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relabel.errors import DatasetError
from relabel.store import Store


def active_samples(store: Store) -> pd.DataFrame:
    """Current labels of the samples used for training (not excluded, not dropped), in
    order.

    Parameters
    ----------
    store : Store
        The project's label store.

    Returns
    -------
    pandas.DataFrame
        The rows of :meth:`relabel.store.Store.labels` whose status is ``active`` and that
        no issue review dropped (:meth:`relabel.store.Store.dropped_sample_ids`).
    """
    labels = store.labels()
    keep = (labels["status"] == "active") & ~labels["sample_id"].isin(store.dropped_sample_ids())
    return labels[keep].reset_index(drop=True)


def label_indices(classes: list[str], labels: pd.Series) -> np.ndarray:
    """Class names to indices in model-output order.

    Parameters
    ----------
    classes : list of str
        The project's classes, in model-output order.
    labels : pandas.Series
        Class names.

    Returns
    -------
    numpy.ndarray
        ``int64`` indices into ``classes``.

    Raises
    ------
    DatasetError
        A label that is not one of ``classes`` (instead of a raw ``ValueError``).
    """
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise DatasetError(f"label(s) {unknown} are not classes of the project {classes}")
    return labels.map(index).to_numpy(dtype=np.int64)
