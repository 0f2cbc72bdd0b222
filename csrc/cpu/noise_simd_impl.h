// Width-generic body of the vectorised noise (noise_simd.h), included once per instruction set by
// noise_avx2.cpp (MI_SIMD_WIDTH 8) and noise_avx512.cpp (16), each compiled with its own -m flags.
// Written with GCC/Clang vector extensions, so the arithmetic is the same source for both widths;
// only the 32x32->64 multiply and sqrt name their intrinsics.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "modeinterp/normal.h"

namespace modeinterp::cpu::simd {

constexpr int W = MI_SIMD_WIDTH;
typedef uint32_t vu __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));
typedef float vf __attribute__((vector_size(4 * W)));
typedef uint64_t vu64 __attribute__((vector_size(4 * W)));  // W / 2 lanes of 64 bits

#if MI_SIMD_WIDTH == 16
inline vu64 mul_even(vu64 a, vu64 b) { return (vu64)_mm512_mul_epu32((__m512i)a, (__m512i)b); }
inline vf vsqrt(vf x) { return (vf)_mm512_sqrt_ps((__m512)x); }
#else
inline vu64 mul_even(vu64 a, vu64 b) { return (vu64)_mm256_mul_epu32((__m256i)a, (__m256i)b); }
inline vf vsqrt(vf x) { return (vf)_mm256_sqrt_ps((__m256)x); }
#endif

inline vf select(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }

// hi and lo words of m * a in every lane (mulhilo32 of philox.h).
inline void mulhilo(uint32_t m, vu a, vu* hi, vu* lo) {
  const vu64 m64 = (vu64)(vu{} + m);
  const vu64 even = mul_even((vu64)a, m64);        // lanes 0, 2, 4, …: full 64-bit products
  const vu64 odd = mul_even((vu64)a >> 32, m64);   // lanes 1, 3, 5, …
  constexpr uint64_t kLow = 0xFFFFFFFFull;
  *lo = (vu)((even & kLow) | (odd << 32));
  *hi = (vu)((even >> 32) | (odd & ~kLow));
}

// log(x) for x in (0, 1] normal floats (Cephes logf: frexp, then a degree-9 polynomial).
inline vf vlog(vf x) {
  const vi bits = (vi)x;
  vf e = __builtin_convertvector(((bits >> 23) & 0xff) - 126, vf);
  vf m = (vf)((bits & 0x807fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  const vi small = m < 0.707106781186547524f;
  e = select(small, e - 1.0f, e);
  m = select(small, m + m - 1.0f, m - 1.0f);
  const vf z = m * m;
  vf y = vf{} + 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  return m + y + 0.693359375f * e;
}

// cos and sin of theta in [0, 2π] (Cephes sinf/cosf: quadrant reduction in three parts, then
// polynomials on [-π/4, π/4]).
inline void vsincos(vf theta, vf* c, vf* s) {
  const vi q = __builtin_convertvector(theta * 0.636619772367581343f + 0.5f, vi);  // round
  const vf qf = __builtin_convertvector(q, vf);
  const vf r = ((theta - qf * 1.5703125f) - qf * 4.837512969970703125e-4f) -
               qf * 7.54978995489188216e-8f;
  const vf r2 = r * r;
  vf sp = vf{} - 1.9515295891e-4f;
  sp = sp * r2 + 8.3321608736e-3f;
  sp = sp * r2 - 1.6666654611e-1f;
  const vf sr = r + r * r2 * sp;
  vf cp = vf{} + 2.443315711809948e-5f;
  cp = cp * r2 - 1.388731625493765e-3f;
  cp = cp * r2 + 4.166664568298827e-2f;
  const vf cr = 1.0f - 0.5f * r2 + r2 * r2 * cp;
  const vi odd = (q & 1) != 0;
  const vf c0 = select(odd, sr, cr), s0 = select(odd, cr, sr);
  const vi neg_c = ((q + 1) & 2) != 0;  // quadrants 1, 2: cos < 0
  const vi neg_s = (q & 2) != 0;        // quadrants 2, 3: sin < 0
  const vi sign = vi{} + static_cast<int32_t>(0x80000000u);
  *c = (vf)((vi)c0 ^ (neg_c & sign));
  *s = (vf)((vi)s0 ^ (neg_s & sign));
}

// Box–Muller of box_muller() in normal.h, lane-wise.
inline void vbox_muller(vu r, vu r2, vf* z, vf* z2) {
  constexpr float kTwoPow32Inv = 2.3283064365386963e-10f;
  const vf u1 = (__builtin_convertvector(r, vf) + 1.0f) * kTwoPow32Inv;
  const vf u2 = __builtin_convertvector(r2, vf) * kTwoPow32Inv;
  const vf radius = vsqrt(-2.0f * vlog(u1));
  vf c, s;
  vsincos(6.2831853f * u2, &c, &s);
  *z = radius * c;
  *z2 = radius * s;
}

inline void fill_blocks(NoiseKey key, uint64_t j0, int64_t nblocks, float* out) {
  vu lane;
  for (int l = 0; l < W; ++l) lane[l] = static_cast<uint32_t>(l);
  for (int64_t b = 0; b < nblocks; b += W) {
    const uint64_t j = j0 + static_cast<uint64_t>(b);
    // Counter words of blocks j … j + W - 1 (the low word may wrap within the W lanes).
    const vu lo = static_cast<uint32_t>(j) + lane;
    const vu carry = (vu)(lo < static_cast<uint32_t>(j));  // all ones where it wrapped
    vu c0 = lo, c1 = static_cast<uint32_t>(j >> 32) - carry;
    vu c2 = vu{} + static_cast<uint32_t>(key.step), c3 = vu{} + static_cast<uint32_t>(key.step >> 32);
    uint32_t k0 = static_cast<uint32_t>(key.seed), k1 = static_cast<uint32_t>(key.seed >> 32);
    for (int round = 0; round < 10; ++round) {
      vu hi0, lo0, hi1, lo1;
      mulhilo(0xD2511F53u, c0, &hi0, &lo0);
      mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
      const vu n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
      c0 = n0;
      c1 = lo1;
      c2 = n2;
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    vf za, zb, zc, zd;
    vbox_muller(c0, c1, &za, &zb);
    vbox_muller(c2, c3, &zc, &zd);
    float* dst = out + 4 * b;
    for (int l = 0; l < W; ++l) {
      dst[4 * l] = za[l];
      dst[4 * l + 1] = zb[l];
      dst[4 * l + 2] = zc[l];
      dst[4 * l + 3] = zd[l];
    }
  }
}

}  // namespace modeinterp::cpu::simd
