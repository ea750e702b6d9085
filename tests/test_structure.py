"""The package's layers import one way: read every import with ``ast`` and look for cycles.

Imports inside functions count too: a module that imports upward lazily, to dodge a
cycle, is in the wrong layer. ``nn`` uses the engine only through ``autograd_core``'s
public names, and the engine never imports ``nn``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_of(package: str) -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / package).rglob("*.py"))}


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for statement in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(statement, ast.Import):
            found |= {alias.name for alias in statement.names}
        elif isinstance(statement, ast.ImportFrom):
            if statement.level:
                base = name.split(".")
                base = base[: len(base) - statement.level + (1 if is_package else 0)]
                origin = ".".join(base + ([statement.module] if statement.module else []))
            else:
                origin = statement.module
            for alias in statement.names:
                # `from . import anomaly` imports a submodule; `from .tensor import Tensor`
                # (or `from . import Tensor`) takes a name from the module itself.
                submodule = f"{origin}.{alias.name}"
                found.add(submodule if submodule in known else origin)
    return {module for module in found if module in known}


def import_graph(package: str) -> dict[str, set[str]]:
    modules = modules_of(package)
    return {name: imported_modules(name, path, set(modules)) - {name}
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (an iterative depth-first search)."""
    state: dict[str, str] = {}
    for start in graph:
        if start in state:
            continue
        path, stack = [], [(start, iter(sorted(graph[start])))]
        state[start] = "open"
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = "done"
            elif state.get(child) == "open":
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = "open"
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return None


@pytest.mark.parametrize("package", ["autograd_core", "nn"])
def test_imports_form_no_cycle(package):
    cycle = find_cycle(import_graph(package))
    assert cycle is None, f"import cycle in {package}: {' -> '.join(cycle)}"


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_reader_sees_relative_and_function_level_imports(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("from . import tensor\nfrom .node import Node\n"
                      "def f():\n    from .ops import add\n", encoding="utf-8")
    known = {"pkg", "pkg.tensor", "pkg.node", "pkg.ops"}
    assert imported_modules("pkg.mod", source, known) == {"pkg.tensor", "pkg.node", "pkg.ops"}
    source.write_text("from . import helper\n", encoding="utf-8")    # not a module: the package
    assert imported_modules("pkg.mod", source, known) == {"pkg"}


def test_the_engine_never_imports_nn():
    for name, imports in import_graph("autograd_core").items():
        path = modules_of("autograd_core")[name]
        text = path.read_text(encoding="utf-8")
        assert "import nn" not in text and "from nn" not in text, f"{name} imports nn"
        assert not any(module.startswith("nn") for module in imports)


def test_nn_uses_only_the_engines_public_names():
    for name, path in modules_of("nn").items():
        for statement in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(statement, ast.ImportFrom) and not statement.level:
                assert statement.module is None or not statement.module.startswith("autograd_core."), (
                    f"{name} imports from {statement.module}; use the public `autograd_core` names"
                )
            if isinstance(statement, ast.Import):
                for alias in statement.names:
                    assert not alias.name.startswith("autograd_core."), f"{name} imports {alias.name}"
