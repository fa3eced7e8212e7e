"""Failpoints parse their names and counts (the fault tests depend on them)."""

from __future__ import annotations

import subprocess
import sys


def run(spec: str, hits: int) -> int:
    code = (
        "from relabel import failpoints\n"
        f"for _ in range({hits}):\n"
        "    failpoints.hit('push:after_import')\n"
    )
    env = {"RELABEL_FAILPOINT": spec, "PATH": ""}
    return subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode


def test_failpoint_kills_on_the_nth_hit() -> None:
    assert run("push:after_import", 1) == -9
    assert run("push:after_import:2", 1) == 0
    assert run("push:after_import:2", 2) == -9
    assert run("apply:before_commit", 3) == 0
