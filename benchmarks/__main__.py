"""Run every benchmark and write BENCHMARKS.md: ``python -m benchmarks --quick|--full``.

Sections (``--sections`` picks some; each is recorded with its own provenance):

1. ``protocol``: detection on the declared protocol (``benchmarks/protocol.toml``):
   relabel's default config trained on every label setting and seed, every ranking on the
   tuning and the held-out half, means with 95 % intervals and paired verdicts. Quick
   mode: the digits with injected noise at fewer epochs, labelled quick.
2. ``review``: review yield over cycles with a simulated oracle (the digits).
3. ``reviewers``: three simulated reviewers per task through a real Label Studio, each
   consensus arm.
4. ``speed`` and ``memory``: scoring 1M x 10 against cleanlab, training throughput, peak
   memory over streamed images.
5. ``photos``: the default RGB config run as a user runs it on the 10,000 CIFAR-10 test
   JPEGs (5 folds and the final model: the time to a ranking), and the decode cache.
6. ``studio``: Label Studio push (each image mode) and pull.
7. ``ray``: the folds on Ray against the local executor.
8. ``scale``: every command at 100k and 1M synthetic samples (:mod:`benchmarks.scale`).
9. ``issues``: relabel's issue types (duplicates, holdout leaks, outliers, image health)
   on planted cases among the CIFAR-10 test images, after one user run of the default RGB
   config (:mod:`benchmarks.issues`). Quick mode: 500 images, fewer cases and epochs.
10. ``learning``: active-learning curves of every acquisition strategy on MNIST and
    CIFAR-10 with simulated annotators (:mod:`benchmarks.learning_curves`). Quick mode:
    2,000 images, one seed, fewer rounds.
11. ``serve``: ``relabel serve``'s ``/predict`` latency and answers that reach the store by
    a real Label Studio's webhooks, each once (:mod:`benchmarks.serve`). Quick mode: 2,000
    samples and 200 answers.

Every section of the results JSON carries its provenance (:mod:`benchmarks.provenance`):
commit, dirty tree, a digest of the code it depends on, the command, host and a
calibration figure, date and wall time. ``--check`` trains nothing: it fails when a
section is stale or a figure in README.md / BENCHMARKS.md is not the JSON's
(:mod:`benchmarks.checking`).

Output: full mode writes ``BENCHMARKS.md`` and ``BENCHMARKS.json`` in the repository root
(commit both; ``--from-json`` re-renders the text); quick mode writes
``build/BENCHMARKS-quick.md`` and ``build/benchmarks-quick.json``. The data folder
(``--data``, default ``../shared/data``) is optional: without it the sections that need
MNIST or CIFAR-10 say so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import (
    checking,
    datasets,
    detection,
    issues,
    learning_curves,
    memory,
    photos,
    planting,
    protocol,
    provenance,
    report,
    review,
    scale,
    settings,
    speed,
)
from benchmarks import serve as serve_bench
from benchmarks.datasets import DataUnavailableError

log = logging.getLogger("benchmarks")

SECTIONS = (
    "protocol",
    "review",
    "reviewers",
    "speed",
    "memory",
    "photos",
    "studio",
    "ray",
    "scale",
    "issues",
    "learning",
    "serve",
)


@dataclass(frozen=True)
class Plan:
    """What a mode runs."""

    mode: str
    digits_epochs: int
    big_epochs: int | None  # MNIST / CIFAR-10 CNN training; None: reference pyx only
    review_epochs: int | None  # None: the project's own setting
    scoring_n: int
    scoring_classes: tuple[int, ...]
    scoring_repeat: int
    throughput: tuple[tuple[str, int, int | None], ...]  # (dataset, epochs, limit)
    studio_tasks: int
    memory_sizes: tuple[int, int]
    cycle: tuple[str, str]  # (dataset, setting spec) whose run also trains the final model
    heldout_seeds: tuple[int, ...] = detection.HELDOUT_SEEDS  # held-out repeats of the noise
    heldout_human_cnn: bool = True  # train relabel's CNN on the CIFAR-10H settings too
    photos_train: bool = True  # photos: train the default RGB config (CIFAR-10, CIFAR-10H)
    photos_long: bool = True  # photos: also the folds at twice the epochs
    photos_epochs: int | None = None  # photos: None = the project's own default
    photos_folds: int = 5
    photos_throughput: tuple[int, int] | None = (4000, 3)  # (images, epochs)
    review_cycles: int = 3  # review and reviewers: simulated review cycles
    scale: tuple[str, str, int] = ("100000,1000000", "100000x1000", 10_000)  # sizes, wide, push
    # issues: (base images, None = all; near-duplicates; outliers; unhealthy per kind)
    issues_sizes: tuple[int | None, int, int, int] = (None, 300, 200, 50)
    issues_epochs: int | None = None  # None: the project's own default
    issues_folds: int = 3
    issues_seeds: tuple[int, ...] = (0, 1, 2)  # plantings
    serve: tuple[int, int, float] = (10_000, 1000, 20.0)  # samples, answers, answers a second


QUICK = Plan(
    mode="quick",
    digits_epochs=5,
    big_epochs=None,
    review_epochs=3,
    scoring_n=1_000_000,
    scoring_classes=(10,),
    scoring_repeat=3,
    throughput=(("digits", 3, None), ("mnist", 2, 4000)),
    studio_tasks=1000,
    memory_sizes=(2000, 12000),
    cycle=("digits", datasets.PAIR_NOISE["digits"]),
    photos_train=False,
    photos_long=False,
    photos_throughput=(1000, 2),
    review_cycles=2,
    scale=("10000,100000", "10000x100", 1000),
    issues_sizes=(500, 30, 20, 5),
    issues_epochs=2,
    issues_folds=3,
    issues_seeds=(0,),
    serve=(2000, 200, 20.0),
)
FULL = Plan(
    mode="full",
    digits_epochs=15,
    big_epochs=15,
    review_epochs=None,
    scoring_n=1_000_000,
    scoring_classes=(10, 100),
    scoring_repeat=3,
    throughput=(("digits", 3, None), ("mnist", 3, None), ("cifar10", 3, None)),
    studio_tasks=10_000,
    memory_sizes=(10_000, 60_000),
    cycle=("mnist", "original"),
    photos_long=False,
)
#: The plans by mode (tests swap in a smaller one).
PLANS = {"quick": QUICK, "full": FULL}


#: Default report per mode: the published one in the repository root, quick runs in build/.
DEFAULT_OUT = {
    "full": datasets.REPO_ROOT / "BENCHMARKS.md",
    "quick": datasets.REPO_ROOT / "build" / "BENCHMARKS-quick.md",
}
DEFAULT_JSON_QUICK = datasets.REPO_ROOT / "build" / "benchmarks-quick.json"


def output_paths(mode: str, out: Path | None, json_path: Path | None) -> tuple[Path, Path]:
    """The report and results JSON paths of a run in ``mode`` (``full`` or ``quick``).

    Full mode writes the JSON beside the report (``BENCHMARKS.md`` -> ``BENCHMARKS.json``)
    so that both are committed together; quick mode never defaults to the repository root.

    Returns
    -------
    out, json_path
    """
    out = out or DEFAULT_OUT[mode]
    if json_path is None:
        json_path = out.with_suffix(".json") if mode == "full" else DEFAULT_JSON_QUICK
    return out, json_path


def display_path(path: Path, base: Path = datasets.REPO_ROOT) -> str:
    """``path`` relative to ``base`` (the repository root) when inside it, else absolute."""
    path, base = Path(path).resolve(), Path(base).resolve()
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in (
        "relabel",
        "numpy",
        "tensorflow-cpu",
        "tensorflow",
        "keras",
        "scikit-learn",
        "pandas",
        "cleanlab",
        "label-studio-sdk",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        from relabel.studio import server

        version = server.installed_version(server.default_venv())
        out["label-studio (server venv)"] = version or "not installed"
    except Exception as exc:  # the server venv is optional
        out["label-studio (server venv)"] = f"unknown ({type(exc).__name__})"
    return out


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            mem_gb = int(f.readline().split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "load_start": " ".join(f"{v:.1f}" for v in os.getloadavg()),
    }


def run_protocol(
    plan: Plan,
    data: Path,
    cache: Path,
    results: dict[str, Any],
    save: Callable[[], None] | None = None,
    cached_only: bool = False,
) -> None:
    """Section 1: the declared protocol (:mod:`benchmarks.protocol`)."""
    declared = settings.load_protocol()
    sub = protocol.plan_of(declared, quick=plan.mode == "quick")
    out = results["protocol"] = {}
    protocol.run(declared, sub, data, cache, out, save, cached_only=cached_only)


def photo_plan(plan: Plan) -> photos.PhotoPlan:
    """The photos section's part of ``plan``."""
    return photos.PhotoPlan(
        train=plan.photos_train,
        long=plan.photos_long,
        epochs=plan.photos_epochs,
        folds=plan.photos_folds,
        throughput=plan.photos_throughput,
        sizes=(200, 2) if plan.mode == "quick" else (1000, 2),
    )


