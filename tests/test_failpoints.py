"""Failpoints parse their names and counts (the fault tests depend on them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(spec: str, hits: int, once: Path | None = None) -> int:
    code = (
        "from relabel.infra import failpoints\n"
        f"for _ in range({hits}):\n"
        "    failpoints.hit('push:after_import')\n"
    )
    env = {"RELABEL_FAILPOINT": spec, "PATH": ""}
    if once is not None:
        env["RELABEL_FAILPOINT_ONCE"] = str(once)
    return subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode


def test_failpoint_kills_on_the_nth_hit() -> None:
    assert run("push:after_import", 1) == -9
    assert run("push:after_import:2", 1) == 0
    assert run("push:after_import:2", 2) == -9
    assert run("apply:before_commit", 3) == 0


def test_failpoint_once_kills_only_the_first_process(tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    assert run("push:after_import", 1, once=marker) == -9
    assert marker.is_file()
    assert run("push:after_import", 1, once=marker) == 0
