"""Reading and writing ``relabel.toml`` (tomllib, tomli_w; written atomically).

:func:`load` reads the file, lets the model (:mod:`relabel.config.models`) check the
types and :func:`relabel.config.rules.validate` the values; every problem is a
:class:`~relabel.errors.ConfigError` naming the file, the key and the value.
:func:`save` writes every key, so that the file documents itself.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import TypeAdapter, ValidationError

from relabel.config.messages import explain
from relabel.config.models import CONFIG_FILE, SECTIONS, Config
from relabel.config.rules import validate
from relabel.errors import ConfigError
from relabel.infra import atomic

_CONFIG = TypeAdapter(Config)


def load(project_dir: Path) -> Config:
    """Read and validate ``PROJECT/relabel.toml``.

    Parameters
    ----------
    project_dir : Path
        The project folder.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        The file is missing, not valid TOML, or a key is unknown, mistyped or out of range.
    """
    path = Path(project_dir) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found; is '{project_dir}' a relabel project? (relabel init)"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return validate(from_toml(raw, str(path)), str(path))


def from_toml(raw: dict[str, Any], file: str = CONFIG_FILE) -> Config:
    """A config from the tables of a ``relabel.toml``, its types checked (not its rules).

    Parameters
    ----------
    raw : dict
        The parsed file: ``[project]`` and the sections of :data:`SECTIONS`.
    file : str
        The file named in messages.

    Raises
    ------
    ConfigError
        ``[project]`` has no string ``name``, or a section, key or type is wrong.
    """
    raw = dict(raw)
    project = raw.pop("project", {})
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        raise ConfigError(f"{file}: [project] needs a string 'name'")
    extra = set(project) - {"name"}
    if extra:
        raise ConfigError(f"{file}: unknown key(s) in [project]: {', '.join(sorted(extra))}")
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise ConfigError(
            f"{file}: unknown section(s) {', '.join(sorted(unknown))} "
            f"(known: project, {', '.join(SECTIONS)})"
        )
    try:
        return _CONFIG.validate_python({"name": project["name"], **raw})
    except ValidationError as exc:
        raise ConfigError(explain(exc, Config, file=file)) from None


def _toml_value(value: Any) -> str:
    """One value as TOML, escaped by ``tomli_w``; a list or table on one line."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }" if pairs else "{}"
    return tomli_w.dumps({"v": value}).removeprefix("v = ").rstrip("\n")


def dumps(config: Config) -> str:
    """The TOML text of a config (every key written, so the file documents itself)."""
    lines = [
        "# relabel project configuration. Every key is documented in docs/configuration.md.",
        "# The Label Studio token is NEVER stored here: [studio] names environment variables.",
        "",
        "[project]",
        f"name = {_toml_value(config.name)}",
    ]
    for name in SECTIONS:
        lines += ["", f"[{name}]"]
        for key, value in asdict(getattr(config, name)).items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save(config: Config, project_dir: Path) -> Path:
    """Validate and write ``PROJECT/relabel.toml`` atomically; return its path."""
    validate(config)
    path = Path(project_dir) / CONFIG_FILE
    atomic.write_text(path, dumps(config))
    return path
