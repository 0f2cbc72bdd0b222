"""The denoiser's forward at another precision or compiled (Sampler/Trainer ``precision=``,
``compile=``): float32 default bit for bit as before, bf16 finite and float32 around the model,
compile equal to eager within float rounding, and clear errors for what cannot run."""

from __future__ import annotations

import pytest
import torch

from modeinterp import Sampler, Schedule, ops
from modeinterp.errors import UsageError
from modeinterp.sampling import NoiseKey, reverse_loop
from modeinterp.sampling.forward import Forward
from modeinterp.sampling.window import WindowScores

pytest.importorskip("diffusers")
from modeinterp.models.unet import UNetDenoiser  # noqa: E402
from modeinterp.train import Trainer  # noqa: E402

SHAPE = (1, 8, 8)


def tiny_unet(seed=0):
    torch.manual_seed(seed)
    return UNetDenoiser(sample_size=8, channels=1, block_out_channels=(8, 16), norm_num_groups=4,
                        attention=False, T=100).eval()


def table():
    return Schedule.linear(100, 1e-4, 0.05).table("ddim", steps=10, clip=1.0)


def test_fp32_default_is_the_plain_model_call_bit_for_bit():
    """The default forward is the model itself: the Sampler's samples and scores equal a reverse
    loop that calls the model directly, as every sampler did before the option existed."""
    model, steps = tiny_unet(), table()
    result = Sampler(model, steps, window=5).sample(6, SHAPE, seed=4, progress=False)
    x = ops.philox_normal((6, *SHAPE), seed=4, step=steps.num_train_timesteps, offset=0)
    scorer = WindowScores([(5, 10)], [])
    with torch.inference_mode():
        direct = reverse_loop(model, x, steps, scorer, noise=NoiseKey(4))
    assert torch.equal(result.samples, direct)
    assert torch.equal(result.scores, scorer.main.scores)
    assert Sampler(model, steps, window=5, precision="fp32", compile=False).forward.plain


def test_bf16_sampling_keeps_float32_around_the_model():
    model, steps = tiny_unet(), table()
    fp32 = Sampler(model, steps, window=5).sample(12, SHAPE, seed=3, progress=False,
                                                  score_maps=True, early_exit=(2, 3))
    sampler = Sampler(model, steps, window=5, precision="bf16")
    runs = {b: sampler.sample(12, SHAPE, seed=3, batch_size=b, progress=False, score_maps=True,
                              early_exit=(2, 3)) for b in (12, 5, 1)}
    bf16 = runs[12]
    assert bf16.samples.dtype == torch.float32 and bf16.samples.shape == (12, *SHAPE)
    assert torch.isfinite(bf16.samples).all()
    for values in [bf16.scores, *bf16.early_scores.values(), *bf16.score_maps.values()]:
        assert values.dtype == torch.float32 and torch.isfinite(values).all()
    assert bf16.scores.shape == (12,) and set(bf16.early_scores) == {2, 3}
    # The model's bf16 rounding moves the samples by ~1e-2, not more.
    assert not torch.equal(bf16.samples, fp32.samples)
    torch.testing.assert_close(bf16.samples, fp32.samples, atol=0.15, rtol=0)
    torch.testing.assert_close(bf16.scores, fp32.scores, rtol=0.2, atol=1e-6)
    # Reruns are bit-identical; other batch sizes agree within bf16's own rounding, the bound
    # bf16 keeps to float32 above (on the Intel Xeon we tried they were bit-identical, but
    # oneDNN may pick another kernel per batch size on another CPU).
    again = sampler.sample(12, SHAPE, seed=3, batch_size=12, progress=False)
    assert torch.equal(again.samples, bf16.samples)
    for b in (5, 1):
        torch.testing.assert_close(runs[b].samples, bf16.samples, atol=0.15, rtol=0)


def test_bf16_forward_output_is_in_the_input_dtype_and_layout():
    forward = Forward(tiny_unet(), "bf16")
    x = torch.randn(3, *SHAPE)
    with torch.inference_mode():
        out = forward(x, torch.full((3,), 50))
    assert out.dtype == torch.float32 and out.is_contiguous() and out.shape == x.shape


@pytest.mark.parametrize("precision, error", [("fp8", ValueError), ("float16", ValueError),
                                              (None, TypeError), (32, TypeError)])
def test_a_precision_that_does_not_exist_is_refused(precision, error):
    with pytest.raises(error, match="precision"):
        Sampler(tiny_unet(), table(), precision=precision)
    with pytest.raises(error, match="precision"):
        Trainer(tiny_unet(), torch.zeros(4, *SHAPE), Schedule.linear(100, 1e-4, 0.05),
                precision=precision)


def test_compile_must_be_a_bool():
    with pytest.raises(TypeError, match="compile"):
        Sampler(tiny_unet(), table(), compile="yes")


def test_a_model_torch_compile_cannot_take_whole_is_a_clear_error():
    def reads_the_host(x, t):  # a branch on a tensor's value: a graph break, refused whole
        return x * 0.5 if x.sum() > 0 else x * 0.25

    sampler = Sampler(reads_the_host, table(), window=5, compile=True)
    with pytest.raises(UsageError, match="compile=True: torch.compile cannot compile"):
        sampler.sample(2, SHAPE, seed=0, progress=False)


@pytest.mark.slow  # torch.compile of a U-Net: ~20 s on 2 cores
def test_compiled_sampling_equals_eager_within_rounding():
    model, steps = tiny_unet(), table()
    eager = Sampler(model, steps, window=5).sample(8, SHAPE, seed=2, progress=False)
    for precision in ("fp32", "bf16"):
        compiled = Sampler(model, steps, window=5, precision=precision,
                           compile=True).sample(8, SHAPE, seed=2, progress=False)
        assert compiled.scores.dtype == torch.float32 and torch.isfinite(compiled.samples).all()
        tol = 1e-4 if precision == "fp32" else 0.15
        torch.testing.assert_close(compiled.samples, eager.samples, atol=tol, rtol=0)


def test_trainer_bf16_on_cpu_trains_float32_weights_and_records_its_precision(tmp_path):
    data = torch.rand(16, *SHAPE) * 2 - 1
    ckpt = tmp_path / "model.pt"
    trainer = Trainer(tiny_unet(), data, Schedule.linear(100, 1e-4, 0.05), batch_size=8,
                      steps=3, precision="bf16", checkpoint=ckpt, device="cpu")
    history = trainer.fit(progress=False)
    assert len(history) == 3 and all(torch.isfinite(torch.as_tensor(history)))
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    # A float32 trainer is another run: resuming the bf16 checkpoint with it is refused.
    with pytest.raises(Exception, match="precision"):
        Trainer(tiny_unet(), data, Schedule.linear(100, 1e-4, 0.05), batch_size=8, steps=4,
                checkpoint=ckpt).fit(progress=False)


class _Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 4)

    def forward(self, x, t):
        return self.layer(x)


@pytest.mark.slow  # 12 small compiles, ~15 s
def test_many_models_of_one_class_compile_past_dynamos_default_limit():
    """Dynamo counts compiles per code object over every instance (8 by default): a recursive
    run builds a new model per generation, each sampled at a few batch sizes."""
    with torch.inference_mode():
        for i in range(12):
            out = Forward(_Linear(), compile=True)(torch.randn(i + 1, 4), torch.zeros(i + 1))
            assert out.shape == (i + 1, 4)