def run_photos(
    plan: Plan,
    data: Path,
    cache: Path,
    reuse: bool,
    results: dict[str, Any],
    save: Callable[[], None] | None = None,
) -> None:
    """Section 4: relabel's default RGB config on the CIFAR-10 test JPEGs."""
    try:
        ds = datasets.load("cifar10", data, cache)
    except DataUnavailableError as exc:
        log.warning("skipping photos: %s", exc)
        results["photos"] = {"skipped": [f"cifar10: {exc}"], "errors": {}}
        return
    sub = photo_plan(plan)
    out = results["photos"] = photos.start(ds, sub)
    photos.run(ds, sub, out, workdir=cache / "photos", reuse=reuse, save=save)
    if out["errors"]:  # the parts that ran are kept; the run still fails
        results["errors"]["photos"] = "failed part(s): " + "; ".join(
            f"{part}: {error}" for part, error in out["errors"].items()
        )
    note = photos.reuse_note(out)
    if note:
        results["notes"].append(note)


def issue_plan(plan: Plan) -> planting.IssuePlan:
    """The issues section's part of ``plan``."""
    n, duplicates, outliers, unhealthy = plan.issues_sizes
    return planting.IssuePlan(
        n=n,
        duplicates=duplicates,
        outliers=outliers,
        unhealthy=unhealthy,
        epochs=plan.issues_epochs,
        folds=plan.issues_folds,
    )


