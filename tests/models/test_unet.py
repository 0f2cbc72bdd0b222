"""UNetDenoiser (diffusers' UNet2DModel as model(x_t, t)) and image training/sampling: presets,
config round trip, the Trainer on (N, C, H, W) data with bitwise resume, grad clipping, and images
through the Sampler with x̂0 clipped to [−1, 1]."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("diffusers")
from modeinterp import Sampler, Schedule  # noqa: E402
from modeinterp.train.checkpoint import load_model, read_checkpoint  # noqa: E402
from modeinterp.models import build_model  # noqa: E402
from modeinterp.models.unet import PRESETS, UNetDenoiser  # noqa: E402
from modeinterp.train import Trainer  # noqa: E402

TINY = dict(sample_size=8, channels=1, block_out_channels=(8, 16), norm_num_groups=4,
            attention=False, T=100)


def tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return UNetDenoiser(**{**TINY, **kw})


def images(n=32, seed=0):
    """Squares of random size and place on a black 8×8 canvas, in [−1, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 1, 8, 8)
    for i in range(n):
        s = int(torch.randint(2, 5, (1,), generator=g))
        r, c = (int(v) for v in torch.randint(0, 8 - s + 1, (2,), generator=g))
        x[i, 0, r:r + s, c:c + s] = 1.0
    return x


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_and_predict_like_x(name):
    model = UNetDenoiser.preset(name).eval()
    size = PRESETS[name]["sample_size"]
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 999]))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_config_round_trip_and_bad_arguments():
    model = tiny()
    again = build_model("UNetDenoiser", model.config())
    again.load_state_dict(model.state_dict())
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([1, 50, 99])
    with torch.no_grad():
        assert torch.equal(model(x, t), again(x, t))
    with pytest.raises(ValueError, match="unknown UNet preset"):
        UNetDenoiser.preset("faces-1024")
    with pytest.raises(ValueError, match="norm_num_groups"):
        UNetDenoiser(8, block_out_channels=(8, 12), norm_num_groups=8)
    with pytest.raises(ValueError, match="divisible"):
        UNetDenoiser(6, block_out_channels=(8, 16, 16), norm_num_groups=4)
    with pytest.raises(ValueError, match="x_t must be"):
        model(torch.randn(3, 2, 8, 8), t)
    with pytest.raises(ValueError, match="unknown keys"):
        UNetDenoiser.from_config({**model.config(), "dropout": 0.1})


def make(tmp_path, name="ck.pt", model_seed=0, **kw):
    return Trainer(tiny(model_seed), images(), Schedule.linear(100, 1e-4, 0.05), batch_size=8,
                   steps=12, lr=2e-3, ema=0.9, seed=3, checkpoint=tmp_path / name,
                   checkpoint_every=5, **kw)


def test_image_training_resumes_bitwise(tmp_path):
    full = make(tmp_path, "full.pt", grad_clip=1.0)
    full.fit(progress=False)
    make(tmp_path, grad_clip=1.0).fit(progress=False, stop_after=8)  # killed after step 8
    assert read_checkpoint(tmp_path / "ck.pt")["step"] == 5
    resumed = make(tmp_path, model_seed=7, grad_clip=1.0)
    resumed.fit(progress=False)
    assert torch.equal(torch.as_tensor(resumed.history), torch.as_tensor(full.history))
    for (k, a), b in zip(resumed.model.state_dict().items(), full.model.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="grad_clip"):  # another config: refused
        make(tmp_path, grad_clip=2.0).fit(progress=False)
    model = load_model(tmp_path / "ck.pt")
    assert isinstance(model, UNetDenoiser) and not model.training


def test_grad_clip_bounds_the_gradient_and_bad_options_are_refused(tmp_path):
    trainer = Trainer(tiny(), images(), Schedule.linear(100, 1e-4, 0.05), batch_size=8, steps=1,
                      grad_clip=1e-3)
    trainer.fit(progress=False)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in trainer.model.parameters()
                                                 if p.grad is not None]))
    assert float(norm) <= 1e-3 * (1 + 1e-5)
    with pytest.raises(ValueError, match="precision"):
        Trainer(tiny(), images(), Schedule.linear(100, 1e-4, 0.05), precision="fp8")
    with pytest.raises(TypeError, match="compile"):
        Trainer(tiny(), images(), Schedule.linear(100, 1e-4, 0.05), compile="yes")
    with pytest.raises(ValueError, match="grad_clip"):
        Trainer(tiny(), images(), Schedule.linear(100, 1e-4, 0.05), grad_clip=0)


def test_images_sample_with_clipped_x0_and_scores():
    table = Schedule.linear(100, 1e-4, 0.05).table(steps=10, clip=1.0)
    x0s = []
    result = Sampler(tiny().eval(), table, window=4).sample(
        6, (1, 8, 8), seed=2, batch_size=4, progress=False,
        callback=lambda info: x0s.append(info["x0"]))
    assert result.samples.shape == (6, 1, 8, 8) and result.scores.shape == (6,)
    assert torch.isfinite(result.samples).all() and (result.scores >= 0).all()
    assert len(x0s) == 2 * 10 and all(x.abs().max() <= 1.0 for x in x0s)
