"""Small files with one concept each: no module or C++/CUDA file over 400 lines, no function over
60 (tests aside)."""

from __future__ import annotations

import ast
import re
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


CSRC = sorted(p for p in (ROOT / "csrc").rglob("*") if p.suffix in (".cpp", ".h", ".cu", ".cuh"))


def _blank_comments_and_literals(text: str) -> str:
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
                         re.S)
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def cxx_functions(text: str) -> list:
    """(name, first line, lines) of every function defined at namespace scope: a brace block
    whose header has a parameter list, counted from the line naming it to its closing brace."""
    src, stack, found, start = _blank_comments_and_literals(text), [], [], 0
    for i, ch in enumerate(src):
        if ch == "\n" and src[start:i].lstrip().startswith("#"):
            start = i + 1  # a preprocessor line is no header
        if ch not in ";{}":
            continue
        if ch == "{":
            header = src[start:i].strip()
            kind = "inner"
            if all(k == "ns" for k, _ in stack):
                kind = ("ns" if re.match(r"(namespace|extern)\b", header) else
                        "fn" if "(" in header and not re.match(r"(struct|class|enum|union)\b",
                                                                header) else "type")
            stack.append((kind, start))
        elif ch == "}" and stack:
            kind, begin = stack.pop()
            name = re.search(r"(\w+)\s*\(", src[begin:i]) if kind == "fn" else None
            if name:
                first = src.count("\n", 0, begin + name.start()) + 1
                found.append((name.group(1), first, src.count("\n", 0, i) + 2 - first))
        start = i + 1
    return found


def test_the_cxx_function_finder_sees_the_kernels():
    names = {n for p in CSRC for n, _, _ in cxx_functions(p.read_text())}
    assert {"fused_step_cpu", "fused_step_kernel", "prepare_fused_step", "welford_update",
            "welford_update_cpu", "launch_welford_update"} <= names


@pytest.mark.parametrize("path", CSRC, ids=lambda p: str(p.relative_to(ROOT)))
def test_cxx_files_and_functions_stay_small(path):
    source = path.read_text()
    assert source.count("\n") <= 400, f"{path.relative_to(ROOT)}: {source.count(chr(10))} lines"
    long = [f"{name} (line {line}, {n} lines)" for name, line, n in cxx_functions(source)
            if n > 60]
    assert not long, f"{path.relative_to(ROOT)}: {', '.join(long)}"
