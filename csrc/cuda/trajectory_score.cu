// CUDA kernel of modeinterp::trajectory_score: one block per sample reduces its row of m2.
#include "launchers.h"
#include "quads.cuh"

namespace modeinterp::cuda {
namespace {

// The tree reduction below halves the active width each round: it needs a power-of-two block.
static_assert(kThreads > 0 && (kThreads & (kThreads - 1)) == 0,
              "trajectory_score_kernel needs a power-of-two block size");

__global__ void trajectory_score_kernel(const float* m2, float* score, int64_t dims,
                                        double denom) {
  __shared__ double partial[kThreads];
  const float* row = m2 + blockIdx.x * dims;
  double sum = 0.0;  // rows can hold millions of values (images): accumulate in double
  for (int64_t k = threadIdx.x; k < dims; k += blockDim.x) sum += row[k];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) score[blockIdx.x] = static_cast<float>(partial[0] / denom);
}

}  // namespace

cudaError_t launch_trajectory_score(const float* m2, float* score, int64_t batch, int64_t dims,
                                    int64_t count, cudaStream_t stream) {
  if (batch == 0) return cudaSuccess;
  const double denom = static_cast<double>(dims) * static_cast<double>(count);
  trajectory_score_kernel<<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(m2, score, dims,
                                                                               denom);
  return cudaGetLastError();
}

}  // namespace modeinterp::cuda
