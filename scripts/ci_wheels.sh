#!/usr/bin/env bash
# The packaging checks CI runs after the README's test command (.ci/run):
#  1. CPU: scripts/build_wheels.sh (wheel, auditwheel repair + audit, index, sdist); the sdist builds
#     a wheel with --no-build-isolation; the wheel, installed from the index into a fresh venv
#     with its dependencies, passes the test suite run against that installed package (not this
#     source tree: tests/conftest.py checks where modeinterp was imported from).
#  2. CUDA, wherever a CUDA toolkit is found: the CUDA variant built against a CUDA torch
#     ($CUDA_TORCH) in a venv of its own, installed from the index, imported on this machine
#     (no GPU needed), `modeinterp info`, and tests/kernels/test_build_cuda.py (a CUDA kernel registered
#     for every op; sm_80 + sm_90 SASS and PTX in the fat binary, read back with cuobjdump) and
#     tests/kernels/test_ops_errors.py (its bad-input checks raise, on CPU tensors).
# Prints the time of each stage and the wheel sizes (README, "Install"; docs/benchmarks.md). WORK keeps the venvs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CUDA_TORCH=${CUDA_TORCH:-torch==2.14.1}
if [ -z "${WORK:-}" ]; then
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 DIST="$WORK/dist"
t0=$(date +%s)
stamp() { echo "ci_wheels: [$(( $(date +%s) - t0 )) s] $*"; }
base=$("$PY" -c "import sys; sys.path.insert(0, 'python/modeinterp'); import _variant; print(_variant.BASE_VERSION)")
tests_against_installed() {  # python, pytest arguments...  (the checkout has no top-level
  local py=$1; shift           # modeinterp/ to shadow the installed one; conftest.py checks)
  MODEINTERP_TEST_INSTALLED=1 "$py" -m pytest -q -p no:cacheprovider "$@"
}

# 1. CPU
PYTHON="$PY" bash scripts/build_wheels.sh
stamp "CPU wheel, sdist and index built"
"$PY" -m pip wheel -q --no-build-isolation --no-deps -w "$WORK/from-sdist" "$DIST"/sdist/*.tar.gz
stamp "the sdist builds: $(ls "$WORK"/from-sdist)"
variant=$("$PY" tools/build/torch_variant.py)
"$PY" -m venv "$WORK/venv-cpu"
cpu="$WORK/venv-cpu/bin/python"
"$cpu" -m pip install -q "torch==$("$PY" -c 'import torch; print(torch.__version__)')"
"$cpu" -m pip install -q "modeinterp[test,diffusers]==$base+$variant" --extra-index-url "file://$DIST/simple/$variant"
stamp "installed modeinterp $base+$variant from the index into a fresh venv"
"$WORK/venv-cpu/bin/modeinterp" info
# The whole suite but the test that builds a wheel from source (this stage is that test, for real).
tests_against_installed "$cpu" tests \
  --deselect tests/kernels/test_build.py::test_wheel_installs_into_fresh_venv_and_imports
stamp "test suite passed against the installed CPU wheel"

# 2. CUDA
if [ -z "$("$PY" tools/build/cuda_toolkit.py)" ]; then
  stamp "no CUDA toolkit here: the CUDA variant is not built"
  exit 0
fi
"$PY" -m venv "$WORK/venv-cuda"
gpu="$WORK/venv-cuda/bin/python"
"$gpu" -m pip install -q "$CUDA_TORCH" "scikit-build-core>=0.10" "cmake>=3.26" ninja
stamp "CUDA torch $("$gpu" -c 'import torch; print(torch.__version__)' 2>/dev/null) installed"
PYTHON="$gpu" bash scripts/build_wheels.sh --no-sdist
stamp "CUDA wheel built"
cuda_variant=$("$gpu" tools/build/torch_variant.py 2>/dev/null)
"$gpu" -m pip install -q "modeinterp[test]==$base+$cuda_variant" \
  --extra-index-url "file://$DIST/simple/$cuda_variant"
# cuobjdump reads the fat binary back; the toolkit here may not ship it (optional: the test skips).
"$gpu" -m pip install -q "nvidia-cuda-cuobjdump==$("$gpu" -c 'import torch; print(torch.version.cuda.split(".")[0])' 2>/dev/null).*" \
  || echo "ci_wheels: no cuobjdump package; the fat-binary listing is skipped"
cuobjdump_dir=$(dirname "$(find "$WORK/venv-cuda" -name cuobjdump -type f | head -n 1)" 2>/dev/null || true)
stamp "installed modeinterp $base+$cuda_variant from the index"
"$WORK/venv-cuda/bin/modeinterp" info
# test_ops_errors.py: the bad-input checks of a CUDA build raise (on CPU tensors here). On the H200
# (torch 2.11, g++ 13.3) checks whose messages streamed numbers crashed the process instead.
PATH="${cuobjdump_dir:+$cuobjdump_dir:}$PATH" tests_against_installed "$gpu" -rs \
  tests/kernels/test_build_cuda.py tests/kernels/test_build.py::test_build_info tests/kernels/test_extension_loading.py \
  tests/kernels/test_ops_errors.py
stamp "CUDA wheel imports here, registers a CUDA kernel for every op and its checks raise"
ls -l "$DIST"/wheels/*.whl "$DIST"/sdist/*.tar.gz | awk '{printf "ci_wheels: %-72s %6.2f MB\n", $NF, $5 / 1e6}' \
  | sed "s|$DIST/||"
