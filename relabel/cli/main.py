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
from relabel.infra.progress import TerminalProgress, bars_wanted

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


#: The Label Studio client logs every HTTP request here, at DEBUG (shown with ``-vv``).
HTTP_LOGGER = "relabel.studio.http"


def setup_logging(verbose: int, quiet: bool, json_logs: bool) -> None:
    """Send logs to stderr at the level the flags ask for.

    ``-v`` shows relabel's DEBUG lines; ``-vv`` adds one line per HTTP request to Label
    Studio and the libraries' own logs. Python warnings (Pillow's, TensorFlow's) become log
    lines instead of raw ``warnings`` output.
    """
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname).1s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("relabel").setLevel(level)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.ERROR if quiet else logging.WARNING)
    noisy = ("httpx", "httpcore", "urllib3", "absl", "tensorflow", "h5py")
    if verbose >= 2 and not quiet:
        logging.getLogger(HTTP_LOGGER).setLevel(logging.DEBUG)
        for name in noisy:
            logging.getLogger(name).setLevel(logging.DEBUG if name != "httpcore" else logging.INFO)
    else:
        logging.getLogger(HTTP_LOGGER).setLevel(logging.WARNING)
        for name in noisy:
            logging.getLogger(name).setLevel(logging.WARNING)


class Budget(click.ParamType):
    """A review budget: a count of samples (``200``) or a fraction of them (``0.05``)."""

    name = "budget"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float):
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a count (200) or a fraction (0.05)", param, ctx)
        if number < 0 or (number >= 1 and not number.is_integer()) or number != number:
            self.fail(f"{value!r}: give a count >= 0 or a fraction in (0, 1)", param, ctx)
        return int(number) if number >= 1 or number == 0 else number


BUDGET = Budget()


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


def _log_message(message: str) -> None:
    log.info("%s", message)


#: What every command passes as ``progress``: log lines, and bars on a terminal (see
#: :mod:`relabel.infra.progress`); set up by :func:`main` from the logging flags.
_progress = TerminalProgress(_log_message, bars=False)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


project_arg = click.argument("project", type=click.Path(file_okay=False, path_type=Path))


@click.group(cls=RelabelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-vv: also HTTP and TF logs).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.option("--json-logs", is_flag=True, help="Log lines as JSON objects on stderr.")
@click.version_option(package_name="relabel")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool, json_logs: bool) -> None:
    """relabel: find wrong labels in image datasets and get them fixed in Label Studio."""
    setup_logging(verbose, quiet, json_logs)
    _progress.bars = bars_wanted(json_logs, quiet)
    if _progress.bars:
        from tqdm.contrib.logging import logging_redirect_tqdm

        ctx.with_resource(logging_redirect_tqdm(loggers=[logging.getLogger()]))
    ctx.call_on_close(_progress.close)


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
    from relabel.infra.lock import project_lock
    from relabel.project import Project
    from relabel.report.build import build_report

    with Project.open(project) as p, project_lock(p.root, "relabel train"):
        r = p.train(progress=_progress, final_model=not no_final_model)
        report_path = build_report(p)
    click.echo(
        f"run {r.run_id}: {r.n_samples} samples, out-of-fold accuracy "
        f"{r.oof_accuracy:.4f}, macro-F1 {r.oof_macro_f1:.4f}, {r.seconds:.1f} s"
    )
    click.echo(f"report: {report_path}")


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

    with Project.open(project, readonly=True) as p:
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

    with Project.open(project, readonly=True) as p:
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
    _print_cycles(info.get("cycles", []))


