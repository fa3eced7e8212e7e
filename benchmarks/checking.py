"""``python -m benchmarks --check``: do the published figures still hold? Nothing trains.

Two halves:

* **stale**: every section of the results JSON was computed on a clean tree whose code
  (the files :data:`benchmarks.provenance.DEPENDS` names) is the code at hand.
* **figures**: BENCHMARKS.md is the JSON rendered (stale banners aside, which depend on the
  code at hand), and each generated block of README.md (between ``<!-- benchmarks:NAME -->``
  and ``<!-- /benchmarks:NAME -->``) is the one the JSON gives.

``make test`` runs the figures half; a release, and every change to detection code, must
pass both (regenerate the stale sections it names).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks import provenance, readme_blocks, report

ROOT = provenance.ROOT
DEFAULT_JSON = ROOT / "BENCHMARKS.json"
DEFAULT_MD = ROOT / "BENCHMARKS.md"
README = ROOT / "README.md"
_STALE = re.compile(r"^> \*\*Stale\*\* .*\n\n", re.MULTILINE)
_VERDICT = re.compile(r"stale \((.*?) when computed\)")
_BLOCK = re.compile(
    r"<!-- benchmarks:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /benchmarks:(?P=name) -->", re.DOTALL
)


def load(json_path: Path = DEFAULT_JSON) -> dict[str, Any]:
    """The results JSON."""
    return json.loads(json_path.read_text(encoding="utf-8"))


def stale_sections(results: dict[str, Any], root: Path = ROOT) -> dict[str, str | None]:
    """Per section of ``results``: why it no longer holds, or None when it does."""
    sections = results.get("meta", {}).get("sections") or {}
    return {
        name: provenance.staleness(name, prov, root) if name in provenance.DEPENDS else None
        for name, prov in sections.items()
    }


def without_stale_banners(text: str) -> str:
    """``text`` without what :func:`benchmarks.report.render` writes for stale sections
    (their banners, and "stale (...)" around their acceptance verdicts): those follow the
    code at hand, the figures do not."""
    return _VERDICT.sub(r"\1", _STALE.sub("", text))


def readme_problems(results: dict[str, Any], readme: Path) -> list[str]:
    """Generated blocks of ``readme`` that differ from the JSON's, by name."""
    text = readme.read_text(encoding="utf-8")
    found = {m["name"]: m["body"] for m in _BLOCK.finditer(text)}
    problems = []
    for name, expected in readme_blocks.blocks(results).items():
        if name not in found:
            problems.append(f"{readme.name}: no generated block '{name}'")
        elif found[name] != expected:
            problems.append(
                f"{readme.name}: block '{name}' is not the one {DEFAULT_JSON.name} gives "
                "(run `python -m benchmarks --from-json BENCHMARKS.json` to rewrite it)"
            )
    return problems


def check(
    which: str = "all",
    *,
    json_path: Path | None = None,
    out: Path | None = None,
    readme: Path = README,
    root: Path = ROOT,
) -> list[str]:
    """Every problem found (empty: the published figures hold). ``which``: all, figures,
    stale."""
    json_path = json_path or DEFAULT_JSON
    out = out or json_path.with_suffix(".md")
    if not json_path.is_file():
        return [f"{json_path}: no results JSON"]
    results = load(json_path)
    problems = []
    if which in ("all", "stale"):
        for name, why in stale_sections(results, root).items():
            if why:
                problems.append(f"section {name} is stale: {why}")
    if which in ("all", "figures"):
        if not out.is_file():
            problems.append(f"{out}: missing")
        elif without_stale_banners(out.read_text(encoding="utf-8")) != without_stale_banners(
            report.render(results)
        ):
            problems.append(
                f"{out.name} is not {json_path.name} rendered (edited by hand, or the JSON "
                f"changed): `python -m benchmarks --from-json {json_path.name}` rewrites it"
            )
        if readme.is_file():
            problems += readme_problems(results, readme)
    return problems


def write_readme_blocks(results: dict[str, Any], readme: Path = README) -> bool:
    """Rewrite the generated blocks of ``readme`` from ``results``; True when it changed."""
    text = readme.read_text(encoding="utf-8")
    blocks = readme_blocks.blocks(results)

    def body(m: re.Match[str]) -> str:
        name = m["name"]
        new = blocks.get(name, m["body"])
        return f"<!-- benchmarks:{name} -->\n{new}<!-- /benchmarks:{name} -->"

    new_text = _BLOCK.sub(body, text)
    if new_text != text:
        readme.write_text(new_text, encoding="utf-8")
    return new_text != text
