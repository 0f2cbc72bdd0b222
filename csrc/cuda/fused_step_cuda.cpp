// Torch glue of modeinterp::fused_step on CUDA: validate, allocate, launch on the current stream
// (no host synchronisation, so it can be captured in a CUDA graph).
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <tuple>

#include "../fused_step_args.h"
#include "cuda_glue.h"

namespace modeinterp::cuda {
namespace {

std::tuple<at::Tensor, at::Tensor> fused_step_cuda(
    const at::Tensor& x, const at::Tensor& out, double a, double b, double c0, double c1,
    double c2, double sigma, double clip, const std::optional<at::Tensor>& noise, int64_t seed,
    int64_t step, int64_t offset, const std::optional<at::Tensor>& mean,
    const std::optional<at::Tensor>& m2, int64_t count, bool return_x0,
    const std::optional<at::Tensor>& counter) {
  const c10::cuda::CUDAGuard guard(x.device());
  const FusedStepInputs in = prepare_fused_step(x, out, a, b, c0, c1, c2, sigma, clip, noise,
                                                seed, step, offset, mean, m2, count,
                                                counter);
  at::Tensor x_prev = at::empty_like(in.x);
  at::Tensor x0 = make_x0_output(in.x, return_x0);
  FusedStepParams p;
  p.x = in.x.const_data_ptr();
  p.out = in.out.const_data_ptr();
  p.noise = in.noise.defined() ? in.noise.const_data_ptr<float>() : nullptr;
  p.x_prev = x_prev.data_ptr();
  p.x0 = return_x0 ? x0.data_ptr() : nullptr;
  p.mean = in.mean.defined() ? in.mean.data_ptr<float>() : nullptr;
  p.m2 = in.m2.defined() ? in.m2.data_ptr<float>() : nullptr;
  p.numel = in.x.numel();
  p.dtype = element_type(in.x.scalar_type());
  p.scalars = in.scalars;
  p.counter = in.counter.defined() ? in.counter.const_data_ptr<int64_t>() : nullptr;
  check_launch(launch_fused_step(p, current_stream(in.x)), "fused_step");
  return {x_prev, x0};
}

}  // namespace

TORCH_LIBRARY_IMPL(modeinterp, CUDA, m) { m.impl("fused_step", &fused_step_cuda); }

}  // namespace modeinterp::cuda
