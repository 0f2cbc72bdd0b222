#!/usr/bin/env bash
# One call on a lent GPU (see the device tool): build with CUDA, run the CUDA tests, print the
# GPU benchmark table, then the full-size 2-D reproduction. Everything lands under ${OUT:-out}/.
# Sized for ~10 minutes on an H100; pass SKIP_REPRODUCE=1 to stop after the benchmarks.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
export PIP_ROOT_USER_ACTION=ignore PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -m pip install -q --no-build-isolation --no-deps -e . -C cmake.define.MODEINTERP_CUDA=ON \
  -C cmake.define.CMAKE_CUDA_ARCHITECTURES=90 2>&1 | tail -5
python3 -c "import modeinterp; print(modeinterp.build_info())" | tee "$OUT/build_info.txt"
python3 -m pytest -q tests/test_ops.py tests/test_philox_ops.py tests/test_ops_errors.py \
  tests/test_ops_compile.py tests/test_sampler.py -k "cuda or graph or mixed" 2>&1 \
  | tee "$OUT/cuda_tests.txt" | tail -5
python3 benchmarks/report.py --device cuda --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.md"
if [ -z "${SKIP_REPRODUCE:-}" ]; then
  python3 -m modeinterp.cli reproduce gaussian2d --device cuda --no-progress --out "$OUT/full2d" \
    2>&1 | tee "$OUT/full2d.txt" | tail -30
fi
