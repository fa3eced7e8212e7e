"""The commands on a project folder: ``init``, ``train``, ``import-run``, ``score``,
``status``, ``export``, ``history`` and ``issues``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from relabel.cli.options import project_arg
from relabel.cli.output import PROGRESS, echo_json, fmt


@click.command()
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
@click.option(
    "--classes",
    help="Comma-separated class list, or a JSON list for names with commas "
    '(\'["a, b", "c"]\') (default: the labels found, sorted).',
)
@click.option("--name", help="Project name (default: the folder name).")
@click.option("--folds", type=click.IntRange(min=2), help="Cross-validation folds (default 5).")
@click.option(
    "--image-size",
    type=click.IntRange(min=4, max=1024),
    help="Resize images to SIZE x SIZE (default: from the first image, within 16-128).",
)
@click.option("--channels", type=click.Choice(["1", "3"]), help="1 grayscale or 3 RGB.")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Leave invalid rows out (listed in PROJECT/skipped.csv) instead of failing.",
)
@click.option(
    "--trust-paths",
    is_flag=True,
    help="Open no image: paths may be URLs Label Studio reads (s3://, gs://, https://); "
    "score runs from relabel import-run.",
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
    trust_paths: bool,
) -> None:
    """Create PROJECT from an images folder or a manifest, validating every row."""
    from relabel.project import Project

    if images is not None and manifest is not None:
        raise click.UsageError("give --images or --manifest, not both")
    result = Project.init(
        project,
        images=images,
        manifest=manifest,
        classes=_class_list(classes) if classes else None,
        name=name,
        folds=folds,
        image_size=[image_size, image_size] if image_size else None,
        channels=int(channels) if channels else None,
        skip_invalid=skip_invalid,
        trust_paths=trust_paths,
    )
    click.echo(
        f"created {result.project_dir}: {result.n_samples} samples, {len(result.classes)} classes"
    )
    if result.skipped:
        click.echo(f"skipped {result.skipped} invalid row(s): {result.skipped_file}")


def _class_list(text: str) -> list[str]:
    """``--classes``: ``cat,dog`` (names trimmed), or a JSON list (``["a, b", "c"]``)."""
    if not text.lstrip().startswith("["):
        return [c.strip() for c in text.split(",")]
    try:
        names = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not a JSON list: {exc}", param_hint="--classes") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise click.BadParameter("a JSON list of strings", param_hint="--classes")
    return names


@click.command()
@project_arg
@click.option("--no-final-model", is_flag=True, help="Skip the final model on all samples.")
def train(project: Path, no_final_model: bool) -> None:
    """Cross-validate a model: out-of-fold probabilities for every sample."""
    from relabel.project import Project
    from relabel.report.build import build_report

    with Project.locked(project, "relabel train") as p:
        r = p.train(progress=PROGRESS, final_model=not no_final_model)
        report_path = build_report(p)
    click.echo(
        f"run {r.run_id}: {r.n_samples} samples, out-of-fold accuracy "
        f"{r.oof_accuracy:.4f}, macro-F1 {r.oof_macro_f1:.4f}, {r.seconds:.1f} s"
    )
    click.echo(f"report: {report_path}")


_IN_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("import-run")
@project_arg
@click.option(
    "--probs",
    required=True,
    type=_IN_FILE,
    help="Out-of-fold probabilities: .npy (columns in the project's class order) or "
    ".parquet (a column per class name, optional sample_id).",
)
@click.option("--embeddings", type=_IN_FILE, help="Embeddings .npy, rows as in --probs.")
@click.option(
    "--ids",
    type=_IN_FILE,
    help="CSV with a sample_id column (or one column): the sample of each row "
    "(default: the active samples in their order).",
)
@click.option("--model-name", help="The model's name, recorded with the run.")
@click.option("--logits", is_flag=True, help="The values are logits: apply a softmax.")
def import_run(
    project: Path,
    probs: Path,
    embeddings: Path | None,
    ids: Path | None,
    model_name: str | None,
    logits: bool,
) -> None:
    """Record a run from any model's out-of-fold probabilities."""
    from relabel.project import Project

    with Project.locked(project, "relabel import-run") as p:
        run_id = p.add_run(probs, embeddings, ids, model_name=model_name, logits=logits)
        run = p.store.latest_run("train") or {}
    metrics = run.get("metrics", {})
    click.echo(
        f"run {run_id} (imported{', ' + model_name if model_name else ''}): "
        f"{metrics.get('n_samples')} samples, out-of-fold accuracy "
        f"{metrics.get('oof_accuracy', float('nan')):.4f}, macro-F1 "
        f"{metrics.get('oof_macro_f1', float('nan')):.4f}"
    )


