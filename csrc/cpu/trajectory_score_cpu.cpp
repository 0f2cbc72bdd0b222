// CPU kernel of modeinterp::trajectory_score: per-sample mean of m2 / count.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "../fused_step_args.h"

namespace modeinterp::cpu {
namespace {

at::Tensor trajectory_score_cpu(const at::Tensor& m2, int64_t count) {
  check_trajectory_score_args(m2, count);
  const at::Tensor rows = m2.contiguous();
  const int64_t batch = rows.size(0);
  const int64_t dims = batch == 0 ? 0 : rows.numel() / batch;
  at::Tensor score = at::empty({batch}, rows.options());
  const float* src = rows.const_data_ptr<float>();
  float* dst = score.data_ptr<float>();
  // Accumulate in double: a row may hold millions of values (images).
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      double sum = 0.0;
      for (int64_t k = 0; k < dims; ++k) sum += src[r * dims + k];
      dst[r] = static_cast<float>(sum / (static_cast<double>(dims) * static_cast<double>(count)));
    }
  });
  return score;
}

}  // namespace

TORCH_LIBRARY_IMPL(modeinterp, CPU, m) { m.impl("trajectory_score", &trajectory_score_cpu); }

}  // namespace modeinterp::cpu
