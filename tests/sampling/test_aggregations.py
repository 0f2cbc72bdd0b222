"""Every named aggregation of a score map, on hand-made maps whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeinterp.sampling.aggregations import (Aggregation, aggregate, aggregation_names,
                                              pool_size, resolve_aggregations, run_reference)


def maps_with_a_hot_patch(batch=3, size=8, hot=(2, 5, 1, 4), value=9.0, background=1.0):
    maps = torch.full((batch, 1, size, size), background)
    r0, r1, c0, c1 = hot
    maps[0, 0, r0:r1, c0:c1] = value
    return maps


def test_mean_max_and_quantiles():
    maps = torch.arange(2 * 100, dtype=torch.float32).reshape(2, 1, 10, 10)
    out = aggregate(maps, ["mean", "max", "q50", "q99", "q0", "q100"])
    assert torch.equal(out["mean"], torch.tensor([49.5, 149.5]))
    assert torch.equal(out["max"], torch.tensor([99.0, 199.0]))
    assert torch.allclose(out["q50"], torch.tensor([49.5, 149.5]))
    for q in ("q0", "q99", "q100"):
        expected = torch.quantile(maps.flatten(1), float(q[1:]) / 100, dim=1)
        torch.testing.assert_close(out[q], expected)


def test_pool_finds_the_hottest_patch():
    maps = maps_with_a_hot_patch()  # a 3×3 patch of 9 on a background of 1, sample 0 only
    out = aggregate(maps, ["pool1", "pool3", "pool4", "pool8"])
    assert out["pool1"].tolist() == [9.0, 1.0, 1.0]
    assert out["pool3"].tolist() == [9.0, 1.0, 1.0]  # exactly the patch
    assert out["pool4"][0] == pytest.approx((9 * 9 + 7 * 1) / 16)
    assert out["pool8"][0] == pytest.approx(maps[0].mean().item())  # the whole image
    channels = torch.cat([maps, torch.zeros_like(maps)], dim=1)  # channels are averaged first
    assert aggregate(channels, ["pool3"])["pool3"][0] == pytest.approx(4.5)


def test_component_takes_the_most_uncertain_region_and_its_rim():
    samples = -torch.ones(3, 1, 10, 10)
    samples[:, 0, 1:3, 1:3] = 1.0     # region A, rim included: rows/cols 0..3
    samples[:, 0, 6:8, 6:8] = 1.0     # region B: rows/cols 5..8
    samples[2] = -1.0                 # no foreground
    maps = torch.ones(3, 1, 10, 10)
    maps[0, 0, 6:8, 6:8] = 17.0       # B's interior: B's mean (4·17 + 12·1) / 16 = 5
    maps[1, 0, 0, 0] = 17.0           # A's rim corner: A's mean (17 + 15) / 16 = 2
    maps[2, 0, 0, :] = 11.0           # no foreground: the pixel mean
    out = aggregate(maps, ["component"], samples)["component"]
    torch.testing.assert_close(out, torch.tensor([5.0, 2.0, 2.0]))
    with pytest.raises(ValueError, match="component"):
        aggregate(maps, ["component"])  # needs the samples


def test_relative_normalises_by_the_runs_typical_pixel():
    maps = torch.ones(5, 1, 4, 4)
    maps[:, 0, 0, 0] = 100.0          # a pixel that is always uncertain…
    maps[0, 0, 3, 3] = 3.0            # …and one sample uncertain where others are not
    out = aggregate(maps, ["max", "rel-max", "rel-mean"])
    assert out["max"].tolist() == [100.0] * 5          # the raw max sees only the busy pixel
    assert out["rel-max"].tolist() == [3.0, 1.0, 1.0, 1.0, 1.0]
    assert torch.equal(run_reference(maps)[0, 0, 0], torch.tensor(100.0))
    reference = torch.full((1, 4, 4), 2.0)
    assert aggregate(maps, ["rel-max"], reference=reference)["rel-max"][0] == 50.0


def test_callables_and_names():
    def corner(maps, samples):
        return maps[:, 0, 0, 0]

    maps = torch.rand(4, 1, 5, 5)
    out = aggregate(maps, [corner, "max"])
    assert list(out) == ["mean", "corner", "max"]  # mean always first: it is the score
    assert torch.equal(out["corner"], maps[:, 0, 0, 0])
    with pytest.raises(ValueError, match="must return a \\(4,\\) tensor"):
        aggregate(maps, [lambda m, s: m.sum()])
    assert "poolK" in aggregation_names() and "rel-component" in aggregation_names()
    assert [pool_size(a) for a in ("pool2", "rel-pool8", "q99", "<lambda>")] == [2, 8, 4, 4]
    for bad, err in (("q101", ValueError), ("pool0", ValueError), ("median", ValueError),
                     (None, TypeError)):
        with pytest.raises(err):
            Aggregation(bad)
    with pytest.raises(ValueError, match="empty"):
        resolve_aggregations([])


def test_mean_with_m2_is_the_fused_score_bit_for_bit(gen):
    from modeinterp import ops

    m2 = torch.rand(6, 3, 7, 7, generator=gen)
    out = aggregate(m2 / 4, ["mean"], m2=m2, count=4)
    assert torch.equal(out["mean"], ops.trajectory_score(m2, 4))
    np.testing.assert_allclose(out["mean"].numpy(), (m2 / 4).flatten(1).mean(1).numpy(),
                               rtol=1e-6)
