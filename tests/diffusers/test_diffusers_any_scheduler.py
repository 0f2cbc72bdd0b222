"""Scores for any diffusers scheduler (modeinterp.diffusers.scored) and in pipeline outputs
(score_pipeline): the images are the stock scheduler's bit for bit, and the scores are the
variance of the x̂0 trajectory, which this test stores from the stock scheduler's own outputs
(``pred_original_sample``, LCM's ``denoised``, or its own ``convert_model_output``)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import (DDIMPipeline, DDPMPipeline, DDPMScheduler,  # noqa: E402
                       DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler,
                       HeunDiscreteScheduler, LCMScheduler, UniPCMultistepScheduler)

from modeinterp.detect import Detector, image_features  # noqa: E402
from modeinterp.diffusers import score_pipeline, scored  # noqa: E402
from test_diffusers_pipeline import unet  # noqa: E402,F401 (the tiny U-Net fixture)
from test_diffusers_schedulers import ToyModel  # noqa: E402

SHAPE = (3, 2, 4, 4)
T = 100
STEPS = 8


SCHEDULERS = [
    (EulerDiscreteScheduler, {}), (EulerDiscreteScheduler, dict(prediction_type="v_prediction")),
    (EulerAncestralDiscreteScheduler, {}), (HeunDiscreteScheduler, {}),
    (DPMSolverMultistepScheduler, {}), (DPMSolverMultistepScheduler,
                                        dict(algorithm_type="sde-dpmsolver++")),
    (DPMSolverMultistepScheduler, dict(prediction_type="v_prediction")),
    (DPMSolverSinglestepScheduler, {}), (UniPCMultistepScheduler, {}),
    (LCMScheduler, dict(original_inference_steps=20)), (DDPMScheduler, {}),
]


def _x0_of_step(sched, out, t, x):
    """The stock scheduler's own x̂0 of this step, read before the step where it hides it."""
    if hasattr(sched, "convert_model_output"):  # DPM-Solver++ / UniPC(predict_x0): x̂0
        if sched.step_index is None:
            sched._init_step_index(t)
        return sched.convert_model_output(out, sample=x)
    return None


def _run(sched, model, x_T, seed, record=False):
    """The usual loop; returns (final sample, x̂0 per distinct timestep when ``record``)."""
    sched.set_timesteps(STEPS)
    x = x_T * sched.init_noise_sigma
    takes_generator = "generator" in inspect.signature(sched.step).parameters
    gen = torch.Generator().manual_seed(seed)
    x0s, last = [], None
    for t in sched.timesteps:
        out = model(sched.scale_model_input(x, t), t)
        first_call = float(t) != last
        hidden = _x0_of_step(sched, out, t, x) if record and first_call else None
        step = sched.step(out, t, x, **({"generator": gen} if takes_generator else {}))
        if record and first_call:
            shown = getattr(step, "pred_original_sample", None)
            x0s.append(hidden if hidden is not None else
                       shown if shown is not None else step.denoised)
        x, last = step.prev_sample, float(t)
    return x, x0s