def run_issues(plan: Plan, data: Path, cache: Path, results: dict[str, Any]) -> None:
    """Section 9: the issue types on planted cases among the CIFAR-10 test images."""
    sub = issue_plan(plan)
    try:
        ds = datasets.load("cifar10", data, cache)
        digits = planting.mnist_digits(data, sub.outliers, sub.seed)
    except DataUnavailableError as exc:
        log.warning("skipping issues: %s", exc)
        results["issues"] = {"skipped": [str(exc)]}
        return
    out = results["issues"] = issues.start(ds, sub)
    out["scale"] = plan.mode
    out["planting_seeds"] = list(plan.issues_seeds)

    def digits_of(seed: int) -> Any:
        return digits if seed == sub.seed else planting.mnist_digits(data, sub.outliers, seed)

    issues.run_plantings(
        ds, digits_of, sub, plan.issues_seeds, out, cache / "issues", progress=log.info
    )


def run_speed(plan: Plan, data: Path, cache: Path, results: dict[str, Any]) -> None:
    """Section 3: scoring, throughput, Label Studio."""
    sp = results.setdefault("speed", {})
    try:
        sp["scoring"] = speed.scoring_speed(
            plan.scoring_n, plan.scoring_classes, plan.scoring_repeat
        )
    except Exception as exc:
        log.exception("scoring speed failed")
        sp["scoring_error"] = f"{type(exc).__name__}: {exc}"
    sp["throughput"], sp["throughput_errors"] = [], []
    for name, epochs, limit in plan.throughput:
        try:
            ds = datasets.load(name, data, cache)
        except DataUnavailableError as exc:
            sp["throughput_errors"].append(f"{name} skipped: {exc}")
            continue
        try:
            log.info("throughput: %s", name)
            sp["throughput"].append(speed.throughput(ds, epochs=epochs, limit=limit))
        except Exception as exc:
            log.exception("throughput failed")
            sp["throughput_errors"].append(f"{name}: {type(exc).__name__}: {exc}")
    if "cycle" not in sp:
        sp["cycle_note"] = f"Not measured in this run (the {plan.cycle[0]} detection run is off)."


def run_studio(plan: Plan, results: dict[str, Any]) -> None:
    """Section 5: Label Studio push (each image mode) and pull, beside the host reference."""
    if plan.studio_tasks <= 0:
        results["studio"] = {"error": "not run in this plan"}
        return
    try:
        log.info("Label Studio push/pull of %d tasks", plan.studio_tasks)
        results["studio"] = speed.studio_speed(["--n", str(plan.studio_tasks)])
    except ModuleNotFoundError as exc:
        results["studio"] = {"error": f"benchmarks/bench_studio.py is not available ({exc})"}
    except Exception as exc:
        log.exception("Label Studio push/pull failed")
        results["studio"] = {"error": f"{type(exc).__name__}: {exc}"}


