"""Locating the CUDA toolkit for a build (tools/build/cuda_toolkit.py), on made-up layouts: the
wrapper-script nvcc outside the toolkit that broke the default CUDA build, symlinks, CUDA_HOME."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "build"))
import cuda_toolkit  # noqa: E402


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_toolkit(root: Path, layout: str = "include") -> Path:
    """bin/nvcc that, like the real one, reports where it runs from under --dryrun."""
    _executable(root / "bin" / "nvcc",
                f'#!/bin/sh\necho "#\\$ _HERE_={root / "bin"}" >&2\necho "#\\$ TOP={root}/bin/.." >&2\n')
    inc = root / "include" if layout == "include" else root / "targets" / "x86_64-linux" / "include"
    inc.mkdir(parents=True)
    (inc / "cuda_runtime.h").write_text("// fake\n")
    return root


def test_wrapper_script_outside_the_toolkit_is_seen_through(tmp_path):
    """/usr/local/bin/nvcc that execs the toolkit's nvcc: its parent's parent has no headers."""
    toolkit = fake_toolkit(tmp_path / "cuda-13.0")
    wrapper_bin = tmp_path / "usr-local" / "bin"
    _executable(wrapper_bin / "nvcc", f'#!/bin/sh\nexec {toolkit / "bin" / "nvcc"} "$@"\n')
    env = {"PATH": str(wrapper_bin)}
    assert not cuda_toolkit.is_toolkit(wrapper_bin.parent)  # what torch's CMake derived
    assert cuda_toolkit.find_cuda_toolkit(env, prefix=tmp_path / "none") == toolkit.resolve()


def test_symlinked_nvcc_resolves_to_its_toolkit(tmp_path):
    toolkit = fake_toolkit(tmp_path / "opt" / "cuda", layout="targets")
    (tmp_path / "bin").mkdir()
    os.symlink(toolkit / "bin" / "nvcc", tmp_path / "bin" / "nvcc")
    # An nvcc that says nothing under --dryrun: only the symlink target is left to follow.
    (toolkit / "bin" / "nvcc").write_text("#!/bin/sh\nexit 1\n")
    env = {"PATH": str(tmp_path / "bin")}
    assert cuda_toolkit.find_cuda_toolkit(env, prefix=tmp_path / "none") == toolkit.resolve()


def test_standard_prefix_newest_version_first(tmp_path):
    for version in ("12.9", "13.0", "12.10"):
        fake_toolkit(tmp_path / f"cuda-{version}")
    found = cuda_toolkit.find_cuda_toolkit({"PATH": ""}, prefix=tmp_path)
    assert found == (tmp_path / "cuda-13.0").resolve()
    assert cuda_toolkit.find_cuda_toolkit({"PATH": ""}, prefix=tmp_path / "none") is None


def test_cuda_home_wins_and_a_wrong_one_is_an_error(tmp_path):
    chosen = fake_toolkit(tmp_path / "chosen")
    fake_toolkit(tmp_path / "cuda-13.0")
    assert cuda_toolkit.find_cuda_toolkit({"CUDA_HOME": str(chosen), "PATH": ""},
                                          prefix=tmp_path) == chosen.resolve()
    assert cuda_toolkit.find_cuda_toolkit({"CUDA_PATH": str(chosen), "PATH": ""},
                                          prefix=tmp_path) == chosen.resolve()
    with pytest.raises(cuda_toolkit.ToolkitError, match="CUDA_HOME=.*not a CUDA toolkit"):
        cuda_toolkit.find_cuda_toolkit({"CUDA_HOME": str(tmp_path / "nowhere"), "PATH": ""},
                                       prefix=tmp_path)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no nvcc on PATH")
def test_this_machines_toolkit_has_headers_and_cudart():
    root = cuda_toolkit.find_cuda_toolkit()
    assert root is not None and cuda_toolkit.is_toolkit(root)
    assert any(root.glob("**/libcudart.so*")), root
