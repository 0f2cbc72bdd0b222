"""Beta schedules and per-step coefficient tables (float64, numpy only).

``Schedule`` holds a training beta schedule β_0..β_{T−1} and its ᾱ_t = ∏_{s≤t}(1 − β_s);
``Schedule.table(...)`` turns it into a :class:`StepTable` of per-step :class:`StepCoef` for the
fused reverse step (DDPM or DDIM, eps / x0 / v prediction, optional respacing and clipping).
The maths is docs/design.md ("Per-step coefficients"); the constructors follow diffusers' DDPMScheduler
``beta_schedule`` names and the official DDPM / improved-diffusion code.

Allowed betas: every β in (0, 1), except that the *last* one may be exactly 1 (the "jsd"
schedule ends with β_{T−1} = 1, so ᾱ_{T−1} = 0: x_T is pure noise).  β = 1 anywhere else would
make ᾱ = 0 for two or more timesteps and β' = 1 − ᾱ_t/ᾱ_prev = 0/0 between them, so it is
rejected.  A step whose t has ᾱ_t = 0 cannot use eps prediction (x̂0 = (x − √(1−ᾱ)ε)/√ᾱ is
infinite); ``table()`` raises ValueError for it, while v and x0 prediction, or a respaced table
that does not keep t = T−1, work.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..validation import (check_choice, check_fraction, check_int, check_real, check_type,
                          check_vector)
from .step_table import StepCoef, StepTable, build_table, respace_timesteps

__all__ = ["Schedule", "StepTable", "StepCoef", "respace_timesteps", "SCHEDULE_NAMES"]

# name accepted by Schedule.named -> (classmethod name, fixed keyword arguments)
_NAMED = {
    "linear": ("linear", {}),
    "quad": ("quad", {}),
    "scaled_linear": ("scaled_linear", {}),
    "cosine": ("cosine", {}),
    "squaredcos_cap_v2": ("cosine", {}),
    "warmup": ("warmup", {}),
    "warmup10": ("warmup", {"warmup_frac": 0.1}),
    "warmup50": ("warmup", {"warmup_frac": 0.5}),
    "const": ("const", {}),
    "jsd": ("jsd", {}),
}
SCHEDULE_NAMES = tuple(_NAMED)


def _beta_ends(beta_start, beta_end) -> tuple:
    return check_fraction("beta_start", beta_start), check_fraction("beta_end", beta_end)


class Schedule:
    """A training beta schedule (float64).

    Parameters
    ----------
    betas : 1-D array-like of real numbers (numpy array, list, torch tensor, …), length T ≥ 1,
        every value in (0, 1) except the last, which may also be 1 (see module docstring).
    name : optional label used in error messages and repr.
    """

    def __init__(self, betas, *, name: Optional[str] = None):
        arr = check_vector("betas", betas)  # always a private copy
        if arr.size == 0:
            raise ValueError("betas must not be empty")
        if np.any(arr <= 0.0) or np.any(arr > 1.0):
            raise ValueError(f"betas must be in (0, 1]; got min {arr.min()!r}, max {arr.max()!r}")
        if np.any(arr[:-1] == 1.0):
            i = int(np.argmax(arr[:-1] == 1.0))
            raise ValueError(f"betas may equal 1 only at the last timestep; betas[{i}] == 1")
        alphas = 1.0 - arr
        if np.any(alphas == 1.0):
            i = int(np.argmax(alphas == 1.0))
            raise ValueError(f"betas[{i}] = {arr[i]!r} is too small: 1 - beta rounds to 1 in "
                             "float64")
        self.name = None if name is None else check_type("name", name, str, "a str or None")
        self.betas = arr
        self.alphas = alphas
        self.alphas_cumprod = np.cumprod(alphas)
        for a in (self.betas, self.alphas, self.alphas_cumprod):
            a.setflags(write=False)

    @property
    def T(self) -> int:
        """Number of training timesteps."""
        return int(self.betas.shape[0])

    def __len__(self) -> int:
        return self.T

    def __repr__(self) -> str:
        label = self.name or "Schedule"
        return (f"<{label}: T={self.T}, beta[0]={self.betas[0]:.6g}, "
                f"beta[-1]={self.betas[-1]:.6g}, alphas_cumprod[-1]={self.alphas_cumprod[-1]:.6g}>")

    # ------------------------------------------------------------------ beta schedules
    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "Schedule":
        """linspace(beta_start, beta_end, T) — DDPM / diffusers "linear" (not rescaled with T,
        unlike improved-diffusion's "linear", which multiplies both ends by 1000/T)."""
        T = check_int("T", T, 1)
        beta_start, beta_end = _beta_ends(beta_start, beta_end)
        return cls(np.linspace(beta_start, beta_end, T, dtype=np.float64),
                   name=f"linear(T={T}, beta_start={beta_start!r}, beta_end={beta_end!r})")

    @classmethod
    def quad(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "Schedule":
        """linspace(√beta_start, √beta_end, T)² — the DDPM repo's "quad"."""
        T = check_int("T", T, 1)
        beta_start, beta_end = _beta_ends(beta_start, beta_end)
        betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=np.float64) ** 2
        return cls(betas, name=f"quad(T={T}, beta_start={beta_start!r}, beta_end={beta_end!r})")

    @classmethod
    def scaled_linear(cls, T: int = 1000, beta_start: float = 0.00085,
                      beta_end: float = 0.012) -> "Schedule":
        """diffusers' "scaled_linear" (Stable Diffusion): the same formula as :meth:`quad`."""
        T = check_int("T", T, 1)
        beta_start, beta_end = _beta_ends(beta_start, beta_end)
        betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=np.float64) ** 2
        return cls(betas, name=f"scaled_linear(T={T}, beta_start={beta_start!r}, "
                               f"beta_end={beta_end!r})")

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> "Schedule":
        """Nichol & Dhariwal's cosine schedule (diffusers "squaredcos_cap_v2"):
        ᾱ(τ) = cos²((τ + s)/(1 + s)·π/2), β_i = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), max_beta)."""
        T = check_int("T", T, 1)
        s = check_real("s", s, lo=0.0)
        max_beta = check_fraction("max_beta", max_beta)

        def alpha_bar(tau: float) -> float:
            return math.cos((tau + s) / (1.0 + s) * math.pi / 2) ** 2

        betas = [min(1.0 - alpha_bar((i + 1) / T) / alpha_bar(i / T), max_beta) for i in range(T)]
        return cls(np.array(betas, dtype=np.float64),
                   name=f"cosine(T={T}, s={s!r}, max_beta={max_beta!r})")

    @classmethod
    def warmup(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
               warmup_frac: float = 0.1) -> "Schedule":
        """The DDPM repo's warmup schedule (warmup10 / warmup50): beta_end everywhere except the
        first int(T·warmup_frac) steps, which are linspace(beta_start, beta_end, that many)."""
        T = check_int("T", T, 1)
        beta_start, beta_end = _beta_ends(beta_start, beta_end)
        warmup_frac = check_fraction("warmup_frac", warmup_frac)
        betas = np.full(T, beta_end, dtype=np.float64)
        n = int(T * warmup_frac)
        betas[:n] = np.linspace(beta_start, beta_end, n, dtype=np.float64)
        return cls(betas, name=f"warmup(T={T}, beta_start={beta_start!r}, beta_end={beta_end!r}, "
                               f"warmup_frac={warmup_frac!r})")

    @classmethod
    def const(cls, T: int = 1000, beta: float = 0.02) -> "Schedule":
        """Constant beta (the DDPM repo's "const", which uses beta_end)."""
        T = check_int("T", T, 1)
        beta = check_fraction("beta", beta)
        if beta == 1.0 and T > 1:
            raise ValueError("beta must be < 1 when T > 1 (beta = 1 only at the last timestep)")
        return cls(np.full(T, beta, dtype=np.float64), name=f"const(T={T}, beta={beta!r})")

    @classmethod
    def jsd(cls, T: int = 1000) -> "Schedule":
        """1/T, 1/(T−1), …, 1 — Sohl-Dickstein et al. (the DDPM repo's "jsd").  The last beta is
        1, so ᾱ_{T−1} = 0: eps prediction cannot be used at t = T−1 (see the module docstring)."""
        T = check_int("T", T, 1)
        return cls(1.0 / np.linspace(T, 1, T, dtype=np.float64), name=f"jsd(T={T})")

    @classmethod
    def named(cls, name: str, T: int = 1000, **kwargs) -> "Schedule":
        """Build a schedule by name: one of SCHEDULE_NAMES (diffusers and DDPM-repo spellings)."""
        method, fixed = _NAMED[check_choice("name", name, SCHEDULE_NAMES)]
        return getattr(cls, method)(T, **fixed, **kwargs)

    # ------------------------------------------------------------------ coefficient tables
    def table(self, method: str = "ddpm", prediction: str = "eps",
              variance: str = "fixed-large", eta: float = 0.0, steps: Optional[int] = None,
              clip: Optional[float] = None, use_clipped_model_output: bool = False,
              spacing: str = "leading") -> StepTable:
        """Per-step coefficients for the fused reverse step.

        method:     "ddpm" | "ddim".
        prediction: "eps" | "x0" | "v" (diffusers' "epsilon", "sample", "v_prediction" accepted).
        variance:   "fixed-large" (σ² = β') | "fixed-small" (σ² = β'(1−ᾱ_prev)/(1−ᾱ_t));
                    DDPM only (validated, then ignored by DDIM).
        eta:        DDIM's η ≥ 0 (σ = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√β'); must be 0 for DDPM.
        steps:      None = T, else 1..T reverse steps, timesteps chosen by ``spacing``
                    ("leading" | "trailing" | "linspace", diffusers' conventions).
        clip:       None or 0 = no clamping of x̂0, else clamp x̂0 to [−clip, clip].
        use_clipped_model_output: DDIM only — ε̂ derived from the clipped x̂0 (as diffusers'
                    flag, and as guided-diffusion's DDIM always does); a no-op for DDPM, whose
                    posterior mean always uses the clipped x̂0.
        Every bad value raises ValueError / TypeError naming the argument.
        """
        return build_table(self.alphas_cumprod, method=method, prediction=prediction,
                           variance=variance, eta=eta, steps=steps, clip=clip,
                           use_clipped_model_output=use_clipped_model_output, spacing=spacing,
                           schedule_name=self.name or "Schedule")