@click.command()
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


@click.command()
@project_arg
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(project: Path, as_json: bool) -> None:
    """Samples, class balance, estimated errors, confused pairs and cycles."""
    from relabel.project import Project

    with Project.open(project, readonly=True) as p:
        info = p.status()
    if as_json:
        echo_json(info)
        return
    click.echo(
        f"project {info['project']}: {info['samples']} samples "
        f"({info['active']} active, {info['excluded']} excluded, "
        f"{info['changed']} relabelled)"
    )
    if info.get("unlabelled"):
        click.echo(
            f"pool: {info['labelled']} labelled, {info['unlabelled']} unlabelled "
            f"(relabel push {project} --type label)"
        )
    _print_balance(info)
    if "estimated_errors" in info:
        _print_run(info)
        _print_gains(info)
    else:
        click.echo("not trained yet: relabel train " + str(project))
    _print_cycles(info.get("cycles", []))


def _print_balance(info: dict[str, Any]) -> None:
    click.echo("class balance (current / original):")
    for c in info["classes"]:
        est = info.get("estimated_errors_per_class", {}).get(c)
        extra = f"   estimated errors {est}" if est is not None else ""
        click.echo(
            f"  {c:>12}: {info['class_balance'][c]:6d} / {info['original_balance'][c]:6d}{extra}"
        )


def _print_run(info: dict[str, Any]) -> None:
    run = info["run"]
    stale = " (labels changed since: retrain)" if run["stale"] else ""
    if run.get("source") == "imported":
        name = f" {run['model_name']}" if run.get("model_name") else ""
        stale = f" (imported{name})" + (" (labels changed since: import anew)" if stale else "")
    click.echo(f"run {run['run_id']}{stale}: out-of-fold accuracy {run['oof_accuracy']:.4f}")
    click.echo(
        f"estimated label errors: {info['estimated_errors']}; lanes: "
        + ", ".join(f"{k} {v}" for k, v in info["lanes"].items())
    )
    if info["confused_pairs"]:
        click.echo("most confused (given -> likely true: estimated errors):")
        for pair in info["confused_pairs"]:
            click.echo(f"  {pair['given']} -> {pair['likely']}: {pair['estimated']}")


