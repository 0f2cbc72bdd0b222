"""fused_step's ``counter`` tensor ([seed, offset] read by the kernel) gives exactly the result of
the seed/offset scalars it replaces, on every device and for every alignment of the offset — the
property CUDA-graph replays (Sampler(graph=True)) rely on."""

from __future__ import annotations

import pytest
import torch

from modeinterp import ops, reference

from conftest import TOL

COEF = (1.05, -0.2, 0.9, 0.07, 0.02, 0.6, 0.0)


def inputs(device, dtype, n, gen):
    x = torch.randn(n, generator=gen).to(device, dtype)
    out = torch.randn(n, generator=gen).to(device, dtype)
    return x, out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 2**63 + 5])
def test_counter_equals_the_scalars_it_replaces(device, dtype, offset, gen):
    seed = int(torch.randint(0, 2**62, (1,), generator=gen)) + 2**63  # the high bit set too
    x, out = inputs(device, dtype, 1031, gen)
    mean, m2 = torch.randn(1031, generator=gen).to(device), torch.rand(1031, generator=gen).to(device)
    want_acc = (mean.clone(), m2.clone())
    want = ops.fused_step(x, out, COEF, seed=seed, step=17, offset=offset, mean=want_acc[0],
                          m2=want_acc[1], count=4, return_x0=True)
    counter = torch.tensor(ops.counter_words(seed, offset), device=device)
    # The scalars are placeholders now: different values must not leak into the result.
    got = ops.fused_step(x, out, COEF, seed=1, step=17, offset=0, mean=mean, m2=m2, count=4,
                         return_x0=True, counter=counter)
    for g, w in zip(got + (mean, m2), want + want_acc):
        torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_counter_matches_the_reference(device, gen):
    x, out = inputs(device, torch.float32, 257, gen)
    counter = torch.tensor(ops.counter_words(12345, 6), device=device)
    got = ops.fused_step(x, out, COEF, step=3, counter=counter)
    want = reference.fused_step(x, out, COEF, seed=12345, step=3, offset=6)
    torch.testing.assert_close(got, want, **TOL[torch.float32])


def test_counter_written_after_the_call_site_changes_the_noise(device, gen):
    """The kernel reads the counter when it runs: the same call with the tensor's contents
    changed draws another stream (what a graph replay sees)."""
    x, out = inputs(device, torch.float32, 64, gen)
    counter = torch.tensor(ops.counter_words(1, 0), device=device)
    first = ops.fused_step(x, out, COEF, step=3, counter=counter)
    counter.copy_(torch.tensor(ops.counter_words(2, 0)))
    second = ops.fused_step(x, out, COEF, step=3, counter=counter)
    assert not torch.equal(first, second)
    torch.testing.assert_close(second, ops.fused_step(x, out, COEF, seed=2, step=3),
                               rtol=0, atol=0)


@pytest.mark.parametrize("bad,match", [
    (torch.zeros(2, dtype=torch.int32), "counter must be int64"),
    (torch.zeros(3, dtype=torch.int64), "counter must have shape"),
    ([1, 2], "counter must be a torch.Tensor"),
])
def test_bad_counter_names_the_argument(device, bad, match):
    x = torch.zeros(8, device=device)
    if isinstance(bad, torch.Tensor):
        bad = bad.to(device)
    with pytest.raises((TypeError, ValueError), match=match):
        ops.fused_step(x, x, COEF, counter=bad)


def test_counter_on_another_device_is_rejected():
    x = torch.zeros(8)
    with pytest.raises((ValueError, RuntimeError), match="counter"):
        ops.fused_step(x, x, COEF, counter=torch.zeros(2, dtype=torch.int64, device="meta"))


def test_opcheck_with_counter(device):
    x = torch.randn(3, 9, device=device)
    counter = torch.tensor([5, 2], device=device)
    torch.library.opcheck(torch.ops.modeinterp.fused_step.default,
                          (x, x.clone(), *COEF[:6], 1.0, None, 0, 7, 0, torch.zeros_like(x),
                           torch.zeros_like(x), 3, True, counter))
