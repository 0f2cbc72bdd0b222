"""Sampler(graph=True): the captured CUDA-graph loop gives the eager loop's samples and scores
(same Philox stream through the device-side counter), reuses one capture across batches, captures
anew for new weights, and falls back to eager with a warning when capture is impossible."""

from __future__ import annotations

import warnings

import pytest
import torch

from modeinterp import Sampler, Schedule
from modeinterp.models import MLPDenoiser

TABLE = Schedule.linear(60, 1e-3, 0.2).table()
DDIM = Schedule.linear(60, 1e-3, 0.2).table(method="ddim", steps=12)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


def mlp(device="cpu", seed=0):
    torch.manual_seed(seed)
    return MLPDenoiser(2).to(device).eval()


def run(sampler, **kw):
    kw.setdefault("seed", 11)
    kw.setdefault("device", "cuda")
    return sampler.sample(kw.pop("n", 300), (2,), progress=False, **kw)


def assert_same(a, b):
    # The same kernels in the same order: equal up to the denoiser's own rounding (cuBLAS may
    # pick another algorithm under capture).
    torch.testing.assert_close(a.samples, b.samples, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.scores, b.scores, rtol=1e-4, atol=1e-9)
    for k in a.early_scores:
        torch.testing.assert_close(a.early_scores[k], b.early_scores[k], rtol=1e-4, atol=1e-9)
    for k in a.window_scores:
        torch.testing.assert_close(a.window_scores[k], b.window_scores[k], rtol=1e-4, atol=1e-9)


def test_graph_argument_is_checked():
    with pytest.raises(TypeError, match="graph"):
        Sampler(mlp(), TABLE, graph="yes")


def test_graph_is_ignored_on_cpu():
    a = run(Sampler(mlp(), TABLE, graph=True), device="cpu", n=20)
    b = run(Sampler(mlp(), TABLE, graph=False), device="cpu", n=20)
    assert torch.equal(a.samples, b.samples) and torch.equal(a.scores, b.scores)


@cuda
@pytest.mark.parametrize("table", [TABLE, DDIM], ids=["ddpm", "ddim"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_graph_equals_eager(table, dtype):
    model = mlp("cuda").to(dtype)
    kw = dict(window=[10, 3, (20, 40)] if table is TABLE else [4, 2])
    eager = run(Sampler(model, table, graph=False, dtype=dtype, **kw), batch_size=128,
                early_exit=(1, 2))
    graphed_sampler = Sampler(model, table, graph=True, dtype=dtype, **kw)
    graphed = run(graphed_sampler, batch_size=128, early_exit=(1, 2))
    assert_same(graphed, eager)
    # 300 = 2 x 128 + 44: one capture per batch size, replayed for the second full batch.
    assert len(graphed_sampler._graphs) == 2


@cuda
def test_graph_is_the_default_on_cuda_and_replays_differ_by_seed():
    sampler = Sampler(mlp("cuda"), TABLE)
    a, b = run(sampler, seed=1), run(sampler, seed=2)
    assert len(sampler._graphs) == 1
    assert not torch.equal(a.samples, b.samples)
    assert_same(a, run(Sampler(mlp("cuda"), TABLE, graph=False), seed=1))
    assert_same(b, run(Sampler(mlp("cuda"), TABLE, graph=False), seed=2))


@cuda
def test_offset_of_any_alignment():
    """first= moves the noise counter to any element offset (odd, not a multiple of 4)."""
    sampler = Sampler(mlp("cuda"), TABLE, graph=True)
    for first in (0, 1, 3, 1001):
        assert_same(run(sampler, n=50, first=first),
                    run(Sampler(mlp("cuda"), TABLE, graph=False), n=50, first=first))


@cuda
def test_new_weights_are_seen():
    model = mlp("cuda")
    sampler = Sampler(model, TABLE, graph=True)
    run(sampler)
    model.load_state_dict(mlp("cuda", seed=5).state_dict())  # in place: the graph sees them
    assert_same(run(sampler), run(Sampler(mlp("cuda", seed=5), TABLE, graph=False)))
    sampler.model = mlp("cuda", seed=6)  # other tensors: captured anew
    assert_same(run(sampler), run(Sampler(mlp("cuda", seed=6), TABLE, graph=False)))


class Syncing(torch.nn.Module):
    """A denoiser that reads a value back to the host at every call: not capturable."""

    def __init__(self):
        super().__init__()
        self.inner = mlp("cuda")

    def forward(self, x, t):
        return self.inner(x, t) * (1.0 if x.abs().max().item() >= 0 else 0.0)


@cuda
def test_capture_failure_falls_back_to_eager_with_one_warning():
    model = Syncing()
    sampler = Sampler(model, TABLE, graph=True)
    with pytest.warns(RuntimeWarning, match="capture failed"):
        a = run(sampler, batch_size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(sampler, n=10)  # no second warning
    assert_same(a, run(Sampler(model, TABLE, graph=False), batch_size=100))
    # The caller's own CUDA random numbers still work after the failed capture: torch leaves
    # its generator marked as capturing unless the sampler restores it.
    assert torch.randn(8, device="cuda").isfinite().all()


@cuda
def test_trajectory_uses_the_eager_loop():
    sampler = Sampler(mlp("cuda"), TABLE, graph=True)
    with pytest.warns(RuntimeWarning, match="eagerly"):
        r = run(sampler, n=20, trajectory=4)
    assert r.trajectory.shape == (4, 60, 2) and not sampler._graphs
