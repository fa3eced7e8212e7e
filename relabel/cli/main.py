"""The ``relabel`` command: a thin click front end over the library.

Each command parses its options, calls the library and prints the result. Results go to
stdout (or files); logs and progress go to stderr. Library errors
(:class:`relabel.errors.RelabelError`) become a one-paragraph message and the documented
exit code (:class:`relabel.errors.ExitCode`).

The commands live by group: :mod:`relabel.cli.project_commands` (init, train,
import-run, score, status, export, history, issues), :mod:`relabel.cli.review_commands`
(push, pull, cycle, review-simulate, annotators), :mod:`relabel.cli.studio_commands`
(studio ...), :mod:`relabel.cli.demo_commands` (demo, demo-data),
:mod:`relabel.cli.report_command` and :mod:`relabel.cli.serve_command`.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from relabel.cli import demo_commands, project_commands, review_commands
from relabel.cli.interrupt import INTERRUPTS
from relabel.cli.output import PROGRESS
from relabel.cli.report_command import report
from relabel.cli.serve_command import serve
from relabel.cli.studio_commands import studio
from relabel.errors import ExitCode, RelabelError
from relabel.infra.progress import bars_wanted


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


class RedactingFormatter(logging.Formatter):
    """Another formatter's lines with every secret masked: credentials and query values of
    any URL, and the token, password and query values of the Label Studio URL in use
    (:func:`relabel.studio.urls.redact_text`), whichever logger wrote them (httpx, the
    SDK, Python warnings, relabel) and at every verbosity."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        from relabel.studio.urls import redact_text

        return redact_text(self.inner.format(record))


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
        RedactingFormatter(
            JsonFormatter() if json_logs else logging.Formatter("%(levelname).1s %(message)s")
        )
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


class RelabelGroup(click.Group):
    """A click group that turns library errors into messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted(ctx)
        except RelabelError as exc:
            if INTERRUPTS.received is not None:
                _interrupted(ctx)
            from relabel.studio.urls import redact_text

            click.echo(f"error: {redact_text(str(exc))}", err=True)
            ctx.exit(int(exc.exit_code))
        except Exception:
            if INTERRUPTS.received is None:
                raise
            _interrupted(ctx)  # native code turned the interruption into its own error


def _interrupted(ctx: click.Context) -> None:
    """Say what Ctrl-C or SIGTERM stopped and exit with the shell's code (130, 143)."""
    click.echo(INTERRUPTS.message(ctx.invoked_subcommand), err=True)
    ctx.exit(INTERRUPTS.exit_code)


@click.group(cls=RelabelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-vv: also HTTP and TF logs).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.option("--json-logs", is_flag=True, help="Log lines as JSON objects on stderr.")
@click.version_option(package_name="relabel")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool, json_logs: bool) -> None:
    """relabel: find wrong labels in image datasets and get them fixed in Label Studio."""
    setup_logging(verbose, quiet, json_logs)
    INTERRUPTS.install()
    ctx.call_on_close(INTERRUPTS.restore)
    PROGRESS.bars = bars_wanted(json_logs, quiet)
    if PROGRESS.bars:
        from tqdm.contrib.logging import logging_redirect_tqdm

        ctx.with_resource(logging_redirect_tqdm(loggers=[logging.getLogger()]))
    ctx.call_on_close(PROGRESS.close)


for _command in (
    *project_commands.COMMANDS,
    *review_commands.COMMANDS,
    *demo_commands.COMMANDS,
    studio,
    report,
    serve,
):
    main.add_command(_command)


def run() -> None:
    """Entry point that never shows a traceback for library errors."""
    main(prog_name="relabel")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name="relabel") or ExitCode.OK)
