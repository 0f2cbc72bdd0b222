// Tile helpers for the CPU kernels: each kernel converts a tile of its inputs to float32 in small
// stack buffers, runs branch-free loops over them (which the compiler vectorises) and converts
// back. The Philox noise is filled per tile from the global element index, so chunks processed by
// different threads draw exactly the noise one sequential pass would.
#pragma once

#include <algorithm>
#include <cstdint>

#include "modeinterp/normal.h"

namespace modeinterp::cpu {

constexpr int64_t kTile = 512;
constexpr int64_t kGrain = 1 << 15;  // elements per at::parallel_for task

template <typename T>
inline void load_tile(const T* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

template <typename T>
inline void store_tile(const float* src, T* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]);
}

// z[k] = the normal of global element g0 + k, for k < n.
inline void fill_noise_tile(NoiseKey key, uint64_t g0, float* z, int64_t n) {
  int64_t k = 0;
  while (k < n) {
    const uint64_t g = g0 + static_cast<uint64_t>(k);
    const Normal4 block = normal4(key, g >> 2);
    const int lane = static_cast<int>(g & 3);
    const int64_t take = std::min<int64_t>(4 - lane, n - k);
    for (int64_t l = 0; l < take; ++l) z[k + l] = block.z[lane + l];
    k += take;
  }
}

}  // namespace modeinterp::cpu
