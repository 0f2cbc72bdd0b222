#!/usr/bin/env bash
# One call on a lent GPU (see the device tool): build with CUDA, run every CUDA test, print the GPU
# benchmark table, then a bounded full-size 2-D reproduction. At most 8 files land in ${OUT:-out}/
# (the device tool returns no more): session.log (everything), cuda_tests.txt, bench_cuda.{md,json},
# big_run.json, full2d_report.md; runs themselves live under RUNS (default /tmp/modeinterp-gpu-runs).
# Sized for ~10 minutes on an H200 with SKIP_REPRODUCE=1 (stops after the benchmarks). Knobs: BIG_N
# (default 10M) samples × 1000 steps in one Sampler call (0 skips it), E2E_SIZES; TRAIN_S
# (default 150) bounds the 2-D training towards the paper's 100k steps, REPRO_S (default 150) the
# sampling + report; SHAPES_S=S adds the paper-size 64×64 Simple Shapes run, trained for at most S
# seconds, sampled 2000 times and reported with the window × aggregation table, localisation and
# score-map figures (a session of its own; needs diffusers there). With diffusers, the 64×64
# U-Net's images/s per forward mode (fp32, bf16, compiled, both) lands in
# image_throughput_cuda.json. diffusers is not on the H200 machines: run
# benchmarks/fetch_gpu_wheels.sh here first and carry .whl; E2E_SHAPES=1 then adds the 64×64
# U-Net rows to the end-to-end table (≈ 1 min more). LINEAGE_S=S adds the paper-size recursive
# lineage pair (configs/gaussian2d-recursive-paper.toml: variance vs random, 100k steps a
# generation), bounded to S seconds and resumable in RUNS; its manifest (per-stage timings) lands
# in lineage_pair.json and, once every generation ran, its report in lineage_pair_report.md.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
RUNS=${RUNS:-/tmp/modeinterp-gpu-runs}
mkdir -p "$OUT" "$RUNS"
exec > >(tee -a "$OUT/session.log") 2>&1
export PIP_ROOT_USER_ACTION=ignore PYTHONUNBUFFERED=1
stamp() { echo "== $(date +%T) $*"; }
stamp start
if ls .whl/*.whl > /dev/null 2>&1; then  # carried wheels (benchmarks/fetch_gpu_wheels.sh)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, cmake, scikit_build_core; print('torch', torch.__version__, 'cmake', cmake.__version__)"
stamp build
python3 -m pip install -q --no-build-isolation --no-deps -e . -C cmake.define.MODEINTERP_CUDA=ON \
  -C cmake.define.MODEINTERP_CUDA_ARCHS=9.0 2>&1 | tail -15
stamp info
python3 -m modeinterp info  # runs one fused step on the GPU vs CPU
stamp cuda-tests
# Every test parametrised over the CUDA device, plus the build checks.
timeout "${TESTS_S:-240}" python3 -m pytest -q -p no:cacheprovider -n 8 tests \
  -k "cuda or graph or mixed or counter" > "$OUT/cuda_tests.txt" 2>&1
tail -25 "$OUT/cuda_tests.txt"
stamp bench
# The scored-vs-stock diffusers table needs diffusers there (carry its wheel: device README).
diffusers_flag=$(python3 -c "import diffusers" 2>/dev/null && echo --diffusers)
# E2E_SIZES: 100k samples × 1000 steps take ~2.5 s per variant and run on an H200 (the toy MLP in
# fp32 dominates; less since it embeds t once), × E2E_REPEATS (default 3, interleaved, median);
# 1M take ~25 s per run, so add it only with time to spare.
timeout "${BENCH_S:-250}" python3 benchmarks/report.py --device cuda --e2e \
  --e2e-sizes "${E2E_SIZES:-100000}" --e2e-repeats "${E2E_REPEATS:-3}" $diffusers_flag \
  ${E2E_SHAPES:+--e2e-shapes} \
  --min-run-time 0.5 \
  --json "$OUT/bench_cuda.json" | tee "$OUT/bench_cuda.md"
if [ -n "$diffusers_flag" ]; then  # scoring any diffusers scheduler: scored() vs stock
  timeout 60 python3 benchmarks/scheduler_scoring.py --device cuda --shape 256,3,64,64 \
    2>/dev/null | tee "$OUT/scheduler_scoring_cuda.md"
fi
if [ -n "$diffusers_flag" ]; then  # the 64×64 U-Net per forward mode: fp32, bf16, compiled
  stamp image-throughput
  timeout "${IMAGES_S:-150}" python3 benchmarks/image_throughput.py --device cuda \
    --presets shapes-64 --batches 64,256 --train-batches 64 --steps 20 --seconds 2 \
    --out "$OUT/image_throughput_cuda.json" 2>/dev/null | tail -12
fi
if [ "${BIG_N:-10000000}" != 0 ]; then
  stamp big-run
  # ~23 s per million samples on an H200 (measured 2026-11-29): 10M needs BIG_S >= 240.
  timeout "${BIG_S:-260}" python3 benchmarks/big_run.py --device cuda --n "${BIG_N:-10000000}" \
    --batch 1000000 --json "$OUT/big_run.json"
fi
if [ -z "${SKIP_REPRODUCE:-}" ]; then
  stamp full2d
  full="$RUNS/full2d"
  timeout "${TRAIN_S:-150}" python3 -m modeinterp train gaussian2d --device cuda \
    --no-progress --out "$full" 2>&1 | tail -3
  steps=$(python3 -c "from modeinterp.train.checkpoint import read_checkpoint as r; \
print(r('$full/model.pt')['step'])")
  echo "trained $steps of the paper's 100000 steps"
  timeout "${REPRO_S:-150}" python3 -m modeinterp reproduce gaussian2d --device cuda \
    --no-progress --out "$full" --train-steps "$steps" 2>&1 | tail -30
  cp "$full/report.md" "$OUT/full2d_report.md" 2>/dev/null
fi
if [ -n "${SHAPES_S:-}" ]; then
  stamp shapes64
  shapes="$RUNS/shapes64"
  timeout "$SHAPES_S" python3 -m modeinterp train shapes --device cuda --no-progress \
    --out "$shapes" 2>&1 | tail -3
  steps=$(python3 -c "from modeinterp.train.checkpoint import read_checkpoint as r; \
print(r('$shapes/model.pt')['step'])")
  echo "trained $steps of 100000 steps (64×64, shapes-64)"
  python3 -m modeinterp reproduce shapes --device cuda --no-progress --out "$shapes" \
    --train-steps "$steps" --n-samples 2000 2>&1 | tail -40
  cp "$shapes/report.md" "$OUT/shapes64_report.md" 2>/dev/null
fi
if [ -n "${LINEAGE_S:-}" ]; then
  stamp lineage-pair
  pair="$RUNS/lineage-pair"
  timeout "$LINEAGE_S" python3 -m modeinterp recursive gaussian2d --device cuda --no-progress \
    --config configs/gaussian2d-recursive-paper.toml --out "$pair" 2>&1 | tail -30
  cp "$pair/manifest.json" "$OUT/lineage_pair.json" 2>/dev/null
  cp "$pair/report.md" "$OUT/lineage_pair_report.md" 2>/dev/null
fi
stamp done
