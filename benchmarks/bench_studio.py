"""Benchmark the Label Studio edge: push N tasks in each image mode, answer them, pull.

Usage::

    python benchmarks/bench_studio.py --n 10000 [--modes upload,local-files,url,inline]

Starts a local Label Studio from ``$RELABEL_STUDIO_VENV`` (a temporary data folder that is
also its local-files document root, a free port, stopped at the end) unless
``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` are set, in which case that server is used
(projects are created and deleted; ``local-files`` needs
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` to hold the temporary folder, else it is skipped).

Targets for N = 10,000 on a host where cleanlab's ``find_label_issues`` on 1M x 10 takes
about 0.7 s (``cleanlab_s`` is measured here, so slower hosts can be told apart): push <= 30 s
with ``upload``, <= 10 s with ``local-files`` and ``url``; pull <= 10 s.

Figures (``<phase>_s`` wall seconds, ``_client_cpu_s`` this process's CPU seconds,
``_server_cpu_s`` the local server's CPU seconds, ``_server_share`` server CPU / wall):

- ``push[mode]``: :meth:`StudioClient.import_tasks` of N tasks (28 x 28 PNG files), each with
  a pre-annotation (a prediction, as ``review.pre_annotate`` sends by default; off with
  ``--no-pre-annotate``), into a fresh project per mode; ``url`` gives ``http://`` URLs
  (Label Studio does not fetch them on import);
- ``simulate_rate``: answers per second of :func:`simulate_reviews` (one API call per
  answer, separate users, threads) on ``--simulate-n`` tasks;
- ``bulk_annotate_s``: the remaining tasks answered with
  :meth:`StudioClient.bulk_annotate` (so that all N tasks are reviewed);
- ``pull``: :meth:`StudioClient.list_reviewed_tasks` over the N reviewed tasks;
  ``pull_incremental``: the same after the latest answer (nothing new);
- ``cleanlab_s``: the host reference, cleanlab's ``find_label_issues`` on seeded 1M x 10
  probabilities (best of 2), the mean of one measure before the server starts
  (``cleanlab_before_s``) and one after it stops (``cleanlab_after_s``).
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

from relabel.demo.reviewers import simulate_reviews
from relabel.studio import server as server_mod
from relabel.studio.client import StudioClient, TaskSpec
from relabel.studio.labeling import build_label_config

MODES = ("upload", "local-files", "url", "inline")

CLASSES = [str(d) for d in range(10)]
#: cleanlab's find_label_issues on 1M x 10 on the host the targets were set on (seconds)
REFERENCE_CLEANLAB_S = 0.7


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


def _specs(
    paths: list[Path], rng: np.random.Generator, *, pre_annotate: bool = True, url: str = ""
) -> tuple[list[TaskSpec], dict[str, str]]:
    """Tasks as relabel's push makes them; ``url``: image URLs under it instead of files."""
    specs, truth = [], {}
    for i, path in enumerate(paths):
        given, predicted = rng.choice(CLASSES, 2, replace=False)
        sid = f"s{i:05d}"
        truth[sid] = str(predicted)
        confidence = float(rng.uniform(0.5, 1))
        specs.append(
            TaskSpec(
                sid,
                f"{url}/{path.name}" if url else path,
                {
                    "given_label": str(given),
                    "predicted_label": str(predicted),
                    "predicted_confidence": f"{confidence:.2f}",
                    "suspicion": float(rng.uniform()),
                    "rank": i + 1,
                    "cycle": 1,
                },
                {"label": str(predicted), "score": confidence, "model_version": "bench"}
                if pre_annotate
                else None,
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
    """Time a phase: wall seconds, CPU seconds of this process and of the server, share."""

    def __init__(self, figures: dict[str, Any], name: str, server_pid: int | None) -> None:
        self.figures, self.name, self.pid = figures, name, server_pid

    def __enter__(self) -> _Phase:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.server = _cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.wall
        self.figures[f"{self.name}_s"] = wall
        self.figures[f"{self.name}_client_cpu_s"] = time.process_time() - self.cpu
        if self.pid is not None:
            server = _cpu_seconds(self.pid) - self.server
            self.figures[f"{self.name}_server_cpu_s"] = server
            self.figures[f"{self.name}_server_share"] = server / wall if wall else 0.0


def cleanlab_reference(n: int = 1_000_000, k: int = 10, repeat: int = 2) -> float:
    """Best wall seconds of cleanlab's ``find_label_issues`` on seeded ``n`` x ``k`` probabilities.

    The host reference printed beside the Label Studio figures: the targets hold on a host
    where this takes about ``REFERENCE_CLEANLAB_S`` seconds for 1M x 10.
    """
    from cleanlab.filter import find_label_issues

    from benchmarks.bench_scoring import best_of, make_probs

    labels, probs, _ = make_probs(n, k, seed=0)
    seconds, _ = best_of(lambda: find_label_issues(labels, probs), repeat)
    return seconds


def _push_modes(
    client: StudioClient,
    args: argparse.Namespace,
    paths: list[Path],
    server_pid: int | None,
) -> tuple[dict[str, Any], int, list[int], dict[str, str]]:
    """Push N tasks in each mode into its own project; keep the ``--pull-mode`` project.

    With pre-annotations, ``url`` is also pushed without them (``url, no pre-annotation``):
    what the predictions cost the server. Returns the figures per mode, the kept project,
    its task ids (in spec order) and the true label per sample id.
    """
    pushes: dict[str, Any] = {}
    kept: tuple[int, list[int], dict[str, str]] | None = None
    runs = [(mode, mode, args.pre_annotate) for mode in args.modes]
    if args.pre_annotate and "url" in args.modes:
        runs.append(("url, no pre-annotation", "url", False))
    for key, mode, pre in runs:
        if mode == "local-files" and client.document_root is None:
            pushes[key] = {"skipped": "no local-files document root on this server"}
            continue
        url = "http://127.0.0.1:9/images" if mode == "url" else ""
        specs, truth = _specs(paths, np.random.default_rng(args.seed), pre_annotate=pre, url=url)
        pid = client.create_project(
            f"relabel bench {mode} {secrets.token_hex(3)}", build_label_config(CLASSES), "bench"
        )
        figures: dict[str, Any] = {"project": pid}
        try:
            with _Phase(figures, "push", server_pid):
                ids = client.import_tasks(pid, specs, mode)
            assert len(ids) == len(specs), (len(ids), len(specs))
        except BaseException:
            client.delete_project(pid, missing_ok=True)
            raise
        figures["push_tasks_per_s"] = len(ids) / figures["push_s"]
        if args.pull_mode == key:
            kept = (pid, ids, truth)
        elif not args.keep:
            client.delete_project(pid, missing_ok=True)
        pushes[key] = figures
        print(f"push {key}: {figures['push_s']:.2f} s", file=sys.stderr, flush=True)
    if kept is None:
        raise SystemExit(f"--pull-mode {args.pull_mode} is not among the modes pushed")
    return pushes, *kept


def _answer_and_pull(
    client: StudioClient,
    args: argparse.Namespace,
    pid: int,
    ids: list[int],
    truth: dict[str, str],
    server_pid: int | None,
) -> dict[str, Any]:
    """Answer every task (a few by simulated reviewers, the rest in bulk), then pull."""
    figures: dict[str, Any] = {}
    sample_ids = sorted(truth)  # the spec order: s00000, s00001, ...
    k = min(args.simulate_n, len(ids))
    if k:
        sub = {sid: truth[sid] for sid in sample_ids[:k]}
        logging.getLogger("relabel.demo.reviewers").setLevel(logging.ERROR)
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
    rest = {tid: truth[sid] for sid, tid in zip(sample_ids[k:], ids[k:], strict=True)}
    started = time.perf_counter()
    figures["bulk_annotated"] = client.bulk_annotate(pid, rest)
    figures["bulk_annotate_s"] = time.perf_counter() - started

    with _Phase(figures, "pull", server_pid):
        reviewed = client.list_reviewed_tasks(pid)
    figures["pull_tasks"] = len(reviewed)
    figures["pull_annotations"] = sum(len(t.annotations) for t in reviewed)
    with _Phase(figures, "pull_incremental", server_pid):  # nothing new since the last answer
        again = client.list_reviewed_tasks(pid, max(t.updated_at for t in reviewed))
    figures["pull_incremental_tasks"] = len(again)
    return figures


def _run(
    client: StudioClient, args: argparse.Namespace, work: Path, server_pid: int | None = None
) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "n": args.n,
        "server": client.url,
        "version": client.check(),
        "pre_annotate": args.pre_annotate,
    }
    started = time.perf_counter()
    paths = _write_pngs(work / "images", args.n, args.seed)
    figures["images_write_s"] = time.perf_counter() - started
    pushes, pid, ids, truth = _push_modes(client, args, paths, server_pid)
    figures["push"] = pushes
    figures["pull_mode"] = args.pull_mode
    try:
        figures.update(_answer_and_pull(client, args, pid, ids, truth, server_pid))
    finally:
        if not args.keep:
            client.delete_project(pid, missing_ok=True)
    return figures


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="tasks to push and pull")
    ap.add_argument(
        "--modes",
        default=",".join(MODES),
        help="image modes to push in, comma-separated (default: %(default)s)",
    )
    ap.add_argument(
        "--pull-mode", default="upload", help="the mode whose project is answered and pulled"
    )
    ap.add_argument(
        "--no-pre-annotate",
        dest="pre_annotate",
        action="store_false",
        help="push tasks without a prediction",
    )
    ap.add_argument(
        "--simulate-n",
        type=int,
        default=100,
        help="tasks answered by simulate_reviews (timed separately)",
    )
    ap.add_argument("--threads", type=int, default=4, help="simulate_reviews threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cleanlab", action="store_true", help="skip the host reference")
    ap.add_argument("--keep", action="store_true", help="keep the projects (and server)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = set(args.modes) - set(MODES)
    if bad:
        ap.error(f"unknown mode(s) {sorted(bad)}; expected some of {MODES}")
    if args.pull_mode not in args.modes:
        args.pull_mode = args.modes[0]
    return args


def _print(figures: dict[str, Any]) -> None:
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            for mode, sub in value.items():
                for k, v in (sub if isinstance(sub, dict) else {"": sub}).items():
                    flat[f"{key}[{mode}].{k}" if k else f"{key}[{mode}]"] = v
        else:
            flat[key] = value
    width = max(len(k) for k in flat)
    print(f"{'figure':<{width}}  value")
    for key, value in flat.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print a table and return the figures."""
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    figures: dict[str, Any] = {}
    if not args.no_cleanlab:  # before and after: the host's speed under the load of the run
        figures["cleanlab_before_s"] = cleanlab_reference()
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
                document_root=work,
            )
            start_s = time.perf_counter() - started
            client = local.client()
        try:
            figures.update(_run(client, args, work, local.pid if local else None))
            if local is not None:
                figures["server_start_s"] = start_s
        finally:
            client.close()
            if local is not None and not args.keep:
                local.stop()
    if not args.no_cleanlab:
        figures["cleanlab_after_s"] = cleanlab_reference()
        figures["cleanlab_s"] = (figures["cleanlab_before_s"] + figures["cleanlab_after_s"]) / 2
        figures["cleanlab_reference_s"] = REFERENCE_CLEANLAB_S
    figures["load_avg_1m"] = os.getloadavg()[0]
    figures["cpus"] = os.cpu_count()
    _print(figures)
    return figures


if __name__ == "__main__":
    main()
