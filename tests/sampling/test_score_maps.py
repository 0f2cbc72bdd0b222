"""Score maps and their aggregations from the sampler: the maps are the per-pixel variance of the
stored x̂0 trajectory, every (window, aggregation) pair equals its single-aggregation run bit for
bit, the scored schedulers' maps equal the Sampler's, shards keep the pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeinterp import Sampler, Schedule, ops
from modeinterp.sampling import load_samples
from modeinterp.sampling.shards import sample_to_shards

SCHEDULE = Schedule.linear(100, 1e-4, 0.02)
SHAPE = (2, 12, 12)
WINDOWS = [5, 12, (3, 9)]
AGGREGATIONS = ["mean", "max", "pool3", "q90", "component", "rel-pool3", "rel-mean"]


class ToyImageModel(torch.nn.Module):
    """A fixed, non-trivial image denoiser: a 3×3 convolution and a timestep shift."""

    def __init__(self, seed: int):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(2, 2, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen) * 0.3)
            self.conv.bias.copy_(torch.randn(2, generator=gen) * 0.1)

    def forward(self, x, t):
        return torch.tanh(self.conv(x) + t.float().view(-1, 1, 1, 1) / 500)


@pytest.fixture
def seed(gen):
    """Every test's random seed, printed so that a failure can be replayed."""
    value = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    print(f"seed = {value}")
    return value


def sample(model, window, aggregations=("mean",), table=None, device="cpu", **kw):
    table = table or SCHEDULE.table(method="ddim", steps=15, eta=1.0, clip=1.0)
    sampler = Sampler(model.to(device), table, window=window, aggregations=aggregations)
    kw.setdefault("batch_size", 5)
    return sampler.sample(13, SHAPE, seed=kw.pop("seed", 3), device=device, progress=False, **kw)


def test_maps_are_the_per_pixel_variance_of_the_trajectory(seed, device):
    model = ToyImageModel(seed)
    result = sample(model, WINDOWS, trajectory=13, score_maps=True, seed=seed, device=device)
    assert list(result.score_maps) == WINDOWS
    for spec, (start, stop) in zip(WINDOWS, result.step_ranges):
        expected = result.trajectory[:, start:stop].double().var(dim=1, unbiased=False)
        got = result.score_maps[spec]
        assert got.shape == (13, *SHAPE) and got.dtype == torch.float32
        torch.testing.assert_close(got.double().cpu(), expected.cpu(), rtol=1e-4, atol=1e-9)
        # The map's pixel mean is the window's score (the paper's).
        torch.testing.assert_close(got.flatten(1).mean(1), result.window_scores[spec],
                                   rtol=1e-5, atol=1e-12)


def test_every_pair_equals_its_single_aggregation_run(seed, device):
    model = ToyImageModel(seed)
    multi = sample(model, WINDOWS, AGGREGATIONS, seed=seed, device=device)
    assert list(multi.aggregate_scores) == [(w, a) for w in WINDOWS for a in AGGREGATIONS]
    for w in WINDOWS:
        assert torch.equal(multi.aggregate_scores[(w, "mean")], multi.window_scores[w])
        for a in AGGREGATIONS[1:]:
            single = sample(model, w, [a], seed=seed, device=device)
            assert torch.equal(multi.aggregate_scores[(w, a)], single.aggregate_scores[(w, a)]), \
                (w, a)
    plain = sample(model, WINDOWS, seed=seed, device=device)
    assert plain.all_scores.aggregations == ["mean"] and plain.score_maps == {}
    assert torch.equal(plain.samples, multi.samples)


def test_batch_size_does_not_change_any_pair(seed):
    model = ToyImageModel(seed)
    a = sample(model, WINDOWS, AGGREGATIONS, seed=seed, batch_size=13)
    b = sample(model, WINDOWS, AGGREGATIONS, seed=seed, batch_size=4)
    for key in a.aggregate_scores:
        torch.testing.assert_close(a.aggregate_scores[key], b.aggregate_scores[key],
                                   rtol=1e-5, atol=1e-12)


