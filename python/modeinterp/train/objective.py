"""The DDPM objective for data of any (N, ...) shape: the timesteps a batch is drawn at and its
(x_t, target) pair."""
from __future__ import annotations

import torch

from ..schedules.step_table import PREDICTIONS
from ..validation import check_choice, check_int, check_real

__all__ = ["PREDICTIONS", "TimestepSampler", "diffusion_batch"]


def diffusion_batch(x0: torch.Tensor, eps: torch.Tensor, sqrt_ac: torch.Tensor,
                    sqrt_1m_ac: torch.Tensor, prediction: str):
    """``(x_t, target)`` for clean ``x0`` (B, d), noise ``eps`` and per-sample √ᾱ_t, √(1-ᾱ_t)
    of shape (B,)."""
    prediction = check_choice("prediction", prediction, PREDICTIONS)  # diffusers' names too
    a = sqrt_ac.reshape(-1, *([1] * (x0.dim() - 1)))
    s = sqrt_1m_ac.reshape(-1, *([1] * (x0.dim() - 1)))
    x_t = a * x0 + s * eps
    if prediction == "eps":
        target = eps
    elif prediction == "x0":
        target = x0
    else:  # v
        target = a * eps - s * x0
    return x_t, target


class TimestepSampler:
    """Draws training timesteps: uniform on {0, …, T-1} (the paper), or focused.

    Focused (``focus_below=F``, ``focus_prob=p``): each t comes from Uniform{0, …, F-1} with
    probability p and from Uniform{0, …, T-1} otherwise. This only reweights the loss over t (as
    importance-sampled timesteps in Improved DDPM or EDM's noise-level distribution): the
    minimiser at each t is unchanged, but more of the gradient steps go where the data is still
    visible. With the paper's β up to 0.2 over T = 1000, ᾱ_t < 2e-3 for t > 250, so three quarters
    of uniformly drawn timesteps only teach ε ≈ x_t; the sharpness of the modes (and so the number
    of samples left between them) is decided at small t.
    """

    def __init__(self, T: int, focus_below: int | None = None, focus_prob: float = 0.9):
        self.focus_prob = check_real("focus_prob", focus_prob, 0, 1)
        self.focus_below = None if focus_below is None else check_int(
            "focus_below", focus_below, 1, T, note="T; None for uniform t")
        self.T = int(T)

    def __call__(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        """(n,) int64 timesteps drawn from ``generator`` (same draws for the same state)."""
        t = torch.randint(0, self.T, (n,), generator=generator, device=device)
        if self.focus_below is None:
            return t
        low = torch.randint(0, self.focus_below, (n,), generator=generator, device=device)
        pick = torch.rand(n, generator=generator, device=device) < self.focus_prob
        return torch.where(pick, low, t)

    def config(self) -> dict:
        """The fields a checkpoint records (focus_prob only matters when focusing)."""
        return {"focus_below": self.focus_below,
                "focus_prob": self.focus_prob if self.focus_below is not None else None}
