"""Benchmark the Label Studio edge: push N tasks with uploaded images, answer them, pull.

Usage::

    python benchmarks/bench_studio.py --n 10000

Starts a local Label Studio from ``$RELABEL_STUDIO_VENV`` (a temporary data folder, a
free port, stopped at the end) unless ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY``
are set, in which case that server is used (a project is created and deleted).

Figures (targets for N = 10,000 on a 2-core machine: push <= 30 s, pull <= 20 s):

- ``push_s``: :meth:`StudioClient.import_tasks` in ``upload`` mode, images included;
- ``simulate_rate``: answers per second of :func:`simulate_reviews` (one API call per
  answer, separate users, threads) on ``--simulate-n`` tasks;
- ``bulk_annotate_s``: the remaining tasks answered with
  :meth:`StudioClient.bulk_annotate` (so that all N tasks are reviewed);
- ``pull_s``: :meth:`StudioClient.list_reviewed_tasks` over the N reviewed tasks;
- ``pull_incremental_s``: the same with the watermark of that pull (nothing new).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from relabel.studio import server as server_mod
from relabel.studio.client import StudioClient, TaskSpec
from relabel.studio.labeling import build_label_config
from relabel.studio.simulate import simulate_reviews

CLASSES = [str(d) for d in range(10)]


def _write_pngs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        pixels = rng.integers(0, 256, (28, 28), dtype=np.uint8)
        path = folder / f"digit_{i:05d}.png"
        Image.fromarray(pixels, mode="L").save(path)
        paths.append(path)
    return paths


def _specs(paths: list[Path], rng: np.random.Generator) -> tuple[list[TaskSpec], dict[str, str]]:
    specs, truth = [], {}
    for i, path in enumerate(paths):
        given, predicted = rng.choice(CLASSES, 2, replace=False)
        sid = f"s{i:05d}"
        truth[sid] = str(predicted)
        specs.append(
            TaskSpec(
                sid,
                path,
                {
                    "given_label": str(given),
                    "predicted_label": str(predicted),
                    "predicted_confidence": f"{rng.uniform(0.5, 1):.2f}",
                    "suspicion": float(rng.uniform()),
                    "rank": i + 1,
                    "cycle": 1,
                },
            )
        )
    return specs, truth


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process (0 when unknown): load-independent figures."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Phase:
    """Time a phase: wall seconds, and CPU seconds of this process and of the server."""

    def __init__(self, figures: dict[str, Any], name: str, server_pid: int | None) -> None:
        self.figures, self.name, self.pid = figures, name, server_pid

    def __enter__(self) -> _Phase:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.server = _cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.figures[f"{self.name}_s"] = time.perf_counter() - self.wall
        self.figures[f"{self.name}_client_cpu_s"] = time.process_time() - self.cpu
        if self.pid is not None:
            self.figures[f"{self.name}_server_cpu_s"] = _cpu_seconds(self.pid) - self.server


def _run(
    client: StudioClient, args: argparse.Namespace, work: Path, server_pid: int | None = None
) -> dict[str, Any]:
    figures: dict[str, Any] = {"n": args.n, "server": client.url, "version": client.check()}
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    paths = _write_pngs(work / "images", args.n, args.seed)
    figures["images_write_s"] = time.perf_counter() - started
    specs, truth = _specs(paths, rng)

    pid = client.create_project(
        f"relabel bench {secrets.token_hex(3)}", build_label_config(CLASSES), "benchmark"
    )
    figures["project"] = pid
    try:
        with _Phase(figures, "push", server_pid):
            ids = client.import_tasks(pid, specs, "upload")
        assert len(ids) == args.n, (len(ids), args.n)
        figures["push_tasks_per_s"] = args.n / figures["push_s"]

        k = min(args.simulate_n, args.n)
        if k:
            sub = {s.sample_id: truth[s.sample_id] for s in specs[:k]}
            logging.getLogger("relabel.studio.simulate").setLevel(logging.ERROR)
            sim = simulate_reviews(
                client,
                pid,
                sub,
                accuracy=0.95,
                reviewers=1,
                skip_rate=0.05,
                seed=args.seed,
                threads=args.threads,
            )
            figures["simulate_answers"] = sim.created
            figures["simulate_s"] = sim.seconds
            figures["simulate_rate"] = sim.created / sim.seconds if sim.seconds else 0.0
        rest = {tid: truth[s.sample_id] for s, tid in zip(specs[k:], ids[k:], strict=True)}
        started = time.perf_counter()
        figures["bulk_annotated"] = client.bulk_annotate(pid, rest)
        figures["bulk_annotate_s"] = time.perf_counter() - started

        with _Phase(figures, "pull", server_pid):
            reviewed = client.list_reviewed_tasks(pid)
        figures["pull_tasks"] = len(reviewed)
        figures["pull_annotations"] = sum(len(t.annotations) for t in reviewed)
        started = time.perf_counter()
        again = client.list_reviewed_tasks(pid, max(t.updated_at for t in reviewed))
        figures["pull_incremental_s"] = time.perf_counter() - started
        figures["pull_incremental_tasks"] = len(again)
    finally:
        if not args.keep:
            client.delete_project(pid, missing_ok=True)
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print a table and return the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="tasks to push and pull")
    ap.add_argument(
        "--simulate-n",
        type=int,
        default=100,
        help="tasks answered by simulate_reviews (timed separately)",
    )
    ap.add_argument("--threads", type=int, default=4, help="simulate_reviews threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the project (and server)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
        stream=sys.stderr,
    )

    figures: dict[str, Any]
    with tempfile.TemporaryDirectory(prefix="relabel-bench-studio-") as tmp:
        work = Path(tmp)
        local = None
        if os.environ.get("LABEL_STUDIO_URL") and os.environ.get("LABEL_STUDIO_API_KEY"):
            client = StudioClient.from_env()
        else:
            venv = server_mod.default_venv()
            server_mod.install_server(venv)
            started = time.perf_counter()
            local = server_mod.start_server(
                venv,
                work / "ls-data",
                username="bench@relabel.local",
                password=secrets.token_urlsafe(12),
                token=secrets.token_hex(20),
            )
            start_s = time.perf_counter() - started
            client = local.client()
        try:
            figures = _run(client, args, work, local.pid if local else None)
            if local is not None:
                figures["server_start_s"] = start_s
        finally:
            client.close()
            if local is not None and not args.keep:
                local.stop()
    figures["load_avg_1m"] = os.getloadavg()[0]
    figures["cpus"] = os.cpu_count()

    width = max(len(k) for k in figures)
    print(f"{'figure':<{width}}  value")
    for key, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    return figures


if __name__ == "__main__":
    main()
