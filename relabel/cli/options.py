"""The arguments and option types several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

#: The project folder every project command takes first.
project_arg = click.argument("project", type=click.Path(file_okay=False, path_type=Path))

#: ``--data-dir`` of the local Label Studio (``relabel studio start`` and ``stop``).
studio_data_dir = click.option(
    "--data-dir",
    default=Path(".relabel-studio"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)


class Budget(click.ParamType):
    """A review budget: a count of samples (``200``) or a fraction of them (``0.05``)."""

    name = "budget"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float):
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a count (200) or a fraction (0.05)", param, ctx)
        if number < 0 or (number >= 1 and not number.is_integer()) or number != number:
            self.fail(f"{value!r}: give a count >= 0 or a fraction in (0, 1)", param, ctx)
        return int(number) if number >= 1 or number == 0 else number


BUDGET = Budget()
