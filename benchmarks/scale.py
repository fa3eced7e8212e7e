"""Every command at a million samples: time and peak memory per step, as a user runs them.

Usage::

    python -m benchmarks.scale --sizes 100000,1000000 [--classes 10] [--wide 100000x1000]

For each size, a synthetic project with planted label errors: a Parquet manifest whose
images are URLs (never decoded: ``relabel init --trust-paths``), out-of-fold
probabilities of a model that is right about most samples, and 128-d float16 embeddings.
Each step is the real CLI in its own process (``python -m relabel ...``), so that its
wall time and its peak memory (the child's ``ru_maxrss`` from ``os.wait4``) are the
user's:

``init`` (trusted paths), ``import-run`` (probabilities + embeddings), ``score`` (ranking,
lanes, Parquet out), ``status``, ``export``, ``history`` of one sample, ``report``, and,
when a Label Studio server is available (``--studio``: a local one from
``$RELABEL_STUDIO_VENV``), ``push`` of ``--push-n`` tasks and ``pull`` after they are all
answered (in bulk, through the API).

Detection figures (precision at the number of planted errors, top-5 % precision) of the
same data subsampled to ``--detect-n`` rows show that nothing changes with size.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.child import run_measured

log = logging.getLogger("benchmarks.scale")

#: Share of samples whose given label is planted wrong.
NOISE = 0.05
#: Embedding width (float16), as issue 28's table states.
EMBED_DIM = 128
#: Rows generated per chunk (memory stays flat while writing the arrays).
CHUNK = 100_000
#: Targets at 1M x 10 (seconds; memory in GiB), as issue 28 states them.
TARGETS = {
    "init": 60.0,
    "import-run": 60.0,
    "score": 30.0,
    "status": 5.0,
    "export": 5.0,
    "history": 0.1,
    "report": 120.0,
    "push": 30.0,
    "pull": 15.0,
}
TARGET_PEAK_GIB = 4.0


def planted_data(folder: Path, n: int, k: int, seed: int = 0) -> dict[str, Path]:
    """Write a manifest, probabilities, embeddings and the truth for ``n`` samples.

    The model is right about ~85 % of samples; for a planted error the given label is
    another class and the probabilities mostly follow the true class.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    true = rng.integers(0, k, n)
    wrong = rng.random(n) < NOISE
    given = np.where(wrong, (true + rng.integers(1, k, n)) % k, true)
    classes = [f"c{i:04d}" for i in range(k)]
    ids = np.char.add("s", np.char.zfill(np.arange(n).astype(str), 7))
    manifest = pd.DataFrame(
        {
            "path": np.char.add(np.char.add("https://images.example.org/", ids), ".jpg"),
            "label": np.asarray(classes)[given],
            "id": ids,
        }
    )
    paths = {
        "manifest": folder / "manifest.parquet",
        "probs": folder / "probs.npy",
        "embeddings": folder / "embeddings.npy",
        "truth": folder / "truth.npz",
    }
    manifest.to_parquet(paths["manifest"], index=False)
    np.savez(paths["truth"], wrong=wrong, true=true, given=given)
    probs = np.lib.format.open_memmap(paths["probs"], "w+", np.float32, (n, k))
    emb = np.lib.format.open_memmap(paths["embeddings"], "w+", np.float16, (n, EMBED_DIM))
    centres = rng.normal(size=(k, EMBED_DIM)).astype(np.float32)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        probs[start:stop] = _probabilities(rng, true[start:stop], given[start:stop], k)
        noise = rng.normal(scale=0.8, size=(stop - start, EMBED_DIM)).astype(np.float32)
        emb[start:stop] = (centres[true[start:stop]] + noise).astype(np.float16)
    probs.flush()
    emb.flush()
    del probs, emb
    return paths


def _probabilities(rng: np.random.Generator, true: np.ndarray, given: np.ndarray, k: int):
    """Softmax of noisy logits: the true class favoured, the given one a little (memorised)."""
    logits = rng.normal(size=(len(true), k)).astype(np.float32)
    rows = np.arange(len(true))
    logits[rows, true] += rng.normal(3.0, 1.5, len(true)).astype(np.float32)
    logits[rows, given] += 1.0
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def run_step(argv: Sequence[str], env: dict[str, str], logs: Path) -> dict[str, Any]:
    """Run one CLI command in its own process: wall seconds, CPU, its own peak memory."""
    logs.mkdir(parents=True, exist_ok=True)
    name = argv[0]
    with open(logs / f"{name}.out", "wb") as out, open(logs / f"{name}.err", "wb") as err:
        usage = run_measured(
            [sys.executable, "-m", "relabel.cli", *argv], stdout=out, stderr=err, env=env
        )
    if usage["rc"] != 0:
        tail = (logs / f"{name}.err").read_text(errors="replace")[-2000:]
        log.warning("%s failed (%d): %s", name, usage["rc"], tail)
    return {
        "seconds": round(usage["seconds"], 3),
        "cpu_s": round(usage["user_cpu_s"] + usage["kernel_cpu_s"], 3),
        "peak_gib": round(usage["peak_gib"], 3),
        "rc": usage["rc"],
    }


