"""BENCHMARKS.md's serve section: ``relabel serve``'s model backend latency, and answers that
reach the store by Label Studio's own webhooks (:mod:`benchmarks.serve`)."""

from __future__ import annotations

from typing import Any


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[value]


def checks(sv: dict[str, Any] | None) -> list[tuple[str, str, bool | None]]:
    """The targets: a page of predictions within 1 s (p95), every answer recorded once by
    webhook, and a pull after it that adds nothing."""
    if not sv or "predict" not in sv:
        return []
    targets, pr = sv["targets"], sv["predict"]
    at_scale = sv.get("n", 0) >= 10_000
    out: list[tuple[str, str, bool | None]] = [
        (
            f"serve: `POST /predict` of {pr['page']} tasks ({sv['n']:,} samples), p95 within "
            f"{targets['predict_p95']:g} s",
            f"median {_s(pr['median_s'])}, p95 {_s(pr['p95_s'])}",
            (pr["p95_s"] <= targets["predict_p95"]) if at_scale else None,
        )
    ]
    wh = sv.get("webhooks")
    if wh:
        once = bool(
            wh["webhooks_fired"]
            and wh["every_answer_once"]
            and wh["one_review_per_task"]
            and wh["one_version_per_correction"]
            and wh["recorded"] == wh["annotations_created"] == wh["tasks"]
        )
        pull = sv.get("pull_after") or {}
        out.append(
            (
                f"serve: {wh['tasks']:,} answers made in Label Studio reach the store by its "
                "webhooks, each exactly once; a pull after them adds nothing",
                f"{wh['recorded']:,} recorded of {wh['annotations_created']:,}; pull added "
                f"{pull.get('reviewed', '–')} reviews, {pull.get('label_versions_added', '–')} "
                "label versions",
                once and pull.get("reviewed") == 0 and pull.get("label_versions_added") == 0,
            )
        )
        studio = (wh.get("create_call") or {}).get("median")
        out.append(
            (
                "serve: time from an answer's creation in Label Studio to its review in the "
                "store (reported; no target: Label Studio posts the webhook inside its own "
                f"create call, median {_s(studio)})",
                f"median {_s(wh['latency_median_s'])}, p95 {_s(wh['latency_p95_s'])}",
                None,
            )
        )
    return out


def render(sv: dict[str, Any]) -> list[str]:
    """The section's Markdown lines (heading first)."""
    lines = ["## 11. relabel serve: model backend and webhooks", ""]
    if "predict" not in sv:
        return [*lines, f"Not measured: {sv.get('error', 'no figures')}.", ""]
    pr, wh, pull = sv["predict"], sv.get("webhooks") or {}, sv.get("pull_after") or {}
    lines += [
        f"A synthetic project of {sv['n']:,} URL samples with an imported run, "
        f"{sv['pushed']:,} review tasks pushed to a local Label Studio, and `relabel serve` "
        "running as its own process, connected as the project's model backend and webhook "
        "(`RELABEL_WEBHOOK_SECRET` set). `benchmarks/serve.py`.",
        "",
        "| measure | median | p95 | max |",
        "|---|---|---|---|",
        f"| `POST /predict`, {pr['page']} tasks a call, {pr['calls'] - 1} calls after the "
        f"first ({_s(pr['first_s'])}, reads the run) | {_s(pr['median_s'])} | "
        f"{_s(pr['p95_s'])} | {_s(pr['max_s'])} |",
    ]
    if wh:
        create = wh["create_call"]
        lines += [
            f"| answer created in Label Studio -> review recorded in the store "
            f"({wh['recorded']:,} answers) | {_s(wh['latency_median_s'])} | "
            f"{_s(wh['latency_p95_s'])} | {_s(wh['latency_max_s'])} |",
            f"| Label Studio's own create-annotation call (it posts the webhook before it "
            f"answers) | {_s(create['median'])} | {_s(create['p95'])} | {_s(create['max'])} |",
            "",
            f"Answers were created through Label Studio's API at {wh['rate_achieved']} a "
            f"second (asked: {wh['rate_asked']:g}; Label Studio posts each webhook inside the "
            "create call, so its own speed sets the pace). Label Studio's webhooks fired: "
            f"{_yes(wh['webhooks_fired'])}; every answer once in the store: "
            f"{_yes(wh['every_answer_once'])}; one review per task: "
            f"{_yes(wh['one_review_per_task'])}; one label version per correction: "
            f"{_yes(wh['one_version_per_correction'])} ({wh['corrected']:,} corrected, "
            f"{wh['confirmed']:,} confirmed; {wh['annotation_errors']} create calls failed; "
            f"{wh.get('serve_pending_webhooks', wh.get('serve_deferred_webhooks'))} webhooks "
            f"left pending; Label Studio's log: "
            f"{(wh.get('studio_webhook_failures') or {}).get('timeouts', '–')} webhook calls "
            f"timed out); {wh.get('recorded_per_s', '–')} webhooks recorded a second; the last "
            "answer was "
            f"recorded {_s(wh.get('all_recorded_after_s'))} after the first was sent "
            f"(sending took {_s(wh.get('sending_s'))}). A `relabel pull` "
            f"after them saw {pull.get('tasks_seen', '–')} answered tasks, "
            f"{pull.get('unchanged', '–')} unchanged, and resolved "
            f"{pull.get('reviewed', '–')}.",
        ]
    return [*lines, ""]
