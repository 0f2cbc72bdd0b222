// The vectorised noise for AVX2 + FMA CPUs (compiled with -mavx2 -mfma; called only where the CPU
// has them: noise_dispatch.cpp).
#define MI_SIMD_WIDTH 8
#include "noise_simd_impl.h"
#include "noise_simd.h"

namespace modeinterp::cpu {

void fill_blocks_avx2(NoiseKey key, uint64_t j0, int64_t nblocks, float* out) {
  simd::fill_blocks(key, j0, nblocks, out);
}

}  // namespace modeinterp::cpu
