"""The documentation against the code (fast tier: nothing trains, nothing is started).

* ``docs/configuration.md`` documents every ``relabel.toml`` key (``section.key``) and no key
  that is gone, each with the type and, where it is a plain value, the default of the code;
* ``docs/cli.md`` documents every command of ``relabel`` (click's command tree), its
  arguments and every option by its long form, and no option that is gone; its exit codes
  table is :class:`relabel.errors.ExitCode`;
* every relative link of ``README.md`` and ``docs/*.md`` points to a file that exists and,
  with ``#anchor``, to one of its headings;
* ``docs/reliability.md`` lists every case of ``tests/test_reliability.py`` and
  ``tests/test_reliability3.py``.

The Python blocks of ``docs/python-api.md`` run in ``tests/test_api.py``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest

from relabel.cli import main
from relabel.config import (
    Config,
    DatasetConfig,
    ModelConfig,
    PoolConfig,
    ReviewConfig,
    ScoringConfig,
    StudioConfig,
    TrainingConfig,
)
from relabel.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

#: ``relabel.toml``'s sections: the fields of :class:`Config` besides ``name``.
SECTIONS: dict[str, type] = {
    "dataset": DatasetConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "scoring": ScoringConfig,
    "review": ReviewConfig,
    "studio": StudioConfig,
    "pool": PoolConfig,
}
#: Keys whose documented default is a sentence (set by ``relabel init``, or derived).
DESCRIBED_DEFAULTS = {
    "project.name",
    "dataset.source",
    "dataset.path",
    "dataset.classes",
    "dataset.image_size",
    "dataset.channels",
}
#: The words of the type column, by the Python type of the code's default.
TYPE_WORDS = {bool: "boolean", int: "integer", float: "number", str: "string"}
TYPE_WORDS.update({list: "list", dict: "table"})


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _without_code(text: str) -> str:
    """The text with fenced code blocks blanked to spaces (same length, same offsets)."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group())  # noqa: E731
    return re.sub(r"^```.*?^```", blank, text, flags=re.M | re.S)


def _sections(text: str, *, code: bool = False) -> dict[str, str]:
    """The text under each heading of a page (to the next heading), by heading text
    without ``#`` and backticks; code blocks blanked unless ``code``."""
    blank = _without_code(text)
    source = text if code else blank
    heads = list(re.finditer(r"^#{1,6} (.+)$", blank, re.M))
    ends = [h.start() for h in heads[1:]] + [len(text)]
    return {
        h.group(1).replace("`", "").strip(): source[h.end() : e]
        for h, e in zip(heads, ends, strict=True)
    }


def _table_rows(text: str, first: str) -> dict[str, list[str]]:
    """Table rows whose first cell matches ``first`` (a regex): that match -> the other cells."""
    rows: dict[str, list[str]] = {}
    for line in _without_code(text).splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells and re.fullmatch(first, cells[0]):
            key = re.fullmatch(first, cells[0]).group(1)  # type: ignore[union-attr]
            assert key not in rows, f"{key} is documented twice"
            rows[key] = cells[1:]
    return rows


# -- configuration ---------------------------------------------------------------------------


def _config_fields() -> dict[str, dataclasses.Field[Any]]:
    """Every ``relabel.toml`` key of the code, ``section.key``, with its dataclass field."""
    names = {f.name for f in dataclasses.fields(Config)}
    assert names == {"name", *SECTIONS}, "a section was added or removed: update SECTIONS"
    out = {"project.name": next(f for f in dataclasses.fields(Config) if f.name == "name")}
    for section, cls in SECTIONS.items():
        out.update({f"{section}.{f.name}": f for f in dataclasses.fields(cls)})
    return out


def _default(f: dataclasses.Field[Any]) -> Any:
    """A field's default value (a pydantic ``Field(...)`` given as the default included)."""
    if f.default is not dataclasses.MISSING:
        value = f.default
        if hasattr(value, "get_default"):  # pydantic FieldInfo
            return value.get_default(call_default_factory=True)
        return value
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _documented_default(cell: str) -> Any:
    """A default cell as a value: a TOML literal, a `word`, or the grey one of "grey X, RGB Y".

    Returns ``dataclasses.MISSING`` for a default described in words.
    """
    grey = re.fullmatch(r"grey (.+?), RGB .+", cell)
    text = grey.group(1) if grey else cell
    quoted = re.fullmatch(r"`([^`]*)`", text)
    inner = quoted.group(1) if quoted else text
    try:
        return tomllib.loads(f"v = {inner}")["v"]
    except tomllib.TOMLDecodeError:
        return inner if quoted else dataclasses.MISSING


CONFIG_ROWS = _table_rows(_read(DOCS / "configuration.md"), r"`([a-z_]+\.[a-z_][a-z0-9_]*)`")


def test_every_config_key_is_documented_and_every_documented_key_exists() -> None:
    code = set(_config_fields())
    documented = set(CONFIG_ROWS)
    assert not code - documented, f"not in docs/configuration.md: {sorted(code - documented)}"
    assert not documented - code, f"gone from the code: {sorted(documented - code)}"


