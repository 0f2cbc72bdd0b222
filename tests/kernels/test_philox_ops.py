"""The kernels' in-kernel noise stream (modeinterp.ops.philox_normal and fused_step's noise)."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from modeinterp import ops, reference

# Box–Muller in float32 through different libm's (glibc, Sleef in torch, CUDA): a few ulp of a
# value of magnitude up to ~6.7.
NOISE_TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("offset", [0, 1, 3, 2**31 - 2, 2**32 + 1, 2**40 + 7, 2**64 - 8192])
@pytest.mark.parametrize("n", [1, 5, 4099])
def test_matches_reference(device, offset, n):
    seed, step = 0x1234_5678_9ABC_DEF0, 2**33 + 5
    got = ops.philox_normal((n,), seed=seed, step=step, offset=offset, device=device)
    want = reference.philox_normal((n,), seed=seed, step=step, offset=offset, device=device)
    assert got.dtype == torch.float32 and got.device.type == device
    torch.testing.assert_close(got, want, **NOISE_TOL)


def test_bitwise_repeatable_and_thread_independent(device):
    kw = dict(seed=7, step=999, offset=3, device=device)
    first = ops.philox_normal((3, 70001), **kw)
    assert torch.equal(first, ops.philox_normal((3, 70001), **kw))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert torch.equal(first, ops.philox_normal((3, 70001), **kw))
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("base", [0, 2**32 - 5])
def test_chunks_with_offsets_equal_one_call(device, base):
    whole = ops.philox_normal(1000, seed=11, step=3, offset=base, device=device)
    cuts = [0, 1, 6, 13, 400, 403, 1000]
    parts = [ops.philox_normal(b - a, seed=11, step=3, offset=base + a, device=device)
             for a, b in zip(cuts, cuts[1:])]
    assert torch.equal(torch.cat(parts), whole)


def test_fused_step_noise_is_the_stream(device):
    """With x̂0 = 0 and σ = 1 the step returns its noise: it must be philox_normal's."""
    x = torch.randn(5, 77, device=device)
    z = ops.fused_step(x, x, (0, 0, 0, 0, 0, 1, 0), seed=5, step=12, offset=2**35 + 1)
    assert torch.equal(z, ops.philox_normal(x.shape, seed=5, step=12, offset=2**35 + 1,
                                            device=device))


def test_fused_step_batch_split_with_offsets(device):
    """Sharding a batch across calls with offsets gives the same result as one call."""
    x, out = torch.randn(8, 33, device=device), torch.randn(8, 33, device=device)
    coef = (1.2, -0.4, 0.7, 0.2, 0.1, 0.5, 0.0)
    whole = ops.fused_step(x, out, coef, seed=9, step=40)
    a = ops.fused_step(x[:3], out[:3], coef, seed=9, step=40, offset=0)
    b = ops.fused_step(x[3:], out[3:], coef, seed=9, step=40, offset=3 * 33)
    assert torch.equal(torch.cat([a, b]), whole)


def test_different_keys_give_different_noise(device):
    base = ops.philox_normal(256, seed=1, step=1, device=device)
    for kw in (dict(seed=2, step=1), dict(seed=1 + 2**32, step=1), dict(seed=1, step=2),
               dict(seed=1, step=1 + 2**32)):
        assert not torch.equal(base, ops.philox_normal(256, device=device, **kw))


def test_normal_statistics(device):
    z = ops.philox_normal(1 << 20, seed=2024, step=0, device=device).double().cpu()
    n = z.numel()
    assert abs(z.mean().item()) < 5 / n**0.5
    assert abs(z.var().item() - 1) < 5 * (2 / n) ** 0.5
    assert stats.kstest(z.numpy(), "norm").pvalue > 1e-4
    for lane in range(4):  # each lane on its own is standard normal too
        assert stats.kstest(z[lane::4].numpy(), "norm").pvalue > 1e-4
