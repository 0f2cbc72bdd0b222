// The op schemas, declared once for every device (implementations: csrc/cpu, csrc/cuda). They are
// registered when the _C module (csrc/module.cpp) is imported.
#include <torch/library.h>

TORCH_LIBRARY(modeinterp, m) {
  // One reverse diffusion step fused with the running (Welford) variance of x̂0; docs/design.md.
  // mean/m2 are updated in place; the second output is x̂0 when return_x0, else empty.
  // counter: an int64 tensor [seed, offset] on x's device that replaces the seed and offset
  // scalars when given, read by the kernel itself — so a captured CUDA graph replays with a new
  // seed and offset written into it (Sampler(graph=True)).
  m.def(
      "fused_step(Tensor x, Tensor out, float a, float b, float c0, float c1, float c2, "
      "float sigma, float clip, Tensor? noise, int seed, int step, int offset, "
      "Tensor(a!)? mean, Tensor(b!)? m2, int count, bool return_x0, Tensor? counter=None) "
      "-> (Tensor, Tensor)");
  // Fills a float32 tensor with the fused step's noise stream.
  m.def("philox_fill_(Tensor(a!) self, int seed, int step, int offset) -> ()");
  // Per-sample mean over non-batch dims of m2 / count.
  m.def("trajectory_score(Tensor m2, int count) -> Tensor");
  // The fused step's Welford update alone, for samplers whose step is not ours (diffusers'
  // Euler, DPM-Solver, ...): folds x (any x̂0) into mean/m2, which hold count values.
  m.def("welford_update_(Tensor(a!) mean, Tensor(b!) m2, Tensor x, int count) -> ()");
}
