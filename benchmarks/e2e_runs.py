"""Whole DDPM sampling runs (model included) with the hallucination score, i.e. the variance of x̂0
over the last WINDOW reverse steps, computed the ways a user could compute it. Shared by
report.py --e2e (e2e_report.py times them) and test_e2e_runs.py.

- paper-style: an eager loop that copies every step's x̂0 to the host and takes np.var at the end
  (what the paper's code does: n·steps·dims floats on the host);
- eager PyTorch + Welford, and the same step function under torch.compile;
- diffusers' DDPMScheduler.step + eager Welford (needs diffusers);
- modeinterp.Sampler (eager loop, and on CUDA its captured CUDA graph), and the fused op in a
  bare loop without and with mean/m2 — that pair is what the scores cost.

Every variant is ``run(n, batch) -> (samples, scores)``. The eager ones draw torch.randn noise
(from ``generator`` when given, so that a test can give them identical noise); modeinterp draws
its Philox stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
import torch
from baselines import eager_randn_step, eager_step, welford_update

from modeinterp import Sampler, Schedule, StepTable, ops
from modeinterp.models import MLPDenoiser
from modeinterp.sampling import shared_timestep

WINDOW = 10
GRAPH, EAGER = "modeinterp (CUDA graph)", "modeinterp (eager loop)"
BARE, BARE_SCORED = "fused op, bare loop, no scores", f"fused op, bare loop, window={WINDOW}"
EAGER_WELFORD, COMPILED = "eager PyTorch + Welford", "torch.compile (eager + Welford)"
DIFFUSERS, PAPER = "diffusers DDPMScheduler + Welford", "paper-style (x̂0 to host, np.var)"
PURE_TORCH = (EAGER_WELFORD, COMPILED, DIFFUSERS)  # the pure-PyTorch loops that keep O(B) state
PAPER_SCHEDULE = (1000, 1e-3, 0.2)  # (T, beta_start, beta_end) of the 2-D experiments
IMAGE_SCHEDULE = (1000, 1e-4, 0.02)


@dataclass
class Workload:
    label: str
    model: torch.nn.Module
    schedule: tuple  # (T, beta_start, beta_end) of the linear schedule: diffusers is built from it
    table: StepTable
    shape: tuple  # of one sample
    device: torch.device


class Variant(NamedTuple):
    run: Callable
    full_warmup: bool  # specialised to the batch shape (compiled, captured): warm up at full batch


def toy_workload(device, steps: int, schedule=PAPER_SCHEDULE) -> Workload:
    """The 2-D grid's denoiser (the paper's MLP), randomly initialised: speed only. With the
    paper's schedule its samples overflow (x̂0 ≈ 1e23·(x − ε̂) early on, and a random ε̂ does not
    cancel x), which costs the same; IMAGE_SCHEDULE keeps them finite."""
    torch.manual_seed(0)
    model = MLPDenoiser(2).to(device).eval()
    return _workload("toy 2-D, paper MLP", model, schedule, steps, (2,), device)


def shapes_workload(device, steps: int) -> Workload:
    """The 64×64 Simple Shapes U-Net (preset shapes-64, grayscale), randomly initialised."""
    from modeinterp.models.unet import UNetDenoiser

    torch.manual_seed(0)
    model = UNetDenoiser.preset("shapes-64", channels=1).to(device).eval()
    return _workload("shapes 64×64, U-Net", model, IMAGE_SCHEDULE, steps, (1, 64, 64), device)


def _workload(label, model, schedule, steps, shape, device) -> Workload:
    table = Schedule.linear(*schedule).table(steps=steps)
    return Workload(label, model, schedule, table, shape, torch.device(device))


def variants(w: Workload, names=None, generator=None) -> dict:
    """name -> Variant, or the reason it cannot run here; modeinterp first (the reference)."""
    build = {
        GRAPH: lambda: (Variant(sampler_run(w, graph=True), True) if w.device.type == "cuda"
                        else "needs CUDA"),
        EAGER: lambda: Variant(sampler_run(w, graph=False), False),
        BARE: lambda: Variant(bare_fused_run(w, scores=False), False),
        BARE_SCORED: lambda: Variant(bare_fused_run(w, scores=True), False),
        EAGER_WELFORD: lambda: Variant(eager_welford_run(w, generator), False),
        COMPILED: lambda: Variant(compiled_welford_run(w), True),
        DIFFUSERS: lambda: diffusers_run(w, generator),
        PAPER: lambda: Variant(paper_style_run(w, generator), False),
    }
    return {name: make() for name, make in build.items() if names is None or name in names}


# ----------------------------------------------------------------------------- shared pieces
def _batches(n: int, batch: int) -> list:
    return [(b0, min(n, b0 + batch)) for b0 in range(0, n, batch)]


def _model_out(w: Workload, x, t: int):
    """The model called as modeinterp.Sampler calls it (t expanded: the MLP embeds it once)."""
    return w.model(x, shared_timestep(t, x.shape[0], x.device))


def _coefs(w: Workload) -> list:
    return [w.table.coef(i) for i in range(len(w.table))]


def _batched(run_batch) -> Callable:
    """run(n, batch) from run_batch(b0, b1) -> (samples, scores or None) of samples [b0, b1)."""
    def run(n, batch):
        with torch.inference_mode():
            parts = [run_batch(b0, b1) for b0, b1 in _batches(n, batch)]
        scores = None if parts[0][1] is None else torch.cat([p[1] for p in parts])
        return torch.cat([p[0] for p in parts]), scores
    return run


def _welford_loop(w: Workload, step, generator=None) -> Callable:
    """The eager reverse loop; ``step(i, t, x, out, acc)`` returns x_prev and, inside the window
    (acc = (mean, m2, x̂0 values already in them)), folds x̂0 into mean/m2."""
    start = len(w.table) - WINDOW

    def run_batch(b0, b1):
        x = torch.randn((b1 - b0, *w.shape), generator=generator, device=w.device)
        mean, m2 = torch.zeros_like(x), torch.zeros_like(x)
        for i, t in enumerate(w.table.timesteps.tolist()):
            x = step(i, t, x, _model_out(w, x, t), (mean, m2, i - start) if i >= start else None)
        return x, (m2 / WINDOW).flatten(1).mean(1)
    return _batched(run_batch)


# ----------------------------------------------------------------------------- the variants
def paper_style_run(w: Workload, generator=None) -> Callable:
    """Every x̂0 of every step and batch kept on the host, the window's variance at the end."""
    coefs = _coefs(w)

    def run(n, batch):
        samples, trajectories = [], []
        with torch.inference_mode():
            for b0, b1 in _batches(n, batch):
                x = torch.randn((b1 - b0, *w.shape), generator=generator, device=w.device)
                trajectory = []
                for i, t in enumerate(w.table.timesteps.tolist()):
                    x, x0 = eager_step(x, _model_out(w, x, t), coefs[i], generator)
                    trajectory.append(x0.cpu())
                samples.append(x)
                trajectories.append(trajectory)
        window = np.concatenate([np.stack([s.numpy() for s in traj[-WINDOW:]], axis=1)
                                 for traj in trajectories])
        scores = np.var(window, axis=1).reshape(n, -1).mean(1)
        return torch.cat(samples), torch.from_numpy(scores)
    return run


