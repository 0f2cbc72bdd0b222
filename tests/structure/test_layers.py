"""The package's layers (docs/design.md, "Layers"): a module may import its own layer and the ones
below it, never one above, and no two modules import each other, directly or around a loop.
Imports inside functions count: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "modeinterp"

# Lowest first; a name is a top-level module or subpackage of modeinterp.
LAYERS = [
    ("kernels", {"_C", "_build_config", "_variant", "_fakes", "_extension", "validation",
                 "errors", "artifacts", "ops", "reference"}),
    ("schedules", {"schedules"}),
    ("sampling", {"sampling", "diffusers"}),
    ("models, data, train", {"models", "data", "train"}),
    ("detection", {"detect"}),
    ("plots and reports", {"analysis", "reports"}),
    ("pipeline", {"pipeline"}),
    ("experiments", {"experiments", "recursive"}),
    ("entry points", {"cli", "demo", "diagnose", "__main__"}),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set:
    """The modeinterp modules a file imports (``from .x import y`` gives x.y when y is a module)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "modeinterp"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "modeinterp":
                target = node.module
            else:
                continue
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names if _exists(f"{target}.{a.name}")}
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").exists() or (PACKAGE / rel / "__init__.py").exists()


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


GRAPH = {_module_name(p): {m for m in _imports(p) if _exists(m) and m != _module_name(p)}
         for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_layer():
    assert {_top(m) for m in GRAPH} - {""} <= set(RANK), \
        f"modules without a layer: {sorted({_top(m) for m in GRAPH} - {''} - set(RANK))}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m != "modeinterp"))
def test_no_module_imports_a_higher_layer(module):
    mine = RANK[_top(module)]
    above = sorted(m for m in GRAPH[module] if _top(m) and RANK[_top(m)] > mine)
    assert not above, (f"{module} ({LAYERS[mine][0]}) imports {above} from a higher layer: "
                       "move the shared code down, or pass it in")


def test_no_import_cycles():
    # A package's __init__ importing its own submodules is how re-exports work: not an edge back.
    edges = {m: {t for t in ts if not (m.startswith(t + ".") and t in GRAPH)}
             for m, ts in GRAPH.items()}
    state, path = {}, []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == "open":
                pytest.fail("import cycle: " + " -> ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t)
        path.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)
