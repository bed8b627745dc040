"""The shape of the flopcount package: no import cycle, small modules, short functions.

Every module of ``flopcount`` is parsed with :mod:`ast` (nothing is imported). The
import graph has one edge per *import-time* import of another flopcount module: the
``import`` and ``from ... import`` statements that run when the module is imported,
including those inside module-level ``if``/``try`` blocks. Imports under
``if TYPE_CHECKING:`` (only type checkers follow them) and imports inside functions or
methods (they run when called, after every module has loaded) are not import-time
edges. ``from package import name`` is an edge to ``package.name`` when that is a
module, else to ``package``; the implicit import of a parent package is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flopcount
from tests.import_graph import find_cycle, import_time_statements, package_modules, resolve

PACKAGE = Path(flopcount.__file__).parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


MODULES = package_modules(PACKAGE)


def _edges(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    targets: set[str] = set()
    for node in import_time_statements(tree.body):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        else:
            base = resolve(module, node, MODULES)
            targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {t for t in targets if t in MODULES and t != module}


GRAPH = {module: _edges(module) for module in MODULES}


def test_every_module_is_seen():
    assert {"flopcount", "flopcount.profiler", "flopcount.capture.fx", "flopcount.render"} <= set(MODULES)
    assert "flopcount.result" in GRAPH["flopcount.profiler"]


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_renderers_are_imported_at_import_time_by_the_cli_only():
    """Profile's methods import flopcount.render lazily: render depends on Profile, not the reverse."""
    importers = {
        module
        for module, targets in GRAPH.items()
        if not module.startswith("flopcount.render") and any(t.startswith("flopcount.render") for t in targets)
    }
    assert importers <= {"flopcount.cli"}


def test_no_module_lifts_fx_patches():
    """The tracer passes meta execution through instead: lifting fx's patches rewrites nn.Module's class dict."""
    uses = {name: path.read_text().count("_maybe_revert_all_patches") for name, path in MODULES.items()}
    assert not any(uses.values())


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_and_function_sizes(module):
    source = MODULES[module].read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{module} is over {MAX_MODULE_LINES} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{module}: functions over {MAX_FUNCTION_LINES} lines: {long}"
