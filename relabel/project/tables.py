"""Writing a table (a ranking, an exported manifest) as CSV or Parquet, atomically."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from relabel.errors import ConfigError
from relabel.infra.atomic import atomic_path

SUFFIXES = (".csv", ".parquet", ".pq")


def write_table(table: pd.DataFrame, out: Path) -> Path:
    """Write a table as CSV or Parquet, chosen by the file extension.

    The file is written under a hidden partial name beside ``out`` and renamed when
    complete (:func:`relabel.infra.atomic.atomic_path`), so a failed write leaves no
    partial file (and no new folder).

    Parameters
    ----------
    table : pandas.DataFrame
        The rows to write (the index is not written).
    out : Path
        ``.csv``, ``.parquet`` or ``.pq``; missing folders are created.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ConfigError
        The extension is not ``.csv``/``.parquet``, or ``out`` cannot be written.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"{out}: output must end in .csv or .parquet")
    created = [p for p in reversed(out.parent.parents) if not p.exists()]
    created += [out.parent] if not out.parent.exists() else []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as partial:
            if suffix == ".csv":
                table.to_csv(partial, index=False)
            else:
                table.to_parquet(partial, index=False)
    except OSError as exc:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{out}: cannot write the output file ({reason})") from exc
    return out
