// CUDA kernel of modeinterp::philox_fill_: the fused step's noise stream on its own.
#include "launchers.h"
#include "quads.cuh"

namespace modeinterp::cuda {
namespace {

__global__ void philox_fill_kernel(float* z, int64_t numel, NoiseKey key, uint64_t offset,
                                   uint64_t quads) {
  const int64_t lead = static_cast<int64_t>(offset & 3);
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t q = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; q < quads;
       q += stride) {
    const Normal4 block = normal4(key, (offset >> 2) + q);
    const int64_t base = static_cast<int64_t>(4 * q) - lead;
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const int64_t i = base + l;
      if (i >= 0 && i < numel) z[i] = block.z[l];
    }
  }
}

}  // namespace

cudaError_t launch_philox_fill(float* z, int64_t numel, NoiseKey key, uint64_t offset,
                               cudaStream_t stream) {
  if (numel == 0) return cudaSuccess;
  const uint64_t quads = quad_count(numel, offset);
  philox_fill_kernel<<<grid_for(quads), kThreads, 0, stream>>>(z, numel, key, offset, quads);
  return cudaGetLastError();
}

}  // namespace modeinterp::cuda