def eager_welford_run(w: Workload, generator=None) -> Callable:
    coefs = _coefs(w)

    def step(i, t, x, out, acc):
        if acc is None:
            return eager_step(x, out, coefs[i], generator)[0]
        return eager_randn_step(x, out, coefs[i], *acc, generator)
    return _welford_loop(w, step, generator)


def _x_prev(x, out, coef):
    return eager_step(x, out, coef)[0]


def compiled_welford_run(w: Workload) -> Callable:
    """The eager step under torch.compile. The model stays outside the graph: every variant runs
    the same eager denoiser (a compiled model speeds every loop alike, modeinterp.Sampler's too),
    so only the sampling loops are compared; on CPU the MLP's t-range check would also break the
    graph (measured on 2 cores: the model inside was no faster). dynamic=False: one graph per batch
    shape (warmed up at the full batch)."""
    plain = torch.compile(_x_prev, dynamic=False)
    scored = torch.compile(eager_randn_step, dynamic=False)
    # Coefficients and counts as tensors: a Python float would be a constant of the graph and
    # recompile it at every step.
    rows = torch.tensor(w.table.as_array()[:, :6], dtype=torch.float32, device=w.device)
    coefs = [(*row.unbind(), w.table.clip) for row in rows]
    counts = torch.arange(WINDOW, dtype=torch.float32, device=w.device).unbind()

    def step(i, t, x, out, acc):
        if acc is None:
            return plain(x, out, coefs[i])
        mean, m2, k = acc
        return scored(x, out, coefs[i], mean, m2, counts[k])
    return _welford_loop(w, step)


def diffusers_run(w: Workload, generator=None):
    """Variant, or why it cannot run: diffusers' DDPMScheduler with the table's betas (diffusers
    spaces them in float32, we in float64: x̂0 agrees to float32 rounding) and variance."""
    try:
        from diffusers import DDPMScheduler
    except ImportError:
        return "diffusers not installed"
    T, beta_start, beta_end = w.schedule
    sched = DDPMScheduler(num_train_timesteps=T, beta_schedule="linear", beta_start=beta_start,
                          beta_end=beta_end, clip_sample=False, variance_type="fixed_large")
    sched.set_timesteps(len(w.table))
    if not np.array_equal(sched.timesteps.numpy(), w.table.timesteps):
        return "diffusers' timesteps differ from the table's"

    def step(i, t, x, out, acc):
        result = sched.step(out, t, x, generator=generator)
        if acc is not None:
            welford_update(acc[0], acc[1], result.pred_original_sample, acc[2])
        return result.prev_sample
    return Variant(_welford_loop(w, step, generator), False)


def sampler_run(w: Workload, graph: bool) -> Callable:
    """modeinterp.Sampler with window=WINDOW, its loop captured as a CUDA graph or eager. A failed
    capture falls back to the eager loop with a warning (on stderr, next to the table)."""
    sampler = Sampler(w.model, w.table, window=WINDOW, graph=graph)

    def run(n, batch):
        result = sampler.sample(n, w.shape, batch_size=batch, device=w.device, progress=False)
        return result.samples, result.scores
    return run


def bare_fused_run(w: Workload, scores: bool) -> Callable:
    """ops.fused_step in the Sampler's loop without its bookkeeping: mean/m2 passed over the
    window (scores=True) or never (x_prev only, scores None)."""
    coefs, start = _coefs(w), len(w.table) - WINDOW

    def run_batch(b0, b1):
        offset = b0 * int(np.prod(w.shape))
        x = ops.philox_normal((b1 - b0, *w.shape), seed=0, step=w.table.num_train_timesteps,
                              offset=offset, device=w.device)
        mean, m2 = (torch.zeros_like(x), torch.zeros_like(x)) if scores else (None, None)
        for i, t in enumerate(w.table.timesteps.tolist()):
            acc = dict(mean=mean, m2=m2, count=i - start) if scores and i >= start else {}
            x = ops.fused_step(x, _model_out(w, x, t), coefs[i], seed=0, step=t, offset=offset,
                               **acc)
        return x, ops.trajectory_score(m2, WINDOW) if scores else None
    return _batched(run_batch)