def _missing(value: Any) -> bool:
    """None or NaN (a missing number in a pandas table)."""
    return value is None or value != value


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _print_cycles(cycles: list[dict[str, Any]]) -> None:
    if not cycles:
        return
    click.echo("cycles:")
    click.echo(
        f"  {'cycle':>5} {'status':>8} {'budget':>6} {'reviewed':>8} {'corrected':>9} "
        f"{'hit rate':>8} {'est. errors left':>16} {'accuracy':>8} {'macro-F1':>8} "
        f"{'minutes':>7}"
    )
    for c in cycles:
        minutes = sum(c["step_seconds"].values()) / 60
        click.echo(
            f"  {c['cycle']:>5} {c['status']:>8} {_fmt(c['budget'], '>6')} "
            f"{_fmt(c['reviewed'], '>8')} {_fmt(c['corrected'], '>9')} "
            f"{_fmt(c['hit_rate'], '>8.2f')} {_fmt(c['estimated_errors_left'], '>16')} "
            f"{_fmt(c['accuracy'], '>8.4f')} {_fmt(c['macro_f1'], '>8.4f')} {minutes:>7.1f}"
        )
    sources = {c["accuracy_source"] for c in cycles if c.get("accuracy_source")}
    if sources:
        click.echo("  accuracy: " + "; ".join(sorted(sources)))
    hint = cycles[-1].get("stop_hint") or next(
        (c["stop_hint"] for c in reversed(cycles) if c.get("stop_hint")), None
    )
    if hint:
        click.echo(f"  {hint}")


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

    with Project.open(project, readonly=True) as p:
        n = p.export(out)
    click.echo(f"wrote {n} rows to {out}")


