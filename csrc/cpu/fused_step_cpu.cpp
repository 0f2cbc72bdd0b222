// CPU kernel of modeinterp::fused_step: one pass over x/out (+ noise, mean, m2), parallel over
// chunks with at::parallel_for, vectorised per tile.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <tuple>

#include "../fused_step_args.h"
#include "tile.h"

namespace modeinterp::cpu {
namespace {

struct Buffers {
  float x[kTile], out[kTile], z[kTile], x0[kTile], x_prev[kTile];
};

template <typename T>
void fused_step_range(const FusedStepInputs& in, T* x_prev, T* x0_out, int64_t begin,
                      int64_t end) {
  const T* x = in.x.const_data_ptr<T>();
  const T* out = in.out.const_data_ptr<T>();
  const float* noise = in.noise.defined() ? in.noise.const_data_ptr<float>() : nullptr;
  float* mean = in.mean.defined() ? in.mean.data_ptr<float>() : nullptr;
  float* m2 = in.m2.defined() ? in.m2.data_ptr<float>() : nullptr;
  const FusedStepScalars s = in.scalars;  // a copy: the stores to mean/m2 cannot alias it
  Buffers buf;
  for (int64_t t0 = begin; t0 < end; t0 += kTile) {
    const int64_t n = std::min(kTile, end - t0);
    load_tile(x + t0, buf.x, n);
    load_tile(out + t0, buf.out, n);
    if (noise != nullptr) {
      load_tile(noise + t0, buf.z, n);
    } else if (s.generate_noise) {
      fill_noise_tile(s.key, s.offset + static_cast<uint64_t>(t0), buf.z, n);
    } else {
      std::fill(buf.z, buf.z + n, 0.0f);
    }
    for (int64_t i = 0; i < n; ++i) buf.x0[i] = predict_x0(s.coef, buf.x[i], buf.out[i]);
    for (int64_t i = 0; i < n; ++i) {
      buf.x_prev[i] = step_x_prev(s.coef, buf.x0[i], buf.x[i], buf.out[i], buf.z[i]);
    }
    if (mean != nullptr) {
      for (int64_t i = 0; i < n; ++i) {
        welford_update(mean + t0 + i, m2 + t0 + i, buf.x0[i], s.welford_n);
      }
    }
    store_tile(buf.x_prev, x_prev + t0, n);
    if (x0_out != nullptr) store_tile(buf.x0, x0_out + t0, n);
  }
}

std::tuple<at::Tensor, at::Tensor> fused_step_cpu(
    const at::Tensor& x, const at::Tensor& out, double a, double b, double c0, double c1,
    double c2, double sigma, double clip, const std::optional<at::Tensor>& noise, int64_t seed,
    int64_t step, int64_t offset, const std::optional<at::Tensor>& mean,
    const std::optional<at::Tensor>& m2, int64_t count, bool return_x0,
    const std::optional<at::Tensor>& counter) {
  const FusedStepInputs in = prepare_fused_step(x, out, a, b, c0, c1, c2, sigma, clip, noise,
                                                seed, step, offset, mean, m2, count,
                                                counter);
  at::Tensor x_prev = at::empty_like(in.x);
  at::Tensor x0 = make_x0_output(in.x, return_x0);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, in.x.scalar_type(), "fused_step_cpu",
                                  [&] {
                                    scalar_t* xp = x_prev.data_ptr<scalar_t>();
                                    scalar_t* x0p = return_x0 ? x0.data_ptr<scalar_t>() : nullptr;
                                    at::parallel_for(0, in.x.numel(), kGrain,
                                                     [&](int64_t begin, int64_t end) {
                                                       fused_step_range<scalar_t>(in, xp, x0p,
                                                                                  begin, end);
                                                     });
                                  });
  return {x_prev, x0};
}

}  // namespace

TORCH_LIBRARY_IMPL(modeinterp, CPU, m) { m.impl("fused_step", &fused_step_cpu); }

}  // namespace modeinterp::cpu
