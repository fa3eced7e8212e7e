"""The commands of the review loop: ``push``, ``pull``, ``cycle``, ``review-simulate``
and ``annotators``.

``push``, ``pull``, ``cycle`` and ``review-simulate`` hold the project lock and talk to
the Label Studio named by the project's ``[studio]`` section.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from relabel.cli.options import BUDGET, project_arg
from relabel.cli.output import PROGRESS, echo_json, missing, print_summary
from relabel.config.choices import ACQUISITION_STRATEGIES

log = logging.getLogger("relabel")


@contextlib.contextmanager
def studio_session(project: Path, command: str) -> Iterator[tuple[Any, Any]]:
    """Hold ``project``'s lock for ``command``, open it and connect to its Label Studio.

    The lock is taken before the store is opened (:meth:`Project.locked`).

    Yields
    ------
    (Project, StudioClient)
        The project and the client of its ``[studio]`` section (environment variable
        names, retries); both closed when the block ends.
    """
    from relabel.project import Project
    from relabel.studio.client import StudioClient

    with Project.locked(project, command) as p:
        studio = p.config.studio
        with StudioClient.from_env(
            studio.url_env, studio.token_env, retries=studio.retries
        ) as client:
            yield p, client


@click.command()
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
@click.option(
    "--backend",
    metavar="URL",
    help="Also connect `relabel serve` at URL to the Label Studio project as its model "
    "backend, and its webhook when RELABEL_WEBHOOK_SECRET is set.",
)
@click.option(
    "--type",
    "review_type",
    type=click.Choice(["labels", "duplicates", "outliers", "label"]),
    default="labels",
    show_default=True,
    help="What to review: suspicious labels, duplicate sets (one task per set) or "
    "outliers; or label: unlabelled samples of the pool to label.",
)
@click.option(
    "--strategy",
    type=click.Choice(list(ACQUISITION_STRATEGIES)),
    help="With --type label: how to choose the unlabelled samples (default: pool.strategy).",
)
def push(
    project: Path,
    budget: float | None,
    lane: str | None,
    batch_size: int,
    backend: str | None,
    review_type: str,
    strategy: str | None,
) -> None:
    """Send the most suspicious samples to Label Studio (idempotent, resumable)."""
    from relabel.loop.push import push as push_samples

    with studio_session(project, "relabel push") as (p, client):
        if review_type == "label":
            from relabel.loop.pool import push_labels

            chosen = push_labels(
                p,
                client,
                budget=budget,
                strategy=strategy,
                batch_size=batch_size,
                progress=PROGRESS,
            )
            print_summary("push label", chosen)
            return
        if review_type != "labels":
            from relabel.loop.issues import push_issues

            found = push_issues(
                p, client, review_type, budget=budget, batch_size=batch_size, progress=PROGRESS
            )
            print_summary(f"push {review_type}", found)
            return
        summary = push_samples(
            p, client, budget=budget, lane=lane, batch_size=batch_size, progress=PROGRESS
        )
        if backend:
            import os

            from relabel.serve.app import SECRET_ENV
            from relabel.serve.connect import connect_backend

            connected = connect_backend(
                p, client, summary.studio_project_id, backend, secret=os.environ.get(SECRET_ENV)
            )
    print_summary("push", summary)
    if backend:
        print_summary("backend", connected)


@click.command()
@project_arg
@click.option(
    "--type",
    "review_type",
    type=click.Choice(["all", "labels", "duplicates", "outliers", "label"]),
    default="all",
    show_default=True,
    help="Which reviews to pull: every kind pushed so far, or one (label: the pool's label "
    "tasks, which share the label review's Label Studio projects, so labels pulls them too).",
)
def pull(project: Path, review_type: str) -> None:
    """Read reviewers' answers and apply them (label versions, drops), exactly once."""
    from relabel.loop.issues import bound_issue_kinds, pull_issues
    from relabel.loop.pull import pull as pull_reviews

    with studio_session(project, "relabel pull") as (p, client):
        review_type = "labels" if review_type == "label" else review_type
        kinds = bound_issue_kinds(p) if review_type == "all" else [review_type]
        labels = review_type == "labels" or (
            review_type == "all" and (p.store.studio_project() is not None or not kinds)
        )
        if labels:
            print_summary("pull", pull_reviews(p, client, progress=PROGRESS))
        for kind in (k for k in kinds if k != "labels"):
            print_summary(f"pull {kind}", pull_issues(p, client, kind, progress=PROGRESS))


def _read_truth(path: Path) -> dict[str, str]:
    """The true labels of a CSV with columns id,label (for simulated reviewers)."""
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


@click.command("review-simulate")
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
    from relabel.loop.binding import ensure_studio_projects

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
    with studio_session(project, "relabel review-simulate") as (p, client):
        ids = ensure_studio_projects(p, client, create=False)
        summaries = [(pid, review(p, client, pid, 0)) for pid in ids]
    for pid, summary in summaries:
        where = f" (Label Studio project {pid})" if len(ids) > 1 else ""
        print_summary(f"review-simulate{where}", summary)


@click.command()
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

    Exit codes: 0 cycle done, 3 waiting for reviews, 4 nothing to do, 5 locked, 8 stopped
    (the next cycle was expected to gain less than review.stop_when_gain_below).
    """
    from relabel.demo.reviewers import SimulatedReview
    from relabel.loop.cycle import run_cycle

    if yes:
        log.warning("--yes is deprecated and has no effect: relabel never prompts")
    with studio_session(project, "relabel cycle") as (p, client):
        review = SimulatedReview(truth=_read_truth(truth)) if truth else None
        result = run_cycle(
            p,
            client,
            until=until,
            review=review,
            min_reviews=min_reviews,
            budget=budget,
            progress=PROGRESS,
        )
    click.echo(
        f"cycle {result.cycle}: {result.state}"
        + (f" (steps: {', '.join(result.steps)})" if result.steps else "")
        + (f": {result.summary['stopped']}" if result.state == "stopped" else "")
    )
    if result.summary and result.state != "stopped":
        print_summary(f"cycle {result.cycle}", result.summary)
    sys.exit(int(result.exit_code))


@click.command()
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
        echo_json(json.loads(table.to_json(orient="records")))
        return
    if table.empty:
        click.echo("no answers pulled yet")
        return
    click.echo(
        f"{'reviewer':<10} {'tasks':>6} {'skips':>6} {'gold':>9} {'estimated (95% CI)':>22} "
        f"{'agree':>6}  confuses"
    )
    for r in table.itertuples(index=False):
        gold = "-" if missing(r.gold_accuracy) else f"{r.gold_accuracy:.2f}/{r.gold_tasks}"
        agree = "-" if missing(r.agreement) else f"{r.agreement:.2f}"
        estimate = f"{r.estimated_accuracy:.2f} ({r.accuracy_low:.2f}-{r.accuracy_high:.2f})"
        click.echo(
            f"{r.reviewer:<10} {r.tasks:>6} {r.skips:>6} {gold:>9} {estimate:>22} "
            f"{agree:>6}  {r.confuses or '-'}"
        )


COMMANDS = (push, pull, review_simulate, cycle, annotators)
