"""Locate the CUDA toolkit a build should use, the way torch.utils.cpp_extension does — but right.

torch's CMake derives the toolkit root from the first ``nvcc`` on PATH (its parent's parent). When
that nvcc is a symlink or a wrapper script outside the toolkit (``/usr/local/bin/nvcc`` that execs
``/usr/local/cuda-13.0/bin/nvcc``), the root it derives (``/usr/local``) has no headers and no
cudart, and the build fails with "Could NOT find CUDA". We look, in order, at

1. ``CUDA_HOME``, then ``CUDA_PATH`` (an explicit setting that is not a toolkit is an error, never
   silently skipped);
2. the nvcc on PATH: where nvcc itself says it lives (``nvcc --dryrun`` prints ``_HERE_``, which
   sees through wrappers), then its resolved symlink target;
3. the standard prefix ``/usr/local/cuda``, then the newest ``/usr/local/cuda-X.Y``;

and accept a directory only when it holds ``bin/nvcc`` and ``cuda_runtime.h``. CMakeLists.txt runs
this file as a script: it prints the toolkit root (nothing if none was found).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

_STANDARD_PREFIX = Path("/usr/local")


class ToolkitError(RuntimeError):
    """An explicit CUDA_HOME / CUDA_PATH that does not point at a CUDA toolkit."""


def is_toolkit(root: Path) -> bool:
    """A CUDA toolkit root: bin/nvcc plus the runtime headers (include/ or targets/*/include/)."""
    if not (root / "bin" / "nvcc").is_file():
        return False
    headers = [root / "include", *sorted((root / "targets").glob("*/include"))]
    return any((inc / "cuda_runtime.h").is_file() for inc in headers)


def _nvcc_home(nvcc: str) -> Path | None:
    """The bin directory nvcc runs from, as nvcc reports it (sees through wrapper scripts)."""
    try:
        done = subprocess.run([nvcc, "--dryrun", "-c", "modeinterp_probe.cu"], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"^#\$ _HERE_=(.+)$", done.stdout + done.stderr, re.MULTILINE)
    return Path(match.group(1).strip()) if match else None


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.name))


def candidates(env=None, prefix: Path = _STANDARD_PREFIX) -> list[tuple[str, Path]]:
    """Every place we would look after CUDA_HOME/CUDA_PATH, in order, with where it came from."""
    env = os.environ if env is None else env
    found: list[tuple[str, Path]] = []
    nvcc = shutil.which("nvcc", path=env.get("PATH"))
    if nvcc:
        here = _nvcc_home(nvcc)
        if here is not None:
            found.append((f"nvcc on PATH ({nvcc}) runs from {here}", here.parent))
        found.append((f"nvcc on PATH ({nvcc}), resolved", Path(nvcc).resolve().parent.parent))
    found.append(("standard prefix", prefix / "cuda"))
    versioned = sorted(prefix.glob("cuda-*"), key=_version_key, reverse=True)
    found.extend(("standard prefix", p) for p in versioned)
    return found


def find_cuda_toolkit(env=None, prefix: Path = _STANDARD_PREFIX) -> Path | None:
    """The toolkit root to build with, or None when there is none (see the module docstring);
    ``env`` replaces os.environ and ``prefix`` /usr/local (for tests)."""
    env = os.environ if env is None else env
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(var):
            root = Path(env[var])
            if not is_toolkit(root):
                raise ToolkitError(f"{var}={root} is not a CUDA toolkit (no bin/nvcc or no "
                                   "cuda_runtime.h under it); point it at the toolkit root, e.g. "
                                   "/usr/local/cuda-13.0, or unset it")
            return root.resolve()
    for _, root in candidates(env, prefix):
        if is_toolkit(root):
            return root.resolve()
    return None


def main() -> int:
    try:
        root = find_cuda_toolkit()
    except ToolkitError as exc:
        print(exc, file=sys.stderr)
        return 2
    if root is not None:
        print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
