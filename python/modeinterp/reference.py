"""Plain-PyTorch twin of the modeinterp kernels: the test oracle and the benchmark baseline.

Everything here follows docs/design.md ("The fused reverse step", "The noise stream")
literally, op by op, in float32, so that the C++/CUDA kernels can be checked against it.  It must
not depend on the compiled extension (modeinterp._C) or on modeinterp.ops: only torch/math/numpy.
"""
from __future__ import annotations

import math

import torch

from . import validation

__all__ = ["philox4x32_10", "philox_normal", "fused_step", "trajectory_score"]

_MASK32 = 0xFFFFFFFF
# Philox4x32 multipliers and Weyl key increments (Salmon et al., SC'11; Random123).
_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85


# ----------------------------------------------------------------------------- Philox
def _mulhilo(m: int, c: torch.Tensor):
    """(hi, lo) 32-bit words of the 64-bit product m*c for a uint32 constant m, c in int64.

    The full product overflows int64, so c is split into 16-bit halves: each partial product
    is < 2^48 and exact, and the words are reassembled with shifts and masks."""
    c_lo, c_hi = c & 0xFFFF, c >> 16
    p_lo = c_lo * m  # < 2^48
    p_hi = c_hi * m  # < 2^48; product = p_hi * 2^16 + p_lo
    hi = (p_hi + (p_lo >> 16)) >> 16
    lo = (((p_hi & 0xFFFF) << 16) + p_lo) & _MASK32
    return hi, lo


def _philox_words(c0, c1, c2, c3, k0, k1):
    """Ten Philox4x32 rounds on int64 tensors holding uint32 words (broadcasting)."""
    for rnd in range(10):
        if rnd:  # key schedule: bump between rounds (Random123's philox4x32bumpkey)
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def _check_u32(t: torch.Tensor, name: str, last: int) -> torch.Tensor:
    validation.check_tensor(name, t)
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor holding uint32 values, got {t.dtype}")
    if t.dim() == 0 or t.shape[-1] != last:
        raise ValueError(f"{name} must have shape (..., {last}), got {tuple(t.shape)}")
    t = t.to(torch.int64)
    if t.numel() and (int(t.min()) < 0 or int(t.max()) > _MASK32):
        raise ValueError(f"{name} values must lie in [0, 2^32)")
    return t


