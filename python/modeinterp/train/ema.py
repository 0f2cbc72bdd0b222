"""Exponential moving average of a model's weights: ``ema ← decay·ema + (1 − decay)·param`` after
every optimizer step, starting as a copy of the initial weights (no warm-up); buffers are copied."""

from __future__ import annotations

import copy

import torch

__all__ = ["EMA"]


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = float(decay)
        self.model = copy.deepcopy(model).requires_grad_(False).eval()

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        torch._foreach_lerp_(list(self.model.parameters()), list(model.parameters()),
                             1.0 - self.decay)
        for ema_buffer, buffer in zip(self.model.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)
