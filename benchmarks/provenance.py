"""Where a benchmark section's figures come from: commit, code digest, host, command.

Every section of ``BENCHMARKS.json`` carries a provenance record (:func:`record`): the
commit it was computed at and whether the tree was dirty, a digest of the code and config
its figures depend on (:data:`DEPENDS`), the exact command, the host (cores, CPU model and
a short calibration figure, so that timings from different days can be scaled), the date
and the wall time. :func:`staleness` compares a record with the code at hand: a section
whose dependencies changed since is stale, and is rendered and checked as such.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Per section, the files and folders (relative to the repository root) whose content the
#: section's figures depend on. A change in any of them makes the section stale.
COMMON = (
    "benchmarks/__main__.py",
    "benchmarks/provenance.py",
    "benchmarks/datasets.py",
    "relabel/demo",  # datasets.py writes the digits with relabel.demo
    "relabel/errors.py",
)
TRAINING = ("relabel/training", "relabel/data", "relabel/config", "relabel/project")
DEPENDS: dict[str, tuple[str, ...]] = {
    "protocol": (
        *TRAINING,
        "relabel/ranking",
        "relabel/scoring.py",
        "benchmarks/detection.py",
        "benchmarks/human_noise.py",
        "benchmarks/protocol.toml",
        "benchmarks/settings.py",
        "benchmarks/signals.py",
        "benchmarks/evaluate.py",
        "benchmarks/stats.py",
        "benchmarks/protocol.py",
    ),
    "review": (
        *TRAINING,
        "relabel/ranking",
        "relabel/review",
        "relabel/loop",
        "relabel/demo",
        "relabel/studio",
        "benchmarks/detection.py",
        "benchmarks/human_noise.py",
        "benchmarks/review.py",
    ),
    "reviewers": (
        *TRAINING,
        "relabel/review",
        "relabel/loop",
        "relabel/studio",
        "relabel/demo",
        "relabel/ranking",
        "benchmarks/human_noise.py",
        "benchmarks/review.py",
        "benchmarks/reviewers.py",
        "benchmarks/floor_probe.py",
    ),
    "speed": ("relabel/ranking", *TRAINING, "benchmarks/speed.py", "benchmarks/bench_scoring.py"),
    "memory": (*TRAINING, "relabel/ranking", "benchmarks/memory.py"),
    "photos": (
        *TRAINING,
        "relabel/ranking",
        "benchmarks/detection.py",
        "benchmarks/human_noise.py",
        "benchmarks/photos.py",
        "benchmarks/user_run.py",
        "benchmarks/photo_sizes.py",
        "benchmarks/child.py",
        "relabel/cli",  # the user run is `relabel init` + `relabel train`
    ),
    "studio": (
        *TRAINING,
        "relabel/studio",
        "relabel/ranking",
        "benchmarks/speed.py",
        "benchmarks/bench_scoring.py",
        "benchmarks/bench_studio.py",
    ),
    "ray": (*TRAINING, "relabel/ranking", "benchmarks/ray_executor.py"),
    # every command runs, in its own process: the whole package counts
    "scale": ("relabel", "benchmarks/scale.py", "benchmarks/child.py"),
    # `relabel init`, `relabel train` and `relabel issues`, each in its own process
    "issues": (
        *TRAINING,
        "relabel/findings",
        "relabel/ranking",
        "relabel/store",
        "relabel/cli",
        "benchmarks/issues.py",
        "benchmarks/planting.py",
        "benchmarks/user_run.py",
        "benchmarks/child.py",
        "benchmarks/detection.py",  # user_run reads the training fingerprint with it
        "benchmarks/human_noise.py",
    ),
    # a scikit-learn learner on fixed features; the strategies of relabel.ranking
    "learning": ("relabel/ranking", "benchmarks/learning_curves.py"),
    # `relabel serve` in its own process, a local Label Studio posting its webhooks
    "serve": (
        "relabel",
        "benchmarks/serve.py",
        "benchmarks/scale.py",
        "benchmarks/child.py",
    ),
}


def _files(paths: Iterable[str], root: Path) -> list[Path]:
    out: list[Path] = []
    for rel in paths:
        path = root / rel
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and _is_source(p))
        elif path.is_file():
            out.append(path)
    return sorted(set(out))


def _is_source(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix in (".py", ".toml", ".json", ".csv")


def digest(section: str, root: Path = ROOT) -> str:
    """A digest of the files ``section`` depends on (their paths and contents)."""
    h = hashlib.sha256()
    for path in _files((*COMMON, *DEPENDS[section]), root):
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def changed_files(section: str, since: str, root: Path = ROOT) -> list[str]:
    """Files ``section`` depends on that differ between commit ``since`` and the tree."""
    paths = [*COMMON, *DEPENDS[section]]
    done = subprocess.run(
        ["git", "diff", "--name-only", since, "--", *paths],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    return done.stdout.split() if done.returncode == 0 else []


def git_state(section: str, root: Path = ROOT) -> tuple[str, bool]:
    """The commit of the tree, and whether a file ``section`` depends on differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=root, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short=10", "HEAD") or "?"
    paths = [*COMMON, *DEPENDS[section]]
    dirty = bool(git("status", "--porcelain", "--", *paths))
    return commit, dirty


def calibration() -> dict[str, float]:
    """Short fixed workloads whose times scale figures measured on another day.

    ``matmul_s``: best of 5 of a 1024 x 1024 float32 matrix product, 20 times (numpy's
    threads); ``python_s``: best of 5 of a pure-Python loop of 2 million additions.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random((1024, 1024), dtype=np.float32)

    def best(work: Any) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        return round(min(times), 4)

    return {
        "matmul_s": best(lambda: [a @ a for _ in range(20)]),
        "python_s": best(lambda: sum(range(2_000_000))),
    }


def host() -> dict[str, Any]:
    """Cores, CPU model, memory, OS and the load average when the section started."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {"cores": os.cpu_count(), "cpu": model, "os": platform.platform(), "load": load}


def record(
    section: str, command: str, started: float, quick: bool, root: Path = ROOT
) -> dict[str, Any]:
    """The provenance of a section computed now (call when it ends)."""
    commit, dirty = git_state(section, root)
    return {
        "commit": commit,
        "dirty": dirty,
        "digest": digest(section, root),
        "depends": list((*COMMON, *DEPENDS[section])),
        "command": command,
        "scale": "quick" if quick else "full",
        "engine": os.environ.get("RELABEL_ENGINE") or "keras",
        "host": host(),
        "calibration": calibration(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def staleness(section: str, prov: Mapping[str, Any] | None, root: Path = ROOT) -> str | None:
    """Why ``section``'s figures no longer hold for the code at hand, or None if they do."""
    if not prov or "digest" not in prov:
        return "no provenance recorded"
    if prov.get("dirty"):
        return f"computed on a dirty tree at {prov.get('commit')}"
    if prov.get("digest") != digest(section, root):
        files = changed_files(section, str(prov.get("commit")), root)
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        return f"its code changed since {prov.get('commit')}" + (f": {shown}" if shown else "")
    return None
