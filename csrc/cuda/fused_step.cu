// CUDA kernel of modeinterp::fused_step. Memory-bound: one read of x/out (+ noise, mean, m2) and
// one write of x_prev (+ x0, mean, m2) per element; 16-byte accesses on the aligned fast path.
#include "convert.cuh"
#include "launchers.h"
#include "quads.cuh"

namespace modeinterp::cuda {
namespace {

template <typename T>
struct alignas(4 * sizeof(T)) Pack4 {
  T v[4];
};

// The per-element maths of both paths: element i of x_prev and x0 (nullptr: not stored) and, if
// `welford`, Welford's update of mean[i], m2[i]. The vector path passes its registers (i: the
// lane), the scalar path global memory (i: the element). A flag, not a null mean: choosing the
// vector path's &mv.x or nullptr would put its accumulators in local memory (ptxas stack frame).
template <typename T>
__device__ __forceinline__ void step_element(const FusedStepScalars& s, float xi, float oi,
                                             float zi, int64_t i, T* x_prev, T* x0, bool welford,
                                             float* mean, float* m2) {
  const float x0i = predict_x0(s.coef, xi, oi);
  x_prev[i] = from_float<T>(step_x_prev(s.coef, x0i, xi, oi, zi));
  if (x0 != nullptr) x0[i] = from_float<T>(x0i);
  if (welford) welford_update(mean + i, m2 + i, x0i, s.welford_n);
}

template <typename T>
__global__ void fused_step_kernel(FusedStepParams p, uint64_t quads, bool vector_ok) {
  const T* x = static_cast<const T*>(p.x);
  const T* out = static_cast<const T*>(p.out);
  T* x_prev = static_cast<T*>(p.x_prev);
  T* x0 = static_cast<T*>(p.x0);
  NoiseKey key = p.scalars.key;
  uint64_t offset = p.scalars.offset;
  if (p.counter != nullptr) {
    key.seed = static_cast<uint64_t>(p.counter[0]);
    offset = static_cast<uint64_t>(p.counter[1]);
  }
  const int64_t lead = static_cast<int64_t>(offset & 3);
  vector_ok = vector_ok && lead == 0;  // with a counter, the host did not know the lead
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t q = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; q < quads;
       q += stride) {
    Normal4 z{{0.f, 0.f, 0.f, 0.f}};
    if (p.scalars.generate_noise) z = normal4(key, (offset >> 2) + q);
    const int64_t base = static_cast<int64_t>(4 * q) - lead;  // local index of lane 0
    if (vector_ok && base + 3 < p.numel) {
      // lead == 0 and 16/8-byte aligned pointers: whole-quad loads and stores.
      const Pack4<T> xv = reinterpret_cast<const Pack4<T>*>(x)[q];
      const Pack4<T> ov = reinterpret_cast<const Pack4<T>*>(out)[q];
      if (p.noise != nullptr) {
        const float4 nz = reinterpret_cast<const float4*>(p.noise)[q];
        z = Normal4{{nz.x, nz.y, nz.z, nz.w}};
      }
      Pack4<T> xp, x0v;
      float4 mv, m2v;
      if (p.mean != nullptr) {
        mv = reinterpret_cast<const float4*>(p.mean)[q];
        m2v = reinterpret_cast<const float4*>(p.m2)[q];
      }
#pragma unroll
      for (int l = 0; l < 4; ++l) {
        step_element<T>(p.scalars, to_float(xv.v[l]), to_float(ov.v[l]), z.z[l], l, xp.v, x0v.v,
                        p.mean != nullptr, &mv.x, &m2v.x);
      }
      reinterpret_cast<Pack4<T>*>(x_prev)[q] = xp;
      if (x0 != nullptr) reinterpret_cast<Pack4<T>*>(x0)[q] = x0v;
      if (p.mean != nullptr) {
        reinterpret_cast<float4*>(p.mean)[q] = mv;
        reinterpret_cast<float4*>(p.m2)[q] = m2v;
      }
      continue;
    }
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const int64_t i = base + l;
      if (i < 0 || i >= p.numel) continue;
      const float zi = p.noise != nullptr ? p.noise[i] : z.z[l];
      step_element<T>(p.scalars, to_float(x[i]), to_float(out[i]), zi, i, x_prev, x0,
                      p.mean != nullptr, p.mean, p.m2);
    }
  }
}

bool aligned(const void* ptr, unsigned bytes) {
  return ptr == nullptr || reinterpret_cast<uintptr_t>(ptr) % bytes == 0;
}

template <typename T>
cudaError_t launch_typed(const FusedStepParams& p, cudaStream_t stream) {
  // With a counter the offset is known only on the device: cover the largest lead (3).
  const uint64_t quads = quad_count(p.numel, p.counter != nullptr ? 3 : p.scalars.offset);
  const unsigned pack = 4 * sizeof(T);
  const bool vector_ok = (p.scalars.offset & 3) == 0 && aligned(p.x, pack) &&
                         aligned(p.out, pack) && aligned(p.x_prev, pack) && aligned(p.x0, pack) &&
                         aligned(p.noise, 16) && aligned(p.mean, 16) && aligned(p.m2, 16);
  fused_step_kernel<T><<<grid_for(quads), kThreads, 0, stream>>>(p, quads, vector_ok);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_fused_step(const FusedStepParams& p, cudaStream_t stream) {
  if (p.numel == 0) return cudaSuccess;
  switch (p.dtype) {
    case ElementType::kFloat32: return launch_typed<float>(p, stream);
    case ElementType::kFloat16: return launch_typed<__half>(p, stream);
    case ElementType::kBFloat16: return launch_typed<__nv_bfloat16>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace modeinterp::cuda
