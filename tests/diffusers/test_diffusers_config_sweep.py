"""Every config the stock DDPMScheduler / DDIMScheduler accept, through the scored class and the
stock class side by side: schedules of 1, 5, 100 and 1000 timesteps, trained betas of several
lengths, every variance type, thresholding, clipping, prediction types and spacings. Both run a
full seeded loop from the same x_T with generators of the same seed; every step is compared
(NaN exactly where stock is NaN) and the final sample within diffusers' own full-loop tolerances
(sum of |x| 1e-2, mean 1e-3). Steps the fused kernel cannot express take the stock step: there
the outputs are bit-identical, and ``step_paths`` says which path each step took."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402

from modeinterp.diffusers import (  # noqa: E402
    ScoredDDIMScheduler, ScoredDDPMScheduler, StockStepWarning)

LEARNED = ("learned", "learned_range")


def model(sample, t, learned: bool):
    """diffusers' test model (the sample scaled by t / (t + 1)), plus the predicted variance
    channels in [-1, 1] when the variance is learned."""
    out = sample * t / (t + 1)
    return torch.cat([out, torch.tanh(sample)], dim=1) if learned else out


def _same(got, ref, exact: bool, operands, what: str):
    """NaN exactly where stock is NaN, elsewhere within float32 rounding of the step's operands
    (bit-identical where ours is the stock step). x̂0 = a·x + b·out rounds at the scale of its
    operands, ~1/√ᾱ_t times the sample's near t = T with ε-prediction (``operands`` bounds them)."""
    assert torch.equal(torch.isnan(got), torch.isnan(ref)), f"{what}: NaN where stock is not"
    if exact:
        torch.testing.assert_close(got, ref, rtol=0, atol=0, equal_nan=True,
                                   msg=lambda m: f"{what}: {m}")
        return
    both = torch.isfinite(ref) & torch.isfinite(got)
    assert torch.equal(got[~both], ref[~both]), f"{what}: ±inf where stock is not"
    err = (got - ref).abs()[both].double()
    allowed = (1e-6 * operands.expand_as(got)[both] + 1e-5 * (1 + ref.abs()[both])).double()
    assert (err <= allowed).all(), f"{what}: off by {float(err.max()):.3g}"


def lockstep(stock, scored, steps, seed, step_kwargs, learned=False):
    """Every step of a seeded stock loop also run by ours from the same input, with a generator
    of the same seed (so the same noise): the outputs compared step by step."""
    for s in (stock, scored):
        s.set_timesteps(steps)
    assert torch.equal(stock.timesteps, scored.timesteps)
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(seed + 1))
    g_ref, g_got = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    for t in stock.timesteps:
        fused_before = scored.step_paths["fused"]
        out = model(x, t, learned)
        ref = stock.step(out, t, x, generator=g_ref, **step_kwargs)
        got = scored.step(out, t, x, generator=g_got, **step_kwargs)
        exact = scored.step_paths["fused"] == fused_before
        root = float(stock.alphas_cumprod[int(t)]) ** 0.5
        operands = (x.abs() + out[:, :3].abs()) / max(root, 1e-6)
        for name in ("pred_original_sample", "prev_sample"):
            _same(getattr(got, name), getattr(ref, name), exact, operands, f"t={int(t)} {name}")
        x = ref.prev_sample


def full_loops(stock, scored, steps, seed, step_kwargs, learned=False):
    """The final samples of both full loops, each on its own trajectory, from one x_T."""
    finals = []
    for sched in (stock, scored):
        sched.set_timesteps(steps)
        x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(seed + 1))
        gen = torch.Generator().manual_seed(seed)
        for t in sched.timesteps:
            x = sched.step(model(x, t, learned), t, x, generator=gen, **step_kwargs).prev_sample
        finals.append(x)
    return finals


def _within_full_loop_tolerance(ref, got):
    """diffusers' full-loop tolerances (sum of |x| 1e-2, mean 1e-3) where stock is finite."""
    assert torch.equal(torch.isnan(got), torch.isnan(ref))
    if torch.isfinite(ref).all():
        assert abs(got.abs().sum().item() - ref.abs().sum().item()) < 1e-2
        assert abs(got.abs().mean().item() - ref.abs().mean().item()) < 1e-3


def _configs(kind: str) -> list:
    """(config, inference steps, step kwargs): each T × prediction × (DDPM) variance type or
    (DDIM) η, with clipping, thresholding, spacing and (DDIM) the clipped-output and
    alpha-to-one options cycled through, so every value of each meets every T."""
    out = []
    variants = (["fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", *LEARNED]
                if kind == "ddpm" else [0.0, 0.5, 1.0])
    grid = itertools.product([1, 5, 100, 1000], ["epsilon", "sample", "v_prediction"], variants)
    for n, (T, prediction, variant) in enumerate(grid):
        config = dict(num_train_timesteps=T, prediction_type=prediction,
                      clip_sample=n % 3 != 0, clip_sample_range=(1.0, 2.0)[n % 2],
                      thresholding=n % 4 == 1,
                      timestep_spacing=("leading", "trailing", "linspace")[n % 3])
        steps = T if T <= 100 or n % 2 else 50
        if kind == "ddpm":
            config["variance_type"] = variant
            kwargs = {}
        else:
            config["set_alpha_to_one"] = n % 5 != 2
            kwargs = dict(eta=variant, use_clipped_model_output=n % 3 == 2)
        out.append((config, steps, kwargs))
    return out


