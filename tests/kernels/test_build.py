"""Packaging: build_info, the torch-version guard, and a wheel that installs into a fresh venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import torch

import modeinterp
from modeinterp._extension import check_torch_version

# Slow (builds and fresh virtual environments): outside the `-m "not slow"` inner loop, in CI.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_build_info():
    info = modeinterp.build_info()
    assert info["version"] == modeinterp.__version__
    assert info["torch_version"].split("+")[0].split(".")[:2] == \
        torch.__version__.split("+")[0].split(".")[:2]
    assert isinstance(info["cuda"], bool) and isinstance(info["cuda_archs"], list)
    assert bool(info["cuda_archs"]) == info["cuda"] == (info["cuda_version"] is not None)
    assert all(code.startswith(("sm_", "compute_")) for code in info["cuda_archs"])


def test_other_torch_minor_is_refused_with_both_versions():
    from modeinterp import _build_config

    with pytest.raises(ImportError) as err:
        check_torch_version("1.0.0")
    msg = str(err.value)
    assert _build_config.TORCH_VERSION in msg and "1.0.0" in msg
    check_torch_version(_build_config.TORCH_VERSION.split("+")[0])  # same major.minor: fine


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("cu", sorted((ROOT / "csrc" / "cuda").glob("*.cu")), ids=lambda p: p.name)
def test_cuda_kernels_compile_without_torch_headers(cu, tmp_path):
    """The .cu files include no torch headers, so nvcc alone compiles them (sm_80 and sm_90)."""
    cmd = ["nvcc", "-std=c++17", "-O3", "-c", str(cu), "-I", str(ROOT / "csrc" / "include"),
           "-gencode=arch=compute_80,code=sm_80", "-gencode=arch=compute_90,code=sm_90",
           "-o", str(tmp_path / (cu.stem + ".o"))]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _cuda_include():
    """The CUDA toolkit's include directory (nvcc may be a wrapper script outside the toolkit)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None
    candidates = [Path(nvcc).resolve().parents[1] / "include", Path("/usr/local/cuda/include"),
                  *sorted(Path("/usr/local").glob("cuda-*/include"), reverse=True)]
    return next((p for p in candidates if (p / "cuda_runtime.h").exists()), None)


@pytest.mark.skipif(_cuda_include() is None, reason="no CUDA toolkit headers")
@pytest.mark.parametrize("glue", sorted((ROOT / "csrc" / "cuda").glob("*_cuda.cpp")),
                         ids=lambda p: p.name)
def test_cuda_glue_compiles_against_torch_headers(glue, tmp_path):
    """The torch side of the CUDA ops type-checks here even when torch is a CPU build: CPU
    wheels ship the c10/cuda headers but not the one CMake generates, which we stand in for."""
    if not (Path(torch.__file__).parent / "include" / "c10" / "cuda").is_dir():
        pytest.skip("this torch ships no c10/cuda headers")
    stub = tmp_path / "c10" / "cuda" / "impl"
    stub.mkdir(parents=True)
    (stub / "cuda_cmake_macros.h").write_text("#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")
    inc = Path(torch.__file__).parent / "include"
    cmd = [os.environ.get("CXX", "g++"), "-std=c++20", "-fsyntax-only", "-w",
           "-DTORCH_ASSERT_ONLY_METHOD_OPERATORS", "-I", str(tmp_path), "-I", str(ROOT / "csrc" / "include"),
           "-I", str(inc), "-I", str(inc / "torch" / "csrc" / "api" / "include"),
           "-I", str(_cuda_include()), str(glue)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_wheel_installs_into_fresh_venv_and_imports(tmp_path):
    """`pip wheel` → a fresh venv that sees only torch's site dir (not this checkout or its
    editable install) → import, build_info, one op."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation",
                    "--no-deps", "-w", str(wheels), str(ROOT)], check=True,
                   env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"})
    (wheel,) = wheels.glob("modeinterp-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.check_output(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    # torch (and numpy etc.) come from the current interpreter's site-packages via a .pth path
    # entry: .pth files inside that directory (like an editable modeinterp's) are not run.
    (site / "outer.pth").write_text(str(Path(torch.__file__).parents[1]) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True,
                   env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"})
    probe = ("import modeinterp, torch; from modeinterp import ops; "
             "print(modeinterp.__file__); print(modeinterp.build_info()['version']); "
             "print(float(ops.trajectory_score(torch.ones(2, 3), 2)[0]))")
    out = subprocess.check_output([py, "-c", probe], cwd=tmp_path, text=True).split()
    assert out[0].startswith(str(env_dir)), out
    assert out[1] == modeinterp.__version__ and float(out[2]) == 0.5
    assert sysconfig.get_paths()["purelib"] != str(site)


def _cmake():
    """The cmake a build would use: the `cmake` package's, else PATH's if it is >= 3.26."""
    try:
        import cmake

        return str(Path(cmake.CMAKE_BIN_DIR) / "cmake")
    except ImportError:
        found = shutil.which("cmake")
        if found is None:
            return None
        version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout.split()
        major, minor = (int(p) for p in version[2].split(".")[:2])
        return found if (major, minor) >= (3, 26) else None


def _configure(tmp_path, *defines):
    return subprocess.run([_cmake(), "-S", str(ROOT), "-B", str(tmp_path),
                           f"-DPython_EXECUTABLE={sys.executable}", *defines],
                          capture_output=True, text=True)


@pytest.mark.skipif(_cmake() is None or torch.version.cuda is not None,
                    reason="needs cmake >= 3.26 and a CPU-only torch")
def test_cuda_on_without_cuda_torch_fails_at_configure(tmp_path):
    done = _configure(tmp_path, "-DMODEINTERP_CUDA=ON")
    assert done.returncode != 0
    assert "MODEINTERP_CUDA=ON needs a CUDA build of torch" in " ".join(done.stderr.split())


@pytest.mark.skipif(_cmake() is None, reason="needs cmake >= 3.26")
def test_cmake_cuda_architectures_is_refused_with_our_setting_named(tmp_path):
    """torch's CMake would silently replace it; we say which setting to use instead."""
    done = _configure(tmp_path, "-DCMAKE_CUDA_ARCHITECTURES=90")
    assert done.returncode != 0
    assert "set MODEINTERP_CUDA_ARCHS instead" in " ".join(done.stderr.split())
