"""``relabel report``: the HTML report of a project."""

from __future__ import annotations

from pathlib import Path

import click

from relabel.cli.options import project_arg


@click.command()
@project_arg
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for report.html (default: PROJECT/report).",
)
@click.option(
    "--new-images",
    type=click.Path(exists=True, path_type=Path),
    help="Folder or manifest of a new batch: adds a shift check against it.",
)
def report(project: Path, out: Path | None, new_images: Path | None) -> None:
    """Write the HTML report: evaluation, labels, galleries, dataset issues, cycles, annotators."""
    from relabel.project import Project
    from relabel.report.build import build_report

    with Project.open(project, readonly=True) as p:
        path = build_report(p, out, new_images=new_images)
    click.echo(f"wrote {path}")
