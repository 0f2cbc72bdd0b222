"""The ops as real torch operators: opcheck (schema, fake kernels, autograd registration) and
torch.compile(fullgraph=True)."""

from __future__ import annotations

import pytest
import torch

from modeinterp import ops

ops.load()  # these tests call torch.ops.modeinterp directly

COEF = (1.1, -0.3, 0.8, 0.15, 0.05, 0.4, 1.0)


def fused_args(device, dtype=torch.float32, welford=True, noise=False, return_x0=True):
    x = torch.randn(3, 9, device=device).to(dtype)
    out = torch.randn(3, 9, device=device).to(dtype)
    acc = (torch.zeros(3, 9, device=device), torch.zeros(3, 9, device=device)) if welford \
        else (None, None)
    z = torch.randn(3, 9, device=device) if noise else None
    return (x, out, *COEF, z, 5, 7, 2, *acc, 3, return_x0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("welford,noise,return_x0", [(True, False, True), (False, True, False)])
def test_opcheck_fused_step(device, dtype, welford, noise, return_x0):
    torch.library.opcheck(torch.ops.modeinterp.fused_step.default,
                          fused_args(device, dtype, welford, noise, return_x0))


def test_opcheck_philox_fill(device):
    torch.library.opcheck(torch.ops.modeinterp.philox_fill_.default,
                          (torch.empty(5, 7, device=device), 3, 4, 11))


def test_opcheck_trajectory_score(device):
    torch.library.opcheck(torch.ops.modeinterp.trajectory_score.default,
                          (torch.rand(4, 2, 3, device=device), 6))


def test_fused_step_under_torch_compile_fullgraph(device):
    torch._dynamo.reset()

    def step(x, out, mean, m2):
        x_prev = ops.fused_step(x, out, COEF, seed=3, step=10, mean=mean, m2=m2, count=2)
        return x_prev, ops.trajectory_score(m2, 3)

    x, out = torch.randn(4, 10, device=device), torch.randn(4, 10, device=device)
    mean_e, m2_e = torch.rand(4, 10, device=device), torch.rand(4, 10, device=device)
    mean_c, m2_c = mean_e.clone(), m2_e.clone()
    eager = step(x, out, mean_e, m2_e)
    compiled = torch.compile(step, fullgraph=True, backend="inductor")(x, out, mean_c, m2_c)
    for a, b in zip(eager, compiled):
        assert torch.equal(a, b)
    assert torch.equal(mean_e, mean_c) and torch.equal(m2_e, m2_c)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_fused_step_in_cuda_graph():
    if not __import__("modeinterp").build_info()["cuda"]:
        pytest.skip("extension built without CUDA")
    x = torch.randn(64, 100, device="cuda")
    out = torch.randn(64, 100, device="cuda")
    mean, m2 = torch.zeros_like(x), torch.zeros_like(x)
    eager_mean, eager_m2 = mean.clone(), m2.clone()
    want = ops.fused_step(x, out, COEF, seed=1, step=2, mean=eager_mean, m2=eager_m2, count=0)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):  # warm-up outside capture, as the CUDA graphs docs advise
        ops.fused_step(x, out, COEF, seed=1, step=2, mean=mean.clone(), m2=m2.clone(), count=0)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        got = ops.fused_step(x, out, COEF, seed=1, step=2, mean=mean, m2=m2, count=0)
    g.replay()
    torch.cuda.synchronize()
    assert torch.equal(got, want) and torch.equal(mean, eager_mean) and torch.equal(m2, eager_m2)
