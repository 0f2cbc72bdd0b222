"""The scored DDPM/DDIM schedulers as drop-ins, tested the way diffusers tests its schedulers:
full loops against the stock scheduler within diffusers' own full-loop tolerances (result sum
1e-2, mean 1e-3), steps at timesteps the run did not plan, zero terminal SNR and ᾱ → 0 with
ε-prediction, one inference step, windows that do not fit the run."""

from __future__ import annotations

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402

from modeinterp.diffusers import (  # noqa: E402
    ScoredDDIMScheduler, ScoredDDPMScheduler, StockStepWarning)

PAIRS = {"ddpm": (DDPMScheduler, ScoredDDPMScheduler), "ddim": (DDIMScheduler, ScoredDDIMScheduler)}


def dummy_model(sample, t):
    """diffusers' scheduler tests' model: the sample scaled by t / (t + 1)."""
    return sample * t / (t + 1)


def dummy_sample_deter():
    b, c, h, w = 4, 3, 8, 8
    n = b * c * h * w
    return (torch.arange(n).flip(-1).reshape(c, h, w, b).permute(3, 0, 1, 2) / n).float()


def _loop(sched, steps, model=dummy_model, seed=0, **step_kwargs):
    if steps is not None:
        sched.set_timesteps(steps)
    x, gen = dummy_sample_deter(), torch.manual_seed(seed)
    for t in sched.timesteps:
        x = sched.step(model(x, t), t, x, generator=gen, **step_kwargs).prev_sample
    return x


FULL_LOOPS = [
    ("ddpm", dict(), None, {}),                                      # all 1000 steps, with noise
    ("ddpm", dict(prediction_type="v_prediction"), None, {}),
    ("ddpm", dict(variance_type="fixed_large", clip_sample=False), 250, {}),
    ("ddpm", dict(timestep_spacing="trailing", steps_offset=1), 50, {}),
    ("ddim", dict(), 10, {}),                                        # no noise (η = 0)
    ("ddim", dict(prediction_type="v_prediction"), 10, {}),
    ("ddim", dict(set_alpha_to_one=False), 10, {}),
    ("ddim", dict(), 50, dict(eta=1.0)),                             # with noise
    ("ddim", dict(timestep_spacing="trailing", clip_sample=False), 100, dict(eta=0.5)),
    ("ddim", dict(rescale_betas_zero_snr=True, prediction_type="v_prediction"), 25, {}),
]


@pytest.mark.parametrize("kind,config,steps,step_kwargs", FULL_LOOPS)
def test_full_loop_within_diffusers_tolerances(kind, config, steps, step_kwargs):
    stock_cls, scored_cls = PAIRS[kind]
    config = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, **config)
    ref = _loop(stock_cls(**config), steps, **step_kwargs)
    got = _loop(scored_cls(**config), steps, **step_kwargs)
    assert abs(got.abs().sum().item() - ref.abs().sum().item()) < 1e-2
    assert abs(got.abs().mean().item() - ref.abs().mean().item()) < 1e-3


def _two(kind, **config):
    stock_cls, scored_cls = PAIRS[kind]
    return stock_cls(**config), scored_cls(**config)


def test_ddim_step_off_the_planned_timesteps_is_the_stock_step(gen):
    stock, scored = _two("ddim", num_train_timesteps=100)
    for s in (stock, scored):
        s.set_timesteps(10)
    x, out = torch.randn(2, 3, generator=gen), torch.randn(2, 3, generator=gen)
    ref = stock.step(out, 55, x)
    with pytest.warns(RuntimeWarning, match="timestep 55: not the run's next planned"):
        got = scored.step(out, 55, x)
    torch.testing.assert_close(got.prev_sample, ref.prev_sample, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.pred_original_sample, ref.pred_original_sample,
                               rtol=1e-5, atol=1e-6)


def _run(sched, x, out, timesteps):
    for t in timesteps:
        x = sched.step(out, t, x).prev_sample
    return x


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_an_irregular_step_breaks_only_the_windows_it_falls_in(kind, gen):
    """A repeated step inside the window: the step is computed, the window refuses its scores
    naming the timestep; a window it does not touch keeps scores equal to a regular run's."""
    stock, scored = _two(kind, num_train_timesteps=100)
    regular = PAIRS[kind][1](num_train_timesteps=100, window=[(0, 4), 3])
    scored = PAIRS[kind][1](num_train_timesteps=100, window=[(0, 4), 3])
    x, out = torch.randn(2, 3, generator=gen), torch.randn(2, 3, generator=gen)
    noise = dict(variance_noise=torch.zeros_like(x))
    for s in (stock, scored, regular):
        s.set_timesteps(10)
    ts = scored.timesteps.tolist()
    for t in ts:
        regular.step(out, t, x, **noise)
    with pytest.warns(RuntimeWarning, match=f"timestep {ts[8]}"):
        for t in ts[:9] + [ts[8]] + ts[9:]:  # the 9th step twice
            got = scored.step(out, t, x, **noise)
            ref = stock.step(out, t, x, **({"variance_noise": noise["variance_noise"]}
                                            if kind == "ddim" else {}))
            torch.testing.assert_close(got.pred_original_sample, ref.pred_original_sample)
    with pytest.raises(RuntimeError, match=f"window 3 .* timestep {ts[8]} was not the run's next"):
        scored.window_scores
    assert torch.equal(scored.scores, regular.scores)  # the main window, (0, 4), is untouched