def _print_gains(info: dict[str, Any]) -> None:
    """The errors left with the next cycle's expected finds, and the learning curve."""
    left = info.get("errors_left")
    if left:
        pct = f"{left['level']:.0%}"
        calibrated = (
            f"calibrated on {left['reviewed']} reviews, hit rate {left['hit_rate']:.2f}"
            if left["calibrated"]
            else "the model's estimate, no reviews yet"
        )
        click.echo(
            f"errors left: about {left['expected']:.0f} ({pct} interval "
            f"{left['low']:.0f}-{left['high']:.0f}; {calibrated}); next cycle expected to "
            f"find {left['next_expected']:.0f} in {left['next_budget']} reviews"
        )
    curve = info.get("learning_curve") or {}
    if curve.get("gain") is not None:
        interval = (
            f" ({curve['level']:.0%} interval {curve['low']:+.4f} to {curve['high']:+.4f})"
            if curve.get("low") is not None
            else f" ({curve['reason']})"
        )
        click.echo(
            f"learning curve ({curve['points']} labelled counts): the next {curve['batch']} "
            f"labels add about {curve['gain']:+.4f} out-of-fold accuracy{interval}"
        )


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
            f"  {c['cycle']:>5} {c['status']:>8} {fmt(c['budget'], '>6')} "
            f"{fmt(c['reviewed'], '>8')} {fmt(c['corrected'], '>9')} "
            f"{fmt(c['hit_rate'], '>8.2f')} {fmt(c['estimated_errors_left'], '>16')} "
            f"{fmt(c['accuracy'], '>8.4f')} {fmt(c['macro_f1'], '>8.4f')} {minutes:>7.1f}"
        )
    sources = {c["accuracy_source"] for c in cycles if c.get("accuracy_source")}
    if sources:
        click.echo("  accuracy: " + "; ".join(sorted(sources)))
    hint = cycles[-1].get("stop_hint") or next(
        (c["stop_hint"] for c in reversed(cycles) if c.get("stop_hint")), None
    )
    if hint:
        click.echo(f"  {hint}")


@click.command()
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


@click.command()
@project_arg
@click.argument("sample_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(project: Path, sample_id: str, as_json: bool) -> None:
    """Show one sample's label history, oldest first."""
    from relabel.store import DB_FILE, Store

    if (Path(project) / DB_FILE).is_file():
        # The label store alone: no relabel.toml, numpy or pandas (a tenth of a second).
        with Store.open(Path(project) / DB_FILE, readonly=True) as store:
            rows = [v.__dict__ for v in store.history(sample_id)]
            tasks = store.task_history(sample_id)
    else:
        from relabel.project import Project

        with Project.open(project, readonly=True) as p:  # says what the folder lacks
            rows = p.history(sample_id)
            tasks = p.task_history(sample_id)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        who = ",".join(r["reviewers"]) or "-"
        cycle = "-" if r["cycle"] is None else r["cycle"]
        click.echo(
            f"v{r['version']:<3} {r['created_at']}  {r['label']:>10} "
            f"[{r['status']}] source={r['source']} cycle={cycle} by={who} "
            f"evidence={json.dumps(r['evidence'], sort_keys=True)}"
        )
    for t in tasks:
        ignored = "".join(
            f"; ignored {a['reviewer']}'s answer {a['choice']!r} (not a class)"
            for a in t["ignored_answers"]
        )
        where = f"task {t['task_id']} (Label Studio project {t['studio_project_id']})"
        click.echo(f"{where}: {_ended(t)}{ignored}")


def _ended(task: dict[str, Any]) -> str:
    """How a task of ``relabel history`` went: pushed, then open, resolved or deleted."""
    pushed = f"pushed {task['pushed_at'] or '-'}"
    if task["outcome"] == "deleted":
        return f"{pushed}, deleted in Label Studio (noticed {task['resolved_at']}); sample freed"
    if task["state"] == "resolved":
        return f"{pushed}, {task['outcome']} {task['resolved_at']}"
    return f"{pushed}, {task['state']}"


@click.command()
@project_arg
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file: .csv or .parquet, one row per sample.",
)
@click.option("--run", "run_id", help="The run (default: the newest training run).")
@click.option(
    "--without-embeddings",
    is_flag=True,
    help="Only the types that need no embeddings: image health, exact duplicates, labels.",
)
def issues(project: Path, out: Path, run_id: str | None, without_embeddings: bool) -> None:
    """Duplicates, holdout leaks, outliers and unhealthy images: counts, and a row per sample."""
    from relabel.findings import issue_summary
    from relabel.project import Project, write_table

    with Project.open(project, readonly=True) as p:
        table = p.issues(run_id, embeddings=not without_embeddings)
    write_table(table, out)
    for name, n in issue_summary(table).items():
        click.echo(f"{name:>22}: {n}")
    click.echo(f"wrote {len(table)} rows to {out}")


COMMANDS = (init, train, import_run, score, status, export, history, issues)
