"""Thin, validating wrappers over ``torch.ops.modeinterp`` (the compiled CPU/CUDA kernels).

Every function here has a plain-PyTorch twin in :mod:`modeinterp.reference` with the same
signature and results (to float rounding). The first call loads the compiled extension
(:mod:`modeinterp._extension`), which also registers the fake kernels (:mod:`modeinterp._fakes`)
that make the ops work under ``torch.compile(fullgraph=True)`` and ``torch.library.opcheck``.
Code that calls ``torch.ops.modeinterp.*`` directly calls :func:`load` first.
"""

from __future__ import annotations

import torch

from . import _validate
from ._extension import load

_U64 = _validate.U64


def _counter_word(value, name: str) -> int:
    """A seed/step/offset in [0, 2**64), passed to the int64 schema as its two's complement."""
    value = _validate.u64(value, name)
    return value - _U64 if value >= 1 << 63 else value


def fused_step(x, out, coef, *, noise=None, seed=0, step=0, offset=0, mean=None, m2=None,
               count=0, return_x0=False, counter=None):
    """One fused reverse step; see docs/design.md and :func:`modeinterp.reference.fused_step`.

    Returns ``x_prev`` (x's dtype), or ``(x_prev, x0)`` with ``return_x0``. When ``mean`` and
    ``m2`` (float32, shaped like x) are given they are updated in place with this step's x̂0,
    ``count`` being the number of x̂0 values they already hold. Without ``noise`` the noise is
    Philox keyed by (seed, step, offset + flat index).

    ``counter``: an int64 tensor ``[seed, offset]`` on x's device (seed as its int64 two's
    complement, :func:`counter_words`) that replaces ``seed`` and ``offset``; the kernel reads it
    from device memory, so a CUDA graph captured once replays with the values written into it
    later. Nothing checks its values against x.numel() on the device: keep offset + numel <= 2**64.
    """
    load()
    for name, t in (("x", x), ("out", out)):
        _validate.require_tensor(t, name)
    for name, t in (("noise", noise), ("mean", mean), ("m2", m2), ("counter", counter)):
        _validate.require_tensor(t, name, optional=True)
    for name, t in (("out", out), ("noise", noise), ("mean", mean), ("m2", m2),
                    ("counter", counter)):
        # Checked here as well as in C++: a meta/fake tensor would route the call to the fake
        # kernel, which must not silently accept mixed devices.
        if t is not None and t.device != x.device:
            raise ValueError(f"{name} is on {t.device} but x is on {x.device}")
    count = _validate.count(count, 0, "x̂0 values already in mean/m2")
    a, b, c0, c1, c2, sigma, clip = _validate.coefficients(coef)
    seed_w, step_w, offset_w = (_counter_word(seed, "seed"), _counter_word(step, "step"),
                                _counter_word(offset, "offset"))
    if offset + x.numel() > _U64:
        raise ValueError(f"offset + x.numel() must be <= 2**64, got {offset} + {x.numel()}")
    x_prev, x0 = torch.ops.modeinterp.fused_step.default(
        x, out, a, b, c0, c1, c2, sigma, clip, noise, seed_w, step_w, offset_w, mean, m2,
        int(count), bool(return_x0), counter)
    return (x_prev, x0) if return_x0 else x_prev


def counter_words(seed, offset) -> list:
    """``[seed, offset]`` as the int64 words of a ``counter`` tensor (each in [0, 2**64))."""
    return [_counter_word(seed, "seed"), _counter_word(offset, "offset")]


def philox_normal(shape, *, seed, step, offset=0, device="cpu") -> torch.Tensor:
    """The fused step's standard-normal noise stream as a float32 tensor of ``shape``."""
    load()
    shape = torch.Size(_validate.shape(shape))
    seed_w, step_w, offset_w = (_counter_word(seed, "seed"), _counter_word(step, "step"),
                                _counter_word(offset, "offset"))
    if offset + shape.numel() > _U64:
        raise ValueError(f"offset + numel must be <= 2**64, got {offset} + {shape.numel()}")
    z = torch.empty(shape, dtype=torch.float32, device=device)
    torch.ops.modeinterp.philox_fill_.default(z, seed_w, step_w, offset_w)
    return z


def trajectory_score(m2, count) -> torch.Tensor:
    """Per-sample hallucination score: mean over non-batch dims of ``m2 / count`` (float32, (B,))."""
    load()
    _validate.require_tensor(m2, "m2")
    count = _validate.count(count, 1, "the number of x̂0 values in m2")
    return torch.ops.modeinterp.trajectory_score.default(m2, int(count))
