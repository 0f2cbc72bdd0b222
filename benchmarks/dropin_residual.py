"""How far the scored DDPM/DDIM schedulers are from diffusers' stock ones, per step and over full
loops, on this CPU path (set ``ATEN_CPU_CAPABILITY`` / ``MODEINTERP_CPU_NOISE`` to pick another).

Per step: every step of a float64 run of the stock scheduler (its ᾱ in float64: the exact
answer) is also run in float32 by the stock scheduler and by ours, from the float64 trajectory's
sample rounded to float32, with the same noise; the table gives the largest |float32 − float64|
of x_prev over the batch, median and worst over the steps. Full loop: each float32 scheduler on
its own trajectory from one x_T with generators of one seed, |Δ sum |x|| and max |Δx| between
ours and stock at the end (diffusers' own full-loop tolerance is 1e-2 on the sum). The model is
diffusers' scheduler-test model, x·t/(t + 1).

    python benchmarks/dropin_residual.py [--seeds 5] [--shape 4,3,8,8]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import warnings

import torch
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.schedulers import scheduling_ddpm

from modeinterp._extension import load
from modeinterp.diffusers import ScoredDDIMScheduler, ScoredDDPMScheduler

CASES = [  # (name, stock class, scored class, config, inference steps, step kwargs)
    ("DDPM 1000, ε, fixed_small", DDPMScheduler, ScoredDDPMScheduler, {}, 1000, {}),
    ("DDPM 1000, v, fixed_large", DDPMScheduler, ScoredDDPMScheduler,
     dict(prediction_type="v_prediction", variance_type="fixed_large"), 1000, {}),
    ("DDPM 250, x0, no clip", DDPMScheduler, ScoredDDPMScheduler,
     dict(prediction_type="sample", clip_sample=False), 250, {}),
    ("DDIM 50, ε, η = 0", DDIMScheduler, ScoredDDIMScheduler, {}, 50, {}),
    ("DDIM 50, ε, η = 1", DDIMScheduler, ScoredDDIMScheduler, {}, 50, dict(eta=1.0)),
    ("DDIM 100, v, η = 0.5, trailing", DDIMScheduler, ScoredDDIMScheduler,
     dict(prediction_type="v_prediction", timestep_spacing="trailing"), 100, dict(eta=0.5)),
]


def model(x, t):
    return x * t / (t + 1)


def _float64(stock):
    twin = copy.deepcopy(stock)
    twin.alphas_cumprod = stock.alphas_cumprod.double()
    twin.one = torch.tensor(1.0, dtype=torch.float64)
    if hasattr(stock, "final_alpha_cumprod"):
        twin.final_alpha_cumprod = torch.as_tensor(stock.final_alpha_cumprod, dtype=torch.float64)
    return twin


def per_step(case, shape, seed) -> tuple:
    """(stock errors, ours errors, |ours − stock|) per step: max over the batch of x_prev."""
    _, stock_cls, scored_cls, config, steps, kwargs = case
    stock_randn = scheduling_ddpm.randn_tensor
    stock = stock_cls(**config)
    scored, exact = scored_cls(**config, window=1), _float64(stock)
    for s in (stock, scored, exact):
        s.set_timesteps(steps)
    gen = torch.Generator().manual_seed(seed)
    x64 = torch.randn(shape, generator=gen, dtype=torch.float64)
    errs = ([], [], [])
    for t in stock.timesteps:
        z = torch.randn(shape, generator=gen)
        x = x64.float()
        if isinstance(stock, DDPMScheduler):  # stock DDPM draws its own noise: hand it z
            scheduling_ddpm.randn_tensor = lambda *a, dtype=None, z=z, **k: z.to(dtype)
            ref = stock.step(model(x, t), t, x)
            got = scored.step(model(x, t), t, x, variance_noise=z if int(t) > 0 else None)
            truth = exact.step(model(x64, t), t, x64)
        else:
            ref = stock.step(model(x, t), t, x, variance_noise=z, **kwargs)
            got = scored.step(model(x, t), t, x, variance_noise=z, **kwargs)
            truth = exact.step(model(x64, t), t, x64, variance_noise=z.double(), **kwargs)
        t64 = truth.prev_sample
        errs[0].append(float((ref.prev_sample.double() - t64).abs().max()))
        errs[1].append(float((got.prev_sample.double() - t64).abs().max()))
        errs[2].append(float((got.prev_sample - ref.prev_sample).abs().max()))
        x64 = t64
    scheduling_ddpm.randn_tensor = stock_randn
    return errs


def full_loop(case, shape, seed) -> tuple:
    _, stock_cls, scored_cls, config, steps, kwargs = case
    finals = []
    for cls in (stock_cls, scored_cls):
        sched = cls(**config)
        sched.set_timesteps(steps)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 1000))
        gen = torch.Generator().manual_seed(seed)
        for t in sched.timesteps:
            x = sched.step(model(x, t), t, x, generator=gen, **kwargs).prev_sample
        finals.append(x)
    ref, got = finals
    return abs(got.abs().sum().item() - ref.abs().sum().item()), float((got - ref).abs().max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5, help="seeds per case (default 5)")
    p.add_argument("--shape", default="4,3,8,8", help="batch shape (default 4,3,8,8)")
    args = p.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    load()
    print(f"CPU path: torch {torch.backends.cpu.get_cpu_capability()}, modeinterp noise "
          f"{torch.ops.modeinterp.cpu_noise_path()}; batch {args.shape}; {args.seeds} seeds\n")
    print("| run | stock f32 vs f64, per step (median / max) | ours f32 vs f64 (median / max) "
          "| ours vs stock per step (max) | full loop: Δ sum\\|x\\| (max over seeds) "
          "| full loop: max \\|Δx\\| |")
    print("|---|---:|---:|---:|---:|---:|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in CASES:
            stock_e, ours_e, diff_e, sums, maxes = [], [], [], [], []
            for seed in range(args.seeds):
                a, b, c = per_step(case, shape, seed)
                stock_e += a
                ours_e += b
                diff_e += c
                s, m = full_loop(case, shape, seed)
                sums.append(s)
                maxes.append(m)
            print(f"| {case[0]} | {statistics.median(stock_e):.1e} / {max(stock_e):.1e} "
                  f"| {statistics.median(ours_e):.1e} / {max(ours_e):.1e} | {max(diff_e):.1e} "
                  f"| {max(sums):.1e} | {max(maxes):.1e} |")


if __name__ == "__main__":
    main()
