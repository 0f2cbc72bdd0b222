"""Small files with one concept each: no module over 400 lines, no function over 60 (tests aside)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "python" / "modeinterp").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py"),
                  *(ROOT / "tools").rglob("*.py")])
SOURCES = [p for p in SOURCES if not p.name.startswith("test_")]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_and_functions_stay_small(path):
    source = path.read_text()
    assert source.count("\n") <= 400, f"{path.relative_to(ROOT)}: {source.count(chr(10))} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 60]
    assert not long, f"{path.relative_to(ROOT)}: {', '.join(long)}"
