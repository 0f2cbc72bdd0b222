#include "fused_step_args.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <string>

namespace modeinterp {
namespace {

// Messages carry numbers as strings made here (std::to_string), never streamed: on the H200
// machine (torch 2.11 cu130, g++ 13.3) every check whose message streamed a number (an int64, a
// shape, a device) crashed the process instead of raising, while checks streaming only text
// raised; the same checks raise on the CPU build. Cause not established (see the README).
std::string shape_string(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(sizes[i]);
  }
  return s + "]";
}

bool is_supported_float(at::ScalarType t) {
  return t == at::kFloat || t == at::kHalf || t == at::kBFloat16;
}

void check_like_x(const at::Tensor& x, const at::Tensor& t, const char* name,
                  const char* op = "fused_step") {
  TORCH_CHECK_VALUE(t.device() == x.device(), op, ": ", name, " is on ", t.device().str(),
                    " but x is on ", x.device().str());
  TORCH_CHECK_VALUE(t.sizes() == x.sizes(), op, ": ", name, " has shape ",
                    shape_string(t.sizes()), " but x has shape ", shape_string(x.sizes()));
}

void check_accumulator(const at::Tensor& x, const at::Tensor& t, const char* name,
                       const char* op = "fused_step") {
  check_like_x(x, t, name, op);
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat, op, ": ", name, " must be float32, got ",
                   t.scalar_type());
  // Updated in place, so a hidden contiguous copy would silently drop the update.
  TORCH_CHECK_VALUE(t.is_contiguous(), op, ": ", name, " must be contiguous");
}

void check_accumulator_pair(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& m2,
                            const char* op) {
  check_accumulator(x, mean, "mean", op);
  check_accumulator(x, m2, "m2", op);
  TORCH_CHECK_VALUE(x.numel() == 0 || mean.data_ptr() != m2.data_ptr(), op,
                    ": mean and m2 must be different tensors");
}

float checked_float(double v, const char* name) {
  TORCH_CHECK_VALUE(std::isfinite(v), "fused_step: coefficient ", name, " must be finite, got ",
                    std::to_string(v));
  return static_cast<float>(v);
}

}  // namespace

FusedStepInputs prepare_fused_step(const at::Tensor& x, const at::Tensor& out, double a, double b,
                                   double c0, double c1, double c2, double sigma, double clip,
                                   const std::optional<at::Tensor>& noise, int64_t seed,
                                   int64_t step, int64_t offset,
                                   const std::optional<at::Tensor>& mean,
                                   const std::optional<at::Tensor>& m2, int64_t count,
                                   const std::optional<at::Tensor>& counter) {
  TORCH_CHECK_TYPE(is_supported_float(x.scalar_type()),
                   "fused_step: x must be float32, float16 or bfloat16, got ", x.scalar_type());
  TORCH_CHECK_TYPE(out.scalar_type() == x.scalar_type(), "fused_step: out has dtype ",
                   out.scalar_type(), " but x has dtype ", x.scalar_type());
  check_like_x(x, out, "out");
  TORCH_CHECK_VALUE(mean.has_value() == m2.has_value(),
                    "fused_step: mean and m2 must be given together");
  TORCH_CHECK_VALUE(count >= 0, "fused_step: count must be >= 0, got ",
                    std::to_string(count));

  FusedStepInputs in;
  in.x = x.contiguous();
  in.out = out.contiguous();
  if (noise.has_value()) {
    check_like_x(x, *noise, "noise");
    TORCH_CHECK_TYPE(at::isFloatingType(noise->scalar_type()),
                     "fused_step: noise must be a floating tensor, got ", noise->scalar_type());
    in.noise = noise->to(at::kFloat).contiguous();
  }
  if (mean.has_value()) {
    check_accumulator_pair(x, *mean, *m2, "fused_step");
    in.mean = *mean;
    in.m2 = *m2;
  }
  in.scalars.coef = StepCoef{checked_float(a, "a"),   checked_float(b, "b"),
                             checked_float(c0, "c0"), checked_float(c1, "c1"),
                             checked_float(c2, "c2"), checked_float(sigma, "sigma"),
                             checked_float(clip, "clip")};
  // seed/step/offset arrive as int64 and are read as the uint64 bit pattern: the Python
  // wrapper maps [0, 2^64) onto it, so the full counter space stays reachable.
  in.scalars.key = NoiseKey{static_cast<uint64_t>(seed), static_cast<uint64_t>(step)};
  in.scalars.offset = static_cast<uint64_t>(offset);
  if (counter.has_value()) {
    TORCH_CHECK_VALUE(counter->device() == x.device(), "fused_step: counter is on ",
                      counter->device().str(), " but x is on ", x.device().str());
    TORCH_CHECK_TYPE(counter->scalar_type() == at::kLong,
                     "fused_step: counter must be int64 [seed, offset], got ",
                     counter->scalar_type());
    TORCH_CHECK_VALUE(counter->dim() == 1 && counter->numel() == 2,
                      "fused_step: counter must have shape [2] ([seed, offset]), got ",
                      shape_string(counter->sizes()));
    const at::Tensor words = counter->contiguous();
    if (words.is_cpu()) {
      in.scalars.key.seed = static_cast<uint64_t>(words.const_data_ptr<int64_t>()[0]);
      in.scalars.offset = static_cast<uint64_t>(words.const_data_ptr<int64_t>()[1]);
    } else {
      in.counter = words;
    }
  }
  in.scalars.welford_n = static_cast<float>(count + 1);
  in.scalars.generate_noise = !noise.has_value() && in.scalars.coef.sigma != 0.0f;
  return in;
}

at::Tensor make_x0_output(const at::Tensor& x, bool return_x0) {
  return return_x0 ? at::empty_like(x, at::MemoryFormat::Contiguous)
                   : at::empty({0}, x.options());
}

void check_trajectory_score_args(const at::Tensor& m2, int64_t count) {
  TORCH_CHECK_TYPE(m2.scalar_type() == at::kFloat, "trajectory_score: m2 must be float32, got ",
                   m2.scalar_type());
  TORCH_CHECK_VALUE(m2.dim() >= 1, "trajectory_score: m2 must have a batch dimension");
  TORCH_CHECK_VALUE(m2.size(0) == 0 || m2.numel() > 0,
                    "trajectory_score: m2 has no elements beyond the batch dimension, shape ",
                    shape_string(m2.sizes()));
  TORCH_CHECK_VALUE(count >= 1, "trajectory_score: count must be >= 1 (x̂0 values in m2), got ",
                    std::to_string(count));
}

at::Tensor check_welford_update_args(const at::Tensor& mean, const at::Tensor& m2,
                                     const at::Tensor& x, int64_t count) {
  TORCH_CHECK_TYPE(is_supported_float(x.scalar_type()),
                   "welford_update_: x must be float32, float16 or bfloat16, got ",
                   x.scalar_type());
  check_accumulator_pair(x, mean, m2, "welford_update_");
  TORCH_CHECK_VALUE(count >= 0, "welford_update_: count must be >= 0 (x̂0 values already in "
                    "mean/m2), got ", std::to_string(count));
  return x.contiguous();
}

}  // namespace modeinterp
