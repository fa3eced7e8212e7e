"""Static checks of relabel/'s structure (fast tier: nothing is imported or run).

* the layer order of ARCHITECTURE.md: no module imports from a higher layer (imports
  inside functions included), and the edges do not import each other;
* no import cycle among relabel's modules;
* SQL only in :mod:`relabel.store`, TensorFlow only in :mod:`relabel.training`, the Label
  Studio SDK and HTTP only in :mod:`relabel.studio`; the pure core does no I/O;
* no module over :data:`MAX_MODULE_LINES` lines, no function over
  :data:`MAX_FUNCTION_LINES` lines (its docstring not counted).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "relabel"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
SQL_CALLS = frozenset({"execute", "executemany", "executescript", "read_sql", "read_sql_query"})
SQL_MODULES = frozenset({"relabel.store"})

#: The layers, lowest first: a module may import from its own layer and lower ones only.
#: ARCHITECTURE.md lists the same layers (checked below).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("relabel.errors", "relabel.infra")),
    ("core", ("relabel.ranking", "relabel.review", "relabel.findings")),
    ("config", ("relabel.config",)),
    ("data", ("relabel.data",)),
    ("edges", ("relabel.store", "relabel.training", "relabel.studio")),
    ("project", ("relabel.project",)),
    ("report", ("relabel.report",)),
    ("loop", ("relabel.loop", "relabel.serve")),
    ("front", ("relabel", "relabel.api", "relabel.scoring", "relabel.demo")),
    ("cli", ("relabel.cli",)),
)
#: Packages of one layer that must not import each other.
INDEPENDENT = {"edges": ("relabel.store", "relabel.training", "relabel.studio")}
#: Third-party modules only one package may import.
OWNED = {
    "sqlite3": "relabel.store",
    "tensorflow": "relabel.training",
    "keras": "relabel.training",
    "label_studio_sdk": "relabel.studio",
    "httpx": "relabel.studio",
    "ray": "relabel.training",
}
#: What the pure core never imports.
IMPURE = frozenset({"sqlite3", "tensorflow", "keras", "label_studio_sdk", "httpx", "ray", "PIL"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    return {
        _module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
        for p in sorted(PACKAGE.rglob("*.py"))
    }


MODULES = _modules()


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name of ``from ... import`` (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str, path: Path, tree: ast.Module) -> set[str]:
    """The relabel modules a module imports, anywhere in it (functions included).

    ``from relabel.x import y`` is an import of ``relabel.x.y`` when that is a module,
    else of ``relabel.x``.
    """
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_one_cycle(graph, set(c), c[0]) for c in components]


def _one_cycle(graph: dict[str, set[str]], within: set[str], start: str) -> list[str]:
    """A shortest import path from ``start`` back to itself inside one component."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & within):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    raise AssertionError(f"{start} is in no cycle")


def test_no_import_cycle() -> None:
    graph = {m: _imports(m, p, tree) for m, (p, tree) in MODULES.items()}
    assert graph["relabel.cli.main"], "the import walk found nothing: is the walk broken?"
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_cycle_finder_names_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def test_sql_only_in_store() -> None:
    offenders = [
        f"{p.relative_to(PACKAGE.parent)}:{node.lineno} {_call_name(node)}()"
        for m, (p, tree) in MODULES.items()
        if m not in SQL_MODULES and not m.startswith("relabel.store.")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _call_name(node) in SQL_CALLS
    ]
    assert not offenders, "SQL outside relabel/store/:\n" + "\n".join(offenders)


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the function's end."""
    body = node.body
    first = body[0]
    if (
        len(body) > 1
        and isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        first = body[1]
    return (node.end_lineno or node.lineno) - first.lineno + 1


def _long_functions() -> dict[str, int]:
    return {
        f"{m}:{node.name}": _body_lines(node)
        for m, (_, tree) in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _body_lines(node) > MAX_FUNCTION_LINES
    }


def test_no_long_module() -> None:
    offenders = {
        str(p.relative_to(ROOT)): n
        for p, _ in MODULES.values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines: {offenders}"


def test_no_long_function() -> None:
    offenders = _long_functions()
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines (docstring excluded): " + (
        ", ".join(f"{k} ({n})" for k, n in sorted(offenders.items()))
    )


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the longest package prefix of ``module``."""
    best, found = -1, -1
    for index, (_, packages) in enumerate(LAYERS):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and len(package) > best:
                best, found = len(package), index
    assert found >= 0, f"{module} is in no layer of LAYERS"
    return found


def _package_of(module: str, packages: tuple[str, ...]) -> str | None:
    return next((p for p in packages if module == p or module.startswith(p + ".")), None)


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a higher layer, and imports between independent packages of a layer."""
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            if layer_of(target) > layer_of(module):
                found.append(
                    f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
                    f"({LAYERS[layer_of(target)][0]})"
                )
            for layer, packages in INDEPENDENT.items():
                a, b = _package_of(module, packages), _package_of(target, packages)
                if a and b and a != b:
                    found.append(f"{module} imports {target}: the {layer} are independent")
    return found


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_import_from_a_higher_layer() -> None:
    graph = {m: _imports(m, p, tree) for m, (p, tree) in MODULES.items()}
    assert not layer_violations(graph), "\n".join(layer_violations(graph))


def test_the_layer_check_finds_what_it_looks_for() -> None:
    graph = {
        "relabel.ranking.scores": {"relabel.store"},  # core imports an edge: up
        "relabel.store.db": {"relabel.training.fit"},  # edge to edge
        "relabel.loop.push": {"relabel.project", "relabel.review.plan"},  # fine
    }
    assert layer_violations(graph) == [
        "relabel.ranking.scores (core) imports relabel.store (edges)",
        "relabel.store.db imports relabel.training.fit: the edges are independent",
    ]


def _third_party(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_heavy_and_io_libraries_stay_in_their_edge() -> None:
    core = ("relabel.ranking", "relabel.review", "relabel.findings")
    offenders = []
    for module, (_, tree) in MODULES.items():
        for name in sorted(_third_party(tree)):
            owner = OWNED.get(name)
            if owner and _package_of(module, (owner,)) is None:
                offenders.append(f"{module} imports {name} (only {owner} may)")
            if name in IMPURE and _package_of(module, core):
                offenders.append(f"{module} imports {name}: the core is pure")
    assert not offenders, "\n".join(offenders)


def test_architecture_md_lists_the_same_layers() -> None:
    """ARCHITECTURE.md's layer table names the packages of :data:`LAYERS`, in order."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|([^|]*)\|", text, flags=re.MULTILINE)
    documented = [
        (name, tuple(re.findall(r"`(relabel[\w.]*)`", packages))) for _, name, packages in rows
    ]
    assert documented == list(LAYERS)