@main.command()
@project_arg
@click.argument("sample_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(project: Path, sample_id: str, as_json: bool) -> None:
    """Show one sample's label history, oldest first."""
    from relabel.project import Project

    with Project.open(project, readonly=True) as p:
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


@main.command()
@click.argument("project", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def annotators(project: Path, as_json: bool) -> None:
    """Show each reviewer's quality: tasks, skips, gold and estimated accuracy, confusions.

    Estimated accuracy comes from a Dawid-Skene model of every answer pulled (anchored by
    gold tasks), with a 95 % interval; agreement is the share of a reviewer's answers that
    match the majority of the other reviewers of the same task.
    """
    from relabel.project import Project

    with Project.open(project, readonly=True) as p:
        table = p.annotators()
    if as_json:
        _echo_json(json.loads(table.to_json(orient="records")))
        return
    if table.empty:
        click.echo("no answers pulled yet")
        return
    click.echo(
        f"{'reviewer':<10} {'tasks':>6} {'skips':>6} {'gold':>9} {'estimated (95% CI)':>22} "
        f"{'agree':>6}  confuses"
    )
    for r in table.itertuples(index=False):
        gold = "-" if _missing(r.gold_accuracy) else f"{r.gold_accuracy:.2f}/{r.gold_tasks}"
        agree = "-" if _missing(r.agreement) else f"{r.agreement:.2f}"
        estimate = f"{r.estimated_accuracy:.2f} ({r.accuracy_low:.2f}-{r.accuracy_high:.2f})"
        click.echo(
            f"{r.reviewer:<10} {r.tasks:>6} {r.skips:>6} {gold:>9} {estimate:>22} "
            f"{agree:>6}  {r.confuses or '-'}"
        )


@main.command("demo-data")
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


def _client(p: Any) -> Any:
    from relabel.studio.client import StudioClient

    studio = p.config.studio
    return StudioClient.from_env(studio.url_env, studio.token_env, retries=studio.retries)


def _print_summary(title: str, summary: Any) -> None:
    data = summary if isinstance(summary, dict) else dict(vars(summary))
    click.echo(
        title
        + ": "
        + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in data.items()
            if not isinstance(v, dict)
        )
    )
    for k, v in data.items():
        if isinstance(v, dict) and v:
            click.echo(f"  {k}: " + ", ".join(f"{a} {b}" for a, b in v.items()))


@main.command()
@project_arg
@click.option(
    "--budget",
    type=BUDGET,
    help="Most samples to push: a count (200) or a fraction of the samples (0.05) "
    "(default: review.budget).",
)
@click.option(
    "--lane",
    type=click.Choice(["label_issue", "uncertain", "all"]),
    help="Which lane to take samples from (default: config review.lane).",
)
@click.option(
    "--batch-size",
    default=5000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Tasks per import request.",
)
def push(project: Path, budget: float | None, lane: str | None, batch_size: int) -> None:
    """Send the most suspicious samples to Label Studio (idempotent, resumable)."""
    from relabel.infra.lock import project_lock
    from relabel.loop.push import push as push_samples
    from relabel.project import Project

    with Project.open(project) as p, project_lock(p.root, "relabel push"), _client(p) as client:
        summary = push_samples(
            p, client, budget=budget, lane=lane, batch_size=batch_size, progress=_progress
        )
    _print_summary("push", summary)


@main.command()
@project_arg
def pull(project: Path) -> None:
    """Read reviewers' answers and apply them as label versions, exactly once."""
    from relabel.infra.lock import project_lock
    from relabel.loop.pull import pull as pull_reviews
    from relabel.project import Project

    with Project.open(project) as p, project_lock(p.root, "relabel pull"), _client(p) as client:
        summary = pull_reviews(p, client, progress=_progress)
    _print_summary("pull", summary)


def _read_truth(path: Path) -> dict[str, str]:
    import pandas as pd

    from relabel.errors import ConfigError

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise ConfigError(f"{path}: cannot read truth file: {exc}") from exc
    if not {"id", "label"} <= set(frame.columns):
        raise ConfigError(f"{path}: truth file needs columns id,label")
    return dict(zip(frame["id"], frame["label"], strict=True))


def _accuracies(text: str) -> list[float]:
    """``--accuracy``: one number, or comma-separated numbers, each in [0, 1]."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(0 <= v <= 1 for v in values):
        raise click.BadParameter(
            f"{text!r}: numbers in [0, 1], comma-separated", param_hint="--accuracy"
        )
    return values


@main.command("review-simulate")
@project_arg
@click.option(
    "--truth",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with id,label: the true labels the simulated reviewers know.",
)
@click.option(
    "--accuracy",
    default="0.95",
    show_default=True,
    help="Each reviewer's accuracy: one value for all, or one per reviewer (0.95,0.85,0.6).",
)
@click.option(
    "--reviewers",
    type=click.IntRange(min=1),
    help="Simulated reviewers (default: as many as --accuracy values, at least 2).",
)
@click.option("--skip-rate", default=0.05, show_default=True, type=click.FloatRange(0, 1))
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--realistic",
    is_flag=True,
    help="Mistakes go to the classes each image is confusable with (the model's "
    "out-of-fold probabilities), not uniformly.",
)
def review_simulate(
    project: Path,
    truth: Path,
    accuracy: str,
    reviewers: int | None,
    skip_rate: float,
    seed: int,
    realistic: bool,
) -> None:
    """Answer open tasks as simulated reviewers, through the real Label Studio API.

    Each task gets answers until it has as many as there are reviewers (or as many as
    relabel asked for, for a task given one more reviewer).
    """
    from relabel.demo.reviewers import SimulatedReview
    from relabel.infra.lock import project_lock
    from relabel.loop.push import ensure_studio_project
    from relabel.project import Project

    accuracies = _accuracies(accuracy)
    count = reviewers or max(2, len(accuracies))
    if len(accuracies) > 1 and len(accuracies) != count:
        raise click.BadParameter(
            f"{len(accuracies)} accuracies for {count} reviewers", param_hint="--accuracy"
        )
    review = SimulatedReview(
        truth=_read_truth(truth),
        accuracy=accuracies[0] if len(accuracies) == 1 else tuple(accuracies),
        reviewers=count,
        skip_rate=skip_rate,
        seed=seed,
        realistic=realistic,
    )
    with (
        Project.open(project) as p,
        project_lock(p.root, "relabel review-simulate"),
        _client(p) as client,
    ):
        summary = review(p, client, ensure_studio_project(p, client, create=False), 0)
    _print_summary("review-simulate", summary)


@main.command()
@project_arg
@click.option(
    "--until",
    type=click.Choice(["pushed"]),
    help="Stop after the push; the next run resumes with the pull.",
)
@click.option(
    "--simulate-review",
    "truth",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Answer tasks with simulated reviewers knowing these labels.",
)
@click.option(
    "--min-reviews",
    type=click.IntRange(min=0),
    help="Pull and retrain only once N tasks of the cycle have answers (0: all).",
)
@click.option(
    "--budget",
    type=BUDGET,
    help="Override the review budget: a count (200) or a fraction of the samples (0.05).",
)
@click.option("--yes", is_flag=True, hidden=True, help="Deprecated: relabel never prompts.")
def cycle(
    project: Path,
    until: str | None,
    truth: Path | None,
    min_reviews: int | None,
    budget: float | None,
    yes: bool,
) -> None:
    """Run or resume one cycle: train, select, push, pull, retrain, evaluate.

    Exit codes: 0 cycle done, 3 waiting for reviews, 4 nothing to do, 5 locked.
    """
    from relabel.demo.reviewers import SimulatedReview
    from relabel.infra.lock import project_lock
    from relabel.loop.cycle import run_cycle
    from relabel.project import Project

    if yes:
        log.warning("--yes is deprecated and has no effect: relabel never prompts")
    with Project.open(project) as p, project_lock(p.root, "relabel cycle"), _client(p) as client:
        review = SimulatedReview(truth=_read_truth(truth)) if truth else None
        result = run_cycle(
            p,
            client,
            until=until,
            review=review,
            min_reviews=min_reviews,
            budget=budget,
            progress=_progress,
        )
    click.echo(
        f"cycle {result.cycle}: {result.state}"
        + (f" (steps: {', '.join(result.steps)})" if result.steps else "")
    )
    if result.summary:
        _print_summary(f"cycle {result.cycle}", result.summary)
    sys.exit(int(result.exit_code))


@main.command()
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
def demo(
    project_dir: Path,
    cycles: int,
    noise: str,
    seed: int,
    no_simulate: bool,
    studio_dir: Path,
    keep_server: bool,
    studio_url: str | None,
) -> None:
    """Full demo: local Label Studio, noisy digits, cycles with simulated reviewers."""
    import os

    from relabel.demo.loop import DemoCycle, run_demo
    from relabel.errors import ConfigError

    if studio_url and not os.environ.get("LABEL_STUDIO_API_KEY"):
        raise ConfigError("--studio-url: set LABEL_STUDIO_API_KEY to that server's API token")
    if no_simulate and not os.environ.get("LABEL_STUDIO_API_KEY"):
        raise ConfigError(
            "--no-simulate: set LABEL_STUDIO_API_KEY to a secret of your choice first "
            "(the local server is created with it, and `relabel cycle` needs it later)"
        )
    click.echo(
        f"{'cycle':>5} {'reviewed':>8} {'corrected':>9} {'hit rate':>8} "
        f"{'noise left':>10} {'accuracy':>8} {'est. errors':>11} {'seconds':>7}"
    )

    def show(row: DemoCycle) -> None:
        click.echo(
            f"{row.cycle:>5} {row.reviewed:>8} {row.corrected:>9} {row.hit_rate:>8.2f} "
            f"{row.noise_left:>10.2%} {row.accuracy:>8.4f} "
            f"{row.estimated_errors_left:>11} {row.seconds:>7.1f}"
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
        on_cycle=show,
        progress=_progress,
    )
    click.echo(f"initial noise {result.initial_noise:.2%}; project: {result.project_dir}")
    if result.waiting:
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
    elif keep_server and not studio_url:
        click.echo(
            f"Label Studio keeps running: {result.url} "
            f"(login {result.username} / {result.password})"
        )


@main.group()
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
@click.option(
    "--data-dir",
    default=Path(".relabel-studio"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
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
@click.option(
    "--data-dir",
    default=Path(".relabel-studio"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
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
    from relabel.infra.lock import project_lock
    from relabel.loop.binding import bind
    from relabel.project import Project

    with (
        Project.open(project) as p,
        project_lock(p.root, "relabel studio bind"),
        _client(p) as client,
    ):
        result = bind(p, client, studio_project_id)
    click.echo(
        f"bound {project} to Label Studio project {result.studio_project_id} at {result.url}"
    )
    if result.previous is not None and result.previous != result.studio_project_id:
        click.echo(
            f"  unfinished tasks of project {result.previous}: {result.linked} found in "
            f"project {result.studio_project_id}, {result.replanned} to be pushed again"
        )


@main.command()
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
    """Write the HTML report (evaluation, label quality, galleries, cycles, shift, annotators)."""
    from relabel.project import Project
    from relabel.report.build import build_report

    with Project.open(project, readonly=True) as p:
        path = build_report(p, out, new_images=new_images)
    click.echo(f"wrote {path}")


def run() -> None:
    """Entry point that never shows a traceback for library errors."""
    main(prog_name="relabel")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name="relabel") or ExitCode.OK)
