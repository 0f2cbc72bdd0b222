"""The scored schedulers against diffusers' stock DDPMScheduler / DDIMScheduler: the same
prev_sample and pred_original_sample at every step of a run given the same noise, over every
option they support; scores equal to np.var of the stored x̂0 trajectory; refused options."""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402
from diffusers.schedulers import scheduling_ddpm  # noqa: E402

from modeinterp.diffusers import ScoredDDIMScheduler, ScoredDDPMScheduler  # noqa: E402

SHAPE = (3, 2, 4, 4)
T = 60


class ToyModel:
    """A fixed, nonlinear, timestep-dependent 'denoiser' with fresh random weights per test."""

    def __init__(self, gen):
        self.w = torch.randn(SHAPE[1:], generator=gen)
        self.c = torch.randn(SHAPE[1:], generator=gen)

    def __call__(self, x, t):
        return torch.tanh(self.w * x + self.c * (float(t) / T))


def _float64_twin(stock):
    """The stock scheduler computing in float64: its own coefficients in float32 lose digits
    (β' = 1 − ᾱ_t/ᾱ_prev cancels when timesteps are consecutive), ours are computed in float64."""
    twin = copy.deepcopy(stock)
    twin.alphas_cumprod = stock.alphas_cumprod.double()
    twin.one = torch.tensor(1.0, dtype=torch.float64)
    if hasattr(stock, "final_alpha_cumprod"):
        twin.final_alpha_cumprod = torch.as_tensor(stock.final_alpha_cumprod, dtype=torch.float64)
    return twin


def _assert_as_close_as_stock(got, ref, ref64, operands):
    """``got`` (ours, float32) is as close to the float64 stock step as the stock float32 step
    is, up to float32 rounding of our x̂0 = a·x + b·out: with ε-prediction near t = T the two
    products are ~1/√ᾱ_t times larger than x̂0 and round accordingly (``operands`` bounds them)."""
    scale = max(1.0, float(ref64.abs().max()))
    err_ours, err_stock = (got.double() - ref64).abs(), (ref.double() - ref64).abs()
    bad = err_ours > err_stock + 4e-6 * scale + 4e-6 * ref64.abs() + 1e-6 * operands
    assert not bad.any(), (f"{int(bad.sum())} elements: ours off by {float(err_ours.max()):.3g}, "
                           f"stock by {float(err_stock.max()):.3g}")
    torch.testing.assert_close(got, ref, rtol=2e-4, atol=2e-4 * scale + float(1e-6 * operands.max()))


def _compare_run(stock, scored, steps, gen, monkeypatch, step_kwargs=None, timesteps=None):
    """Drive the schedulers from the stock trajectory (so differences cannot compound) with the
    same noise z at every step; return the scored scheduler's x̂0 per step."""
    step_kwargs = step_kwargs or {}
    twin = _float64_twin(stock)
    for sched in (stock, twin, scored):
        if timesteps is not None:
            sched.set_timesteps(timesteps=timesteps)
        else:
            sched.set_timesteps(steps)
    assert torch.equal(stock.timesteps, scored.timesteps)
    model = ToyModel(gen)
    x = torch.randn(SHAPE, generator=gen)
    x0s = []
    for t in stock.timesteps:
        out = model(x, t)
        z = torch.randn(SHAPE, generator=gen)
        # The stock DDPM step draws its own noise: hand it z (DDIM takes variance_noise).
        monkeypatch.setattr(scheduling_ddpm, "randn_tensor",
                            lambda shape, generator=None, device=None, dtype=None, z=z: z.to(dtype))
        extra = dict(step_kwargs)
        if isinstance(stock, DDIMScheduler):
            extra["variance_noise"] = z
        ref = stock.step(out, t, x, **extra)
        ref64 = twin.step(out.double(), t, x.double(),
                          **{k: (v.double() if torch.is_tensor(v) else v) for k, v in extra.items()})
        got = scored.step(out, t, x, variance_noise=z, **step_kwargs)
        operands = (x.abs() + out.abs()).double() / min(1.0, float(stock.alphas_cumprod[t]) ** 0.5)
        _assert_as_close_as_stock(got.pred_original_sample, ref.pred_original_sample,
                                  ref64.pred_original_sample, operands)
        _assert_as_close_as_stock(got.prev_sample, ref.prev_sample, ref64.prev_sample, operands)
        x0s.append(got.pred_original_sample)
        x = ref.prev_sample
    return torch.stack(x0s)


