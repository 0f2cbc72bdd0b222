#!/usr/bin/env bash
# One call on a lent GPU (see the device tool): build with CUDA, run the CUDA tests, print the
# GPU benchmark table, then the full-size 2-D reproduction. Everything lands under ${OUT:-out}/.
# Sized for ~10 minutes on an H100; pass SKIP_REPRODUCE=1 to stop after the benchmarks.
# The 2-D run trains for at most TRAIN_S seconds (default 300) towards the paper's 100k steps, then
# samples and reports with the checkpoint it reached (a later call resumes it). SHAPES_S=S adds the
# paper-size 64×64 Simple Shapes run, trained for at most S seconds (resumable the same way) and
# sampled 2000 times; off by default, it needs a session of its own (needs diffusers there).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
export PIP_ROOT_USER_ACTION=ignore PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import cmake, scikit_build_core; print('cmake', cmake.__version__)"  # the image has them
python3 -m pip install -q --no-build-isolation --no-deps -e . -C cmake.define.MODEINTERP_CUDA=ON \
  -C cmake.define.MODEINTERP_CUDA_ARCHS=9.0 2>&1 | tail -5
python3 -m modeinterp.cli info 2>&1 | tee "$OUT/info.txt"  # runs one fused step on the GPU vs CPU
python3 -m pytest -q tests/test_build_cuda.py 2>&1 | tail -2
python3 -m pytest -q tests/test_ops.py tests/test_philox_ops.py tests/test_ops_errors.py \
  tests/test_ops_compile.py tests/test_sampler.py -k "cuda or graph or mixed" 2>&1 \
  | tee "$OUT/cuda_tests.txt" | tail -5
# The scored-vs-stock diffusers table needs diffusers there (carry its wheel: device README).
diffusers_flag=$(python3 -c "import diffusers" 2>/dev/null && echo --diffusers)
python3 benchmarks/report.py --device cuda $diffusers_flag --json "$OUT/bench_cuda.json" 2>&1 \
  | tee "$OUT/bench_cuda.md"
if [ -z "${SKIP_REPRODUCE:-}" ]; then
  full="$OUT/full2d"
  timeout "${TRAIN_S:-300}" python3 -m modeinterp.cli train gaussian2d --device cuda \
    --no-progress --out "$full" 2>&1 | tail -3
  steps=$(python3 -c "from modeinterp.checkpoint import read_checkpoint as r; \
print(r('$full/model.pt')['step'])")
  echo "trained $steps of the paper's 100000 steps" | tee "$OUT/full2d_steps.txt"
  python3 -m modeinterp.cli reproduce gaussian2d --device cuda --no-progress --out "$full" \
    --train-steps "$steps" 2>&1 | tee "$OUT/full2d.txt" | tail -30
fi
if [ -n "${SHAPES_S:-}" ]; then
  shapes="$OUT/shapes64"
  timeout "$SHAPES_S" python3 -m modeinterp.cli train shapes --device cuda --no-progress \
    --out "$shapes" 2>&1 | tail -3
  steps=$(python3 -c "from modeinterp.checkpoint import read_checkpoint as r; \
print(r('$shapes/model.pt')['step'])")
  echo "trained $steps of 100000 steps (64×64, shapes-64)" | tee "$OUT/shapes64_steps.txt"
  python3 -m modeinterp.cli reproduce shapes --device cuda --no-progress --out "$shapes" \
    --train-steps "$steps" --n-samples 2000 2>&1 | tee "$OUT/shapes64.txt" | tail -40
fi
