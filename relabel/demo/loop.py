"""The demo: a local Label Studio, the digits project with injected noise, and cycles.

``relabel demo`` (README command one) runs :func:`run_demo`: it starts a local Label
Studio (installed in its own venv), writes scikit-learn's digits as PNG files with
class-pair noise, creates the bundled ``projects/digits`` project, and runs cycles with
simulated reviewers, printing per cycle what was reviewed and corrected, the hit rate, the
noise left (against the true labels, which only the demo reads) and the accuracy. With
``simulate=False`` it stops after the first push and prints the URL and login so a person
can review in the browser.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from relabel.demo import digits as demo
from relabel.demo.reviewers import SimulatedReview
from relabel.errors import ConfigError
from relabel.infra.progress import Progress
from relabel.loop.cycle import run_cycle
from relabel.project import Project
from relabel.store import DB_FILE
from relabel.studio.client import StudioClient
from relabel.studio.urls import redact_url

if TYPE_CHECKING:
    from relabel.studio.server import LocalServer

log = logging.getLogger(__name__)

DEFAULT_NOISE = "1>7:0.3,3>8:0.3,5>6:0.3"
DEMO_USER = "admin@relabel.local"


@dataclass
class DemoCycle:
    """One cycle's figures as the demo prints them."""

    cycle: int
    reviewed: int
    corrected: int
    hit_rate: float
    noise_left: float
    mislabeled_left: int
    accuracy: float
    estimated_errors_left: int
    seconds: float


@dataclass
class DemoResult:
    """What :func:`run_demo` did."""

    project_dir: Path
    url: str
    username: str
    password: str
    initial_noise: float
    cycles: list[DemoCycle] = field(default_factory=list)
    waiting: bool = False


def noise_left(project: Project, truth: dict[str, str]) -> tuple[float, int]:
    """Fraction and count of active samples whose current label differs from the truth."""
    labels = project.active_samples()
    wrong = int((labels["label"] != labels["sample_id"].map(truth)).sum())
    return wrong / max(len(labels), 1), wrong