def _check_scores(scored, x0s):
    start, stop = scored.step_range
    expected = np.var(x0s[start:stop].double().numpy(), axis=0).reshape(SHAPE[0], -1).mean(1)
    np.testing.assert_allclose(scored.scores.numpy(), expected, rtol=1e-4, atol=1e-7)


DDPM_OPTIONS = list(itertools.product(
    ["epsilon", "sample", "v_prediction"], ["fixed_small", "fixed_large", "fixed_small_log"],
    [(False, 1.0), (True, 1.0), (True, 2.5)], ["leading", "trailing", "linspace"], [0, 1]))


@pytest.mark.parametrize("prediction,variance,clip,spacing,offset", DDPM_OPTIONS)
def test_ddpm_matches_stock(prediction, variance, clip, spacing, offset, gen, monkeypatch):
    config = dict(num_train_timesteps=T, prediction_type=prediction, variance_type=variance,
                  clip_sample=clip[0], clip_sample_range=clip[1], timestep_spacing=spacing,
                  steps_offset=offset)
    stock = DDPMScheduler(**config)
    scored = ScoredDDPMScheduler.from_config(stock.config, window=4)
    _check_scores(scored, _compare_run(stock, scored, 12, gen, monkeypatch))


@pytest.mark.parametrize("betas", [dict(beta_schedule="scaled_linear", beta_end=0.05),
                                   dict(beta_schedule="squaredcos_cap_v2"),
                                   dict(trained_betas=np.linspace(1e-3, 0.05, T).tolist()),
                                   dict(beta_schedule="sigmoid"),
                                   dict(rescale_betas_zero_snr=True,
                                        prediction_type="v_prediction")])
def test_ddpm_beta_schedules_and_custom_timesteps(betas, gen, monkeypatch):
    stock = DDPMScheduler(num_train_timesteps=T, **betas)
    scored = ScoredDDPMScheduler.from_config(stock.config, window=(2, 6))
    _check_scores(scored, _compare_run(stock, scored, None, gen, monkeypatch,
                                       timesteps=[50, 31, 30, 12, 7, 1]))
    _check_scores(scored, _compare_run(stock, scored, T, gen, monkeypatch))  # every timestep


DDIM_OPTIONS = list(itertools.product(
    ["epsilon", "sample", "v_prediction"], [(False, 1.0), (True, 1.5)],
    ["leading", "trailing", "linspace"], [0, 1], [True, False], [0.0, 0.5, 1.0], [False, True]))


@pytest.mark.parametrize("prediction,clip,spacing,offset,alpha_one,eta,clipped_out", DDIM_OPTIONS)
def test_ddim_matches_stock(prediction, clip, spacing, offset, alpha_one, eta, clipped_out, gen,
                            monkeypatch):
    stock = DDIMScheduler(num_train_timesteps=T, prediction_type=prediction, clip_sample=clip[0],
                          clip_sample_range=clip[1], timestep_spacing=spacing,
                          steps_offset=offset, set_alpha_to_one=alpha_one)
    scored = ScoredDDIMScheduler.from_config(stock.config, window=5)
    x0s = _compare_run(stock, scored, 10, gen, monkeypatch,
                       dict(eta=eta, use_clipped_model_output=clipped_out))
    _check_scores(scored, x0s)