def detection(ranking: pd.DataFrame, truth: dict[str, np.ndarray]) -> dict[str, float]:
    """Precision at the number of planted errors and top-5 % precision of a ranking.

    ``ranking`` has ``sample_id`` and ``rank`` (1 = most suspicious); sample ``sNNNNNNN``
    is row ``NNNNNNN`` of the truth.
    """
    order = ranking.sort_values("rank", kind="stable")["sample_id"].str[1:].astype(int)
    hits = truth["wrong"][order.to_numpy()]
    planted = int(truth["wrong"].sum())
    top5 = max(1, round(0.05 * len(hits)))
    return {
        "n": len(hits),
        "planted": planted,
        "precision_at_k": float(hits[:planted].mean()),
        "top5_precision": float(hits[:top5].mean()),
    }


def sample_detection(paths: dict[str, Path], n_sample: int, seed: int = 0) -> dict[str, float]:
    """The same figures on a random ``n_sample`` rows of the same data (library call)."""
    from relabel.api import find_label_issues

    truth = dict(np.load(paths["truth"]))
    n = len(truth["wrong"])
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n_sample, n), replace=False))
    probs = np.load(paths["probs"], mmap_mode="r")[rows]
    table = find_label_issues(truth["given"][rows], probs)
    table["sample_id"] = [f"s{i:07d}" for i in range(len(rows))]
    sub = {k: v[rows] for k, v in truth.items()}
    return detection(table, sub)


_HISTORY_SNIPPET = """
import sys, time
from relabel.api import Project
t = time.perf_counter()
with Project.open(sys.argv[1], readonly=True) as p:
    opened = time.perf_counter() - t
    t = time.perf_counter()
    rows = p.history(sys.argv[2])
    print(opened, time.perf_counter() - t, len(rows))
"""


