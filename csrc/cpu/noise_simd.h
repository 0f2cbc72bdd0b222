// The CPU noise stream, vectorised: Philox4x32-10 and Box–Muller on W Philox blocks at once
// (W = 8 with AVX2 + FMA, 16 with AVX-512), chosen at run time for the CPU it runs on; the scalar
// code of normal.h stays for other CPUs. The vector log/sin/cos are
// polynomials (Cephes), so the normals differ from the scalar (libm) ones by rounding only: a few
// float32 ulp, as CUDA's do (tests/test_noise_simd.py measures it).
#pragma once

#include <cstdint>

#include "modeinterp/normal.h"

namespace modeinterp::cpu {

// Writes the 4 * nblocks normals of Philox blocks j0, j0 + 1, … to out, in stream order, for
// nblocks a multiple of the path's width.
using FillBlocks = void (*)(NoiseKey key, uint64_t j0, int64_t nblocks, float* out);

constexpr int kMaxNoiseWidth = 16;  // Philox blocks per vector call (AVX-512)

struct NoisePath {
  const char* name;  // "avx512", "avx2" or "scalar"
  int width;         // Philox blocks per call of fill (0: scalar)
  FillBlocks fill;   // nullptr for scalar
};

// The path for this CPU, decided once: the widest the CPU supports, unless the environment
// variable MODEINTERP_CPU_NOISE names a narrower one (scalar, avx2) — for tests and comparisons.
const NoisePath& noise_path();

void fill_blocks_avx2(NoiseKey key, uint64_t j0, int64_t nblocks, float* out);
void fill_blocks_avx512(NoiseKey key, uint64_t j0, int64_t nblocks, float* out);

}  // namespace modeinterp::cpu
