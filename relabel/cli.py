"""The ``relabel`` command: a thin click front end over the library.

Each command parses its options, calls one library function and prints the result.
Results go to stdout (or files); logs and progress go to stderr. Library errors
(:class:`relabel.errors.RelabelError`) become a one-paragraph message and the documented
exit code (:class:`relabel.errors.ExitCode`).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from relabel.errors import ExitCode, RelabelError

log = logging.getLogger("relabel")


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (for schedulers and log collectors)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def setup_logging(verbose: int, quiet: bool, json_logs: bool) -> None:
    """Send logs to stderr at the level the flags ask for."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname).1s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("relabel").setLevel(level)
    if verbose < 2:
        for noisy in ("httpx", "urllib3", "absl", "tensorflow", "h5py"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


class RelabelGroup(click.Group):
    """A click group that turns library errors into messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelabelError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _progress(message: str) -> None:
    log.info("%s", message)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


project_arg = click.argument("project", type=click.Path(file_okay=False, path_type=Path))


@click.group(cls=RelabelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-vv: also HTTP and TF logs).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.option("--json-logs", is_flag=True, help="Log lines as JSON objects on stderr.")
@click.version_option(package_name="relabel")
def main(verbose: int, quiet: bool, json_logs: bool) -> None:
    """relabel: find wrong labels in image datasets and get them fixed in Label Studio."""
    setup_logging(verbose, quiet, json_logs)


@main.command()
@project_arg
@click.option(
    "--images",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder with one sub-folder per class.",
)
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV or Parquet with columns path,label and optional id.",
)
@click.option("--classes", help="Comma-separated class list (default: the labels found, sorted).")
@click.option("--name", help="Project name (default: the folder name).")
@click.option("--folds", type=click.IntRange(min=2), help="Cross-validation folds (default 5).")
@click.option(
    "--image-size",
    type=click.IntRange(min=4),
    help="Resize images to SIZE x SIZE (default: from the first image, within 16-128).",
)
@click.option("--channels", type=click.Choice(["1", "3"]), help="1 grayscale or 3 RGB.")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Leave invalid rows out (listed in PROJECT/skipped.csv) instead of failing.",
)
def init(
    project: Path,
    images: Path | None,
    manifest: Path | None,
    classes: str | None,
    name: str | None,
    folds: int | None,
    image_size: int | None,
    channels: str | None,
    skip_invalid: bool,
) -> None:
    """Create PROJECT from an images folder or a manifest, validating every row."""
    from relabel.project import Project

    if images is not None and manifest is not None:
        raise click.UsageError("give --images or --manifest, not both")
    result = Project.init(
        project,
        images=images,
        manifest=manifest,
        classes=[c.strip() for c in classes.split(",")] if classes else None,
        name=name,
        folds=folds,
        image_size=[image_size, image_size] if image_size else None,
        channels=int(channels) if channels else None,
        skip_invalid=skip_invalid,
    )
    click.echo(
        f"created {result.project_dir}: {result.n_samples} samples, {len(result.classes)} classes"
    )
    if result.skipped:
        click.echo(f"skipped {result.skipped} invalid row(s): {result.skipped_file}")


@main.command()
@project_arg
@click.option("--no-final-model", is_flag=True, help="Skip the final model on all samples.")
def train(project: Path, no_final_model: bool) -> None:
    """Cross-validate a model: out-of-fold probabilities for every sample."""
    from relabel.project import Project

    with Project.open(project) as p:
        r = p.train(progress=_progress, final_model=not no_final_model)
    click.echo(
        f"run {r.run_id}: {r.n_samples} samples, out-of-fold accuracy "
        f"{r.oof_accuracy:.4f}, macro-F1 {r.oof_macro_f1:.4f}, {r.seconds:.1f} s"
    )


@main.command()
@project_arg
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file: .csv or .parquet.",
)
@click.option("--with-probs", is_flag=True, help="Add a prob:<class> column per class.")
def score(project: Path, out: Path, with_probs: bool) -> None:
    """Rank samples by how likely their label is wrong."""
    from relabel.project import Project

    with Project.open(project) as p:
        ranked = p.score(out, with_probs=with_probs)
    lanes = ranked.table["lane"].value_counts()
    click.echo(
        f"wrote {len(ranked.table)} rows to {out} (run {ranked.run_id}): "
        f"{int(lanes.get('label_issue', 0))} label_issue, "
        f"{int(lanes.get('uncertain', 0))} uncertain, {int(lanes.get('ok', 0))} ok"
    )


@main.command()
@project_arg
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(project: Path, as_json: bool) -> None:
    """Samples, class balance, estimated errors, confused pairs and cycles."""
    from relabel.project import Project

    with Project.open(project) as p:
        info = p.status()
    if as_json:
        _echo_json(info)
        return
    click.echo(
        f"project {info['project']}: {info['samples']} samples "
        f"({info['active']} active, {info['excluded']} excluded, "
        f"{info['changed']} relabelled)"
    )
    click.echo("class balance (current / original):")
    for c in info["classes"]:
        est = info.get("estimated_errors_per_class", {}).get(c)
        extra = f"   estimated errors {est}" if est is not None else ""
        click.echo(
            f"  {c:>12}: {info['class_balance'][c]:6d} / {info['original_balance'][c]:6d}{extra}"
        )
    if "estimated_errors" in info:
        run = info["run"]
        stale = " (labels changed since: retrain)" if run["stale"] else ""
        click.echo(f"run {run['run_id']}{stale}: out-of-fold accuracy {run['oof_accuracy']:.4f}")
        click.echo(
            f"estimated label errors: {info['estimated_errors']}; lanes: "
            + ", ".join(f"{k} {v}" for k, v in info["lanes"].items())
        )
        if info["confused_pairs"]:
            click.echo("most confused (given -> likely true: estimated errors):")
            for pair in info["confused_pairs"]:
                click.echo(f"  {pair['given']} -> {pair['likely']}: {pair['estimated']}")
    else:
        click.echo("not trained yet: relabel train " + str(project))
    for row in info.get("cycles", []):
        click.echo(json.dumps(row, default=str))


@main.command()
@project_arg
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output manifest: .csv or .parquet.",
)
def export(project: Path, out: Path) -> None:
    """Write the current manifest with original labels beside the current ones."""
    from relabel.project import Project

    with Project.open(project) as p:
        n = p.export(out)
    click.echo(f"wrote {n} rows to {out}")


@main.command()
@project_arg
@click.argument("sample_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(project: Path, sample_id: str, as_json: bool) -> None:
    """Show one sample's label history, oldest first."""
    from relabel.project import Project

    with Project.open(project) as p:
        rows = p.history(sample_id)
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        who = ",".join(r["reviewers"]) or "-"
        cycle = "-" if r["cycle"] is None else r["cycle"]
        click.echo(
            f"v{r['version_id']:<6} {r['created_at']}  {r['label']:>10} "
            f"[{r['status']}] source={r['source']} cycle={cycle} by={who} "
            f"evidence={json.dumps(r['evidence'], sort_keys=True)}"
        )


@main.command("demo-data")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--noise", help="Injected noise: sym:0.1 or pairs like 1>7:0.3,3>8:0.3.")
@click.option("--seed", default=0, show_default=True, help="Noise seed.")
def demo_data(out_dir: Path, noise: str | None, seed: int) -> None:
    """Write scikit-learn's digits as PNG files + manifest.csv (+ truth.csv)."""
    from relabel import demo

    data = demo.write_digits(out_dir, noise=noise, seed=seed)
    click.echo(
        f"wrote {data.n_samples} images to {out_dir} "
        f"({data.n_noisy} labels flipped); manifest: {data.manifest}"
    )


def run() -> None:
    """Entry point that never shows a traceback for library errors."""
    main(prog_name="relabel")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name="relabel") or ExitCode.OK)
