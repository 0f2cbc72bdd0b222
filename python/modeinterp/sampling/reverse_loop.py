"""The reverse loop, whole and on its own: every denoiser call and fused step of one batch, scored
by a :class:`~modeinterp.sampling.window.WindowScores`. In the style of k-diffusion's samplers (a
function of the model, the start point and the schedule), so that the :class:`Sampler`, the CUDA
graph capture (:mod:`.graphed`) and the tests all run the very same steps.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional

import torch

from .noise_key import NoiseKey
from .window import WindowScores
from ..schedules import StepTable

__all__ = ["reverse_loop", "shared_timestep"]


def shared_timestep(t: int, size: int, device) -> torch.Tensor:
    """The ``(size,)`` int64 ``t`` a model gets at one reverse step: one element expanded over the
    batch (stride 0), so that a model may embed it once instead of per row (MLPDenoiser does)."""
    return torch.full((), t, dtype=torch.int64, device=device).expand(size)


def reverse_loop(model: Callable, x: torch.Tensor, table: StepTable, scorer: WindowScores, *,
                 noise: NoiseKey, start: int = 0, extra_args: Optional[Mapping] = None,
                 callback: Optional[Callable[[dict], None]] = None,
                 want_x0: bool = False) -> torch.Tensor:
    """Reverse steps ``start .. S-1`` of ``table`` from ``x`` (x_T, or step ``start``'s x_t): x_0.

    The noise of step i is Philox keyed by (``noise.seed``, its timestep, ``noise.offset`` + flat
    index), its seed and offset read from ``noise.counter`` inside a CUDA graph. ``scorer`` folds each step's
    x̂0 into its windows. ``extra_args`` go to every model call; ``callback({"i", "t", "x", "x0"})``
    runs after each step (x0 is None unless ``want_x0``). The model's output is cast to x's dtype.
    """
    size, device = x.shape[0], x.device
    extra_args = dict(extra_args or {})
    for i in range(start, len(table)):
        t = int(table.timesteps[i])
        out = model(x, shared_timestep(t, size, device), **extra_args)
        if out.shape != x.shape:
            raise RuntimeError(f"model returned shape {tuple(out.shape)} for x_t of shape "
                               f"{tuple(x.shape)}: it must predict a tensor shaped like x_t")
        result = scorer.fused_step(i, x, out.to(x.dtype), table.coef(i), step=t,
                                   return_x0=want_x0, **noise.fused_args())
        x, x0 = result if want_x0 else (result, None)
        if callback is not None:
            callback({"i": i, "t": t, "x": x, "x0": x0})
    return x