def _id(case) -> str:
    config, steps, kwargs = case
    return "-".join(f"{v}" for v in [*config.values(), steps, *kwargs.values()])


def _stock_reasons(kind, config) -> set:
    reasons = set()
    if config["thresholding"]:
        reasons.add("thresholding")
    if kind == "ddpm" and config["variance_type"] not in ("fixed_small", "fixed_small_log",
                                                          "fixed_large"):
        reasons.add("variance_type")
    return reasons


def _cases() -> list:
    """Every (kind, config case); the 1000-timestep loops (most of the time) are marked slow."""
    return [pytest.param(k, c, id=f"{k}-{_id(c)}",
                         marks=[pytest.mark.slow] if c[0]["num_train_timesteps"] == 1000 else [])
            for k in ("ddpm", "ddim") for c in _configs(k)]


@pytest.mark.parametrize("kind,case", _cases())
def test_each_config_runs_as_stock_step_by_step_and_over_the_full_loop(kind, case, test_seed):
    config, steps, kwargs = case
    stock_cls, scored_cls = ((DDPMScheduler, ScoredDDPMScheduler) if kind == "ddpm"
                             else (DDIMScheduler, ScoredDDIMScheduler))
    stock = stock_cls(**config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = scored_cls(**config)  # window=10: longer than the runs of T = 1 and 5
        learned = config.get("variance_type") in LEARNED
        lockstep(stock, scored, steps, test_seed, kwargs, learned)
        _within_full_loop_tolerance(*full_loops(stock, scored, steps, test_seed, kwargs, learned))
    assert scored.scores.shape == (2,)
    expected = _stock_reasons(kind, config)
    paths = dict(scored.step_paths)
    assert sum(paths.values()) == len(stock.timesteps)
    if expected:  # every step the stock step, for one of the expected reasons
        (path,) = paths
        assert path.startswith("stock: ") and any(r in path for r in expected), path
    else:  # fused, but for coefficients stock computes as not finite (ᾱ_t = 1 with β = 0)
        assert all(p == "fused" or "not finite" in p for p in paths), paths
    notes = [w for w in caught if issubclass(w.category, StockStepWarning)]
    assert len(notes) == len({p for p in paths if p != "fused"})  # each reason said once
    if steps < 10:
        assert any(f"longer than the {steps} steps" in str(w.message) for w in caught)


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
@pytest.mark.parametrize("length,T", [(1, 1), (2, 2), (7, 7), (7, 5), (40, 40)])
def test_trained_betas_of_any_length_run_as_stock(kind, length, T, test_seed):
    betas = np.linspace(0.05, 0.4, length).tolist()
    stock_cls, scored_cls = ((DDPMScheduler, ScoredDDPMScheduler) if kind == "ddpm"
                             else (DDIMScheduler, ScoredDDIMScheduler))
    stock = stock_cls(num_train_timesteps=T, trained_betas=betas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # window=10 longer than the run
        scored = scored_cls(num_train_timesteps=T, trained_betas=betas)
        lockstep(stock, scored, T, test_seed, {})
        _within_full_loop_tolerance(*full_loops(stock, scored, T, test_seed, {}))
    assert dict(scored.step_paths) == {"fused": T}


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_trained_betas_shorter_than_the_schedule_fail_where_stock_fails(kind):
    """``trained_betas=[0.1, 0.3]`` with T = 1000: both build and set timesteps; the first step
    at t = 500 indexes past ᾱ in both, with the same error."""
    stock_cls, scored_cls = ((DDPMScheduler, ScoredDDPMScheduler) if kind == "ddpm"
                             else (DDIMScheduler, ScoredDDIMScheduler))
    errors = []
    for cls in (stock_cls, scored_cls):
        sched = cls(trained_betas=[0.1, 0.3])
        sched.set_timesteps(2)
        x = torch.randn(2, 3)
        with pytest.raises(IndexError) as err:
            sched.step(x, sched.timesteps[0], x)
        errors.append(str(err.value))
    assert errors[0] == errors[1]


def test_a_window_longer_than_the_run_warns_once_and_scores_every_step(test_seed):
    with pytest.warns(UserWarning, match="longer than the 1 steps") as caught:
        sched = ScoredDDPMScheduler(num_train_timesteps=1)
        sched.set_timesteps(1)
        x = torch.randn(2, 3, generator=torch.Generator().manual_seed(test_seed))
        sched.step(x, 0, x)
    assert sum("longer than" in str(w.message) for w in caught) == 1  # init and set_timesteps: once
    assert sched.step_range == (0, 1) and torch.equal(sched.scores, torch.zeros(2))
