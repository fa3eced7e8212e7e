"""The shape of relabel/studio/: small files, short functions, no private SDK attributes.

Pure source checks (no server): every module of the Label Studio edge stays readable, and
the client uses only label-studio-sdk's public API (private attributes such as
``_client_wrapper`` change without notice between SDK releases).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import relabel.studio

STUDIO = Path(relabel.studio.__file__).parent
SOURCES = sorted(STUDIO.glob("*.py"))
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
#: Callables whose result is the SDK client object.
SDK_CONSTRUCTORS = frozenset({"LabelStudio", "AsyncLabelStudio"})


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _name_of(target: ast.expr) -> str | None:
    """``x`` for ``x`` and ``self.x`` (any ``obj.x``); None for other targets."""
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _sdk_names(tree: ast.Module) -> set[str]:
    """Names (variables or attributes) bound to an SDK client in this module.

    ``x = LabelStudio(...)``, ``self._sdk = LabelStudio(...)`` and annotated forms; plus
    ``_sdk``, the client's attribute, wherever it is used (the client is built in one
    module and used in others).
    """
    names = {"_sdk"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not isinstance(value, ast.Call):
            continue
        func = value.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called in SDK_CONSTRUCTORS:
            names |= {n for n in map(_name_of, targets) if n}
    return names


def _rooted_at(node: ast.expr, names: set[str]) -> bool:
    """Whether an attribute chain starts at (or passes through) an SDK client name."""
    while True:
        if isinstance(node, ast.Name):
            return node.id in names
        if isinstance(node, ast.Attribute):
            if node.attr in names:
                return True
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return False


def private_sdk_accesses(tree: ast.Module) -> list[str]:
    """``sdk._x`` / ``self._sdk.a._x`` accesses and ``getattr(sdk, "_x")`` calls."""
    names = _sdk_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and node.attr not in names
            and _rooted_at(node.value, names)
        ):
            found.append((node.lineno, ast.unparse(node)))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and str(node.args[1].value).startswith("_")
            and _rooted_at(node.args[0], names)
        ):
            found.append((node.lineno, ast.unparse(node)))
    return [f"line {line}: {code}" for line, code in sorted(found)]


def long_functions(tree: ast.Module, limit: int) -> list[str]:
    """Functions longer than ``limit`` lines, not counting the docstring."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        first = body[0]
        has_docstring = (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        )
        if has_docstring and len(body) > 1:
            first = body[1]
        assert node.end_lineno is not None
        lines = node.end_lineno - first.lineno + 1
        if lines > limit:
            found.append(f"{node.name} (line {node.lineno}): {lines} lines")
    return found


def test_the_studio_package_has_sources() -> None:
    names = {p.name for p in SOURCES}
    assert {"client.py", "server.py", "transport.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_file_is_at_most_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_FILE_LINES, f"{path.name} has {lines} lines (at most {MAX_FILE_LINES})"


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_no_private_attribute_of_the_sdk_client(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "_client_wrapper" not in text, f"{path.name} uses the SDK's _client_wrapper"
    assert private_sdk_accesses(_tree(path)) == [], path.name


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_functions_are_at_most_80_lines(path: Path) -> None:
    assert long_functions(_tree(path), MAX_FUNCTION_LINES) == [], path.name


def test_the_checks_catch_what_they_look_for() -> None:
    """The checkers themselves: a private SDK access and a long function are found."""
    code = (
        "from label_studio_sdk import LabelStudio\n"
        "class C:\n"
        "    def __init__(self):\n"
        "        self._sdk = LabelStudio(base_url='u', api_key='k')\n"
        "        sdk = LabelStudio(base_url='u', api_key='k')\n"
        "        self._sdk.projects.list()\n"  # public: fine
        "        self._other._thing\n"  # not the SDK: fine
        "        self._sdk._client_wrapper.httpx_client\n"
        "        sdk.projects._raw_client\n"
        "        getattr(self._sdk, '_client_wrapper')\n"
    )
    found = private_sdk_accesses(ast.parse(code))
    assert [f.split(":")[0] for f in found] == ["line 8", "line 9", "line 10"], found
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    long_one = f'def f():\n    """Doc\n\n    string."""\n{body}\n'
    assert long_functions(ast.parse(long_one), 80) == ["f (line 1): 81 lines"]
    assert long_functions(ast.parse(long_one), 81) == []
