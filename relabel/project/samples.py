"""The samples a project trains and scores on: the active ones, their labels as indices."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from relabel.errors import DatasetError
from relabel.store import Store


def is_member(values: pd.Series, members: Collection[str]) -> np.ndarray:
    """Whether each of ``values`` is one of ``members``, by hashing.

    pandas' ``isin`` on its Arrow-backed strings walks the values one by one in Python (tens
    of seconds at a million rows); here they are looked up in a hash table.

    Parameters
    ----------
    values : pandas.Series
        Strings (sample ids).
    members : collection of str
        The set to look them up in.

    Returns
    -------
    numpy.ndarray
        Booleans, one per value.
    """
    if not len(members):
        return np.zeros(len(values), dtype=bool)
    index = pd.Index(values.to_numpy(dtype=object), dtype=object)  # object: a hash table
    return np.asarray(index.isin(np.asarray(list(members), dtype=object)), dtype=bool)


def active_samples(store: Store, labels: pd.DataFrame | None = None) -> pd.DataFrame:
    """Current labels of the samples used for training (not excluded, not dropped), in
    order.

    Parameters
    ----------
    store : Store
        The project's label store.
    labels : pandas.DataFrame, optional
        :meth:`relabel.store.Store.labels` when the caller has read them (with at least
        ``sample_id`` and ``status``); default: read here.

    Returns
    -------
    pandas.DataFrame
        The rows of :meth:`relabel.store.Store.labels` whose status is ``active`` and that
        no issue review dropped (:meth:`relabel.store.Store.dropped_sample_ids`).
    """
    labels = store.labels() if labels is None else labels
    keep = np.array(labels["status"] == "active", dtype=bool)  # a writable copy
    dropped = store.dropped_sample_ids()
    if dropped:  # most projects drop nothing: no lookup at all
        keep &= ~is_member(labels["sample_id"], dropped)
    if keep.all():
        return labels.reset_index(drop=True)
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
    index = pd.Index(classes, dtype=object)  # hashed lookups, no Python call per label
    codes = index.get_indexer(labels.to_numpy(dtype=object)).astype(np.int64)
    if (codes < 0).any():  # not a class (or missing): name them, as a set difference would
        unknown = sorted(set(labels) - set(classes))
        raise DatasetError(f"label(s) {unknown} are not classes of the project {classes}")
    return codes
