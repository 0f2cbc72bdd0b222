"""A score's key is one value, ``ScoreKey(window, name)`` (docs/design.md, "The types that cross
layers"): only ``sampling/score_key.py`` turns it into text and back. No other module splits a
string on "/", joins two values with "/" in an f-string, or spells the ``"early/"`` prefix — the
ways keys were taken apart by hand before there was one type."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "modeinterp"
OWNER = PACKAGE / "sampling" / "score_key.py"
SOURCES = [p for p in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")])
           if p != OWNER and not p.name.startswith("test_")]
TEXT_METHODS = {"split", "rsplit", "partition", "rpartition", "replace", "startswith",
                "endswith", "removeprefix", "index", "find"}


def _docstrings(tree) -> set:
    nodes = [tree, *(n for n in ast.walk(tree)
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))]
    return {id(n.body[0].value) for n in nodes
            if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value,
                                                                           ast.Constant)}


def key_handling(source: str) -> list:
    """(line, what) of every place ``source`` takes a key apart or builds one by hand."""
    tree = ast.parse(source)
    docs, found = _docstrings(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in TEXT_METHODS and any(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) and "/" in a.value
                    for a in node.args):
            found.append((node.lineno, f".{node.func.attr}() on '/'"))
        elif isinstance(node, ast.JoinedStr):
            parts = node.values
            for left, mid, right in zip(parts, parts[1:], parts[2:]):
                if isinstance(left, ast.FormattedValue) and isinstance(right, ast.FormattedValue) \
                        and isinstance(mid, ast.Constant) and mid.value == "/":
                    found.append((node.lineno, "an f-string joining two values with '/'"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                id(node) not in docs and node.value.startswith("early/"):
            found.append((node.lineno, "the 'early/' prefix"))
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_splits_or_joins_score_keys(path):
    found = key_handling(path.read_text())
    assert not found, f"{path.relative_to(ROOT)}: " + "; ".join(
        f"line {line}: {what}" for line, what in found) + " — use ScoreKey.parse / .key"


@pytest.mark.parametrize("code", ['w, a = key.split("/", 1)', 'k.partition("/")',
                                  'f"{w.key}/{name}"', 'n.startswith("early/")',
                                  'x = "early/3"'])
def test_the_check_sees_each_way_keys_were_handled(code):
    assert key_handling(code)


def test_the_owner_is_the_one_place_keys_become_text():
    assert key_handling(OWNER.read_text())  # ScoreKey.key and .parse do it, and only there
