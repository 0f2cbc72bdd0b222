"""The scored schedulers inside stock diffusers pipelines: a tiny randomly initialised UNet2DModel
built from a config (no download), DDPMPipeline and DDIMPipeline with the scheduler swapped in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMPipeline, DDPMPipeline, UNet2DModel  # noqa: E402

from modeinterp.diffusers import ScoredDDIMScheduler, ScoredDDPMScheduler  # noqa: E402


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
                       block_out_channels=(8, 16), down_block_types=("DownBlock2D",) * 2,
                       up_block_types=("UpBlock2D",) * 2, norm_num_groups=4).eval()


def _run(pipe, **kwargs):
    pipe.set_progress_bar_config(disable=True)
    images = pipe(batch_size=3, output_type="np", **kwargs).images
    return images, pipe.scheduler.scores.clone()


@pytest.mark.parametrize("pipeline,scored,kwargs", [
    (DDPMPipeline, ScoredDDPMScheduler, dict(num_inference_steps=12)),
    (DDIMPipeline, ScoredDDIMScheduler, dict(num_inference_steps=8, eta=0.5)),
])
def test_swap_into_a_stock_pipeline(unet, pipeline, scored, kwargs):
    pipe = pipeline(unet=unet, scheduler=diffusers.DDPMScheduler(num_train_timesteps=100))
    pipe.scheduler = scored.from_config(pipe.scheduler.config, window=5, seed=1)
    first, scores = _run(pipe, generator=torch.Generator().manual_seed(4), **kwargs)
    again, scores_again = _run(pipe, generator=torch.Generator().manual_seed(4), **kwargs)
    assert first.shape == (3, 8, 8, 1) and np.isfinite(first).all()
    assert scores.shape == (3,) and scores.dtype == torch.float32 and (scores >= 0).all()
    np.testing.assert_array_equal(first, again)
    assert torch.equal(scores, scores_again)
    other, _ = _run(pipe, generator=torch.Generator().manual_seed(5), **kwargs)
    assert not np.array_equal(first, other)