def run_memory(plan: Plan, data: Path, cache: Path, results: dict[str, Any]) -> None:
    """Section 3: peak memory over streamed images."""
    try:
        ds = datasets.load("mnist", data, cache)
    except DataUnavailableError:
        ds = datasets.load("digits", data, cache)
    results["memory"] = memory.run(ds, plan.memory_sizes, cache / "memory")


def run_review(plan: Plan, data: Path, cache: Path, results: dict[str, Any]) -> None:
    """Section 2: review yield."""
    ds = datasets.load("digits", data, cache)
    results["review"] = review.run(
        ds,
        cache / "review",
        cycles=plan.review_cycles,
        noise=datasets.PAIR_NOISE["digits"],
        seed=0,
        epochs=plan.review_epochs,
        progress=log.info,
    )


def run_reviewers(plan: Plan, data: Path, cache: Path, results: dict[str, Any]) -> None:
    """Section 2b: majority against Dawid-Skene, with and without gold (real Label Studio)."""
    from benchmarks import floor_probe, reviewers

    results["reviewers"] = reviewers.run(
        cache / "reviewers",
        cycles=plan.review_cycles,
        seed=0,
        epochs=plan.review_epochs,
        progress=log.info,
    )
    results["reviewers"]["floor_probe"] = floor_probe.run(data, cache)


def run_ray(plan: Plan, cache: Path, results: dict[str, Any]) -> None:
    """Section 6: the digits' 4-fold run with the local and the Ray executor."""
    from benchmarks import ray_executor

    try:
        import ray  # noqa: F401  (the optional extra)
    except ImportError:
        results["ray"] = {"error": 'Ray is not installed: pip install "relabel[ray]"'}
        return
    results["ray"] = ray_executor.run(
        datasets.load_digits(cache), plan.digits_epochs, results.get("photos"), log.info
    )


def keep_earlier_sections(
    results: dict[str, Any], json_path: Path, sections: Sequence[str]
) -> None:
    """Copy into ``results`` every section of the earlier results at ``json_path`` that this
    run does not redo (``--update``), with its provenance (``meta.sections``).

    Raises
    ------
    SystemExit
        No earlier results there, or they were made in another mode.
    """
    if not json_path.is_file():
        raise SystemExit(f"--update: no earlier results at {json_path}")
    earlier = json.loads(json_path.read_text(encoding="utf-8"))
    mode = earlier.get("meta", {}).get("mode")
    if mode != results["meta"]["mode"]:
        raise SystemExit(
            f"--update: {json_path} holds {mode} results, not {results['meta']['mode']}"
        )
    done = earlier["meta"].get("sections") or {
        name: {"command": earlier["meta"]["command"], "date": earlier["meta"]["date"]}
        for name in SECTIONS
        if earlier.get(name)
    }
    for name in SECTIONS:
        if name in sections:
            continue
        if name in earlier.get("errors", {}):
            results["errors"][name] = earlier["errors"][name]
        if name in done and name in earlier:
            results[name] = earlier[name]
            results["meta"]["sections"][name] = done[name]


