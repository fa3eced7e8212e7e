"""Run a command in a child process and measure it as its own: wall time, CPU, peak memory.

A child forked from a large Python process inherits the parent's memory high-water mark
(Linux folds it into ``ru_maxrss`` across ``exec``), so every child would seem at least as
large as the benchmark itself. :func:`run_measured` starts a small launcher (a fresh
Python with nothing imported) that forks the command from its own small address space and
reports the command's ``os.wait4`` resource usage: the command's alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

_LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({
        "seconds": time.perf_counter() - started,
        "user_cpu_s": usage.ru_utime,
        "kernel_cpu_s": usage.ru_stime,
        "maxrss_kib": usage.ru_maxrss,
        "minor_faults": usage.ru_minflt,
        "rc": os.waitstatus_to_exitcode(status),
    }, out)
"""


def run_measured(
    argv: Sequence[str],
    *,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | int | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``argv`` (``argv[0]`` an executable path) and measure it.

    Returns
    -------
    dict
        ``seconds`` (wall), ``user_cpu_s``, ``kernel_cpu_s``, ``peak_gib`` (the command's
        own peak resident memory), ``minor_faults`` and ``rc`` (its exit code).
    """
    with tempfile.TemporaryDirectory(prefix="relabel-child-") as tmp:
        report = Path(tmp) / "usage.json"
        subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(report), *argv],
            stdout=stdout,
            stderr=stderr,
            env=None if env is None else dict(env),
            check=True,
        )
        usage = json.loads(report.read_text())
    usage["peak_gib"] = usage.pop("maxrss_kib") / 2**20
    return usage
