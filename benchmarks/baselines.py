"""What a user would write without modeinterp, for the benchmarks.

``eager_randn_step`` is the fused step in eager PyTorch with torch.randn noise (a different noise
stream than ours, so it is a cost baseline, not a correctness oracle); the exact twin of the
kernel, Philox noise included, is ``modeinterp.reference.fused_step``. ``eager_step`` and
``welford_update`` are its two halves, for loops that score only some steps (e2e_runs.py).
"""

from __future__ import annotations

import torch


def eager_step(x, out, coef, generator=None):
    """(x_prev, x̂0) of one reverse step, torch.randn noise."""
    a, b, c0, c1, c2, sigma, clip = coef
    x0 = a * x + b * out
    if clip > 0:
        x0 = x0.clamp(-clip, clip)
    z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return c0 * x0 + c1 * x + c2 * out + sigma * z, x0


def welford_update(mean, m2, x0, count):
    """Fold x̂0 into mean/m2 in place; ``count`` x̂0 values are already in them."""
    d = x0 - mean
    mean += d / (count + 1)
    m2 += d * (x0 - mean)


def eager_randn_step(x, out, coef, mean, m2, count, generator=None):
    x_prev, x0 = eager_step(x, out, coef, generator)
    welford_update(mean, m2, x0, count)
    return x_prev
