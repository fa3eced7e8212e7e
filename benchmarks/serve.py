"""``relabel serve`` as Label Studio uses it: the model backend's latency, and answers that
reach the store by Label Studio's own webhooks.

Usage::

    python -m benchmarks.serve [--n 10000] [--tasks 1000] [--rate 20] [--out serve.json]

A synthetic project of ``--n`` URL samples (``relabel init --trust-paths``) with an imported
run (planted label errors, as :mod:`benchmarks.scale` makes them), pushed to a local Label
Studio (``--tasks`` review tasks, image URLs passed through), and ``relabel serve`` started
as a child process with ``RELABEL_WEBHOOK_SECRET`` set and connected to the Label Studio
project (model backend and webhook, as ``relabel push --backend`` does):

1. **predict**: ``--predict-calls`` ``POST /predict`` of a page of ``--page`` tasks in Label
   Studio's model-backend format (the pushed tasks, so each answer carries the top-3
   classes), one after the other: median, p95 and max latency (the first call, which reads
   the run's probabilities, is reported apart);
2. **webhooks**: one answer per task created through Label Studio's API at ``--rate`` a
   second (the true class; threads keep the pace), so that Label Studio itself posts each
   ``ANNOTATION_CREATED`` webhook to ``relabel serve``. Then: every answer is in the store
   exactly once (one answer row per annotation, one review per task, one new label version
   per corrected sample), the latency from sending the annotation to the review's
   ``created_at`` in the store (median, p95, max), webhooks recorded a second, the
   webhook calls Label Studio's log says failed (timed out: it waits
   ``WEBHOOK_TIMEOUT``, 1 s, and never retries), and a ``relabel pull`` after it that adds
   nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.scale import LocalStudio, json_main, planted_data

log = logging.getLogger("benchmarks.serve")

#: Targets (seconds): a page of 100 predictions, and an answer reaching the store.
TARGETS = {"predict_p95": 1.0}
#: Classes of the synthetic project.
CLASSES = 10
#: Seconds without a new review after which the webhooks are taken as all delivered.
SETTLE_S = 60.0


def _quantiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "max": None}
    a = np.asarray(values, dtype=float)
    return {
        "median": round(float(np.median(a)), 4),
        "p95": round(float(np.quantile(a, 0.95)), 4),
        "max": round(float(a.max()), 4),
    }


def make_project(work: Path, n: int, tasks: int) -> tuple[Path, dict[str, np.ndarray]]:
    """The synthetic project (URL images, review budget ``tasks``, lane ``all``) with an
    imported run; returns it and the truth (``true`` and ``given`` class indices)."""
    from relabel.project import Project

    paths = planted_data(work / "data", n, CLASSES)
    root = work / "project"
    Project.init(root, manifest=pd.read_parquet(paths["manifest"]), trust_paths=True, folds=2)
    config = root / "relabel.toml"
    text = config.read_text()
    for old, new in (
        ('image_mode = "upload"', 'image_mode = "url"'),
        ("budget = 0.05", f"budget = {tasks}"),
        ('lane = "label_issue"', 'lane = "all"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text)
    manifest = pd.read_parquet(paths["manifest"], columns=["id"])
    with Project.open(root) as p:
        p.add_run(
            np.load(paths["probs"]), ids=manifest["id"].astype(str).tolist(), model_name="synthetic"
        )
    with np.load(paths["truth"]) as truth:
        return root, {"true": truth["true"], "given": truth["given"], "ids": manifest["id"]}


class ServeProcess:
    """``relabel serve PROJECT --port 0`` as a child process (stopped with SIGINT)."""

    def __init__(self, project: Path, env: dict[str, str], log_file: Path) -> None:
        self.log_file = log_file
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relabel.cli", "serve", str(project), "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.url = self._wait_for_url()
        self._drain = threading.Thread(target=self._copy_stderr, daemon=True)
        self._drain.start()

    def _wait_for_url(self, timeout: float = 120.0) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            seen.append(line)
            if "listening at " in line:
                return line.split("listening at ", 1)[1].split()[0]
        self.proc.kill()
        raise RuntimeError("relabel serve did not start: " + "".join(seen)[-2000:])

    def _copy_stderr(self) -> None:
        assert self.proc.stderr is not None
        with open(self.log_file, "a", encoding="utf-8") as out:
            for line in self.proc.stderr:
                out.write(line)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def post_json(url: str, body: Any, timeout: float = 60.0) -> tuple[int, Any, float]:
    """POST ``body`` as JSON; return the status, the decoded answer and the seconds taken."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
        status = response.status
    return status, answer, time.perf_counter() - started