def test_scored_scheduler_maps_match_the_samplers(seed):
    """The same run through the scored scheduler and the Sampler: the same maps and aggregations
    up to float32 rounding (the scheduler takes the stock step's float32 coefficients, the
    Sampler's table is float64)."""
    pytest.importorskip("diffusers")
    from modeinterp.diffusers import ScoredDDPMScheduler

    model = ToyImageModel(seed)
    sched = ScoredDDPMScheduler(num_train_timesteps=100, beta_end=0.02, window=[5, (3, 9)],
                                seed=seed)
    sched.set_timesteps(20)
    table = Schedule(sched.betas.double().numpy()).table(method="ddpm", variance="fixed-small",
                                                         steps=20, clip=1.0)  # stock defaults
    assert np.array_equal(table.timesteps, sched.timesteps.numpy())
    result = sample(model, [5, (3, 9)], ["mean", "pool3", "q90"], table=table, seed=seed,
                    batch_size=13, score_maps=True)
    x = ops.philox_normal((13, *SHAPE), seed=seed, step=100)
    with torch.inference_mode():
        for t in sched.timesteps:
            x = sched.step(model(x, t.expand(13)), t, x).prev_sample
    close = dict(rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(x, result.samples, **close)
    for spec in (5, (3, 9)):
        torch.testing.assert_close(sched.score_maps[spec], result.score_maps[spec], **close)
    pairs = sched.score_result(x, ["mean", "pool3", "q90"]).aggregate_scores
    assert set(pairs) == set(result.aggregate_scores)
    for key, value in pairs.items():
        torch.testing.assert_close(value, result.aggregate_scores[key], **close, msg=str(key))


def test_scheduler_maps_wait_for_the_window():
    pytest.importorskip("diffusers")
    from modeinterp.diffusers import ScoredDDIMScheduler

    sched = ScoredDDIMScheduler(num_train_timesteps=100, window=3)
    sched.set_timesteps(10)
    x = torch.randn(2, 1, 4, 4)
    sched.step(torch.zeros_like(x), sched.timesteps[0], x)
    with pytest.raises(RuntimeError, match="not complete"):
        sched.score_maps


def test_shards_keep_every_pair_and_refuse_relative_ones(tmp_path, seed):
    model = ToyImageModel(seed)
    table = SCHEDULE.table(method="ddim", steps=15)
    aggs = ["mean", "max", "pool3"]
    sampler = Sampler(model, table, window=[5, 12], aggregations=aggs)
    sample_to_shards(sampler, 13, SHAPE, tmp_path, seed=seed, shard_size=5, progress=False)
    whole = sampler.sample(13, SHAPE, seed=seed, batch_size=5, progress=False)
    pairs = load_samples(tmp_path).aggregate_scores
    assert set(pairs) == set(whole.aggregate_scores) and len(pairs) == 6
    for key, value in whole.aggregate_scores.items():
        assert torch.equal(pairs[key], value), key
    relative = Sampler(model, table, window=5, aggregations=["mean", "rel-pool3"])
    with pytest.raises(ValueError, match="rel-pool3"):
        sample_to_shards(relative, 13, SHAPE, tmp_path / "rel", seed=seed, shard_size=5,
                         progress=False)


def test_bad_aggregations_are_refused():
    model = ToyImageModel(0)
    table = SCHEDULE.table(method="ddim", steps=15)
    with pytest.raises(ValueError, match="unknown aggregation 'pool'"):
        Sampler(model, table, aggregations=["pool"])
    with pytest.raises(ValueError, match="twice"):
        Sampler(model, table, aggregations=["max", "max"])
    with pytest.raises(TypeError, match="aggregations"):
        Sampler(model, table, aggregations=[3])
    with pytest.raises(TypeError, match="score_maps"):
        Sampler(model, table).sample(2, SHAPE, score_maps=1, progress=False)
    with pytest.raises(ValueError, match="pool3"):  # a toy (B, 2) run has no image to pool
        Sampler(lambda x, t: x, table, aggregations=["pool3"]).sample(2, (2,), progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_graphed_loop_gives_the_eager_maps_and_pairs(seed):
    model = ToyImageModel(seed).to("cuda")
    table = SCHEDULE.table(method="ddim", steps=15, eta=1.0, clip=1.0)
    runs = [Sampler(model, table, window=WINDOWS, aggregations=AGGREGATIONS, graph=graph).sample(
        13, SHAPE, seed=seed, batch_size=5, device="cuda", progress=False, score_maps=True)
        for graph in (True, False)]
    for key in runs[1].aggregate_scores:
        torch.testing.assert_close(runs[0].aggregate_scores[key], runs[1].aggregate_scores[key],
                                   rtol=1e-5, atol=1e-12)
    for w in WINDOWS:
        torch.testing.assert_close(runs[0].score_maps[w], runs[1].score_maps[w], rtol=1e-5,
                                   atol=1e-12)
