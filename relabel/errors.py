"""Typed errors raised by the library and the exit codes the CLI maps them to.

Library code raises these; only :mod:`relabel.cli` turns them into messages and exit
codes. Every error message is written for a person: it names the file, row, field or
server it is about and says what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``relabel`` command (documented in ``docs/cli.md``)."""

    OK = 0  #: the command did what was asked (a cycle finished)
    ERROR = 1  #: an unexpected error
    USAGE = 2  #: bad command-line usage (click's own code)
    WAITING = 3  #: ``relabel cycle``: tasks are pushed and wait for reviews
    NOTHING_TO_DO = 4  #: ``relabel cycle``: nothing to review (the reason is printed)
    LOCKED = 5  #: another relabel process holds the project lock
    INVALID_INPUT = 6  #: bad config, manifest, images or arguments: nothing was changed
    STUDIO = 7  #: Label Studio unreachable, token refused, project missing or changed
    STOPPED = 8  #: ``relabel cycle``: the next cycle is expected to gain too little (the reason)


class RelabelError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code: ExitCode = ExitCode.ERROR


class ConfigError(RelabelError):
    """A ``relabel.toml`` or an option is missing, malformed or inconsistent."""

    exit_code = ExitCode.INVALID_INPUT


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a dataset.

    Attributes
    ----------
    where : str
        The file and row (``manifest.csv:12``) or the image path the problem is about.
    message : str
        What is wrong, for a person.
    path : str | None
        The image path of the row, when there is one.
    row : int | None
        The row's position in the input (0-based), to report problems in input order.
    """

    where: str
    message: str
    path: str | None = None
    row: int | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class DatasetError(RelabelError):
    """A dataset failed validation; ``problems`` lists every problem found."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        self.problems = list(problems or [])
        shown = "\n".join(f"  {p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        if more > 0:
            shown += f"\n  ... and {more} more"
        super().__init__(message + ("\n" + shown if shown else ""))


class ProjectError(RelabelError):
    """A project folder is missing, already exists, or its state is inconsistent."""

    exit_code = ExitCode.INVALID_INPUT


class NotWritableError(ProjectError):
    """A command that writes met a project folder or label store it cannot write to (a
    read-only mount, a snapshot, a file without write permission). Nothing was changed;
    the read-only commands still work."""


class StoreError(RelabelError):
    """The SQLite label store refused a write (unknown sample, bad label, ...)."""

    exit_code = ExitCode.INVALID_INPUT


class NotTrainedError(RelabelError):
    """A step needs out-of-fold probabilities, but no training run exists yet."""

    exit_code = ExitCode.INVALID_INPUT


class EmbeddingsMissingError(NotTrainedError):
    """A run has no embeddings file: it was trained before relabel stored embeddings, by
    an engine that gives none, imported without them, or the final model's embeddings were
    asked for (relabel stores the out-of-fold ones). The embedding-based issue types need
    them. The message names the run and the file, and says how to get them
    (``relabel train``)."""


class TrainingError(RelabelError):
    """Training could not run (bad model settings, unreadable image, ...)."""


class WeightsNotFoundError(TrainingError):
    """A backbone's local weights file is missing. relabel downloads weights only when
    ``model.weights = "imagenet"`` asks for it (once, through Keras); a path is never fetched."""

    exit_code = ExitCode.INVALID_INPUT


class ExecutorUnavailableError(TrainingError):
    """The configured executor cannot run here: Ray is not installed, or its workers
    cannot read the images. Nothing was trained or written."""

    exit_code = ExitCode.INVALID_INPUT


class ImagesNotLocalError(TrainingError):
    """Training was asked of a project whose images are not local files (URLs of object
    storage, accepted by ``relabel init --trust-paths``): relabel cannot decode them, so
    such a project is scored on a run imported with ``relabel import-run``. Nothing was
    trained or written."""

    exit_code = ExitCode.INVALID_INPUT


class RunImportError(RelabelError):
    """Out-of-fold outputs given to ``relabel import-run`` (:meth:`Project.add_run`) do not
    fit the project: a shape, a class, an id or a value is wrong. The message names the
    file and its row or column; nothing was written (no run folder, no run in the store).

    Attributes
    ----------
    source : str
        The file (or ``probs``, ``embeddings``, ``ids`` for an array given in Python).
    row : int | None
        The offending row (counted from 0 in an array, by line in a CSV), when there is one.
    column : str | None
        The offending column (a class name, an id column), when there is one.
    """

    exit_code = ExitCode.INVALID_INPUT

    def __init__(
        self, message: str, *, source: str, row: int | None = None, column: str | None = None
    ) -> None:
        self.source = source
        self.row = row
        self.column = column
        super().__init__(message)


class StudioError(RelabelError):
    """Base class of Label Studio errors."""

    exit_code = ExitCode.STUDIO


class StudioUnreachableError(StudioError):
    """The Label Studio server did not answer (after retries)."""


class StudioAuthError(StudioError):
    """The Label Studio server refused the token."""


class StudioProjectMissingError(StudioError):
    """The Label Studio project relabel created was deleted behind its back."""


class StudioConfigMismatchError(StudioError):
    """The Label Studio project's class list no longer matches the relabel project."""


class StudioBindingError(StudioError):
    """The bound Label Studio project cannot be found, or proven to be relabel's, at the
    server's URL (after a move): the message names the old and new URL and how to re-bind
    (``relabel studio bind PROJECT --studio-project ID``)."""


class ProjectLockedError(RelabelError):
    """Another relabel process holds the project's lock."""

    exit_code = ExitCode.LOCKED


class ScoringInputError(RelabelError, ValueError):
    """Labels and probabilities given to :mod:`relabel.ranking` do not fit together."""

    exit_code = ExitCode.INVALID_INPUT


class IssueInputError(ScoringInputError):
    """Arrays given to :mod:`relabel.findings` (embeddings, labels, hashes, holdout flags,
    image statistics) do not fit together or hold NaN; the message names the argument and
    the first offending row."""


class AcquisitionInputError(ScoringInputError):
    """Arguments given to :func:`relabel.ranking.acquisition.select_batch` do not fit: an
    unknown strategy, a budget that is not a positive integer, probabilities or embeddings
    of the wrong shape (or holding NaN), or a strategy that needs embeddings called
    without them. The message names the argument and what to pass instead."""
