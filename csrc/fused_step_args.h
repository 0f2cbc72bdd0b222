// Validation and preparation of fused_step's arguments, shared by the CPU and CUDA glue so that
// both devices reject the same bad input with the same messages (naming the argument).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

#include "modeinterp/fused_step.h"

namespace modeinterp {

struct FusedStepInputs {
  at::Tensor x, out;    // contiguous, same dtype/shape/device
  at::Tensor noise;     // undefined, or contiguous float32 shaped like x
  at::Tensor mean, m2;  // undefined, or contiguous float32 shaped like x (updated in place)
  // Undefined, or int64 [seed, offset] on a CUDA device, read there by the kernel. On the CPU the
  // values are read here into scalars.key.seed and scalars.offset, and counter stays undefined.
  at::Tensor counter;
  FusedStepScalars scalars;
};

FusedStepInputs prepare_fused_step(const at::Tensor& x, const at::Tensor& out, double a, double b,
                                   double c0, double c1, double c2, double sigma, double clip,
                                   const std::optional<at::Tensor>& noise, int64_t seed,
                                   int64_t step, int64_t offset,
                                   const std::optional<at::Tensor>& mean,
                                   const std::optional<at::Tensor>& m2, int64_t count,
                                   const std::optional<at::Tensor>& counter);

// The x̂0 output when asked for (shaped like x), else an empty tensor.
at::Tensor make_x0_output(const at::Tensor& x, bool return_x0);

void check_trajectory_score_args(const at::Tensor& m2, int64_t count);

// Checks welford_update_'s arguments; returns x contiguous (mean and m2 must already be).
at::Tensor check_welford_update_args(const at::Tensor& mean, const at::Tensor& m2,
                                     const at::Tensor& x, int64_t count);

}  // namespace modeinterp
