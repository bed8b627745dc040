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

from tests.import_graph import find_cycle, import_time_statements, package_modules, resolve

PACKAGE = Path(__file__).resolve().parents[2] / "skinbench"
MAX_MODULE_LINES = 400
MAX_TRAIN_FUNCTION_LINES = 60
ATOMIC_MODULE = "skinbench.atomic"


MODULES = package_modules(PACKAGE)


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
        for node in import_time_statements(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    edges |= _edges(module, alias.name)
            else:
                base = resolve(module, node, MODULES)
                edges |= _edges(module, base)
                for alias in node.names:  # `from skinbench.reports import figures` imports a submodule
                    edges |= _edges(module, f"{base}.{alias.name}")
        edges.discard(module)
        graph[module] = edges
    return graph


def test_the_graph_sees_known_edges() -> None:
    graph = import_graph()
    assert "skinbench.rundir" in graph["skinbench.train"]
    assert "skinbench.context" in graph["skinbench.evaluate"]
    assert "skinbench.reports.figures" in graph["skinbench.reports.report"]  # from skinbench.reports import figures
    assert "skinbench.train" not in graph["skinbench.cli"]  # imported inside a handler
    assert "skinbench.cost" not in graph["skinbench.reports.tables"]  # only under TYPE_CHECKING
    assert "skinbench.data" in graph["skinbench.context"]  # from skinbench.data import ...
    assert "skinbench.data" not in graph["skinbench.data.loading"]  # siblings by full path only


def test_no_import_cycle_inside_skinbench() -> None:
    cycle = find_cycle(import_graph())
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