def test_ddim_variance_noise_matches_stock(gen):
    stock = DDIMScheduler(num_train_timesteps=T)
    scored = ScoredDDIMScheduler.from_config(stock.config)
    for s in (stock, scored):
        s.set_timesteps(8)
    x, out = torch.randn(SHAPE, generator=gen), torch.randn(SHAPE, generator=gen)
    z = torch.randn(SHAPE, generator=gen)
    t = stock.timesteps[2]
    ref = stock.step(out, t, x, eta=0.7, variance_noise=z)
    got = scored.step(out, t, x, eta=0.7, variance_noise=z)
    torch.testing.assert_close(got.prev_sample, ref.prev_sample, rtol=2e-5, atol=2e-5)


def test_ddpm_variance_noise_is_the_steps_z(gen):
    """The stock DDPM step has no variance_noise; ours takes it and adds σ·z with it."""
    stock = DDPMScheduler(num_train_timesteps=T)
    x, out, z = (torch.randn(SHAPE, generator=gen) for _ in range(3))
    t = 20
    sigma = float(stock._get_variance(t)) ** 0.5

    def step(noise):
        return ScoredDDPMScheduler.from_config(stock.config).step(out, t, x, variance_noise=noise)

    diff = step(z).prev_sample - step(torch.zeros_like(z)).prev_sample
    torch.testing.assert_close(diff, sigma * z, rtol=1e-5, atol=1e-6)


def test_philox_noise_is_reproducible_and_seeded(gen):
    config = DDPMScheduler(num_train_timesteps=T).config
    model = ToyModel(gen)
    x_T = torch.randn(SHAPE, generator=gen)

    def run(seed):
        sched = ScoredDDPMScheduler.from_config(config, seed=seed, window=3, early_exit=[1, 2])
        sched.set_timesteps(10)
        x = x_T
        for t in sched.timesteps:
            x = sched.step(model(x, t), t, x).prev_sample
        return x, sched.scores, sched.early_scores

    (a, sa, ea), (b, sb, eb), (c, _, _) = run(5), run(5), run(6)
    assert torch.equal(a, b) and torch.equal(sa, sb) and not torch.equal(a, c)
    assert sorted(ea) == [1, 2] and torch.equal(ea[2], eb[2]) and ea[1].shape == (SHAPE[0],)


def test_set_timesteps_resets_the_scores(gen):
    sched = ScoredDDPMScheduler(num_train_timesteps=T, window=2)
    model = ToyModel(gen)
    sched.set_timesteps(4)
    x = torch.randn(SHAPE, generator=gen)
    for t in sched.timesteps:
        x = sched.step(model(x, t), t, x).prev_sample
    assert sched.scores.shape == (SHAPE[0],)
    sched.set_timesteps(4)
    with pytest.raises(RuntimeError, match="not complete"):
        sched.scores


def test_window_longer_than_the_run_scores_every_step():
    sched = ScoredDDIMScheduler(num_train_timesteps=T)
    with pytest.warns(UserWarning, match="window=10 is longer than the 5 steps"):
        sched.set_timesteps(5)
    assert sched.step_range == (0, 5)


@pytest.mark.parametrize("cls,option,message", [
    (ScoredDDPMScheduler, dict(seed=-1), "seed"),
    (ScoredDDIMScheduler, dict(window=(3, 2)), "window"),
])
def test_bad_scoring_options_are_refused_at_construction(cls, option, message):
    with pytest.raises(ValueError, match=message):
        cls(num_train_timesteps=T, **option)


def test_ddim_step_before_set_timesteps_is_refused(gen):
    sched = ScoredDDIMScheduler(num_train_timesteps=T)
    x = torch.randn(SHAPE, generator=gen)
    with pytest.raises(ValueError, match="set_timesteps"):
        sched.step(x, 10, x)


def test_config_round_trips_with_the_stock_classes():
    scored = ScoredDDIMScheduler(num_train_timesteps=T, clip_sample=False, window=3, seed=9)
    stock = DDIMScheduler.from_config(scored.config)
    again = ScoredDDIMScheduler.from_config(stock.config, seed=9)
    assert stock.config.clip_sample is False and again.seed == 9
    assert scored.config.window == 3 and again.config.num_train_timesteps == T


