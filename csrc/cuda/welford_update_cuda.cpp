// Torch glue of modeinterp::welford_update_ on CUDA: validate, launch on the current stream.
#include <torch/library.h>

#include "../fused_step_args.h"
#include "cuda_glue.h"

namespace modeinterp::cuda {
namespace {

void welford_update_cuda(const at::Tensor& mean, const at::Tensor& m2, const at::Tensor& x,
                         int64_t count) {
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor values = check_welford_update_args(mean, m2, x, count);
  check_launch(launch_welford_update(mean.data_ptr<float>(), m2.data_ptr<float>(),
                                     values.const_data_ptr(), element_type(values.scalar_type()),
                                     values.numel(), static_cast<float>(count + 1),
                                     current_stream(values)),
               "welford_update_");
}

}  // namespace

TORCH_LIBRARY_IMPL(modeinterp, CUDA, m) { m.impl("welford_update_", &welford_update_cuda); }

}  // namespace modeinterp::cuda
