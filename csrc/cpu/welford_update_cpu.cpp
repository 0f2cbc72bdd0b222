// CPU kernel of modeinterp::welford_update_: the fused step's Welford update alone (step.h), so a
// sampler whose step is not ours accumulates x̂0 exactly as fused_step would.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "../fused_step_args.h"
#include "tile.h"

namespace modeinterp::cpu {
namespace {

template <typename T>
void welford_range(const T* x, float* mean, float* m2, float n, int64_t begin, int64_t end) {
  float buf[kTile];
  for (int64_t t0 = begin; t0 < end; t0 += kTile) {
    const int64_t len = std::min(kTile, end - t0);
    load_tile(x + t0, buf, len);
    for (int64_t i = 0; i < len; ++i) welford_update(mean + t0 + i, m2 + t0 + i, buf[i], n);
  }
}

void welford_update_cpu(const at::Tensor& mean, const at::Tensor& m2, const at::Tensor& x,
                        int64_t count) {
  const at::Tensor values = check_welford_update_args(mean, m2, x, count);
  const float n = static_cast<float>(count + 1);  // as fused_step's welford_n
  float* mp = mean.data_ptr<float>();
  float* m2p = m2.data_ptr<float>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, values.scalar_type(),
                                  "welford_update_cpu", [&] {
                                    const scalar_t* xp = values.const_data_ptr<scalar_t>();
                                    at::parallel_for(0, values.numel(), kGrain,
                                                     [&](int64_t begin, int64_t end) {
                                                       welford_range(xp, mp, m2p, n, begin, end);
                                                     });
                                  });
}

}  // namespace

TORCH_LIBRARY_IMPL(modeinterp, CPU, m) { m.impl("welford_update_", &welford_update_cpu); }

}  // namespace modeinterp::cpu