@pytest.mark.parametrize("cls,config", SCHEDULERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_scored_leaves_sampling_untouched_and_scores_the_x0_trajectory(cls, config, gen):
    model, x_T = ToyModel(gen), torch.randn(SHAPE, generator=gen)
    stock = cls(num_train_timesteps=T, **config)
    sched = scored(stock, window=4, early_exit=[2])
    ref, x0s = _run(stock, model, x_T, seed=3, record=True)
    got, _ = _run(sched, model, x_T, seed=3)
    assert torch.equal(got, ref)
    assert isinstance(sched, cls) and type(stock) is cls  # the original is left as it was
    assert len(x0s) == STEPS
    start, stop = sched.step_range
    assert (start, stop) == (STEPS - 4, STEPS)
    expected = np.var(torch.stack(x0s[start:stop]).double().numpy(), axis=0)
    np.testing.assert_allclose(sched.scores.numpy(), expected.reshape(SHAPE[0], -1).mean(1),
                               rtol=1e-4, atol=1e-7)
    early = np.var(torch.stack(x0s[start:start + 2]).double().numpy(), axis=0)
    np.testing.assert_allclose(sched.early_scores[2].numpy(), early.reshape(SHAPE[0], -1).mean(1),
                               rtol=1e-4, atol=1e-7)
    assert sched.score_maps[4].shape == SHAPE


def test_scored_step_keeps_the_stock_signature():
    """Pipelines look for ``eta`` and ``generator`` in inspect.signature(scheduler.step)."""
    for cls, _ in SCHEDULERS:
        stock = cls(num_train_timesteps=T)
        assert inspect.signature(scored(stock).step) == inspect.signature(stock.step)


def test_scored_refuses_what_it_cannot_score():
    with pytest.raises(TypeError, match="diffusers scheduler"):
        scored(object())
    sched = scored(EulerDiscreteScheduler(num_train_timesteps=T))
    with pytest.raises(ValueError, match="already scores"):
        scored(sched)
    with pytest.raises(TypeError, match="x0_fn"):
        scored(EulerDiscreteScheduler(num_train_timesteps=T), x0_fn=3)


def test_x0_fn_supplies_x0_for_a_scheduler_that_hides_it(gen):
    """A scheduler whose step output has no x̂0 and no sigmas: x0_fn gives it."""
    stock = DPMSolverMultistepScheduler(num_train_timesteps=T)
    calls = []

    def x0_fn(out, t, x, sched):
        calls.append(float(t))
        return x - out

    sched = scored(stock, window=3, x0_fn=x0_fn)
    model, x_T = ToyModel(gen), torch.randn(SHAPE, generator=gen)
    _run(sched, model, x_T, seed=0)
    assert len(calls) == STEPS and sched.scores.shape == (SHAPE[0],)


def _final_latents(pipe, **kwargs):
    """The stock pipeline's images and the scheduler's last prev_sample (captured here)."""
    step, last = pipe.scheduler.step, {}

    def keep(*a, **k):
        out = step(*a, **k)
        last["x"] = out.prev_sample
        return out

    pipe.scheduler.step = keep
    try:
        images = pipe(**kwargs).images
    finally:
        del pipe.scheduler.step
    return images, last["x"]


@pytest.mark.parametrize("pipeline,scheduler", [
    (DDPMPipeline, DDPMScheduler(num_train_timesteps=T)),
    (DDIMPipeline, diffusers.DDIMScheduler(num_train_timesteps=T)),
    (DDPMPipeline, EulerAncestralDiscreteScheduler(num_train_timesteps=T)),
])
def test_score_pipeline_adds_scores_and_flags_to_the_stock_output(unet, pipeline, scheduler,
                                                                  test_seed):
    pipe = pipeline(unet=unet, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    stock = pipe.scheduler  # DDIMPipeline makes its own DDIMScheduler from the config
    rng = np.random.default_rng(test_seed)
    names = ["5/mean", "5/max", "image/std"]
    features = {n: rng.random(300) for n in names}
    detector = Detector.fit_supervised(features, features["5/mean"] > 0.7, names=names)
    call = dict(batch_size=3, num_inference_steps=8, output_type="np")
    images, final = _final_latents(pipe, generator=torch.Generator().manual_seed(1), **call)
    wrapped = score_pipeline(pipe, window=5, detector=detector, aggregations=["max"],
                             score_maps=True)
    out = wrapped(generator=torch.Generator().manual_seed(1), **call)
    np.testing.assert_array_equal(out.images, images)
    assert pipe.scheduler is stock  # the stock scheduler is back
    assert out.scores.shape == (3,) and out.score_maps[5].shape == (3, 1, 8, 8)
    torch.testing.assert_close(out.scores, out.score_maps[5].mean((1, 2, 3)))
    expected = detector.score({"5/mean": out.scores.numpy(),
                               "5/max": out.aggregate_scores[(5, "max")].numpy(),
                               "image/std": image_features(final)["image/std"]})
    np.testing.assert_allclose(out.detector_scores.numpy(), expected, rtol=1e-6)
    assert torch.equal(out.flags, out.detector_scores > detector.threshold)
    tuple_out = wrapped(generator=torch.Generator().manual_seed(1), return_dict=False, **call)
    assert torch.equal(tuple_out[-1].scores, out.scores)


def _latent_pipeline(kind: str):
    """A latent (LDM: VQ autoencoder + U-Net) or class-conditional (DiT: transformer + VAE, with
    classifier-free guidance) pipeline of tiny random components."""
    from diffusers import (AutoencoderKL, DDIMScheduler, DiTPipeline, LDMPipeline,
                           Transformer2DModel, UNet2DModel, VQModel)

    torch.manual_seed(0)
    blocks = dict(block_out_channels=(8,), norm_num_groups=4,
                  down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",))
    if kind == "ldm":
        unet = UNet2DModel(sample_size=4, in_channels=3, out_channels=3, layers_per_block=1,
                           block_out_channels=(8, 16), down_block_types=("DownBlock2D",) * 2,
                           up_block_types=("UpBlock2D",) * 2, norm_num_groups=4)
        return LDMPipeline(vqvae=VQModel(latent_channels=3, **blocks).eval(), unet=unet.eval(),
                           scheduler=DDIMScheduler()), {"batch_size": 2}
    transformer = Transformer2DModel(
        sample_size=4, num_layers=1, patch_size=2, attention_head_dim=4, num_attention_heads=2,
        in_channels=4, out_channels=8, attention_bias=True, activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000, norm_type="ada_norm_zero", norm_elementwise_affine=False)
    pipe = DiTPipeline(transformer=transformer.eval(), vae=AutoencoderKL(latent_channels=4,
                       **blocks).eval(), scheduler=DPMSolverMultistepScheduler(),
                       id2label={0: "a", 1: "b"})
    return pipe, {"class_labels": [0, 1]}


@pytest.mark.parametrize("kind", ["ldm", "dit"])
def test_score_pipeline_on_latent_and_class_conditional_pipelines(kind):
    """Images bit-identical to stock; scores over latents. DiT steps the guidance-doubled
    batch, so it gets a score per row of it (both halves, equal: the same latents)."""
    pipe, kwargs = _latent_pipeline(kind)
    pipe.set_progress_bar_config(disable=True)
    run = dict(num_inference_steps=6, output_type="np", **kwargs)
    stock = pipe(generator=torch.Generator().manual_seed(0), **run).images
    out = score_pipeline(pipe, window=3)(generator=torch.Generator().manual_seed(0), **run)
    assert np.array_equal(out.images, stock)
    rows = 2 if kind == "ldm" else 4
    assert out.scores.shape == (rows,) and torch.isfinite(out.scores).all()
    assert (out.scores > 0).all()
    if kind == "dit":
        torch.testing.assert_close(out.scores[:2], out.scores[2:])


def test_a_float64_run_is_scored_in_float32(gen):
    """The stock step runs in float64 untouched; its x̂0 is folded as float32 (the Welford
    state's dtype), giving the variance of the float64 trajectory to float32 rounding."""
    sched = scored(EulerDiscreteScheduler(num_train_timesteps=T), window=STEPS)
    sched.set_timesteps(STEPS)
    x, stored = torch.randn(SHAPE, generator=gen, dtype=torch.float64), []
    for t in sched.timesteps:
        out = sched.step(torch.tanh(x), t, x)
        x = out.prev_sample
        stored.append(out.pred_original_sample)
    assert x.dtype == torch.float64
    want = torch.stack(stored).var(dim=0, unbiased=False).flatten(1).mean(1).float()
    torch.testing.assert_close(sched.scores, want, rtol=1e-4, atol=1e-6)
