"""modeinterp.ops.welford_update_ (the fused step's Welford update alone) against the plain-torch
reference, float64 numpy, the fused step itself, opcheck and torch.compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import DTYPES

from modeinterp import ops, reference

SHAPES = [(1,), (7, 5), (4, 3, 17), (2, 1031), (3, 3, 8, 8)]


def accumulators(shape, device):
    return torch.zeros(shape, device=device), torch.zeros(shape, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference_and_float64_var(device, gen, dtype, shape):
    K = 9
    mean, m2 = accumulators(shape, device)
    ref_mean, ref_m2 = accumulators(shape, device)
    stored = []
    for k in range(K):
        x = (torch.randn(shape, generator=gen) * 3 + 1).to(dtype).to(device)
        ops.welford_update_(mean, m2, x, k)
        reference.welford_update_(ref_mean, ref_m2, x, k)
        stored.append(x.double().cpu().numpy())
    torch.testing.assert_close(mean, ref_mean, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(m2, ref_m2, rtol=1e-6, atol=1e-5)
    stack = np.stack(stored)
    np.testing.assert_allclose(mean.double().cpu().numpy(), stack.mean(axis=0), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose((m2 / K).double().cpu().numpy(), stack.var(axis=0, ddof=0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_equal_to_the_fused_steps_welford(device, gen, dtype):
    """With a = 1, b = 0 the fused step's x̂0 is x itself: both ops must leave identical bits."""
    shape = (5, 2, 33)
    identity = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    mean, m2 = accumulators(shape, device)
    fused_mean, fused_m2 = accumulators(shape, device)
    for k in range(6):
        x = torch.randn(shape, generator=gen).to(dtype).to(device)
        ops.welford_update_(mean, m2, x, k)
        ops.fused_step(x, torch.randn_like(x), identity, mean=fused_mean, m2=fused_m2, count=k)
    assert torch.equal(mean, fused_mean) and torch.equal(m2, fused_m2)


def test_noncontiguous_x_and_empty(device, gen):
    x = torch.randn(6, 4, generator=gen).to(device).t()  # (4, 6), not contiguous
    mean, m2 = accumulators((4, 6), device)
    ref_mean, ref_m2 = accumulators((4, 6), device)
    ops.welford_update_(mean, m2, x, 0)
    reference.welford_update_(ref_mean, ref_m2, x, 0)
    assert torch.equal(mean, ref_mean) and torch.equal(m2, ref_m2)
    empty = torch.empty(0, 3, device=device)
    ops.welford_update_(empty.clone(), empty.clone(), empty, 4)  # nothing to do, no error


@pytest.mark.parametrize("impl", [ops, reference], ids=["ops", "reference"])
def test_bad_input_names_the_argument(device, impl):
    x = torch.randn(3, 4, device=device)
    mean, m2 = accumulators((3, 4), device)
    with pytest.raises(ValueError, match="count"):
        impl.welford_update_(mean, m2, x, -1)
    with pytest.raises(TypeError, match="x must be float32"):
        impl.welford_update_(mean, m2, x.double(), 0)
    with pytest.raises(TypeError, match="mean"):
        impl.welford_update_(mean.double(), m2, x, 0)
    with pytest.raises(ValueError, match="m2"):
        impl.welford_update_(mean, torch.zeros(3, 5, device=device), x, 0)
    with pytest.raises(TypeError):
        impl.welford_update_(mean, m2, [1.0, 2.0], 0)


def test_accumulators_must_be_contiguous_and_distinct(device):
    x = torch.randn(4, 4, device=device)
    mean, m2 = accumulators((4, 4), device)
    with pytest.raises(ValueError, match="contiguous"):
        ops.welford_update_(mean.t(), m2, x, 0)
    with pytest.raises(ValueError, match="different tensors"):
        ops.welford_update_(mean, mean, x, 0)


def test_opcheck(device):
    ops.load()
    x = torch.randn(3, 9, device=device)
    torch.library.opcheck(torch.ops.modeinterp.welford_update_.default,
                          (torch.rand(3, 9, device=device), torch.rand(3, 9, device=device), x, 4))


def test_under_torch_compile_fullgraph(device, gen):
    x = torch.randn(4, 6, generator=gen).to(device)

    def fold(mean, m2, x):
        ops.welford_update_(mean, m2, x * 2, 3)
        return mean + 1

    mean, m2 = torch.rand(4, 6, device=device), torch.rand(4, 6, device=device)
    eager_mean, eager_m2 = mean.clone(), m2.clone()
    got = torch.compile(fold, fullgraph=True, backend="aot_eager")(mean, m2, x)
    want = fold(eager_mean, eager_m2, x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(m2, eager_m2)
