// Torch glue of modeinterp::trajectory_score on CUDA.
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "../fused_step_args.h"
#include "cuda_glue.h"

namespace modeinterp::cuda {
namespace {

at::Tensor trajectory_score_cuda(const at::Tensor& m2, int64_t count) {
  check_trajectory_score_args(m2, count);
  const c10::cuda::CUDAGuard guard(m2.device());
  const at::Tensor rows = m2.contiguous();
  const int64_t batch = rows.size(0);
  const int64_t dims = batch == 0 ? 0 : rows.numel() / batch;
  at::Tensor score = at::empty({batch}, rows.options());
  check_launch(launch_trajectory_score(rows.const_data_ptr<float>(), score.data_ptr<float>(),
                                       batch, dims, count, current_stream(rows)),
               "trajectory_score");
  return score;
}

}  // namespace

TORCH_LIBRARY_IMPL(modeinterp, CUDA, m) { m.impl("trajectory_score", &trajectory_score_cuda); }

}  // namespace modeinterp::cuda