@pytest.mark.parametrize("key", sorted(_config_fields()))
def test_documented_type_and_default_are_the_code_s(key: str) -> None:
    if key not in CONFIG_ROWS:
        pytest.skip("not documented (the test above fails)")
    type_cell, default_cell, meaning = CONFIG_ROWS[key]
    assert meaning, f"{key}: no meaning given"
    if key == "project.name":
        assert type_cell == "string"
        return
    value = _default(_config_fields()[key])
    assert type_cell.startswith(TYPE_WORDS[type(value)]), f"{key}: type {type_cell!r}"
    documented = _documented_default(default_cell)
    if key in DESCRIBED_DEFAULTS:
        assert documented is dataclasses.MISSING, f"{key}: a plain default, check it here"
        return
    assert documented is not dataclasses.MISSING, f"{key}: default {default_cell!r} unreadable"
    says = f"{key}: documented {default_cell}, the code has {value!r}"
    assert isinstance(documented, bool) == isinstance(value, bool), says
    assert documented == value, says


# -- command line ----------------------------------------------------------------------------

CLI_TEXT = _read(DOCS / "cli.md")


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    """Every command under ``group`` by its path (``init``, ``studio``, ``studio start``)."""
    out: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        out[path] = command
        if isinstance(command, click.Group):
            out.update(_commands(command, f"{path} "))
    return out


def _long_options(command: click.Command, *, hidden: bool) -> set[str]:
    return {
        name
        for p in command.params
        if isinstance(p, click.Option) and (hidden or not p.hidden)
        for name in p.opts + p.secondary_opts
        if name.startswith("--")
    }


def _documented_options(section: str) -> set[str]:
    """The long options in the first cell of a section's table rows."""
    rows = _table_rows(section, r"((?:`-\w`, )?`--[a-z-]+[^`]*`)")
    return {m for cell in rows for m in re.findall(r"`(--[a-z-]+)", cell)}


def test_every_command_has_its_section() -> None:
    sections = _sections(CLI_TEXT)
    missing = [p for p in _commands(main) if f"relabel {p}" not in sections]
    assert not missing, f"commands without a section in docs/cli.md: {missing}"
    gone = [
        title
        for title in sections
        if title.startswith("relabel ") and title[len("relabel ") :] not in _commands(main)
    ]
    assert not gone, f"sections of commands that are gone: {gone}"


@pytest.mark.parametrize("path", sorted(_commands(main)))
def test_every_option_is_documented_and_every_documented_option_exists(path: str) -> None:
    command = _commands(main)[path]
    section = _sections(CLI_TEXT).get(f"relabel {path}", "")
    documented = _documented_options(section)
    missing = _long_options(command, hidden=False) - documented
    assert not missing, f"relabel {path}: options not in docs/cli.md: {sorted(missing)}"
    gone = documented - _long_options(command, hidden=True)
    assert not gone, f"relabel {path}: documented options that are gone: {sorted(gone)}"
    usage = _sections(CLI_TEXT, code=True).get(f"relabel {path}", "")
    for argument in (p for p in command.params if isinstance(p, click.Argument)):
        assert argument.human_readable_name in usage, f"relabel {path}: {argument.name}"


def test_the_global_options_are_documented() -> None:
    documented = _documented_options(_sections(CLI_TEXT)["Global options"])
    assert documented == _long_options(main, hidden=True) | {"--help"}


def test_the_exit_codes_table_is_exit_code() -> None:
    rows = _table_rows(_sections(CLI_TEXT)["Exit codes"], r"(\d+)")
    documented = {int(code): cells[0].strip("`") for code, cells in rows.items()}
    assert documented == {int(code): code.name for code in ExitCode}
    assert all(cells[1] for cells in rows.values()), "an exit code without its meaning"


# -- links -----------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (repeated headings get ``-1``, ``-2``, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _without_code(_read(path)), re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def _links(path: Path) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", _without_code(_read(path)))
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_and_heading(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):
            continue  # https:, mailto:
        target, _, anchor = link.partition("#")
        file = (page.parent / target).resolve() if target else page
        if not file.exists():
            broken.append(f"{link}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{link}: no heading #{anchor} in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in _links(ROOT / "README.md")}
    assert not set(PAGES[1:]) - linked, "a docs page the README does not link"


def test_python_blocks_of_the_docs_compile() -> None:
    for page in PAGES:
        for block in re.findall(r"```python\n(.*?)```", _read(page), re.S):
            compile(block, str(page), "exec")


# -- reliability -----------------------------------------------------------------------------


def test_reliability_page_lists_every_case() -> None:
    from tests.reliability_readme import CASES, END, FAULTS, PAGE, START

    text = _read(ROOT / PAGE)
    section = text[text.index(START) : text.index(END)]
    listed = re.findall(r"^\| `([a-z0-9-]+)`", section, re.M)
    expected = [c.id for c in CASES] + [f.id for f in FAULTS]
    assert listed == expected, "run `make reliability` to regenerate docs/reliability.md"
