"""skinbench's shape: no import cycle, small modules, short training functions, one atomic writer.

The import graph has an edge ``a -> b`` when module ``a`` imports ``b`` (or a name from
it) at import time: a statement at module level, including inside a module-level ``if``
or ``try``. Imports under ``if TYPE_CHECKING:`` and imports inside functions are not
edges: they run only for the type checker or when the function is called (the CLI
imports the library lazily, so ``skinbench --help`` does not load torch). Importing
``skinbench.a.b`` also runs ``skinbench.a``'s ``__init__``, so it is an edge to both,
except from inside ``skinbench.a`` itself, whose package is already being imported
(an explicit ``from skinbench.a import x`` there still is an edge).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "skinbench"
MAX_MODULE_LINES = 400
MAX_TRAIN_FUNCTION_LINES = 60
ATOMIC_MODULE = "skinbench.atomic"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_nodes(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported (not in functions, classes' methods or TYPE_CHECKING)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _import_time_nodes(node.body)
            found += _import_time_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                found += _import_time_nodes(block)
        elif isinstance(node, (ast.With, ast.ClassDef)):
            found += _import_time_nodes(node.body)
    return found


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _edges(importer: str, target: str) -> set[str]:
    """The skinbench modules that importing ``target`` from ``importer`` runs: it and its packages."""
    parts = target.split(".")
    packages = {".".join(parts[:i]) for i in range(1, len(parts))}
    ancestors = {p for p in packages if importer.startswith(p + ".")}  # already being imported
    return ({target} | packages - ancestors) & set(MODULES)


def import_graph() -> dict[str, set[str]]:
    """Module -> the skinbench modules it imports at import time."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges: set[str] = set()
        for node in _import_time_nodes(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    edges |= _edges(module, alias.name)
            else:
                base = _resolve(module, node)
                edges |= _edges(module, base)
                for alias in node.names:  # `from skinbench.reports import figures` imports a submodule
                    edges |= _edges(module, f"{base}.{alias.name}")
        edges.discard(module)
        graph[module] = edges
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_known_edges() -> None:
    graph = import_graph()
    assert "skinbench.rundir" in graph["skinbench.train"]
    assert "skinbench.context" in graph["skinbench.evaluate"]
    assert "skinbench.reports.figures" in graph["skinbench.reports.report"]  # from skinbench.reports import figures
    assert "skinbench.train" not in graph["skinbench.cli"]  # imported inside a handler
    assert "skinbench.cost" not in graph["skinbench.reports.tables"]  # only under TYPE_CHECKING
    assert "skinbench.data" in graph["skinbench.context"]  # from skinbench.data import ...
    assert "skinbench.data" not in graph["skinbench.data.loading"]  # siblings by full path only


def test_cycle_finder_finds_a_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_skinbench() -> None:
    cycle = _find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_leaf_modules_import_no_other_skinbench_module() -> None:
    graph = import_graph()
    assert graph["skinbench.errors"] == set()
    assert graph["skinbench.atomic"] == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_at_most_400_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines"


def test_train_functions_are_at_most_60_lines() -> None:
    tree = ast.parse(MODULES["skinbench.train"].read_text())
    long = {
        node.name: node.end_lineno - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_TRAIN_FUNCTION_LINES
    }
    assert not long, f"functions over {MAX_TRAIN_FUNCTION_LINES} lines in skinbench/train.py: {long}"


def _renames(tree: ast.AST) -> list[int]:
    """Lines that rename a file: os.replace/os.rename, or Path.replace/.rename with one argument."""
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name, owner = node.func.attr, node.func.value
        os_call = name in ("replace", "rename") and isinstance(owner, ast.Name) and owner.id == "os"
        # str.replace needs two arguments; pandas' one-argument .rename("n") names a Series
        path_replace = name == "replace" and len(node.args) == 1 and not node.keywords
        if os_call or path_replace:
            lines.append(node.lineno)
    return lines


def test_files_are_replaced_only_by_the_atomic_helper() -> None:
    offenders = {}
    for module, path in MODULES.items():
        text = path.read_text()
        lines = _renames(ast.parse(text))
        if "tempfile.mkstemp" in text or "NamedTemporaryFile" in text:
            lines.append(0)
        if lines and module != ATOMIC_MODULE:
            offenders[module] = lines
    assert not offenders, f"write through skinbench.atomic instead: {offenders}"
    assert _renames(ast.parse(MODULES[ATOMIC_MODULE].read_text())), "the helper itself must rename"
