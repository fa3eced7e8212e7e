"""pydantic's validation errors, told in ``relabel.toml`` terms.

The user never sees pydantic's own wording: each error becomes the message relabel has
always given, naming the key (``section.key``) and the value, e.g.
``training.folds: expected an integer, got 'five'`` or
``unknown key 'training.epoch' (known: cache_images, ensemble, ...)``.
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

from pydantic import ValidationError
from pydantic_core import ErrorDetails

#: What a value of the wrong type should have been, by pydantic error type.
_EXPECTED = {
    "bool_type": "expected true or false",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a table, e.g. { num_cpus = 1 }",
}
_UNKNOWN = ("unexpected_keyword_argument", "extra_forbidden")
_NOT_A_TABLE = ("dataclass_type", "dataclass_args_type")


def explain(
    error: ValidationError, root: type, *, prefix: str | None = None, file: str | None = None
) -> str:
    """One message for every error of a validation, each naming its key and value.

    Parameters
    ----------
    error : pydantic.ValidationError
        What pydantic found while building ``root``.
    root : type
        The pydantic dataclass that was built (:class:`relabel.config.Config` or a section).
    prefix : str, optional
        The section ``root`` is (``"model"``), so that keys read ``model.batch_size``.
    file : str, optional
        The file the values came from; each message then starts with it.

    Returns
    -------
    str
        The messages joined by ``"; "``.
    """
    lead = f"{file}: " if file else ""
    return lead + f"; {lead}".join(_one(e, root, prefix) for e in error.errors())


def _one(error: ErrorDetails, root: type, prefix: str | None) -> str:
    """One error as a sentence about a key of ``relabel.toml``."""
    loc = [str(part) for part in error["loc"]]
    kind, value = error["type"], error.get("input")
    key = ".".join([prefix, *loc] if prefix else loc)
    if isinstance(error["loc"][-1], int):  # an item of a list: dataset.classes[0]
        key = key.rsplit(".", 1)[0] + f"[{loc[-1]}]"
    owner = _owner(root, loc[:-1])
    if kind in _UNKNOWN:
        known = ", ".join(sorted(getattr(owner, "__pydantic_fields__", {})))
        return f"unknown key '{key}' (known: {known})"
    if kind in _NOT_A_TABLE and owner is root and prefix is None and len(loc) == 1:
        return f"[{key}] must be a table"
    if kind == "literal_error":
        if not isinstance(value, str):
            return f"{key}: expected a string, got {value!r}"
        return f"{key}: {value!r} is not one of {', '.join(_choices(owner, loc[-1]))}"
    if kind in _EXPECTED:
        return f"{key}: {_EXPECTED[kind]}, got {value!r}"
    if kind in ("missing", "missing_argument"):
        return f"{key}: a value is required"
    return f"{key}: {value!r} is not a valid value"


def _owner(root: type, path: list[str]) -> Any:
    """The dataclass that holds the key at ``path`` (``root`` for a top-level key)."""
    owner: Any = root
    for name in path:
        info = getattr(owner, "__pydantic_fields__", {}).get(name)
        if info is None:
            return None
        owner = info.annotation
    return owner


def _choices(owner: Any, name: str) -> tuple[str, ...]:
    """The values a ``Literal`` field accepts."""
    info = getattr(owner, "__pydantic_fields__", {}).get(name)
    annotation = info.annotation if info is not None else None
    return get_args(annotation) if get_origin(annotation) is Literal else ()
