"""What the commands print, and where.

Results go to stdout (:func:`echo_json`, :func:`print_summary`); logs and progress go to
stderr through :data:`PROGRESS`, which :func:`relabel.cli.main.main` sets up from the
logging flags.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import click

from relabel.cli.interrupt import INTERRUPTS
from relabel.infra.progress import TerminalProgress

log = logging.getLogger("relabel")


def _log_message(message: str) -> None:
    INTERRUPTS.check()  # a Ctrl-C lost on the way (see relabel.cli.interrupt) stops here
    log.info("%s", message)


#: What every command passes as ``progress``: log lines, and bars on a terminal (see
#: :mod:`relabel.infra.progress`); its bars are switched on by :func:`relabel.cli.main.main`.
PROGRESS = TerminalProgress(_log_message, bars=False)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (values JSON does not know as strings)."""
    click.echo(json.dumps(data, indent=2, default=str))


def print_summary(title: str, summary: Any) -> None:
    """Print a push, pull or cycle summary: ``title: key value, ...`` then its tables.

    Parameters
    ----------
    title : str
        What the summary is of (``"push"``, ``"cycle 2"``).
    summary : dict or object
        Its numbers (floats with two decimals); a dict value is printed on its own line.
    """
    data = summary if isinstance(summary, dict) else dict(vars(summary))
    click.echo(
        title
        + ": "
        + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in data.items()
            if not isinstance(v, dict)
        )
    )
    for k, v in data.items():
        if isinstance(v, dict) and v:
            click.echo(f"  {k}: " + ", ".join(f"{a} {b}" for a, b in v.items()))


def missing(value: Any) -> bool:
    """None or NaN (a missing number in a pandas table)."""
    return value is None or value != value


def fmt(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``, or ``-`` for None."""
    return "-" if value is None else format(value, spec)
