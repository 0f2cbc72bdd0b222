"""The cost of scoring per diffusers scheduler, CPU or CUDA: a run of STEPS scheduler steps over a
fixed batch and model output (the model is not part of it), the stock scheduler against
``modeinterp.diffusers.scored`` of it (the stock step + the compiled ``welford_update_``), and
the fused ScoredDDPM/DDIM schedulers against their stock classes, also on configs where they take
the stock step (learned variances, thresholding). Every step is scored (window =
all steps); the two columns of a row are timed in alternating rounds of the same run, each cell is
the median, per `step` call (Heun makes two calls per timestep).

    python benchmarks/scheduler_scoring.py [--shape 16,3,64,64] [--device cpu] [--rounds 7]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
import warnings

import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler,
                       DPMSolverSinglestepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, HeunDiscreteScheduler, LCMScheduler,
                       UniPCMultistepScheduler)

from modeinterp.diffusers import (ScoredDDIMScheduler, ScoredDDPMScheduler, StockStepWarning,
                                  scored)

STEPS = 20
GENERIC = [EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, HeunDiscreteScheduler,
           DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, UniPCMultistepScheduler,
           LCMScheduler, DDPMScheduler, DDIMScheduler]
FUSED = [(DDPMScheduler, ScoredDDPMScheduler), (DDIMScheduler, ScoredDDIMScheduler)]
# Configs the fused kernel cannot express: the scored class runs the stock step and folds its x̂0.
STOCK_PATH = [(DDPMScheduler, ScoredDDPMScheduler, dict(variance_type="learned_range")),
              (DDPMScheduler, ScoredDDPMScheduler, dict(thresholding=True)),
              (DDIMScheduler, ScoredDDIMScheduler, dict(thresholding=True))]


def _run(sched, x, out, device) -> float:
    """Seconds per step call of one run: set_timesteps, then every step on the same x and model
    output."""
    sched.set_timesteps(STEPS, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    takes = "generator" in inspect.signature(sched.step).parameters
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for t in sched.timesteps:
        sched.step(out, t, x, **({"generator": gen} if takes else {}))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / len(sched.timesteps)


def _pair(stock, other, x, out, device, rounds: int) -> tuple:
    times = {"stock": [], "other": []}
    for _ in range(rounds + 1):  # the first round warms up
        for name, sched in (("stock", stock), ("other", other)):
            times[name].append(_run(sched, x, out, device))
    return tuple(statistics.median(times[k][1:]) for k in ("stock", "other"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="16,3,64,64", help="batch shape (default 16,3,64,64)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--rounds", type=int, default=7, help="timed rounds per cell (default 7)")
    args = p.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    gen = torch.Generator(device=args.device).manual_seed(0)
    x = torch.randn(shape, generator=gen, device=args.device)
    out = torch.randn(shape, generator=gen, device=args.device)
    print(f"{STEPS} timesteps of a {'×'.join(map(str, shape))} batch on {args.device}, median "
          f"of {args.rounds} alternating rounds, ms per step call\n")
    print("| scheduler | stock step | scored | scored / stock |\n|---|---:|---:|---:|")
    rows = [(cls.__name__, cls(num_train_timesteps=1000)) for cls in GENERIC]
    for name, stock in rows:
        a, b = _pair(stock, scored(stock, window=STEPS), x, out, args.device, args.rounds)
        print(f"| {name} (`scored`) | {1e3 * a:.2f} | {1e3 * b:.2f} | "
              f"{b / a:.2f} |")
    for stock_cls, fused_cls in FUSED:
        stock = stock_cls(num_train_timesteps=1000)
        a, b = _pair(stock, fused_cls.from_config(stock.config, window=STEPS), x, out,
                     args.device, args.rounds)
        print(f"| {stock_cls.__name__} (`{fused_cls.__name__}`, fused) | {1e3 * a:.2f} |"
              f" {1e3 * b:.2f} | {b / a:.2f} |")
    learned_out = torch.cat([out, torch.tanh(out)], dim=1)  # the 2×C output of learned variances
    for stock_cls, scored_cls, config in STOCK_PATH:
        stock = stock_cls(num_train_timesteps=1000, **config)
        model_out = learned_out if "variance_type" in config else out
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StockStepWarning)
            a, b = _pair(stock, scored_cls.from_config(stock.config, window=STEPS), x, model_out,
                         args.device, args.rounds)
        option = ", ".join(f"{k}={v!r}" for k, v in config.items())
        print(f"| {stock_cls.__name__} {option} (`{scored_cls.__name__}`, stock step) "
              f"| {1e3 * a:.2f} | {1e3 * b:.2f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
