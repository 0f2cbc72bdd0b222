"""The fused step's coefficients for one step of diffusers' DDPMScheduler / DDIMScheduler, computed
with the stock step's own float32 tensor arithmetic, in the stock step's order.

Why not the float64 tables of :mod:`modeinterp.schedules`: the stock step rounds its scalars in
float32 (β' = 1 − ᾱ_t/ᾱ_prev loses ~1e-3 of its value to cancellation between neighbouring
timesteps), and a drop-in must give the stock numbers, not more exact ones. Over a 1000-step DDPM
loop the float64 coefficients drifted ~1e-3 (sum of |x|) from stock on a Xeon, more on other
CPUs. Scalars the stock step computes here are taken as it computes them (+, −, ×, ÷, √ are
correctly rounded on every CPU path; ``_get_variance``'s log/exp are the stock method's own call);
only the x̂0 coefficients of an ε- or x0-prediction are combined in float64 (the kernel multiplies
where stock divides), which leaves a few float32 roundings per element per step.

Each function returns a :class:`StepCoef`, or a string saying why this step must take the stock
step instead (what the kernel's x̂0 = a·x + b·out cannot express).
"""

from __future__ import annotations

import math
from typing import Union

import torch

from ..schedules.step_table import StepCoef

FUSED_DDPM_VARIANCES = ("fixed_small", "fixed_small_log", "fixed_large")
PREDICTIONS = ("epsilon", "sample", "v_prediction")


def _x0_coefs(prediction: str, sq_t: torch.Tensor, sq_1m: torch.Tensor) -> tuple:
    """(a, b) of x̂0 = a·x + b·out: stock's (x − √(1−ᾱ)·out)/√ᾱ, out, √ᾱ·x − √(1−ᾱ)·out."""
    if prediction == "epsilon":
        return 1.0 / float(sq_t), -float(sq_1m) / float(sq_t)
    if prediction == "sample":
        return 0.0, 1.0
    return float(sq_t), -float(sq_1m)


def _clip(config) -> float:
    return float(config.clip_sample_range) if config.clip_sample else 0.0


def _stock_only(sched, alpha_t: torch.Tensor) -> Union[str, None]:
    """Why no step of this scheduler (at this ᾱ_t) can be fused, or None."""
    config = sched.config
    if config.thresholding:
        return "thresholding=True (a per-sample quantile)"
    if config.prediction_type not in PREDICTIONS:
        return f"prediction_type={config.prediction_type!r}"
    if config.prediction_type == "epsilon" and float(alpha_t) == 0.0:
        return "ᾱ_t = 0 under ε-prediction (zero terminal SNR: x̂0 is ±inf there)"
    return None


def _finite(coef: StepCoef) -> Union[StepCoef, str]:
    if all(math.isfinite(v) for v in coef):
        return coef
    return "coefficients not finite (ᾱ_t = ᾱ_prev = 0 or ᾱ_t = 1)"


def ddpm_coef(sched, t: int) -> Union[StepCoef, str]:
    """DDPMScheduler.step at timestep ``t`` as fused-step coefficients (noise iff t > 0)."""
    config = sched.config
    if config.variance_type not in FUSED_DDPM_VARIANCES:
        return f"variance_type={config.variance_type!r}"
    prev_t = sched.previous_timestep(t)
    alpha_t = sched.alphas_cumprod[t]
    alpha_prev = sched.alphas_cumprod[prev_t] if prev_t >= 0 else sched.one
    why = _stock_only(sched, alpha_t)
    if why:
        return why
    beta_t, beta_prev = 1 - alpha_t, 1 - alpha_prev
    current_alpha = alpha_t / alpha_prev
    current_beta = 1 - current_alpha
    a, b = _x0_coefs(config.prediction_type, alpha_t ** 0.5, beta_t ** 0.5)
    c0 = (alpha_prev ** 0.5 * current_beta) / beta_t
    c1 = current_alpha ** 0.5 * beta_prev / beta_t
    sigma = 0.0
    if t > 0:
        variance = sched._get_variance(t)
        sigma = variance if config.variance_type == "fixed_small_log" else variance ** 0.5
    return _finite(StepCoef(a, b, float(c0), float(c1), 0.0, float(sigma), _clip(config)))


def ddim_coef(sched, t: int, eta: float, use_clipped_model_output: bool
              ) -> Union[StepCoef, str]:
    """DDIMScheduler.step at timestep ``t`` as fused-step coefficients.

    Stock: x_prev = √ᾱ_prev·x̂0 + k·ε̂ + σz with σ = η·√var, k = √(1 − ᾱ_prev − σ²) and ε̂ the
    model's ε, √ᾱ·out + √(1−ᾱ)·x (v), (x − √ᾱ·out)/√(1−ᾱ) (x0, from the unclipped output), or
    (x − √ᾱ·x̂0)/√(1−ᾱ) from the clipped x̂0 (``use_clipped_model_output``)."""
    config = sched.config
    prev_t = t - config.num_train_timesteps // sched.num_inference_steps
    alpha_t = sched.alphas_cumprod[t]
    alpha_prev = sched.alphas_cumprod[prev_t] if prev_t >= 0 else sched.final_alpha_cumprod
    why = _stock_only(sched, alpha_t)
    if why:
        return why
    beta_t = 1 - alpha_t
    sq_t, sq_1m = alpha_t ** 0.5, beta_t ** 0.5
    std = eta * sched._get_variance(t, prev_t) ** 0.5
    k = float((1 - alpha_prev - std ** 2) ** 0.5)
    c0, sq_t_f, sq_1m_f = float(alpha_prev ** 0.5), float(sq_t), float(sq_1m)
    if use_clipped_model_output:
        c0, c1, c2 = c0 - k * sq_t_f / sq_1m_f, k / sq_1m_f, 0.0
    elif config.prediction_type == "epsilon":
        c1, c2 = 0.0, k
    elif config.prediction_type == "v_prediction":
        c1, c2 = k * sq_1m_f, k * sq_t_f
    else:  # sample
        c1, c2 = k / sq_1m_f, -k * sq_t_f / sq_1m_f
    a, b = _x0_coefs(config.prediction_type, sq_t, sq_1m)
    sigma = float(std) if eta > 0 else 0.0
    return _finite(StepCoef(a, b, c0, c1, c2, sigma, _clip(config)))