def _scored_run(sched, gen, steps=12):
    """A short Philox-noise run on the toy model: (final samples, scores per window as given)."""
    sched.set_timesteps(steps)
    model, x = ToyModel(gen), torch.randn(SHAPE, generator=gen)
    for t in sched.timesteps:
        x = sched.step(model(x, t), t, x).prev_sample
    return x, sched.window_scores


def _public(config) -> dict:
    return {k: v for k, v in config.items() if not k.startswith("_")}


@pytest.mark.parametrize("cls", [ScoredDDPMScheduler, ScoredDDIMScheduler])
@pytest.mark.parametrize("window,specs,stored", [
    (7, [7], 7), ((2, 6), [(2, 6)], "2-6"), ("2-6", [(2, 6)], "2-6"),
    ([5, (3, 9)], [5, (3, 9)], [5, "3-9"]), ([2, 6], [2, 6], [2, 6])])
def test_scoring_options_round_trip_through_the_config(cls, window, specs, stored, tmp_path):
    """window (an int, a (start, stop) pair, several), seed and early_exit are in the config and
    come back from from_config and from save_config + from_pretrained (JSON: lists, not tuples;
    a pair is stored as "start-stop", as a list [2, 6] is two windows): the same windows, the
    same seed, hence the same samples and scores."""
    scored = cls(num_train_timesteps=T, window=window, seed=11, early_exit=(2, 1))
    assert (scored.config.window, scored.config.seed, scored.config.early_exit) == \
        (stored, 11, [2, 1])
    scored.save_config(tmp_path)
    expected = _scored_run(scored, torch.Generator().manual_seed(0))
    for again in (cls.from_config(scored.config), cls.from_pretrained(tmp_path)):
        assert _public(again.config) == _public(scored.config)
        assert again.seed == 11
        x, window_scores = _scored_run(again, torch.Generator().manual_seed(0))
        assert torch.equal(x, expected[0]) and list(window_scores) == specs
        for spec in specs:
            assert torch.equal(window_scores[spec], expected[1][spec])
        assert sorted(again.early_scores) == [1, 2]


@contextlib.contextmanager
def _diffusers_log():
    """The messages diffusers logs (its loggers do not propagate to the root, so no caplog)."""
    messages = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("diffusers")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("stock_cls,cls", [(DDPMScheduler, ScoredDDPMScheduler),
                                           (DDIMScheduler, ScoredDDIMScheduler)])
def test_stock_and_scored_configs_load_into_each_other(stock_cls, cls, tmp_path):
    """A stock config loads into the scored class with the scoring defaults; a scored config
    loads into the stock class, which logs that it ignores window, seed and early_exit."""
    stock = stock_cls(num_train_timesteps=T, clip_sample=False, beta_end=0.05)
    stock.save_config(tmp_path / "stock")
    for scored in (cls.from_config(stock.config), cls.from_pretrained(tmp_path / "stock")):
        assert (scored.config.window, scored.config.seed, scored.config.early_exit) == (10, 0, [])
        assert scored.seed == 0 and scored.config.clip_sample is False
        assert scored.config.beta_end == 0.05
    scored = cls(num_train_timesteps=T, clip_sample=False, window=(2, 6), seed=9)
    scored.save_config(tmp_path / "scored")
    with _diffusers_log() as messages:
        back = [stock_cls.from_config(scored.config),
                stock_cls.from_pretrained(tmp_path / "scored")]
    for loaded in back:
        assert type(loaded) is stock_cls and loaded.config.clip_sample is False
        assert loaded.config.num_train_timesteps == T
    assert any("window" in m and "ignored" in m for m in messages), messages
    # diffusers keeps the unknown keys for compatible classes: the round trip back keeps them
    again = cls.from_config(back[1].config)
    assert (again.config.window, again.seed) == ("2-6", 9)


@pytest.mark.parametrize("cls", [ScoredDDPMScheduler, ScoredDDIMScheduler])
def test_the_stock_parent_is_named(cls):
    assert cls.stock_scheduler in cls.__bases__
    assert issubclass(cls, cls.stock_scheduler) and cls.stock_scheduler.__module__.startswith(
        "diffusers.")
