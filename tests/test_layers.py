"""The package's layers, read from the source: no module imports a higher layer, no modules import each other
in a circle, and an import inside a function is a heavy third-party one that says why it waits."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src"

LAYERS = (
    ("core", ("mrisr", "mrisr.console", "mrisr.io", "mrisr.intensity", "mrisr.metrics", "mrisr.datasets")),
    ("physics", ("mrisr.acquisition",)),
    ("configuration and devices", ("mrisr.config", "mrisr.device", "mrisr.distributed")),
    ("networks and losses", ("mrisr.models", "mrisr.losses")),
    ("samplers, scoring, drawing", ("mrisr.sampling", "mrisr.evaluation", "mrisr.tissues", "mrisr.plotting")),
    ("trust maps", ("mrisr.trust",)),
    ("training and inference", ("mrisr.training", "mrisr.inference")),
    ("applications", ("mrisr.apps",)),
    ("command line", ("mrisr.cli", "mrisr.__main__")),
)
"""docs/ARCHITECTURE.md draws these; a module may import its own layer and those above it in this list."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted((SRC / "mrisr").rglob("*.py"))}


def layer(module: str) -> int:
    """The rank of the layer holding ``module``: its longest matching prefix."""
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{module} is in no layer of LAYERS"
    return rank


def imported(module: str) -> dict[str, list[tuple[int, bool]]]:
    """The mrisr modules ``module`` imports, each with the lines and whether the import sits in a function."""
    tree = ast.parse(MODULES[module].read_text())
    found: dict[str, list[tuple[int, bool]]] = {}
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inner = {id(s) for f in functions for s in ast.walk(f) if s is not f}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mrisr":
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names
            ]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "mrisr"]
        for name in names:
            found.setdefault(name, []).append((node.lineno, id(node) in inner))
    return found


GRAPH = {module: imported(module) for module in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module):
    upward = [
        f"{target} ({LAYERS[layer(target)][0]}, line {lines[0][0]})"
        for target, lines in GRAPH[module].items()
        if layer(target) > layer(module)
    ]
    assert not upward, f"{module} ({LAYERS[layer(module)][0]}) imports a higher layer: {', '.join(upward)}"


def test_no_modules_import_each_other_in_a_circle():
    """Tarjan's strongly connected components of the import graph: every one is a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    assert not circles, f"modules that import each other in a circle: {circles}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_inside_functions_are_heavy_third_party_ones_with_a_reason(module):
    lines = MODULES[module].read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    late = {s.lineno: s for f in functions for s in ast.walk(f) if isinstance(s, (ast.Import, ast.ImportFrom))}
    bad = []
    for lineno, node in sorted(late.items()):
        top = (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name).split(".")[0]
        if top == "mrisr" or top in sys.stdlib_module_names or "#" not in lines[lineno - 1]:
            bad.append(f"line {lineno}: {lines[lineno - 1].strip()}")
    assert not bad, f"{module}: imports inside functions without a reason, or of mrisr or the standard library: {bad}"


def test_the_layers_cover_every_module_and_name_only_packages_that_exist():
    for module in MODULES:
        layer(module)
    for _, prefixes in LAYERS:
        for prefix in prefixes:
            assert prefix in MODULES, f"LAYERS names {prefix}, which is not a module of mrisr"