ZERO_SNR = [("ddpm", {}, {}), ("ddpm", dict(clip_sample=False), {}),
            ("ddpm", dict(variance_type="fixed_small_log"), {}),
            ("ddim", {}, {}), ("ddim", dict(clip_sample=False), {}),
            ("ddim", {}, dict(eta=1.0)), ("ddim", {}, dict(use_clipped_model_output=True)),
            ("ddim", {}, dict(eta=0.5, use_clipped_model_output=True))]


def _as_stock_from(x, got, ref):
    """NaN wherever stock is NaN; where the input ``x`` is already ±inf (clip_sample=False after
    a zero-SNR step), non-finite where stock is — the fused update multiplies every term, so
    0·±inf is NaN where a stock update without that term gives ±inf; elsewhere within float32
    rounding."""
    assert not (torch.isnan(ref) & ~torch.isnan(got)).any()
    assert torch.equal(torch.isfinite(got), torch.isfinite(ref))
    if torch.isfinite(x).all():
        assert torch.equal(torch.isnan(got), torch.isnan(ref))
    fin = torch.isfinite(ref)
    torch.testing.assert_close(got[fin], ref[fin], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind,config,step_kwargs", ZERO_SNR)
def test_zero_terminal_snr_with_epsilon_runs_as_stock(kind, config, step_kwargs, gen):
    """ᾱ = 0 at t = 999 (rescale_betas_zero_snr, trailing spacing keeps t = 999): ε cannot give
    x̂0 as a·x + b·out there, so that step is the stock step — bit-identical, ±inf and NaN
    included (stock's float32 √(1 − ᾱ_prev − σ²) at η > 0 is the root of a rounding that is
    positive on some CPUs and negative, NaN, on others). The other steps are fused."""
    stock, scored = _two(kind, rescale_betas_zero_snr=True, timestep_spacing="trailing",
                         **config)
    for s in (stock, scored):
        s.set_timesteps(10)
    assert int(stock.timesteps[0]) == 999 and float(stock.alphas_cumprod[999]) == 0.0
    x = torch.randn(2, 3, 4, generator=gen)
    with pytest.warns(StockStepWarning, match="ᾱ_t = 0 under ε-prediction"):
        for t in stock.timesteps:
            out, z = torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen)
            if kind == "ddpm":  # the stock DDPM step draws its own noise: the same generator
                ref = stock.step(out, t, x, generator=torch.Generator().manual_seed(int(t)))
                got = scored.step(out, t, x, generator=torch.Generator().manual_seed(int(t)))
            else:
                ref = stock.step(out, t, x, variance_noise=z, **step_kwargs)
                got = scored.step(out, t, x, variance_noise=z, **step_kwargs)
            for a, b in ((got.pred_original_sample, ref.pred_original_sample),
                         (got.prev_sample, ref.prev_sample)):
                if int(t) == 999:
                    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
                else:
                    _as_stock_from(x, a, b)
            x = ref.prev_sample
    assert dict(scored.step_paths) == {"fused": 9, "stock: ᾱ_t = 0 under ε-prediction (zero "
                                       "terminal SNR: x̂0 is ±inf there)": 1}


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_alphas_cumprod_underflowing_to_zero_gives_what_stock_gives(kind):
    stock, scored = _two(kind, beta_end=0.999)
    stock.set_timesteps(10)
    scored.set_timesteps(10)
    ref = _loop(stock, None)
    with pytest.warns(StockStepWarning, match="ᾱ_t = 0 under ε|not finite"):
        got = _loop(scored, None)
    assert torch.equal(torch.isnan(got), torch.isnan(ref))


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_one_inference_step_scores_the_step_there_is(kind):
    sched = PAIRS[kind][1](window=[10, (80, 90)], early_exit=[2])
    with pytest.warns(UserWarning) as caught:
        sched.set_timesteps(1)
    said = " ".join(str(w.message) for w in caught)
    assert "scoring all 1" in said and "(80, 90)" in said and "early_exit" in said
    _loop(sched, None)
    assert sched.scores.shape == (4,) and (sched.scores == 0).all()  # one x̂0: no variance
    assert sched.early_scores == {}
    with pytest.raises(RuntimeError, match=r"window \(80, 90\) lies past the 1 steps"):
        sched.window_scores


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_a_float64_run_takes_the_stock_step_and_is_scored(kind, gen):
    """The kernel computes in float32: a float64 sample runs the stock step (float64 out, as
    stock) and its x̂0 is folded into the scores."""
    stock_cls, scored_cls = (DDPMScheduler, ScoredDDPMScheduler) if kind == "ddpm" else \
        (DDIMScheduler, ScoredDDIMScheduler)
    stock, sched = stock_cls(), scored_cls(window=4)
    stock.set_timesteps(6), sched.set_timesteps(6)
    x = torch.randn(2, 1, 4, 4, generator=gen, dtype=torch.float64)
    y = x.clone()
    for t in sched.timesteps:
        x = stock.step(torch.tanh(x), t, x, generator=torch.Generator().manual_seed(int(t))
                       ).prev_sample
        y = sched.step(torch.tanh(y), t, y, generator=torch.Generator().manual_seed(int(t))
                       ).prev_sample
    assert y.dtype == torch.float64 and torch.equal(x, y)
    assert sched.scores.shape == (2,) and torch.isfinite(sched.scores).all()
