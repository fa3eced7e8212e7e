"""The ``relabel`` command: a thin click front end over the library."""

from relabel.cli.main import main

__all__ = ["main"]
