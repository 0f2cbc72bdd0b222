// CUDA kernel of modeinterp::welford_update_: the fused step's Welford update alone (step.h).
// Memory-bound, one read of x and one read-modify-write of mean/m2 per element.
#include "convert.cuh"
#include "launchers.h"
#include "quads.cuh"

namespace modeinterp::cuda {
namespace {

template <typename T>
__global__ void welford_update_kernel(float* mean, float* m2, const T* x, int64_t numel,
                                      float n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < numel;
       i += stride) {
    welford_update(mean + i, m2 + i, to_float(x[i]), n);
  }
}

template <typename T>
cudaError_t launch_typed(float* mean, float* m2, const void* x, int64_t numel, float n,
                         cudaStream_t stream) {
  const unsigned blocks = grid_for(static_cast<uint64_t>(numel));  // one thread per element
  welford_update_kernel<T><<<blocks, kThreads, 0, stream>>>(mean, m2, static_cast<const T*>(x),
                                                            numel, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_welford_update(float* mean, float* m2, const void* x, ElementType dtype,
                                  int64_t numel, float n, cudaStream_t stream) {
  if (numel == 0) return cudaSuccess;
  switch (dtype) {
    case ElementType::kFloat32: return launch_typed<float>(mean, m2, x, numel, n, stream);
    case ElementType::kFloat16: return launch_typed<__half>(mean, m2, x, numel, n, stream);
    case ElementType::kBFloat16:
      return launch_typed<__nv_bfloat16>(mean, m2, x, numel, n, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace modeinterp::cuda