def predict_pages(project: Path, page: int) -> list[dict[str, Any]]:
    """Pages of the pushed tasks in Label Studio's model-backend request format."""
    from relabel.project import Project
    from relabel.studio.labeling import build_label_config

    with Project.open(project, readonly=True) as p:
        studio_project = int(p.store.studio_project()["studio_project_id"])
        rows = p.store.task_rows_by_task_id(studio_project)
        labels = p.store.labels(["sample_id", "path"])
        paths = dict(zip(labels["sample_id"], labels["path"], strict=True))
        config = build_label_config(p.config.dataset.classes)
    tasks = []
    for task_id, row in sorted(rows.items()):
        evidence = json.loads(row["evidence"])
        data = {
            "image": paths[row["sample_id"]],
            "sample_id": row["sample_id"],
            "given_label": evidence["given_label"],
            "rank": evidence["rank"],
        }
        tasks.append(
            {"id": task_id, "data": data, "meta": {}, "annotations": [], "predictions": []}
        )
    return [
        {
            "tasks": tasks[i : i + page],
            "model_version": "",
            "project": f"{studio_project}.{int(time.time())}",
            "label_config": config,
            "params": {"login": None, "password": None, "context": None},
        }
        for i in range(0, len(tasks), page)
    ]


def measure_predict(url: str, pages: list[dict[str, Any]], calls: int) -> dict[str, Any]:
    """``calls`` sequential ``/predict`` calls over ``pages``: latency figures."""
    seconds, predicted = [], 0
    for i in range(calls):
        status, answer, took = post_json(f"{url}/predict", pages[i % len(pages)])
        if status != 200:
            raise RuntimeError(f"/predict answered {status}: {answer}")
        predicted += sum(1 for r in answer["results"] if r)
        seconds.append(took)
    return {
        "calls": calls,
        "page": len(pages[0]["tasks"]),
        "first_s": round(seconds[0], 4),
        **{f"{k}_s": v for k, v in _quantiles(seconds[1:]).items()},
        "predictions": predicted,
    }


def annotate_at_rate(
    client: Any, answers: list[tuple[int, str]], user: int, rate: float, workers: int = 16
) -> list[dict[str, Any]]:
    """Create one annotation per ``(task_id, class)`` at ``rate`` a second (sent times)."""
    started = time.time()
    sent: list[dict[str, Any]] = []
    lock = threading.Lock()

    def one(i: int, task_id: int, choice: str) -> None:
        delay = started + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        at = time.time()
        try:
            annotation = client.create_annotation(task_id, choice, user)
            error = None
        except Exception as exc:  # counted, not fatal: the figures say how many failed
            annotation, error = None, f"{type(exc).__name__}: {exc}"
        with lock:
            sent.append(
                {
                    "task_id": task_id,
                    "annotation_id": annotation,
                    "sent_at": at,
                    "returned_at": time.time(),
                    "error": error,
                }
            )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, (task_id, choice) in enumerate(answers):
            pool.submit(one, i, task_id, choice)
    return sent


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def wait_recorded(project: Path, want: int, stall: float = SETTLE_S) -> tuple[int, float]:
    """Poll the store until ``want`` tasks have a review, or none was added for ``stall``
    seconds; return the count and when the last one was seen."""
    from relabel.project import Project

    count, last = 0, time.time()
    while time.time() - last < stall:
        with Project.open(project, readonly=True) as p:
            now = int(
                p.store.conn.execute("SELECT COUNT(DISTINCT task_id) FROM reviews").fetchone()[0]
            )
        if now > count:
            count, last = now, time.time()
        if count >= want:
            break
        time.sleep(0.5)
    return count, last


