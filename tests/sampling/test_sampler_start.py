"""Sampling from an intermediate step: a run resumed at step k from the x_t a full run had there
gives that run's samples and scores bit for bit; references are forward-noised to the earliest
window and scored like samples."""

from __future__ import annotations

import math

import pytest
import torch

from modeinterp import ops
from modeinterp.sampling.sampler import Sampler
from modeinterp.schedules import Schedule

SHAPE = (1, 4, 4)


def _sampler(method="ddim", **table):
    table = Schedule.linear(1000, 1e-4, 0.02).table(method=method, steps=20, **table)
    return Sampler(lambda x, t: 0.1 * x + 0.01 * t.float().view(-1, 1, 1, 1) / 1000, table,
                   window=[5, 10], aggregations=("mean", "max"))


@pytest.mark.parametrize("method,table", [("ddim", {}), ("ddim", {"eta": 1.0}), ("ddpm", {})])
def test_resuming_at_a_step_reproduces_the_full_run(method, table):
    sampler = _sampler(method, **table)
    seen = {}
    full = sampler.sample(6, SHAPE, seed=3, progress=False,
                          callback=lambda info: seen.update({info["i"]: info["x"].clone()}))
    part = sampler.sample(6, SHAPE, seed=3, progress=False, x_start=seen[9], start=10)
    assert torch.equal(part.samples, full.samples)
    for key, value in full.aggregate_scores.items():
        assert torch.equal(part.aggregate_scores[key], value), key


def test_x_start_at_step_0_replaces_the_initial_noise():
    sampler = _sampler()
    x_T = torch.randn(4, *SHAPE)
    assert not torch.equal(sampler.sample(4, SHAPE, x_start=x_T, progress=False).samples,
                           sampler.sample(4, SHAPE, progress=False).samples)


def test_references_are_forward_noised_to_the_earliest_window():
    sampler = _sampler()
    images = torch.rand(5, *SHAPE) * 2 - 1
    ref = sampler.denoise_references(images, seed=7, progress=False)
    start = 10  # window 10 of 20 steps
    t, abar = int(sampler.table.timesteps[start]), float(sampler.table.alphas_cumprod_t[start])
    x_t = math.sqrt(abar) * images + math.sqrt(1 - abar) * ops.philox_normal(
        images.shape, seed=7, step=sampler.table.num_train_timesteps + 1 + t)
    direct = sampler.sample(5, SHAPE, seed=7, x_start=x_t, start=start, progress=False)
    assert torch.equal(ref.samples, direct.samples) and torch.equal(ref.scores, direct.scores)
    assert set(ref.aggregate_scores) == {(5, "mean"), (5, "max"), (10, "mean"), (10, "max")}


@pytest.mark.parametrize("kwargs,match", [
    ({"start": 10}, "start > 0 needs x_start"),
    ({"start": 25, "x_start": torch.zeros(6, *SHAPE)}, "start must be a step index"),
    ({"start": 12, "x_start": torch.zeros(6, *SHAPE)}, "begin before start=12"),
    ({"start": 10, "x_start": torch.zeros(2, *SHAPE)}, "x_start must have shape"),
])
def test_bad_starts_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _sampler().sample(6, SHAPE, progress=False, **kwargs)