def philox4x32_10(counter: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Philox4x32-10 of Random123: counter (..., 4), key (..., 2) -> int64 (..., 4) uint32 words."""
    counter = _check_u32(counter, "counter", 4)
    key = _check_u32(key, "key", 2)
    words = _philox_words(*counter.unbind(-1), *key.unbind(-1))
    return torch.stack(torch.broadcast_tensors(*words), dim=-1)


# ----------------------------------------------------------------------------- normals


def _f32(v, device) -> torch.Tensor:
    """A coefficient cast to float32 once, as a 0-dim float32 tensor: arithmetic with it then
    runs in float32 exactly like a kernel holding a `float` (no double-precision scalar path)."""
    return torch.tensor(float(v), dtype=torch.float32, device=device)


def _box_muller(r, r2, two_pow_m32, two_pi, one, minus_two):
    """Box-Muller in the float32 op order of csrc/include/modeinterp/normal.h."""
    u1 = (r.to(torch.float32) + one) * two_pow_m32  # int->float rounds to nearest; u1 in (0, 1]
    u2 = r2.to(torch.float32) * two_pow_m32
    radius = torch.sqrt(minus_two * torch.log(u1))
    theta = two_pi * u2
    return radius * torch.cos(theta), radius * torch.sin(theta)


def philox_normal(shape, *, seed, step, offset=0, device="cpu") -> torch.Tensor:
    """Standard normals of the in-kernel stream: element i takes lane (offset+i) mod 4 of the
    Philox block j = (offset+i) div 4, counter (j lo, j hi, step lo, step hi), key (seed lo, hi)."""
    dims = validation.check_shape(shape)
    n = math.prod(dims)
    seed, step, offset = validation.check_noise_key(seed, step, offset, n)
    device = torch.device(device)
    if n == 0:
        return torch.empty(dims, dtype=torch.float32, device=device)
    # Only the blocks that cover [offset, offset + n): j < 2^62, so int64 holds it exactly.
    j0, lane0 = divmod(offset, 4)
    nblocks = (lane0 + n + 3) // 4
    j = torch.arange(j0, j0 + nblocks, dtype=torch.int64, device=device)
    def const(v):
        return torch.tensor(v, dtype=torch.int64, device=device)
    r0, r1, r2, r3 = _philox_words(j & _MASK32, j >> 32, const(step & _MASK32), const(step >> 32),
                                   const(seed & _MASK32), const(seed >> 32))
    consts = (_f32(2.0 ** -32, device), _f32(6.2831853, device), _f32(1.0, device),
              _f32(-2.0, device))
    z0, z1 = _box_muller(r0, r1, *consts)
    z2, z3 = _box_muller(r2, r3, *consts)
    z = torch.stack((z0, z1, z2, z3), dim=-1).reshape(-1)  # flat order == global index order
    return z[lane0:lane0 + n].reshape(dims)


# ----------------------------------------------------------------------------- fused step
def fused_step(x, out, coef, *, noise=None, seed=0, step=0, offset=0, mean=None, m2=None,
               count=0, return_x0=False, counter=None):
    """One reverse step (docs/design.md, "The fused reverse step"), float32 maths, x_prev in x's dtype.

    mean/m2 (float32, like x) are updated in place by Welford on the (clipped) x0 prediction.
    counter: an int64 tensor [seed, offset] (two's complement words) replacing seed and offset."""
    validation.check_fused_step_tensors(x, out, noise, mean, m2, counter)
    coefs, count, seed, step, offset = validation.check_fused_step_scalars(
        coef, count, seed, step, offset, x.numel())
    if counter is not None:
        seed, offset = (int(w) % 2**64 for w in counter.tolist())

    dev = x.device
    a, b, c0, c1, c2, sigma, clip = (_f32(v, dev) for v in coefs)
    xf, of = x.float(), out.float()

    x0 = a * xf + b * of  # (a*x) + (b*out), each product rounded to float32
    if clip.item() > 0:  # decided on the float32 value, as the kernel does
        x0 = torch.clamp(x0, min=-clip, max=clip)

    x_prev = c0 * x0 + c1 * xf + c2 * of  # ((c0*x0 + c1*x) + c2*out)
    if noise is not None:
        x_prev = x_prev + sigma * noise.float()
    elif sigma.item() != 0:
        x_prev = x_prev + sigma * philox_normal(x.shape, seed=seed, step=step, offset=offset,
                                                device=dev)
    # sigma == 0 and no noise: z = 0, the sigma*z term is skipped (no Philox work).

    if mean is not None:
        _welford(mean, m2, x0, count)

    x_prev = x_prev.to(x.dtype)
    return (x_prev, x0.to(x.dtype)) if return_x0 else x_prev


def _welford(mean, m2, x0, count):
    n = _f32(count + 1, x0.device)  # n counts the x0 being added
    d = x0 - mean
    mean.add_(d / n)  # mean is now the new mean
    m2.add_(d * (x0 - mean))


def welford_update_(mean, m2, x, count) -> None:
    """Folds x (float32, float16 or bfloat16) into mean/m2 (float32, like x), which hold
    ``count`` values: the fused step's Welford update alone, float32 maths."""
    validation.check_welford_tensors(mean, m2, x)
    _welford(mean, m2, x.float(), validation.check_count(count))


def trajectory_score(m2, count) -> torch.Tensor:
    """score[b] = mean over non-batch dims of m2 / count (the population variance of x0)."""
    validation.check_trajectory_score_tensors(m2)
    count = validation.check_int("count", count, 1, note="the number of x̂0 values in m2")
    var = m2 / _f32(count, m2.device)  # elementwise in float32, as the kernel
    # The mean is accumulated in float64 (the most accurate answer for an oracle), then cast.
    return var.double().reshape(var.shape[0], math.prod(var.shape[1:])).mean(dim=1).float()
