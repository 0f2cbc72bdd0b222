"""Saying so when a run's samples are not all finite: how many, and why it happens."""

from __future__ import annotations

import warnings

import torch

__all__ = ["warn_non_finite"]


def warn_non_finite(samples: torch.Tensor, table) -> int:
    """Warn (RuntimeWarning) when some of ``samples`` hold a NaN or an infinity; returns how many.
    The usual cause is an unclipped x̂0 of an ε-model where ᾱ ≈ 0: the model's error times
    1/√ᾱ, which the reverse process then follows off to infinity."""
    flat = samples.reshape(len(samples), -1)
    bad = int((~flat.isfinite().all(1)).sum()) if len(samples) else 0
    if bad:
        why = ("x̂0 was unclipped: set clip= (Schedule.table(clip=…), a config's clip) to bound it"
               if not table.clip else "the model's own output was not finite")
        warnings.warn(f"{bad} of {len(samples)} samples are not finite; {why}", RuntimeWarning,
                      stacklevel=4)
    return bad
