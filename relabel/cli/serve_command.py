"""``relabel serve``: Label Studio's model backend and webhook receiver for a project."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from relabel.cli.options import project_arg


@contextlib.contextmanager
def _studio_client(project: Path, required: bool) -> Iterator[Any]:
    """The project's Label Studio client when its variables are set (or ``required``)."""
    from relabel.project import Project
    from relabel.studio.client import StudioClient

    with Project.open(project, readonly=True) as p:
        studio = p.config.studio
    if not required and not os.environ.get(studio.token_env):
        yield None
        return
    with StudioClient.from_env(studio.url_env, studio.token_env, retries=studio.retries) as client:
        yield client


@click.command()
@project_arg
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=9090,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--max-body",
    default=1024 * 1024,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most bytes of a webhook body (larger: 413).",
)
@click.option(
    "--cycle-on-answers",
    is_flag=True,
    help="When the waiting cycle's answers are in, finish it and start the next one "
    "(in the background, under the project lock).",
)
@click.option(
    "--cycle-after",
    type=click.IntRange(min=0),
    help="With --cycle-on-answers: answered tasks that are enough (default: "
    "review.min_reviews; 0: all).",
)
def serve(
    project: Path,
    host: str,
    port: int,
    max_body: int,
    cycle_on_answers: bool,
    cycle_after: int | None,
) -> None:
    """Serve Label Studio's model backend (predictions of the latest run) and record
    answers from its webhooks at once (secret: RELABEL_WEBHOOK_SECRET). Runs until
    Ctrl-C."""
    from relabel.serve.app import SECRET_ENV, ServeOptions, start_backend

    options = ServeOptions(
        host=host,
        port=port,
        secret=os.environ.get(SECRET_ENV) or None,
        max_body=max_body,
        cycle_on_answers=cycle_on_answers,
        cycle_after=cycle_after,
    )
    with _studio_client(project, cycle_on_answers) as client:
        server = start_backend(project, options, client)
        click.echo(f"relabel serve: listening at {server.url} (Ctrl-C stops)", err=True)
        try:
            server.wait()
        finally:
            server.stop()