def store_checks(project: Path, sent: list[dict[str, Any]]) -> dict[str, Any]:
    """Exactly once: answers, reviews and review label versions per task; the latencies."""
    from relabel.project import Project

    ok = [s for s in sent if s["annotation_id"] is not None]
    with Project.open(project, readonly=True) as p:
        answers = p.store.answers()
        reviews = p.store.reviews()
        versions = p.store.conn.execute(
            "SELECT sample_id, COUNT(*) FROM label_versions WHERE source = 'review' "
            "GROUP BY sample_id"
        ).fetchall()
    per_task = reviews.groupby("task_id").size()
    recorded_at = {
        int(t): _epoch(c) for t, c in zip(reviews["task_id"], reviews["created_at"], strict=True)
    }
    latency = [recorded_at[s["task_id"]] - s["sent_at"] for s in ok if s["task_id"] in recorded_at]
    created = {int(s["annotation_id"]) for s in ok}
    stored = answers["annotation_id"].astype(int).tolist()
    return {
        "annotations_created": len(ok),
        "annotation_errors": len(sent) - len(ok),
        "recorded": int(per_task.size),
        "reviews": len(reviews),
        "tasks_with_two_or_more_reviews": int((per_task > 1).sum()),
        "answers_stored": len(stored),
        "every_answer_once": sorted(stored) == sorted(created) and len(set(stored)) == len(stored),
        "one_review_per_task": bool((per_task == 1).all()) and len(per_task) == len(ok),
        "one_version_per_correction": all(int(c) == 1 for _, c in versions),
        "corrected": int((reviews["outcome"] == "corrected").sum()),
        "confirmed": int((reviews["outcome"] == "confirmed").sum()),
        **{f"latency_{k}_s": v for k, v in _quantiles(latency).items()},
        "create_call": _quantiles([s["returned_at"] - s["sent_at"] for s in ok]),
    }


