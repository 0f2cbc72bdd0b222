// Tile helpers for the CPU kernels: each kernel converts a tile of its inputs to float32 in small
// stack buffers, runs branch-free loops over them (which the compiler vectorises) and converts
// back. The Philox noise is filled per tile from the global element index, so chunks processed by
// different threads draw exactly the noise one sequential pass would.
#pragma once

#include <algorithm>
#include <cstdint>

#include "modeinterp/normal.h"
#include "noise_simd.h"

namespace modeinterp::cpu {

constexpr int64_t kTile = 512;
constexpr int64_t kGrain = 1 << 15;  // elements per at::parallel_for task

// The scalar stream (normal.h), any alignment.
inline void fill_scalar(NoiseKey key, uint64_t g0, float* z, int64_t n) {
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

template <typename T>
inline void load_tile(const T* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

template <typename T>
inline void store_tile(const float* src, T* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]);
}

// z[k] = the normal of global element g0 + k, for k < n. On a CPU with a vector path every
// element goes through it, whatever the call's bounds: groups of `width` Philox blocks aligned to
// the global block index, a group the range only partly covers computed whole into a buffer. So
// an element's value never depends on how a range was split (threads, tiles, batches).
inline void fill_noise_tile(NoiseKey key, uint64_t g0, float* z, int64_t n) {
  const NoisePath& path = noise_path();
  if (path.fill == nullptr) {
    fill_scalar(key, g0, z, n);
    return;
  }
  const uint64_t group = 4 * static_cast<uint64_t>(path.width);  // elements per group
  float buf[4 * kMaxNoiseWidth];
  int64_t k = 0;
  while (k < n) {
    const uint64_t g = g0 + static_cast<uint64_t>(k);
    const int64_t skip = static_cast<int64_t>(g % group);
    const int64_t whole = skip == 0 ? (n - k) / static_cast<int64_t>(group) : 0;
    if (whole > 0) {
      path.fill(key, g >> 2, whole * path.width, z + k);
      k += whole * static_cast<int64_t>(group);
      continue;
    }
    const int64_t take = std::min<int64_t>(static_cast<int64_t>(group) - skip, n - k);
    path.fill(key, (g - static_cast<uint64_t>(skip)) >> 2, path.width, buf);
    std::copy(buf + skip, buf + skip + take, z + k);
    k += take;
  }
}

}  // namespace modeinterp::cpu
