// Which noise path this CPU runs (noise_simd.h), decided once at first use.
#include <torch/library.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "noise_simd.h"

namespace modeinterp::cpu {
namespace {

NoisePath pick() {
  const NoisePath scalar{"scalar", 0, nullptr};
#if defined(MODEINTERP_SIMD_NOISE)
  const NoisePath avx2{"avx2", 8, &fill_blocks_avx2};
  const NoisePath avx512{"avx512", 16, &fill_blocks_avx512};
  const char* forced = std::getenv("MODEINTERP_CPU_NOISE");
  const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool has_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  if (forced != nullptr && std::strcmp(forced, "scalar") == 0) return scalar;
  if (forced != nullptr && std::strcmp(forced, "avx2") == 0) return has_avx2 ? avx2 : scalar;
  if (has_avx512) return avx512;
  if (has_avx2) return avx2;
#endif
  return scalar;
}

}  // namespace

const NoisePath& noise_path() {
  static const NoisePath path = pick();
  return path;
}

// For `modeinterp info` and the benchmarks: which path this process draws CPU noise with.
TORCH_LIBRARY_FRAGMENT(modeinterp, m) {
  m.def("cpu_noise_path() -> str", []() { return std::string(noise_path().name); });
}

}  // namespace modeinterp::cpu
