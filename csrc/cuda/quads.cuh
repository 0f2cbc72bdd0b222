// Thread-to-element mapping shared by the elementwise kernels: thread q owns Philox block
// j = offset/4 + q, i.e. the (up to) four elements whose global index falls in [4j, 4j + 4), so
// each Philox call is made once and all four of its normals are used.
#pragma once

#include <cstdint>

namespace modeinterp::cuda {

constexpr int kThreads = 256;

// Number of Philox blocks touched by numel elements starting at global index offset.
inline uint64_t quad_count(int64_t numel, uint64_t offset) {
  return (static_cast<uint64_t>(numel) + (offset & 3) + 3) / 4;
}

inline unsigned grid_for(uint64_t quads) {
  const uint64_t blocks = (quads + kThreads - 1) / kThreads;
  constexpr uint64_t kMaxBlocks = 1u << 30;  // grid-stride loops cover the rest
  return static_cast<unsigned>(blocks < kMaxBlocks ? (blocks > 0 ? blocks : 1) : kMaxBlocks);
}

}  // namespace modeinterp::cuda
