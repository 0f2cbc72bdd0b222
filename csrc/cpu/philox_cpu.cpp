// CPU kernel of modeinterp::philox_fill_: the fused step's noise stream on its own.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include "tile.h"

namespace modeinterp::cpu {
namespace {

void philox_fill_cpu(at::Tensor& self, int64_t seed, int64_t step, int64_t offset) {
  TORCH_CHECK_TYPE(self.scalar_type() == at::kFloat, "philox_fill_: output must be float32");
  TORCH_CHECK_VALUE(self.is_contiguous(), "philox_fill_: output must be contiguous");
  float* z = self.data_ptr<float>();
  const NoiseKey key{static_cast<uint64_t>(seed), static_cast<uint64_t>(step)};
  at::parallel_for(0, self.numel(), kGrain, [&](int64_t begin, int64_t end) {
    fill_noise_tile(key, static_cast<uint64_t>(offset) + static_cast<uint64_t>(begin), z + begin,
                    end - begin);
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(modeinterp, CPU, m) { m.impl("philox_fill_", &philox_fill_cpu); }

}  // namespace modeinterp::cpu
