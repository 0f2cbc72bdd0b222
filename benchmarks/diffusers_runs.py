"""The diffusers comparison, shared by test_bench_diffusers.py (CPU, pytest-benchmark) and
report.py (any device): a run of STEPS scheduler steps over a fixed batch and model output,
each variant timed as a whole run (the model is not part of it).

- scored: ScoredDDPMScheduler.step, one fused call a step (Philox noise, Welford every step);
- stock: diffusers' DDPMScheduler.step alone (no score);
- stock + eager Welford: the stock step plus the running-variance update a user would add.
"""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler

from modeinterp.diffusers import ScoredDDPMScheduler

STEPS = 10
SHAPES = {"16x3x64x64": (16, 3, 64, 64), "256x3x64x64": (256, 3, 64, 64)}


def make_runs(shape, device="cpu") -> dict:
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(shape, generator=gen, device=device)
    out = torch.randn(shape, generator=gen, device=device)
    stock = DDPMScheduler(num_train_timesteps=1000)
    scored = ScoredDDPMScheduler.from_config(stock.config, window=STEPS)
    for sched in (stock, scored):
        sched.set_timesteps(STEPS, device=device)

    def run_scored():
        scored.set_timesteps(STEPS, device=device)
        for t in scored.timesteps:
            scored.step(out, t, x)
        return scored.scores

    def run_stock():
        for t in stock.timesteps:
            stock.step(out, t, x, generator=gen)

    def run_stock_welford():
        mean, m2 = torch.zeros_like(x), torch.zeros_like(x)
        for n, t in enumerate(stock.timesteps, start=1):
            x0 = stock.step(out, t, x, generator=gen).pred_original_sample
            d = x0 - mean
            mean += d / n
            m2 += d * (x0 - mean)
        return (m2 / STEPS).flatten(1).mean(1)

    return {"scored (modeinterp)": run_scored, "stock diffusers step": run_stock,
            "stock step + eager Welford": run_stock_welford}
