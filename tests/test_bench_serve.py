"""The benchmarks' ``serve`` section: registered, and rendered and checked from its figures
(the section itself runs a Label Studio: ``python -m benchmarks --sections serve``)."""

from __future__ import annotations

import copy
from typing import Any

from benchmarks import __main__ as bench_main
from benchmarks import provenance, report, report_serve, serve


def _figures(n: int = 10_000) -> dict[str, Any]:
    """Figures shaped as :func:`benchmarks.serve.run` returns them."""
    return {
        "targets": serve.TARGETS,
        "n": n,
        "pushed": 1000,
        "predict": {
            "calls": 50,
            "page": 100,
            "first_s": 0.2,
            "median_s": 0.06,
            "p95_s": 0.35,
            "max_s": 0.5,
            "predictions": 5000,
        },
        "webhooks": {
            "tasks": 1000,
            "rate_asked": 20.0,
            "rate_achieved": 6.1,
            "webhook_id": 1,
            "webhooks_fired": True,
            "annotations_created": 1000,
            "annotation_errors": 0,
            "recorded": 1000,
            "answers_stored": 1000,
            "every_answer_once": True,
            "one_review_per_task": True,
            "one_version_per_correction": True,
            "corrected": 600,
            "confirmed": 400,
            "latency_median_s": 1.1,
            "latency_p95_s": 2.5,
            "latency_max_s": 3.0,
            "create_call": {"median": 1.2, "p95": 2.4, "max": 3.1},
            "serve_recorded_webhooks": 1000,
            "serve_deferred_webhooks": 0,
        },
        "pull_after": {
            "tasks_seen": 1000,
            "unchanged": 1000,
            "reviewed": 0,
            "label_versions_added": 0,
        },
    }


def test_the_serve_section_is_registered_with_its_dependencies() -> None:
    assert "serve" in bench_main.SECTIONS and "serve" in provenance.DEPENDS
    assert "serve" in report.RENDERERS and "serve" in report.CHECKED_SECTIONS
    assert bench_main.FULL.serve == (10_000, 1000, 20.0)


def test_the_serve_section_renders_its_figures_and_checks_the_targets() -> None:
    sv = _figures()
    checks = {what: (shown, ok) for what, shown, ok in report_serve.checks(sv)}
    predict = checks["serve: `POST /predict` of 100 tasks (10,000 samples), p95 within 1 s"]
    assert predict == ("median 0.06 s, p95 0.35 s", True)
    once = next(v for k, v in checks.items() if "exactly once" in k)
    assert once == ("1,000 recorded of 1,000; pull added 0 reviews, 0 label versions", True)
    latency = next(v for k, v in checks.items() if "to its review in the store" in k)
    assert latency == ("median 1.10 s, p95 2.50 s", None)
    text = "\n".join(report_serve.render(sv))
    assert text.startswith("## 11. relabel serve: model backend and webhooks")
    assert "| 1.10 s | 2.50 s | 3.00 s |" in text and "at 6.1 a second (asked: 20" in text
    assert "webhooks fired: yes; every answer once in the store: yes" in text


def test_an_answer_recorded_twice_or_a_pull_that_adds_fails_the_check() -> None:
    twice = copy.deepcopy(_figures())
    twice["webhooks"]["one_review_per_task"] = False
    pulled = copy.deepcopy(_figures())
    pulled["pull_after"]["reviewed"] = 3
    for sv in (twice, pulled):
        once = [ok for what, _, ok in report_serve.checks(sv) if "exactly once" in what]
        assert once == [False]
    small = _figures(n=2000)  # quick mode: the latency target is reported only
    assert report_serve.checks(small)[0][2] is None
    assert report_serve.checks({"error": "no Label Studio"}) == []
