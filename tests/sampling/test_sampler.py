"""modeinterp.Sampler: shapes, determinism, batch-size invariance, window/early-exit scores equal
the variance of the stored x̂0 trajectory, and agreement with a plain-torch sampling loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeinterp import Sampler, Schedule, reference
from modeinterp.data import GaussianGrid
from modeinterp.models.mixture import MixtureDenoiser

SCHEDULE = Schedule.linear(100, 1e-3, 0.2)


@pytest.fixture(scope="module")
def model():
    data = GaussianGrid()
    return MixtureDenoiser(data.modes, data.std, SCHEDULE.alphas_cumprod)


def sample(model, device="cpu", table=None, **kw):
    sampler = Sampler(model.to(device), table or SCHEDULE.table(), window=kw.pop("window", 10))
    kw.setdefault("seed", 3)
    return sampler.sample(kw.pop("n", 37), (2,), device=device, progress=False, **kw)


def test_shapes_and_dtypes(model, device):
    r = sample(model, device, trajectory=5, early_exit=(2, 4))
    assert r.samples.shape == (37, 2) and r.samples.dtype == torch.float32
    assert r.scores.shape == (37,) and r.scores.dtype == torch.float32
    assert r.trajectory.shape == (5, 100, 2)
    assert set(r.early_scores) == {2, 4} and r.step_range == (90, 100)
    assert torch.equal(r.timesteps, torch.arange(99, -1, -1))
    assert torch.isfinite(r.samples).all() and (r.scores >= 0).all()


def test_deterministic_per_seed(model):
    a, b, c = sample(model), sample(model), sample(model, seed=4)
    assert torch.equal(a.samples, b.samples) and torch.equal(a.scores, b.scores)
    assert not torch.equal(a.samples, c.samples)


@pytest.mark.parametrize("batch_size", [1, 7, 36])
def test_batch_size_invariance(model, batch_size):
    whole = sample(model)
    split = sample(model, batch_size=batch_size)
    torch.testing.assert_close(split.samples, whole.samples, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(split.scores, whole.scores, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("window", [10, (40, 70)])
def test_scores_are_the_variance_of_the_x0_trajectory(model, window):
    r = sample(model, n=20, trajectory=20, window=window, early_exit=(1, 3))
    start, stop = r.step_range
    traj = r.trajectory.double().numpy()
    want = np.var(traj[:, start:stop], axis=1, ddof=0).mean(axis=-1)
    np.testing.assert_allclose(r.scores.numpy(), want, rtol=2e-4, atol=1e-10)
    for k in (1, 3):
        want_k = np.var(traj[:, start:start + k], axis=1, ddof=0).mean(axis=-1)
        np.testing.assert_allclose(r.early_scores[k].numpy(), want_k, rtol=2e-4, atol=1e-10)


@pytest.mark.parametrize("method", ["ddpm", "ddim"])
def test_matches_plain_torch_loop(model, method):
    """The sampler = x_T from the Philox stream at step T, then the reference step per t."""
    table = SCHEDULE.table(method=method, steps=None if method == "ddpm" else 20, eta=0.0)
    r = sample(model, table=table, n=16)
    x = reference.philox_normal((16, 2), seed=3, step=100)
    for i, coef in enumerate(table.coef(j) for j in range(len(table))):
        t = int(table.timesteps[i])
        x = reference.fused_step(x, model(x, torch.full((16,), t)), coef, seed=3, step=t)
    torch.testing.assert_close(r.samples, x, rtol=1e-4, atol=1e-4)


def test_exact_denoiser_lands_on_modes(model):
    r = sample(model, n=300)
    data = GaussianGrid()
    assert data.is_hallucination(r.samples).float().mean() < 0.02


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="window"):
        Sampler(model, SCHEDULE.table(), window=101)
    with pytest.raises(ValueError, match="window"):
        Sampler(model, SCHEDULE.table(), window=(5, 5))
    with pytest.raises(TypeError, match="table"):
        Sampler(model, "ddpm")
    with pytest.raises(ValueError, match="n must"):
        sample(model, n=0)
    with pytest.raises(ValueError, match="batch_size"):
        sample(model, batch_size=0)
    with pytest.raises(ValueError, match="early_exit"):
        sample(model, early_exit=(11,))
    with pytest.raises(RuntimeError, match="shaped like x_t"):
        Sampler(lambda x, t: x[:, :1], SCHEDULE.table()).sample(4, (2,), progress=False)


def test_model_gets_one_timestep_expanded_over_the_batch():
    """t reaches the model as one int64 value expanded over the batch (stride 0), which lets a
    model embed it once (MLPDenoiser does)."""
    seen = []

    def spy(x, t):
        seen.append((tuple(t.shape), t.stride(), t.dtype, int(t[0])))
        return torch.zeros_like(x)

    table = SCHEDULE.table(method="ddim", steps=5)
    Sampler(spy, table, window=2).sample(6, (2,), batch_size=4, progress=False)
    want = [((size,), (0,), torch.int64, int(t)) for size in (4, 2) for t in table.timesteps]
    assert seen == want
