"""modeinterp.ops.fused_step / trajectory_score against the plain-torch reference and float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import DTYPES, TOL, poison_allocator

from modeinterp import ops, reference

SHAPES = [(1,), (3,), (7, 5), (4, 3, 17), (2, 1031), (5, 3, 8, 8)]


def random_coef(gen, clip: bool, sigma: bool = True):
    v = (torch.rand(6, generator=gen, dtype=torch.float64) * 4 - 2).tolist()
    s = float(torch.rand(1, generator=gen)) if sigma else 0.0
    return (v[0], v[1], v[2], v[3], v[4], s, 1.0 if clip else 0.0)


def inputs(shape, dtype, device, gen):
    x = torch.randn(shape, generator=gen).to(dtype).to(device)
    out = torch.randn(shape, generator=gen).to(dtype).to(device)
    return x, out


def float64_step(x, out, coef, z):
    """The docs/design.md formula in float64 numpy from the (already rounded) inputs."""
    a, b, c0, c1, c2, s, clip = coef
    x, out, z = (t.detach().double().cpu().numpy() for t in (x, out, z))
    x0 = a * x + b * out
    if clip > 0:
        x0 = np.clip(x0, -clip, clip)
    return c0 * x0 + c1 * x + c2 * out + s * z, x0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("noise_kind", ["philox", "tensor", "none"])
def test_fused_step_matches_reference_and_float64(device, gen, dtype, shape, clip, noise_kind):
    x, out = inputs(shape, dtype, device, gen)
    coef = random_coef(gen, clip, sigma=noise_kind != "none")
    noise = torch.randn(shape, generator=gen).to(device) if noise_kind == "tensor" else None
    seed, step, offset = (int(torch.randint(0, 2**62, (1,), generator=gen)), 17, 5)
    poison_allocator(x.numel(), device)
    got, got_x0 = ops.fused_step(x, out, coef, noise=noise, seed=seed, step=step, offset=offset,
                                 return_x0=True)
    ref, ref_x0 = reference.fused_step(x, out, coef, noise=noise, seed=seed, step=step,
                                       offset=offset, return_x0=True)
    assert got.dtype == dtype and got.shape == x.shape and got.device == x.device
    assert got_x0.dtype == dtype and got_x0.shape == x.shape
    assert torch.isfinite(got).all() and torch.isfinite(got_x0).all()
    torch.testing.assert_close(got, ref, **TOL[dtype])
    torch.testing.assert_close(got_x0, ref_x0, **TOL[dtype])
    # float64 oracle: the kernel's float32 maths is off by rounding only.
    z = noise if noise is not None else (
        reference.philox_normal(shape, seed=seed, step=step, offset=offset, device=device)
        if noise_kind == "philox" else torch.zeros(shape))
    want, want_x0 = float64_step(x, out, coef, z)
    scale = 1.0 + np.abs(want).max()
    tol = TOL[dtype]["rtol"] * scale
    np.testing.assert_allclose(got.double().cpu().numpy(), want, rtol=0, atol=tol)
    np.testing.assert_allclose(got_x0.double().cpu().numpy(), want_x0, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_welford_over_k_steps_equals_numpy_var(device, gen, dtype):
    shape, K = (6, 3, 11), 10
    mean = torch.full(shape, float("nan"), device=device)  # poisoned: count=0 must overwrite
    m2 = torch.full(shape, float("nan"), device=device)
    mean.zero_(), m2.zero_()
    stored, stored_ref = [], []
    ref_mean, ref_m2 = mean.clone(), m2.clone()
    for k in range(K):
        x, out = inputs(shape, dtype, device, gen)
        coef = random_coef(gen, clip=False)
        _, x0 = ops.fused_step(x, out, coef, seed=1, step=k, mean=mean, m2=m2, count=k,
                               return_x0=True)
        reference.fused_step(x, out, coef, seed=1, step=k, mean=ref_mean, m2=ref_m2, count=k)
        # Welford sees the float32 x̂0 before rounding to x's dtype: recompute it in float64.
        a, b = coef[0], coef[1]
        stored.append((a * x.double() + b * out.double()).cpu().numpy())
    var = np.var(np.stack(stored), axis=0, ddof=0)
    np.testing.assert_allclose((m2 / K).double().cpu().numpy(), var, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean.double().cpu().numpy(), np.mean(np.stack(stored), axis=0),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(m2, ref_m2, rtol=1e-5, atol=1e-6)
    score = ops.trajectory_score(m2, K)
    np.testing.assert_allclose(score.double().cpu().numpy(), var.reshape(6, -1).mean(axis=1),
                               rtol=1e-5)
    torch.testing.assert_close(score, reference.trajectory_score(m2, K))


def test_welford_skipped_without_accumulators_and_count_offsets(device, gen):
    """count is the number already accumulated: resuming mid-window continues the same stats."""
    shape = (4, 9)
    xs = [inputs(shape, torch.float32, device, gen) for _ in range(6)]
    coef = random_coef(gen, clip=True)
    mean, m2 = torch.zeros(shape, device=device), torch.zeros(shape, device=device)
    for k, (x, out) in enumerate(xs):
        ops.fused_step(x, out, coef, seed=0, step=k, mean=mean, m2=m2, count=k)
    # Same in two halves with the state carried over.
    mean_b, m2_b = torch.zeros(shape, device=device), torch.zeros(shape, device=device)
    for k, (x, out) in enumerate(xs[:3]):
        ops.fused_step(x, out, coef, seed=0, step=k, mean=mean_b, m2=m2_b, count=k)
    mean_c, m2_c = mean_b.clone(), m2_b.clone()
    for k, (x, out) in enumerate(xs[3:], start=3):
        ops.fused_step(x, out, coef, seed=0, step=k, mean=mean_c, m2=m2_c, count=k)
    assert torch.equal(mean, mean_c) and torch.equal(m2, m2_c)


def test_noncontiguous_inputs_are_handled(device, gen):
    x, out = inputs((6, 10), torch.float32, device, gen)
    coef = random_coef(gen, clip=False)
    xt, outt = x.t(), out.t()  # non-contiguous views
    got = ops.fused_step(xt, outt, coef, seed=4, step=2)
    want = ops.fused_step(xt.contiguous(), outt.contiguous(), coef, seed=4, step=2)
    assert torch.equal(got, want)


def test_noncontiguous_accumulators_are_rejected(device):
    x = torch.randn(6, 10, device=device)
    mean = torch.zeros(10, 6, device=device).t()
    with pytest.raises(ValueError, match="mean must be contiguous"):
        ops.fused_step(x, x, (1, 0, 1, 0, 0, 0, 0), mean=mean, m2=torch.zeros_like(x))


def test_empty_tensor(device):
    x = torch.empty(0, 3, device=device)
    assert ops.fused_step(x, x, (1, 0, 1, 0, 0, 1, 0)).shape == (0, 3)


def test_half_noise_tensor_is_accepted(device, gen):
    x, out = inputs((3, 8), torch.bfloat16, device, gen)
    noise = torch.randn(3, 8, generator=gen).to(torch.bfloat16).to(device)
    coef = random_coef(gen, clip=False)
    got = ops.fused_step(x, out, coef, noise=noise)
    torch.testing.assert_close(got, reference.fused_step(x, out, coef, noise=noise),
                               **TOL[torch.bfloat16])


def test_trajectory_score_matches_reference(device, gen):
    m2 = torch.rand(7, 3, 5, generator=gen).to(device)
    torch.testing.assert_close(ops.trajectory_score(m2, 4), reference.trajectory_score(m2, 4))
    want = (m2.double() / 4).reshape(7, -1).mean(1).float()
    torch.testing.assert_close(ops.trajectory_score(m2, 4), want)
