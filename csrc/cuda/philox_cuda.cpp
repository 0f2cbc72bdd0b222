// Torch glue of modeinterp::philox_fill_ on CUDA.
#include <torch/library.h>

#include "cuda_glue.h"

namespace modeinterp::cuda {
namespace {

void philox_fill_cuda(at::Tensor& self, int64_t seed, int64_t step, int64_t offset) {
  TORCH_CHECK_TYPE(self.scalar_type() == at::kFloat, "philox_fill_: output must be float32");
  TORCH_CHECK_VALUE(self.is_contiguous(), "philox_fill_: output must be contiguous");
  const c10::cuda::CUDAGuard guard(self.device());
  const NoiseKey key{static_cast<uint64_t>(seed), static_cast<uint64_t>(step)};
  check_launch(launch_philox_fill(self.data_ptr<float>(), self.numel(), key,
                                  static_cast<uint64_t>(offset), current_stream(self)),
               "philox_fill_");
}

}  // namespace

TORCH_LIBRARY_IMPL(modeinterp, CUDA, m) { m.impl("philox_fill_", &philox_fill_cuda); }

}  // namespace modeinterp::cuda