def studio_webhook_failures(log_file: Path, since: int = 0) -> dict[str, Any]:
    """Webhook calls Label Studio's log reports as failed after byte ``since`` (it logs
    each exception of a webhook call): timed out, and any other error."""
    try:
        with open(log_file, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError as exc:
        return {"log": f"unreadable: {exc}"}
    timeouts = re.findall(r"^.*Read timed out.*$", text, flags=re.MULTILINE)
    refused = re.findall(r"^.*(?:Connection refused|Max retries exceeded).*$", text, re.M)
    return {
        "timeouts": len(timeouts),
        "other_errors": len([r for r in refused if "timed out" not in r]),
        "example": (timeouts or refused or [None])[0],
    }


def _rates(project: Path, t0: float, done: float, recorded: int) -> dict[str, Any]:
    """Webhooks recorded a second: over the whole run, and while they were recorded (from
    the first review to the last)."""
    from relabel.project import Project

    with Project.open(project, readonly=True) as p:
        first, last = p.store.conn.execute(
            "SELECT MIN(created_at), MAX(created_at) FROM reviews"
        ).fetchone()
    span = _epoch(last) - _epoch(first) if first and last else 0.0
    return {
        "recorded_per_s": round(recorded / (done - t0), 2) if done > t0 else None,
        "recorded_per_s_while_recording": round(recorded / span, 2) if span > 0 else None,
    }


def pull_after(project: Path, client: Any) -> dict[str, Any]:
    """A pull after the webhooks: what it finds and what it adds."""
    from relabel.loop.pull import pull
    from relabel.project import Project

    with Project.locked(project, "benchmarks.serve pull") as p:
        before = int(p.store.conn.execute("SELECT COUNT(*) FROM label_versions").fetchone()[0])
        summary = pull(p, client)
        after = int(p.store.conn.execute("SELECT COUNT(*) FROM label_versions").fetchone()[0])
    return {
        "tasks_seen": summary.tasks_seen,
        "unchanged": summary.unchanged,
        "reviewed": summary.reviewed,
        "label_versions_added": after - before,
    }


def _answers(project: Path, truth: dict[str, Any]) -> list[tuple[int, str]]:
    """Each pushed task with its sample's true class."""
    from relabel.project import Project

    true_of = dict(zip(truth["ids"].astype(str), truth["true"], strict=True))
    with Project.open(project, readonly=True) as p:
        studio_project = int(p.store.studio_project()["studio_project_id"])
        rows = p.store.task_rows_by_task_id(studio_project)
        classes = p.config.dataset.classes
    return [(t, classes[int(true_of[r["sample_id"]])]) for t, r in sorted(rows.items())]


def webhook_part(
    project: Path, studio: Any, serve: ServeProcess, rate: float, secret: str
) -> dict[str, Any]:
    """Connect the backend and webhook, answer every task at ``rate``, check the store."""
    from relabel.project import Project
    from relabel.serve.connect import connect_backend

    with Project.locked(project, "benchmarks.serve connect") as p:
        studio_project = int(p.store.studio_project()["studio_project_id"])
        connected = connect_backend(p, studio.client, studio_project, serve.url, secret=secret)
    answers = _answers(project, studio.truth)
    user = studio.client.ensure_user("bench-reviewer@relabel.local")
    log_start = studio.server.log_file.stat().st_size if studio.server.log_file.exists() else 0
    t0 = time.time()
    sent = annotate_at_rate(studio.client, answers, user, rate)
    sending = time.time() - t0
    recorded, done = wait_recorded(project, len(answers))
    out = {
        "tasks": len(answers),
        "rate_asked": rate,
        "rate_achieved": round(len(sent) / sending, 2) if sending else None,
        "sending_s": round(sending, 1),
        "all_recorded_after_s": round(done - t0, 1),
        "webhook_id": connected.webhook_id,
        "webhooks_fired": recorded > 0,
        **_rates(project, t0, done, recorded),
        **store_checks(project, sent),
        "studio_webhook_failures": studio_webhook_failures(studio.server.log_file, log_start),
    }
    with urllib.request.urlopen(f"{serve.url}/health", timeout=10) as response:
        health = json.loads(response.read())
    out["serve_recorded_webhooks"] = health.get("recorded_webhooks")
    out["serve_pending_webhooks"] = health.get("pending_webhooks")
    out["serve_duplicate_webhooks"] = health.get("duplicate_webhooks")
    out["serve_webhook_batches"] = health.get("webhook_batches")
    return out


class _Studio(LocalStudio):
    """A local Label Studio with its client, and the synthetic truth (stopped at the end)."""

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.truth: dict[str, Any] = {}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both parts; the figures as one dict."""
    from relabel.loop.push import push
    from relabel.project import Project

    figures: dict[str, Any] = {"targets": TARGETS, "n": args.n}
    with tempfile.TemporaryDirectory(prefix="relabel-serve-", dir=args.work) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        project, truth = make_project(work, args.n, args.tasks)
        studio = _Studio(work)
        studio.truth = truth
        serve = None
        try:
            with Project.locked(project, "benchmarks.serve push") as p:
                pushed = push(p, studio.client)
            figures["pushed"] = pushed.pushed
            figures["setup_s"] = round(time.perf_counter() - t0, 1)
            secret = secrets.token_urlsafe(24)
            env = {**os.environ, **studio.env(), "RELABEL_WEBHOOK_SECRET": secret}
            serve = ServeProcess(project, env, work / "serve.log")
            pages = predict_pages(project, args.page)
            figures["predict"] = measure_predict(serve.url, pages, args.predict_calls)
            log.info("predict: %s", figures["predict"])
            figures["webhooks"] = webhook_part(project, studio, serve, args.rate, secret)
            log.info("webhooks: %s", figures["webhooks"])
            figures["serve_exit"] = serve.stop()
            serve = None
            figures["pull_after"] = pull_after(project, studio.client)
        finally:
            if serve is not None:
                serve.stop()
            studio.close()
    return figures


def run_section(n: int, tasks: int, rate: float) -> dict[str, Any]:
    """The benchmarks' ``serve`` section (needs a local Label Studio: ``$RELABEL_STUDIO_VENV``
    or the default venv, installed when missing)."""
    return run(_parse(["--n", str(n), "--tasks", str(tasks), "--rate", str(rate)]))


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.serve", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--n", type=int, default=10_000, help="Samples of the project.")
    ap.add_argument("--tasks", type=int, default=1000, help="Review tasks pushed and answered.")
    ap.add_argument("--rate", type=float, default=20.0, help="Annotations created per second.")
    ap.add_argument("--page", type=int, default=100, help="Tasks per /predict call.")
    ap.add_argument("--predict-calls", type=int, default=50)
    ap.add_argument("--out", type=Path, default=None, help="Write the figures as JSON here.")
    ap.add_argument("--work", type=Path, default=None, help="Make the project in this folder.")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the figures and return them."""
    return json_main(argv, _parse, run)


if __name__ == "__main__":
    main()