def write_outputs(results: dict[str, Any], out: Path, *, published: bool) -> None:
    """Write the report (stale sections marked); for the published one, README's blocks."""
    out.write_text(report.render(results, checking.stale_sections(results)), encoding="utf-8")
    if published and checking.write_readme_blocks(results):
        log.info("rewrote the generated blocks of README.md")


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmarks, write BENCHMARKS.md and the results JSON; return the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="CI mode: a few minutes (default)")
    mode.add_argument("--full", action="store_true", help="the published table")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("RELABEL_BENCH_DATA", datasets.DEFAULT_DATA)),
        help="data folder laid out as ../shared/data (default: %(default)s)",
    )
    parser.add_argument("--cache", type=Path, default=datasets.DEFAULT_CACHE)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"the Markdown report (default: {DEFAULT_OUT['full']} in full mode, "
        f"{DEFAULT_OUT['quick']} in quick mode; with --from-json: that file with a .md "
        "suffix)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="the results JSON (default: beside --out with a .json suffix in full mode, "
        f"{DEFAULT_JSON_QUICK} in quick mode)",
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--reuse-oof",
        action="store_true",
        help="reuse out-of-fold probabilities saved by an earlier run with the same data, "
        "labels, model and training config, relabel version and model code (the report "
        "says so)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when an acceptance check fails"
    )
    parser.add_argument(
        "--no-human-cnn",
        action="store_true",
        help="measure the CIFAR-10H held-out settings on the reference probabilities only "
        "(full mode otherwise also trains relabel's CNN on them: two CIFAR-10 trainings)",
    )
    parser.add_argument(
        "--no-photos-long",
        action="store_true",
        help="photos: skip the folds at twice the epochs (full mode runs them: one more "
        "CIFAR-10 training)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="run only --sections and keep every other section of the existing results JSON "
        "(same mode); the report names each section's command and date",
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="protocol: train nothing; use the trainings cached for the code at hand and "
        "list the rest as missing",
    )
    parser.add_argument(
        "--check",
        nargs="?",
        const="all",
        choices=("all", "figures", "stale"),
        default=None,
        help="train nothing: exit 1 when a section of the results JSON is stale (its code "
        "changed since it was computed) or a figure in README.md or BENCHMARKS.md is not the "
        "one in the JSON; 'figures' or 'stale' checks one half",
    )
    parser.add_argument("-v", action="store_true", help="log relabel's own progress too")
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="only re-render --out from the results JSON of an earlier run",
    )
    args = parser.parse_args(argv)
    if args.check is not None:
        problems = checking.check(args.check, json_path=args.json, out=args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"benchmarks --check {args.check}: " + ("FAILED" if problems else "ok"))
        return {"exit_code": 1 if problems else 0}
    if args.from_json is not None:
        out = args.out or args.from_json.with_suffix(".md")
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
        results["meta"]["json"] = display_path(args.from_json)
        results["meta"]["out"] = display_path(out)
        write_outputs(results, out, published=out.resolve() == checking.DEFAULT_MD)
        log.info("re-rendered %s from %s", out, args.from_json)
        results["exit_code"] = 0
        return results
    plan = PLANS["full" if args.full else "quick"]
    if args.no_human_cnn:
        plan = dataclasses.replace(plan, heldout_human_cnn=False)
    if args.no_photos_long:
        plan = dataclasses.replace(plan, photos_long=False)
    args.out, json_path = output_paths(plan.mode, args.out, args.json)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}")

    started = time.perf_counter()
    data = args.data.resolve()
    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {
        "meta": {
            "mode": plan.mode,
            "command": "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv_list),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": _machine(),
            "versions": _versions(),
            "data": str(data) if data.is_dir() else None,
            "json": display_path(json_path),
            "out": display_path(args.out),
            "sections": {},
        },
        "errors": {},
        "notes": [],
    }
    if args.update:
        keep_earlier_sections(results, json_path, sections)
    if not data.is_dir():
        results["notes"].append(f"data folder {data} absent: MNIST and CIFAR-10 skipped")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every section, so a late failure loses nothing
        json_path.write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")

    runners = {
        "protocol": lambda: run_protocol(plan, data, cache, results, save, args.cached_only),
        "speed": lambda: run_speed(plan, data, cache, results),
        "memory": lambda: run_memory(plan, data, cache, results),
        "review": lambda: run_review(plan, data, cache, results),
        "reviewers": lambda: run_reviewers(plan, data, cache, results),
        "photos": lambda: run_photos(plan, data, cache, args.reuse_oof, results, save),
        "studio": lambda: run_studio(plan, results),
        "ray": lambda: run_ray(plan, cache, results),
        "scale": lambda: results.update(scale=scale.run_section(*plan.scale)),
        "issues": lambda: run_issues(plan, data, cache, results),
        "learning": lambda: results.update(
            learning=learning_curves.run_section(plan.mode, data, cache, progress=log.info)
        ),
        "serve": lambda: results.update(serve=serve_bench.run_section(*plan.serve)),
    }

    for name in SECTIONS:
        if name not in sections:
            continue
        log.info("== %s", name)
        t0 = time.perf_counter()
        results["errors"].pop(name, None)
        try:
            runners[name]()
        except Exception as exc:
            log.exception("section %s failed", name)
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
        record = provenance.record(name, results["meta"]["command"], t0, plan.mode == "quick")
        results["meta"]["sections"][name] = record
        log.info("== %s done in %.0f s", name, record["wall_seconds"])
        save()

    results["meta"]["wall_seconds"] = time.perf_counter() - started
    results["meta"]["machine"]["load_end"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
    save()
    write_outputs(results, args.out, published=args.out.resolve() == checking.DEFAULT_MD)
    minutes = results["meta"]["wall_seconds"] / 60
    log.info("wrote %s and %s in %.1f min", args.out, json_path, minutes)
    results["exit_code"] = 1 if results["errors"] else 0
    if args.strict and any(ok is False for _, _, ok in report.checks(results)):
        results["exit_code"] = 1
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )
    verbose = "-v" in (sys.argv[1:] if argv is None else argv)
    for name in ("relabel", "httpx", "httpcore", "urllib3"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return int(run(argv)["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
