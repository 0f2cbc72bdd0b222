"""Thin, validating wrappers over ``torch.ops.modeinterp`` (the compiled CPU/CUDA kernels).

Every function here has a plain-PyTorch twin in :mod:`modeinterp.reference` with the same
signature and results (to float rounding). The first call loads the compiled extension
(:mod:`modeinterp._extension`), which also registers the fake kernels (:mod:`modeinterp._fakes`)
that make the ops work under ``torch.compile(fullgraph=True)`` and ``torch.library.opcheck``.
Code that calls ``torch.ops.modeinterp.*`` directly calls :func:`load` first.
"""

from __future__ import annotations

import torch

from . import validation
from ._extension import load


def _int64(word: int) -> int:
    """A seed/step/offset word in [0, 2**64) as the int64 the schema takes (two's complement)."""
    return word - validation.U64 if word >= 1 << 63 else word


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
    # Dtypes, shapes and devices are checked by the op itself (in C++, or in its fake kernel for
    # meta and fake tensors); only what the schema cannot say with the argument's name is here.
    validation.check_fused_step_types(x, out, noise, mean, m2, counter)
    coefs, count, *key = validation.check_fused_step_scalars(coef, count, seed, step, offset,
                                                             x.numel())
    x_prev, x0 = torch.ops.modeinterp.fused_step.default(
        x, out, *coefs, noise, *map(_int64, key), mean, m2, count, bool(return_x0), counter)
    return (x_prev, x0) if return_x0 else x_prev


def counter_words(seed, offset) -> list:
    """``[seed, offset]`` as the int64 words of a ``counter`` tensor (each in [0, 2**64))."""
    return [_int64(validation.check_u64("seed", seed)),
            _int64(validation.check_u64("offset", offset))]


def philox_normal(shape, *, seed, step, offset=0, device="cpu") -> torch.Tensor:
    """The fused step's standard-normal noise stream as a float32 tensor of ``shape``."""
    load()
    shape = torch.Size(validation.check_shape(shape))
    seed, step, offset = map(_int64, validation.check_noise_key(seed, step, offset, shape.numel()))
    z = torch.empty(shape, dtype=torch.float32, device=device)
    torch.ops.modeinterp.philox_fill_.default(z, seed, step, offset)
    return z


def trajectory_score(m2, count) -> torch.Tensor:
    """Per-sample hallucination score: mean over non-batch dims of ``m2 / count`` (float32, (B,))."""
    load()
    validation.check_tensor("m2", m2)
    count = validation.check_int("count", count, 1, note="the number of x̂0 values in m2")
    return torch.ops.modeinterp.trajectory_score.default(m2, int(count))


def welford_update_(mean, m2, x, count) -> None:
    """Folds ``x`` (one x̂0 per element, float32/float16/bfloat16) into the running ``mean`` and
    ``m2`` (float32, shaped like x, contiguous, updated in place), which hold ``count`` values:
    exactly the Welford update :func:`fused_step` makes, for samplers whose step is not ours."""
    load()
    validation.check_welford_types(mean, m2, x)  # the rest is the op's (see fused_step)
    torch.ops.modeinterp.welford_update_.default(mean, m2, x, validation.check_count(count))
