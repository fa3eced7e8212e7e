"""The records of a dataset: one :class:`Record` per sample as read, and the
:class:`Validated` result of checking them (:mod:`relabel.data.validate`)."""

from __future__ import annotations

from dataclasses import dataclass

from relabel.errors import Problem

__all__ = ["UNLABELLED", "Record", "Validated"]

#: The label of an unlabelled sample (a manifest row with an empty label): a sample of the
#: pool, whose label is still to be given.
UNLABELLED = ""


@dataclass(frozen=True)
class Record:
    """One sample as read from a folder or manifest.

    Attributes
    ----------
    sample_id : str
        Stable id: the manifest's ``id``, else the path relative to the folder or manifest.
    path : str
        Absolute path of the image file, or its URL (``s3://``, ``https://`` ...).
    label : str
        The given label (a class name), or :data:`UNLABELLED` for a sample of the pool.
    where : str
        Where the record came from, for messages (``manifest.csv line 12`` or the file path).
    row : int
        Position in the input (0-based).
    """

    sample_id: str
    path: str
    label: str
    where: str
    row: int = 0

    @property
    def labelled(self) -> bool:
        """Whether the record has a label (False: a sample of the unlabelled pool)."""
        return self.label != UNLABELLED


@dataclass(frozen=True)
class Validated:
    """The result of :func:`relabel.data.validate.validate_records`.

    Attributes
    ----------
    records : list of Record
        The valid records, in input order.
    classes : list of str
        The class names, in model-output order.
    problems : list of Problem
        Row-level problems (the rows are not in ``records``).
    """

    records: list[Record]
    classes: list[str]
    problems: list[Problem]
