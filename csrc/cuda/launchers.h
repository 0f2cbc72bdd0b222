// Launchers of the CUDA kernels on raw pointers. No torch headers here or in the .cu files, so
// nvcc compiles them anywhere (CI runs `nvcc -c` whenever nvcc exists) and quickly.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "modeinterp/fused_step.h"
#include "modeinterp/normal.h"

namespace modeinterp::cuda {

enum class ElementType { kFloat32, kFloat16, kBFloat16 };

struct FusedStepParams {
  const void* x;        // numel elements of `dtype`
  const void* out;      // numel elements of `dtype`
  const float* noise;   // nullptr: generate (or none when sigma == 0)
  void* x_prev;         // numel elements of `dtype`
  void* x0;             // nullptr: not requested
  float* mean;          // nullptr: no Welford update
  float* m2;
  int64_t numel;
  ElementType dtype;
  FusedStepScalars scalars;
  const int64_t* counter;  // nullptr, or [seed, offset] in device memory, replacing
                           // scalars.key.seed and scalars.offset (read by the kernel: graph
                           // replays with new values)
};

// Each returns the launch's error code (cudaSuccess when it was queued).
cudaError_t launch_fused_step(const FusedStepParams& p, cudaStream_t stream);
cudaError_t launch_philox_fill(float* z, int64_t numel, NoiseKey key, uint64_t offset,
                               cudaStream_t stream);
cudaError_t launch_trajectory_score(const float* m2, float* score, int64_t batch, int64_t dims,
                                    int64_t count, cudaStream_t stream);
// n: the number of values in mean/m2 after this one is folded in (count + 1).
cudaError_t launch_welford_update(float* mean, float* m2, const void* x, ElementType dtype,
                                  int64_t numel, float n, cudaStream_t stream);

}  // namespace modeinterp::cuda
