"""README.md stays true: every ```python block runs as written, the Quick start commands are the
ones the scripts provide, the file stays short, and its links (and the results docs' links and
figures) point at files that exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Slow (the README examples, each in a fresh interpreter): outside the inner loop, in CI.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
QUICK_START = ("bash scripts/main.sh", "bash scripts/test.sh")
MAX_LINES = 300
LINKED_DOCS = (README, ROOT / "docs" / "results.md", ROOT / "docs" / "benchmarks.md")

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
# A block that imports diffusers (directly or through modeinterp.diffusers / UNetDenoiser).
_NEEDS_DIFFUSERS = re.compile(r"^\s*(from|import)\s+diffusers\b|modeinterp\.diffusers|UNetDenoiser",
                              re.M)


def _python_blocks() -> list:
    """(first line number, code) of every ```python block of README.md."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _FENCE.finditer(text)]


BLOCKS = _python_blocks()


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2, "README.md should hold the Python API and diffusers examples"


@pytest.mark.parametrize("line,code", BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_python_block_runs(line, code, tmp_path):
    if _NEEDS_DIFFUSERS.search(code):
        pytest.importorskip("diffusers")
    script = tmp_path / f"readme_block_line{line}.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg")
    # One thread: the examples are small, and on a machine busy with other jobs torch's thread
    # pool makes them many times slower, not faster.
    env.setdefault("OMP_NUM_THREADS", "1")
    try:
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"README.md python block at line {line} ran past {exc.timeout} s:\n{code}")
    if proc.returncode != 0:
        pytest.fail(f"README.md python block at line {line} failed (exit {proc.returncode}):\n"
                    f"{code}\n--- stdout ---\n{proc.stdout[-4000:]}\n"
                    f"--- stderr ---\n{proc.stderr[-4000:]}", pytrace=False)


def test_quick_start_commands_verbatim():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)
    assert len(section) == 2, "README.md has no '## Quick start' section"
    quick = section[1].split("\n## ", 1)[0]
    bash_lines = [ln.strip() for block in re.findall(r"^```bash\n(.*?)^```", quick, re.M | re.S)
                  for ln in block.splitlines()]
    for command in QUICK_START:
        assert any(ln == command or ln.startswith(command + " ") for ln in bash_lines), \
            f"the Quick start section of README.md lacks the command {command!r}"
        assert (ROOT / command.split()[1]).is_file(), f"{command}: no such script"


_SCRIPTS = sorted([*ROOT.glob("scripts/*.sh"), *ROOT.glob("benchmarks/*.sh"), ROOT / ".ci" / "run"])
_RUN_MODULE = re.compile(r"-m\s+(modeinterp[\w.]*)")


@pytest.mark.parametrize("module", sorted({m for script in _SCRIPTS
                                           for m in _RUN_MODULE.findall(script.read_text())}))
def test_modules_the_scripts_run_are_runnable(module):
    """`python -m X` for every modeinterp module a shell script runs (main.sh's job included)."""
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"python -m {module} --help: {done.stderr[-2000:]}"


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines; at most {MAX_LINES} (details go to docs/)"


_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(doc: Path) -> set:
    """GitHub's anchors of a markdown file's headings (lower case, punctuation dropped, spaces to
    hyphens), ignoring fenced code."""
    text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("doc", LINKED_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    """Links and figures with a relative path point at a file that exists, and a #fragment into
    a markdown file at one of its headings."""
    broken = []
    for target in _LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # a URL
        path, _, fragment = target.partition("#")
        dest = doc.parent / path if path else doc
        if not dest.exists():
            broken.append(target)
        elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)} has broken links: {broken}"
