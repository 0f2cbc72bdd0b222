"""Fake (meta) kernels of the compiled ops, for torch.compile and torch.library.opcheck.

Each checks its tensor arguments with the op's checks in :mod:`modeinterp.validation`, so that
meta and fake tensors are refused (mixed devices, a wrong dtype or shape) as real ones are.

Imported by :func:`modeinterp._extension.load` once ``_C`` has defined the schemas (registering a
fake kernel needs the op to exist).
"""

from __future__ import annotations

import torch

from . import validation


@torch.library.register_fake("modeinterp::fused_step")
def _fused_step_fake(x, out, a, b, c0, c1, c2, sigma, clip, noise, seed, step, offset, mean, m2,
                     count, return_x0, counter=None):
    validation.check_fused_step_tensors(x, out, noise, mean, m2, counter)
    x_prev = torch.empty_like(x, memory_format=torch.contiguous_format)
    x0 = (torch.empty_like(x, memory_format=torch.contiguous_format) if return_x0
          else x.new_empty((0,)))
    return x_prev, x0


@torch.library.register_fake("modeinterp::philox_fill_")
def _philox_fill_fake(self, seed, step, offset):
    return None


@torch.library.register_fake("modeinterp::trajectory_score")
def _trajectory_score_fake(m2, count):
    validation.check_trajectory_score_tensors(m2)
    return m2.new_empty((m2.shape[0],))


@torch.library.register_fake("modeinterp::welford_update_")
def _welford_update_fake(mean, m2, x, count):
    validation.check_welford_tensors(mean, m2, x)
