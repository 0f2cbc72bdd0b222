"""What a user would write without modeinterp, for the benchmarks.

``eager_randn_step`` is the fused step in eager PyTorch with torch.randn noise (a different noise
stream than ours, so it is a cost baseline, not a correctness oracle); the exact twin of the
kernel, Philox noise included, is ``modeinterp.reference.fused_step``.
"""

from __future__ import annotations

import torch


def eager_randn_step(x, out, coef, mean, m2, count, generator=None):
    a, b, c0, c1, c2, sigma, clip = coef
    x0 = a * x + b * out
    if clip > 0:
        x0 = x0.clamp(-clip, clip)
    z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    x_prev = c0 * x0 + c1 * x + c2 * out + sigma * z
    d = x0 - mean
    mean += d / (count + 1)
    m2 += d * (x0 - mean)
    return x_prev
