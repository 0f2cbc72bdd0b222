// The per-element maths of the fused reverse step (docs/design.md), shared by the
// CPU and CUDA kernels so both compute the same float32 expression in the same order.
#pragma once

#include <cstdint>

#include "macros.h"

namespace modeinterp {

// Per-step scalars, already cast to float32 once on the host.
struct StepCoef {
  float a, b, c0, c1, c2, sigma, clip;  // clip <= 0: no clipping
};

MI_HD float predict_x0(const StepCoef& c, float x, float out) {
  float x0 = c.a * x + c.b * out;
  // Ternaries rather than fminf/fmaxf so that NaN propagates, as torch.clamp does.
  if (c.clip > 0.0f) x0 = x0 < -c.clip ? -c.clip : (x0 > c.clip ? c.clip : x0);
  return x0;
}

MI_HD float step_x_prev(const StepCoef& c, float x0, float x, float out, float z) {
  return c.c0 * x0 + c.c1 * x + c.c2 * out + c.sigma * z;
}

// Welford's update with n = number of x̂0 values including this one.
MI_HD void welford_update(float* mean, float* m2, float x0, float n) {
  const float d = x0 - *mean;
  const float new_mean = *mean + d / n;
  *mean = new_mean;
  *m2 += d * (x0 - new_mean);
}

}  // namespace modeinterp