def history_call(project: Path, sample_id: str, env: dict[str, str]) -> dict[str, float]:
    """``Project.history`` of one sample as a library call (the store query, no CLI start)."""
    done = subprocess.run(
        [sys.executable, "-c", _HISTORY_SNIPPET, str(project), sample_id],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    opened, query, rows = done.stdout.split()
    return {"open_s": float(opened), "query_s": float(query), "rows": int(rows)}


def cli_steps(project: Path, paths: dict[str, Path], work: Path) -> list[tuple[str, list[str]]]:
    """The commands a user runs, in order (``push``/``pull`` are added when a server is up)."""
    p = str(project)
    return [
        (
            "init",
            [
                "init",
                p,
                "--manifest",
                str(paths["manifest"]),
                "--trust-paths",
                "--image-size",
                "32",
                "--channels",
                "3",
            ],
        ),
        (
            "import-run",
            [
                "import-run",
                p,
                "--probs",
                str(paths["probs"]),
                "--embeddings",
                str(paths["embeddings"]),
                "--ids",
                str(paths["ids"]),
                "--model-name",
                "synthetic",
            ],
        ),
        ("score", ["score", p, "--out", str(work / "ranking.parquet")]),
        ("status", ["status", p, "--json"]),
        ("export", ["export", p, "--out", str(work / "export.parquet")]),
        ("history", ["history", p, "s0000042"]),
        ("report", ["report", p, "--out", str(work / "report")]),
    ]


def one_size(
    work: Path, n: int, k: int, studio: LocalStudio | None, push_n: int, detect_n: int
) -> dict[str, Any]:
    """Every step at ``n`` samples x ``k`` classes, in its own process each."""
    started = time.perf_counter()
    paths = planted_data(work / "data", n, k)
    paths["ids"] = work / "data" / "ids.csv"
    ids = pd.read_parquet(paths["manifest"], columns=["id"])
    ids.rename(columns={"id": "sample_id"}).to_csv(paths["ids"], index=False)
    out: dict[str, Any] = {"n": n, "classes": k, "data_s": round(time.perf_counter() - started, 1)}
    env = {**os.environ, **(studio.env() if studio else {})}
    project = work / "project"
    steps = cli_steps(project, paths, work)
    if studio is not None:
        steps += [
            ("push", ["push", str(project), "--budget", str(push_n)]),
            ("pull", ["pull", str(project)]),
        ]
    out["steps"] = {}
    for name, argv in steps:
        if name == "pull":
            t = time.perf_counter()
            out["answered"] = answer_all(project, studio.client)
            out["answer_s"] = round(time.perf_counter() - t, 1)
        log.info("%s at %d x %d", name, n, k)
        out["steps"][name] = run_step(argv, env, work / "logs")
        if out["steps"][name]["rc"] != 0:
            break
        if name == "init" and studio is not None:
            use_url_images(project)
        if name == "score":
            truth = dict(np.load(paths["truth"]))
            out["detection"] = detection(pd.read_parquet(work / "ranking.parquet"), truth)
            out["detection_sample"] = sample_detection(paths, detect_n)
        if name == "history":
            out["history_call"] = history_call(project, "s0000042", env)
    out["disk_mb"] = round(
        sum(f.stat().st_size for f in project.rglob("*") if f.is_file()) / 2**20, 1
    )
    return out


def use_url_images(project: Path) -> None:
    """Make the project send image URLs to Label Studio (nothing is uploaded)."""
    import tomllib

    import tomli_w

    path = project / "relabel.toml"
    config = tomllib.loads(path.read_text())
    config.setdefault("review", {})["image_mode"] = "url"
    path.write_text(tomli_w.dumps(config))


def answer_all(project: Path, client: Any) -> int:
    """Answer every pushed task with its given label, in bulk (the reviewers' work)."""
    from relabel.api import Project

    with Project.open(project, readonly=True) as p:
        studio_project = int(p.store.studio_project()["studio_project_id"])
    tasks = client.list_task_sample_ids(studio_project)
    labels = pd.read_parquet(project.parent / "data" / "manifest.parquet", columns=["id", "label"])
    label_of = dict(zip(labels["id"], labels["label"], strict=True))
    answers = {t: label_of[sid] for sid, ids in tasks.items() for t in ids}
    return client.bulk_annotate(studio_project, answers)


class LocalStudio:
    """A local Label Studio for the push and pull steps (stopped at the end)."""

    def __init__(self, work: Path) -> None:
        import secrets

        from relabel.studio import server as server_mod

        venv = server_mod.default_venv()
        server_mod.install_server(venv)
        self.server = server_mod.start_server(
            venv,
            work / "ls-data",
            username="bench@relabel.local",
            password=secrets.token_urlsafe(12),
            token=secrets.token_hex(20),
            document_root=work,
        )
        self.client = self.server.client(timeout=300.0)

    def env(self) -> dict[str, str]:
        return {"LABEL_STUDIO_URL": self.server.url, "LABEL_STUDIO_API_KEY": self.server.token}

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.scale", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--sizes", default="100000,1000000", help="Comma-separated sample counts (x --classes)."
    )
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument(
        "--wide", default="100000x1000", help="Also NxK with many classes ('' for none)."
    )
    ap.add_argument("--detect-n", type=int, default=10_000, help="Rows of the detection sample.")
    ap.add_argument(
        "--studio", action="store_true", help="Push and pull against a local Label Studio."
    )
    ap.add_argument("--push-n", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=None, help="Write the figures as JSON here.")
    ap.add_argument("--work", type=Path, default=None, help="Keep the projects in this folder.")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every size (and the wide case); the figures as one dict."""
    shapes = [(int(n), args.classes) for n in args.sizes.split(",") if n]
    if args.wide:
        n, k = args.wide.lower().split("x")
        shapes.append((int(n), int(k)))
    figures: dict[str, Any] = {"targets": TARGETS, "target_peak_gib": TARGET_PEAK_GIB, "sizes": []}
    with tempfile.TemporaryDirectory(prefix="relabel-scale-", dir=args.work) as tmp:
        studio = LocalStudio(Path(tmp)) if args.studio else None
        try:
            for n, k in shapes:
                work = Path(tmp) / f"{n}x{k}"
                size = one_size(
                    work, n, k, studio if k == args.classes else None, args.push_n, args.detect_n
                )
                figures["sizes"].append(size)
                log.info("%d x %d: %s", n, k, json.dumps(size["steps"]))
        finally:
            if studio is not None:
                studio.close()
    return figures


def run_section(sizes: str, wide: str, push_n: int) -> dict[str, Any]:
    """The benchmarks' ``scale`` section: every size, with a local Label Studio when one is
    installed (``$RELABEL_STUDIO_VENV``), else without the push and pull steps."""
    from relabel.studio import server as server_mod

    studio = server_mod.default_venv().joinpath("bin", "label-studio").is_file()
    args = _parse(["--sizes", sizes, "--wide", wide, "--push-n", str(push_n)])
    args.studio = studio
    figures = run(args)
    if not studio:
        figures["note"] = "no Label Studio installed: push and pull not measured"
    return figures


def json_main(
    argv: Sequence[str] | None,
    parse: Callable[[Sequence[str] | None], argparse.Namespace],
    run: Callable[[argparse.Namespace], dict[str, Any]],
) -> dict[str, Any]:
    """Log to stderr, ``run`` the ``parse``-d arguments, print the figures as JSON (also
    written to ``--out`` when given) and return them."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )
    args = parse(argv)
    figures = run(args)
    text = json.dumps(figures, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)
    return figures


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the table and return the figures."""
    return json_main(argv, _parse, run)


if __name__ == "__main__":
    main()
