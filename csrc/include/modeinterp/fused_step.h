// The scalar arguments of one fused step, free of torch so that the torch-side inputs
// (FusedStepInputs) and the CUDA launcher's parameters (cuda::FusedStepParams) hold the same
// struct and hand it over in one assignment.
#pragma once

#include <cstdint>

#include "normal.h"
#include "step.h"

namespace modeinterp {

struct FusedStepScalars {
  StepCoef coef;
  NoiseKey key;
  uint64_t offset;      // global flat index of element 0
  float welford_n;      // count + 1
  bool generate_noise;  // no noise tensor and sigma != 0
};

}  // namespace modeinterp