def reset_project(project_dir: Path) -> None:
    """Remove a demo project's state (store, runs, data), keeping its relabel.toml."""
    for name in (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm", "skipped.csv", ".lock"):
        (project_dir / name).unlink(missing_ok=True)
    for name in ("runs", "data"):
        shutil.rmtree(project_dir / name, ignore_errors=True)


def _wipe_studio_dir(studio_dir: Path) -> None:
    """Delete a local Label Studio data folder, refusing any folder that is not one."""
    from relabel.errors import StudioError
    from relabel.studio import server as server_mod

    if not studio_dir.exists():
        return
    markers = ("label_studio.sqlite3", server_mod.LOG_FILE, server_mod.PID_FILE)
    if any(studio_dir.iterdir()) and not any((studio_dir / m).exists() for m in markers):
        raise StudioError(
            f"{studio_dir} is not empty and does not look like a Label Studio data folder; "
            "the demo deletes its data folder before each run, so give it another --studio-dir"
        )
    shutil.rmtree(studio_dir)


def run_demo(
    project_dir: Path,
    *,
    cycles: int = 3,
    noise: str = DEFAULT_NOISE,
    seed: int = 0,
    simulate: bool = True,
    studio_url: str | None = None,
    studio_dir: Path = Path(".relabel-studio"),
    keep_server: bool = False,
    accuracy: float = 0.95,
    reviewers: int = 2,
    skip_rate: float = 0.05,
    on_cycle: Callable[[DemoCycle], None] | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Run the demo end to end.

    Parameters
    ----------
    project_dir : Path
        The demo project folder holding ``relabel.toml`` (``projects/digits``). Its state
        is reset first.
    cycles : int
        Cycles to run with simulated reviewers.
    noise, seed : str, int
        Injected label noise (see :func:`relabel.data.noise_injection.parse_noise`) and its seed.
    simulate : bool
        False: stop after the first push, leave the server running and return its login.
    studio_url : str, optional
        Use this running Label Studio (token from the project's token variable) instead
        of starting a local one.
    studio_dir : Path
        Data folder of the local Label Studio.
    keep_server : bool
        Leave the local server running at the end.
    on_cycle : callable, optional
        Called with each finished cycle's figures.
    """
    say = progress or (lambda m: log.info("%s", m))
    project_dir = Path(project_dir)
    truth = _write_project(project_dir, noise, seed)
    client, studio_url, local, password = _open_studio(
        project_dir, studio_url, Path(studio_dir), say
    )
    result = DemoResult(project_dir, studio_url, DEMO_USER, password, 0.0)
    try:
        with Project.locked(project_dir, "relabel demo") as project:
            result.initial_noise = noise_left(project, truth)[0]
            say(
                f"digits: {project.store.n_samples()} images, "
                f"{result.initial_noise:.1%} of labels wrong ({noise})"
            )
            if not simulate:
                run_cycle(project, client, until="pushed", progress=say)
                result.waiting = True
                keep_server = True
                return result
            review = SimulatedReview(
                truth=truth, accuracy=accuracy, reviewers=reviewers, skip_rate=skip_rate, seed=seed
            )
            for _ in range(cycles):
                r = run_cycle(project, client, review=review, progress=say)
                if r.state != "done":
                    say(f"cycle {r.cycle}: {r.state}")
                    break
                row = _demo_cycle(project, truth, r.cycle, r.summary)
                result.cycles.append(row)
                if on_cycle:
                    on_cycle(row)
        return result
    finally:
        client.close()
        if local is not None and not keep_server:
            local.stop()


def _write_project(
    project_dir: Path,
    noise: str | None,
    seed: int,
    prepare: Callable[[Path], None] | None = None,
) -> dict[str, str]:
    """Reset the demo project, write the digits (with ``noise``, unless None), let
    ``prepare`` edit the manifest, create its store; return the truth."""
    reset_project(project_dir)
    data = demo.write_digits(project_dir / "data", noise=noise, seed=seed)
    truth_frame = pd.read_csv(data.truth, dtype=str, keep_default_na=False)
    truth = dict(zip(truth_frame["id"], truth_frame["label"], strict=True))
    if prepare is not None:
        prepare(data.manifest)
    Project.init(project_dir)
    return truth


def _open_studio(
    project_dir: Path, studio_url: str | None, studio_dir: Path, say: Progress
) -> tuple[StudioClient, str, LocalServer | None, str]:
    """Connect to the Label Studio at ``studio_url`` (default: a fresh local one in
    ``studio_dir``) and point the project's URL variable at it; return the client, its URL,
    the local server (None for ``studio_url``) and the demo login's password."""
    password = os.environ.get("RELABEL_DEMO_PASSWORD") or secrets.token_urlsafe(12)
    url_env, token = _studio_env(project_dir, studio_url)
    local = None
    if studio_url is None:
        local = _start_local_studio(project_dir, studio_dir, password, token, say)
        studio_url = local.url
    client = StudioClient(studio_url, token)
    os.environ[url_env] = studio_url
    return client, studio_url, local, password


def _studio_env(project_dir: Path, studio_url: str | None) -> tuple[str, str]:
    """The project's Label Studio URL variable, and the API token to use.

    The token comes from the project's token variable; a local server is started with a
    random one when the variable is not set. A server at ``studio_url`` needs it set.
    """
    with Project.open(project_dir) as project:
        url_env, token_env = project.config.studio.url_env, project.config.studio.token_env
    token = os.environ.get(token_env)
    if studio_url is not None and not token:
        raise ConfigError(
            f"set {token_env} to the API token of the Label Studio at {redact_url(studio_url)}"
        )
    return url_env, token or secrets.token_hex(20)


def _start_local_studio(
    project_dir: Path, studio_dir: Path, password: str, token: str, say: Progress
) -> LocalServer:
    """Start a fresh local Label Studio (stopping and wiping an earlier demo's)."""
    from relabel.studio import server as server_mod

    venv = server_mod.default_venv()
    server_mod.install_server(venv)
    studio_dir = studio_dir.resolve()
    # The demo starts from scratch: its project state was just reset, so the Label
    # Studio data of an earlier demo (its projects, and the admin and token fixed on
    # the first start of a data folder) is stale. Stop that server and start afresh.
    if server_mod.stop_server(studio_dir):
        say(f"stopped the earlier demo's Label Studio ({studio_dir})")
    _wipe_studio_dir(studio_dir)
    say(f"starting Label Studio in {studio_dir} (a few seconds; a minute the first time)")
    return server_mod.start_server(
        venv,
        studio_dir,
        username=DEMO_USER,
        password=password,
        token=token,
        document_root=project_dir.resolve(),
        timeout=240.0,
    )


def _demo_cycle(
    project: Project, truth: dict[str, str], cycle: int, summary: dict[str, Any]
) -> DemoCycle:
    """A finished cycle's figures as the demo prints them (the noise left from the truth)."""
    frac, wrong = noise_left(project, truth)
    return DemoCycle(
        cycle=cycle,
        reviewed=int(summary.get("reviewed") or 0),
        corrected=int(summary.get("corrected") or 0),
        hit_rate=float(summary.get("hit_rate") or 0),
        noise_left=frac,
        mislabeled_left=wrong,
        accuracy=float(summary.get("accuracy") or 0),
        estimated_errors_left=int(summary.get("estimated_errors_left") or 0),
        seconds=float(sum((summary.get("step_seconds") or {}).values())),
    )
