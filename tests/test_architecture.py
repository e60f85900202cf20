"""The package's layers: imports only go downward, and no two modules import each other.

Layers, lowest first (docs/ARCHITECTURE.md): io_utils; hypersgd (the optimiser); records and
datasets; training; baselines and studies; analysis; pipeline; the command line. Every import is
counted, including those inside functions (a late import hides a cycle, it does not remove it);
only imports under ``if TYPE_CHECKING:`` are left out, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "onepass"

LAYERS = {
    "onepass.io_utils": 0,
    "onepass.lazy": 0,
    "onepass.patterns": 0,
    "onepass.yaml_files": 0,
    "onepass.hypersgd": 1,
    "onepass.records": 2,
    "onepass.datasets": 2,
    "onepass.training": 3,
    "onepass.baselines": 4,
    "onepass.studies": 4,
    "onepass.analysis": 5,
    "onepass.pipeline": 6,
    "onepass.cli": 7,
    "onepass.__main__": 7,
    "onepass": 7,  # the package's own __init__: the public entry points
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{module}: in no layer; add its package to LAYERS and docs/ARCHITECTURE.md")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> set[str]:
    """The onepass modules ``path`` imports (resolved to module names, not packages' attributes)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "onepass")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "onepass":
                found.add(target)
                for alias in node.names:  # `from . import optimiser` imports a module
                    if (PACKAGE.parent / (target + "." + alias.name).replace(".", "/")).with_suffix(".py").exists():
                        found.add(f"{target}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(module)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    upward = [t for t in sorted(GRAPH[module]) if layer_of(t) > layer_of(module)]
    assert not upward, f"{module} (layer {layer_of(module)}) imports higher layers: {upward}"


def test_no_import_cycles():
    """Tarjan's strongly connected components over the module graph: each must be one module."""
    edges = {m: {t for t in targets if t in GRAPH} for m, targets in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    assert not cycles, f"import cycles: {cycles}"


def test_the_layer_check_sees_what_it_must():
    """The checker itself: a known downward import is found, and an upward one would be flagged."""
    assert "onepass.hypersgd" in GRAPH["onepass.training.parts"]
    assert "onepass.hypersgd.optimiser" in GRAPH["onepass.hypersgd"]
    assert layer_of("onepass.pipeline.plan") > layer_of("onepass.training.config")
    assert layer_of("onepass.records.aggregate") < layer_of("onepass.training.chunk")
    assert "onepass.records.aggregate" in GRAPH["onepass.training.chunk"]
