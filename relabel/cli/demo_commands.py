"""``relabel demo`` (the whole loop on noisy digits) and ``relabel demo-data``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from relabel.cli.output import PROGRESS

if TYPE_CHECKING:
    from relabel.demo.loop import DemoCycle, DemoResult


@click.command("demo-data")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--noise", help="Injected noise: sym:0.1 or pairs like 1>7:0.3,3>8:0.3.")
@click.option("--seed", default=0, show_default=True, help="Noise seed.")
@click.option("--overwrite", is_flag=True, help="Replace demo data already in OUT_DIR.")
def demo_data(out_dir: Path, noise: str | None, seed: int, overwrite: bool) -> None:
    """Write scikit-learn's digits as PNG files + manifest.csv (+ truth.csv)."""
    from relabel.demo import digits as demo

    data = demo.write_digits(out_dir, noise=noise, seed=seed, overwrite=overwrite)
    flipped = int((data.true_labels != data.given_labels).sum())
    click.echo(
        f"wrote {len(data.ids)} images to {out_dir} ({flipped} labels flipped); "
        f"manifest: {data.manifest}, true labels: {data.truth}"
    )


@click.command()
@click.option(
    "--project",
    "project_dir",
    default=Path("projects/digits"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The demo project folder.",
)
@click.option("--cycles", default=3, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--noise", default="1>7:0.3,3>8:0.3,5>6:0.3", show_default=True, help="Injected label noise."
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--no-simulate",
    is_flag=True,
    help="Stop after the first push and print the URL and login to review by hand.",
)
@click.option(
    "--studio-dir",
    default=Path(".relabel-studio"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder of the local Label Studio.",
)
@click.option("--keep-server", is_flag=True, help="Leave the local Label Studio running.")
@click.option(
    "--studio-url",
    default=None,
    metavar="URL",
    help="Use this running Label Studio (token from $LABEL_STUDIO_API_KEY) "
    "instead of starting a local one.",
)
@click.option(
    "--pool",
    is_flag=True,
    help="The unlabelled-pool loop instead: most labels hidden; each cycle trains, pushes "
    "--type label, a simulated annotator answers the true labels, pull.",
)
@click.option(
    "--pool-budget",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="With --pool: samples labelled per cycle.",
)
def demo(
    project_dir: Path,
    cycles: int,
    noise: str,
    seed: int,
    no_simulate: bool,
    studio_dir: Path,
    keep_server: bool,
    studio_url: str | None,
    pool: bool,
    pool_budget: int,
) -> None:
    """Full demo: local Label Studio, noisy digits, cycles with simulated reviewers."""
    from relabel.demo.loop import run_demo

    _check_token(studio_url, no_simulate)
    if pool:
        _pool_demo(project_dir, cycles, pool_budget, seed, studio_dir, keep_server, studio_url)
        return
    click.echo(
        f"{'cycle':>5} {'reviewed':>8} {'corrected':>9} {'hit rate':>8} "
        f"{'noise left':>10} {'accuracy':>8} {'est. errors':>11} {'seconds':>7}"
    )
    result = run_demo(
        project_dir,
        cycles=cycles,
        noise=noise,
        seed=seed,
        simulate=not no_simulate,
        studio_url=studio_url,
        studio_dir=studio_dir,
        keep_server=keep_server,
        on_cycle=_show_cycle,
        progress=PROGRESS,
    )
    click.echo(f"initial noise {result.initial_noise:.2%}; project: {result.project_dir}")
    if result.waiting:
        _print_waiting(result, studio_url, studio_dir)
    elif keep_server and not studio_url:
        click.echo(
            f"Label Studio keeps running: {result.url} "
            f"(login {result.username} / {result.password})"
        )


def _pool_demo(
    project_dir: Path,
    rounds: int,
    budget: int,
    seed: int,
    studio_dir: Path,
    keep_server: bool,
    studio_url: str | None,
) -> None:
    """``relabel demo --pool``: one line per round (see :mod:`relabel.demo.pool`)."""
    from relabel.demo.pool import PoolRound, run_pool_demo

    click.echo(
        f"{'round':>5} {'labelled':>8} {'unlabelled':>10} {'oof acc.':>8} "
        f"{'pool acc.':>9} {'pushed':>6} {'answered':>8} {'seconds':>7}"
    )

    def show(row: PoolRound) -> None:
        click.echo(
            f"{row.round:>5} {row.labelled:>8} {row.unlabelled:>10} {row.oof_accuracy:>8.4f} "
            f"{row.pool_accuracy:>9.4f} {row.pushed:>6} {row.answered:>8} {row.seconds:>7.1f}"
        )

    result = run_pool_demo(
        project_dir,
        rounds=rounds,
        budget=budget,
        seed=seed,
        studio_url=studio_url,
        studio_dir=studio_dir,
        keep_server=keep_server,
        on_round=show,
        progress=PROGRESS,
    )
    click.echo(f"project: {result.project_dir} (labels in relabel export, accuracy per round)")


def _check_token(studio_url: str | None, no_simulate: bool) -> None:
    """Refuse to start without the API token the chosen demo needs."""
    from relabel.errors import ConfigError

    if studio_url and not os.environ.get("LABEL_STUDIO_API_KEY"):
        raise ConfigError("--studio-url: set LABEL_STUDIO_API_KEY to that server's API token")
    if no_simulate and not os.environ.get("LABEL_STUDIO_API_KEY"):
        raise ConfigError(
            "--no-simulate: set LABEL_STUDIO_API_KEY to a secret of your choice first "
            "(the local server is created with it, and `relabel cycle` needs it later)"
        )


def _show_cycle(row: DemoCycle) -> None:
    """One line of the demo's table."""
    click.echo(
        f"{row.cycle:>5} {row.reviewed:>8} {row.corrected:>9} {row.hit_rate:>8.2f} "
        f"{row.noise_left:>10.2%} {row.accuracy:>8.4f} "
        f"{row.estimated_errors_left:>11} {row.seconds:>7.1f}"
    )


def _print_waiting(result: DemoResult, studio_url: str | None, studio_dir: Path) -> None:
    """Where to review by hand (``--no-simulate``), and how to go on."""
    from relabel.studio.urls import redact_url

    click.echo(f"Tasks are waiting in Label Studio: {redact_url(result.url)}")
    if not studio_url:
        click.echo(f"  login: {result.username}   password: {result.password}")
    click.echo(
        f"  then: export LABEL_STUDIO_URL={redact_url(result.url)}; "
        f"relabel cycle {result.project_dir}"
    )
    if not studio_url:
        click.echo(f"  stop the server with: relabel studio stop --data-dir {studio_dir}")


COMMANDS = (demo, demo_data)
