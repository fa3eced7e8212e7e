"""``relabel studio ...``: a local Label Studio server, and binding a project to one."""

from __future__ import annotations

from pathlib import Path

import click

from relabel.cli.options import project_arg, studio_data_dir
from relabel.cli.review_commands import studio_session


@click.group()
def studio() -> None:
    """A local Label Studio server for demos, tests and CI (in its own venv)."""


@studio.command("install")
@click.option(
    "--venv",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to install (default: $RELABEL_STUDIO_VENV).",
)
def studio_install(venv: Path | None) -> None:
    """Install the Label Studio server into its own venv."""
    from relabel.studio import server

    path = server.install_server(venv or server.default_venv())
    click.echo(f"Label Studio installed in {path}")


@studio.command("start")
@studio_data_dir
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: a free one).")
@click.option("--username", default="admin@relabel.local", show_default=True)
@click.option(
    "--document-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder Label Studio may serve local files from.",
)
def studio_start(
    data_dir: Path, port: int | None, username: str, document_root: Path | None
) -> None:
    """Start Label Studio on 127.0.0.1 with the token from LABEL_STUDIO_API_KEY."""
    import os

    from relabel.errors import ConfigError
    from relabel.studio import server

    token = os.environ.get("LABEL_STUDIO_API_KEY")
    password = os.environ.get("LABEL_STUDIO_PASSWORD")
    if not token or not password:
        raise ConfigError(
            "set LABEL_STUDIO_API_KEY (the API token to create) and "
            "LABEL_STUDIO_PASSWORD (the admin's password) first"
        )
    local = server.start_server(
        server.default_venv(),
        data_dir.resolve(),
        port=port,
        username=username,
        password=password,
        token=token,
        document_root=document_root.resolve() if document_root else None,
    )
    click.echo(f"Label Studio is up: {local.url} (pid {local.pid}); login {username}")
    click.echo(f"export LABEL_STUDIO_URL={local.url}")


@studio.command("stop")
@studio_data_dir
def studio_stop(data_dir: Path) -> None:
    """Stop the local Label Studio started from DATA_DIR."""
    from relabel.studio import server

    stopped = server.stop_server(data_dir.resolve())
    click.echo("stopped" if stopped else "no server was running")


@studio.command("bind")
@project_arg
@click.option(
    "--studio-project",
    "studio_project_id",
    required=True,
    type=click.IntRange(min=1),
    help="The Label Studio project id (the number in its URL: /projects/ID).",
)
def studio_bind(project: Path, studio_project_id: int) -> None:
    """Bind PROJECT to an existing Label Studio project at $LABEL_STUDIO_URL.

    For a server that moved and whose project relabel cannot recognise by itself. The
    project must have the same classes; unfinished tasks of a previous project are
    carried over.
    """
    from relabel.loop.binding import bind

    with studio_session(project, "relabel studio bind") as (p, client):
        result = bind(p, client, studio_project_id)
    click.echo(
        f"bound {project} to Label Studio project {result.studio_project_id} at {result.url}"
    )
    if result.previous is not None and result.previous != result.studio_project_id:
        click.echo(
            f"  unfinished tasks of project {result.previous}: {result.linked} found in "
            f"project {result.studio_project_id}, {result.replanned} to be pushed again"
        )
