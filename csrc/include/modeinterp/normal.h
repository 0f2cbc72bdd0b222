// The noise stream of docs/design.md: element g (global flat index) takes lane g mod 4 of the Philox
// block j = g div 4, keyed by the seed, with the reverse step in the high counter words.
// Box–Muller runs in float32 in a fixed order of operations that modeinterp.reference repeats,
// so CPU, CUDA and the reference differ only by libm rounding.
#pragma once

#include <cmath>
#include <cstdint>

#include "macros.h"
#include "philox.h"

namespace modeinterp {

struct NoiseKey {
  uint64_t seed;
  uint64_t step;
};

struct Normal4 {
  float z[4];
};

MI_HD void box_muller(uint32_t r, uint32_t r2, float* z, float* z2) {
  constexpr float kTwoPow32Inv = 2.3283064365386963e-10f;  // 2^-32, exact in float32
  constexpr float kTwoPi = 6.2831853f;
  const float u1 = (static_cast<float>(r) + 1.0f) * kTwoPow32Inv;  // (0, 1]: log is finite
  const float u2 = static_cast<float>(r2) * kTwoPow32Inv;
  const float radius = sqrtf(-2.0f * logf(u1));
  const float theta = kTwoPi * u2;
  *z = radius * cosf(theta);
  *z2 = radius * sinf(theta);
}

// The four normals of Philox block j (lanes 0..3).
MI_HD Normal4 normal4(NoiseKey key, uint64_t j) {
  const U32x4 ctr{{static_cast<uint32_t>(j), static_cast<uint32_t>(j >> 32),
                   static_cast<uint32_t>(key.step), static_cast<uint32_t>(key.step >> 32)}};
  const U32x4 r = philox4x32_10(ctr, static_cast<uint32_t>(key.seed),
                                static_cast<uint32_t>(key.seed >> 32));
  Normal4 out;
  box_muller(r.v[0], r.v[1], &out.z[0], &out.z[1]);
  box_muller(r.v[2], r.v[3], &out.z[2], &out.z[3]);
  return out;
}

}  // namespace modeinterp
