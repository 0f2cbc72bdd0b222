"""Write a PEP 503 "simple" package index over the wheels scripts/build_wheels.sh leaves in a folder.

Layout (under DIST, default ``dist``)::

    wheels/modeinterp-0.1.0+pt213cpu-cp310-abi3-manylinux_2_34_x86_64.whl   (the files)
    simple/index.html, simple/modeinterp/index.html           every variant
    simple/<variant>/index.html, simple/<variant>/modeinterp/  one variant (pt213cpu, pt214cu130)

A per-variant index is what ``pip install modeinterp --extra-index-url file://…/dist/simple/pt213cpu``
needs to pick the right wheel on its own, as PyTorch's own per-CUDA indexes do: pip takes the highest
version it sees, and local labels (+pt213cpu, +pt214cu130) order as strings, not by what torch is
installed. The all-variant index serves an explicit ``modeinterp==0.1.0+pt213cpu``. Links are
relative, with a sha256 fragment, so the tree can be moved or served over HTTP as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import os
import re
from pathlib import Path

PROJECT = "modeinterp"
_WHEEL = re.compile(rf"^{PROJECT}-[^-]+\+(?P<variant>[a-z0-9]+)-[^-]+-[^-]+-[^-]+\.whl$")


def wheel_variant(name: str) -> str | None:
    """The local label of a modeinterp wheel's file name ('pt213cpu'), or None."""
    match = _WHEEL.match(name)
    return match.group("variant") if match else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _page(title: str, links: list[tuple[str, str]]) -> str:
    rows = "\n".join(f'    <a href="{html.escape(href)}">{html.escape(text)}</a><br/>'
                     for href, text in links)
    return (f"<!DOCTYPE html>\n<html>\n  <head><title>{html.escape(title)}</title></head>\n"
            f"  <body>\n    <h1>{html.escape(title)}</h1>\n{rows}\n  </body>\n</html>\n")


def _write_index(root: Path, wheels: list[Path], title: str) -> None:
    project = root / PROJECT
    project.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(_page(title, [(f"{PROJECT}/", PROJECT)]))
    links = [(f"{os.path.relpath(w, project)}#sha256={_sha256(w)}", w.name) for w in wheels]
    (project / "index.html").write_text(_page(f"Links for {PROJECT}", links))


def make_index(dist: Path) -> dict[str, list[str]]:
    """(Re)write every index page under dist/simple; returns {variant: [wheel names]}."""
    wheels = sorted((dist / "wheels").glob(f"{PROJECT}-*.whl"))
    by_variant: dict[str, list[Path]] = {}
    for w in wheels:
        variant = wheel_variant(w.name)
        if variant is None:
            raise ValueError(f"{w} has no variant label (+ptXYcpu / +ptXYcuZZZ) in its version")
        by_variant.setdefault(variant, []).append(w)
    simple = dist / "simple"
    _write_index(simple, wheels, "modeinterp wheels, every variant")
    for variant, files in by_variant.items():
        _write_index(simple / variant, files, f"modeinterp wheels for {variant}")
    return {v: [f.name for f in files] for v, files in sorted(by_variant.items())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", nargs="?", default="dist", type=Path)
    args = parser.parse_args(argv)
    for variant, names in make_index(args.dist).items():
        print(f"{args.dist / 'simple' / variant}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
