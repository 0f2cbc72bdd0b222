// The vectorised noise for AVX-512 CPUs (compiled with -mavx512f -mavx512dq; called only where
// the CPU has them: noise_dispatch.cpp).
#define MI_SIMD_WIDTH 16
#include "noise_simd_impl.h"
#include "noise_simd.h"

namespace modeinterp::cpu {

void fill_blocks_avx512(NoiseKey key, uint64_t j0, int64_t nblocks, float* out) {
  simd::fill_blocks(key, j0, nblocks, out);
}

}  // namespace modeinterp::cpu
