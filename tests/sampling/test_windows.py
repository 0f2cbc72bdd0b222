"""Several score windows in one sampling pass: every window's scores equal, bit for bit, those of
a run with that window alone (Sampler and the scored diffusers schedulers); window lists."""

from __future__ import annotations

import pytest
import torch

from modeinterp import Sampler, Schedule
from modeinterp.data import GaussianGrid
from modeinterp.models.mixture import MixtureDenoiser
from modeinterp.sampling import resolve_windows

SCHEDULE = Schedule.linear(100, 1e-3, 0.2)
WINDOWS = [10, 2, 5, 20, (4, 16), (25, 30)]  # six windows, within the 30-step DDIM run too


@pytest.fixture(scope="module")
def model():
    data = GaussianGrid()
    return MixtureDenoiser(data.modes, data.std, SCHEDULE.alphas_cumprod)


def run(model, window, table=None, **kw):
    return Sampler(model, table or SCHEDULE.table(), window=window).sample(
        45, (2,), seed=7, batch_size=20, progress=False, **kw)


@pytest.mark.parametrize("table", [SCHEDULE.table(), SCHEDULE.table(method="ddim", steps=30,
                                                                      eta=0.5, clip=1.0)],
                         ids=["ddpm", "ddim"])
def test_every_window_equals_its_single_window_run(model, table, device):
    model = model.to(device)
    multi = run(model, WINDOWS, table, device=device, early_exit=(2, 5))
    assert list(multi.window_scores) == WINDOWS
    assert multi.step_ranges == [resolve_windows([w], len(table))[1][0] for w in WINDOWS]
    for w in WINDOWS:
        single = run(model, w, table, device=device)
        assert torch.equal(multi.window_scores[w], single.scores), w
    alone = run(model, WINDOWS[0], table, device=device, early_exit=(2, 5))
    assert torch.equal(multi.scores, alone.scores) and torch.equal(multi.samples, alone.samples)
    assert all(torch.equal(multi.early_scores[k], alone.early_scores[k]) for k in (2, 5))


def test_window_lists_and_pairs(model):
    assert resolve_windows((3, 7), 10) == ([(3, 7)], [(3, 7)])      # a tuple is one pair
    assert resolve_windows([3, 7], 10) == ([3, 7], [(7, 10), (3, 10)])  # a list: two windows
    assert resolve_windows([[2, 4], 5], 10) == ([(2, 4), 5], [(2, 4), (5, 10)])
    with pytest.raises(ValueError, match="twice"):
        resolve_windows([5, 5], 10)
    with pytest.raises(ValueError, match="empty"):
        resolve_windows([], 10)
    with pytest.raises(ValueError, match="window"):
        Sampler(model, SCHEDULE.table(), window=[5, 200])
    single = run(model, 10)
    assert single.window_scores == {10: single.scores} and single.step_ranges == [(90, 100)]


def test_scored_scheduler_windows_equal_single_window_runs():
    pytest.importorskip("diffusers")
    from modeinterp.diffusers import ScoredDDIMScheduler

    gen = torch.Generator().manual_seed(0)
    x_T, w = torch.randn(4, 1, 5, 5, generator=gen), torch.randn(1, 5, 5, generator=gen)

    def scores(window):
        sched = ScoredDDIMScheduler(num_train_timesteps=100, window=window)
        sched.set_timesteps(20)
        x = x_T
        for t in sched.timesteps:
            x = sched.step(torch.tanh(w * x + t / 100), t, x, eta=1.0).prev_sample
        return sched, x

    multi, x_multi = scores([4, 10, (2, 8)])
    for spec in (4, 10, (2, 8)):
        single, x_single = scores(spec)
        assert torch.equal(multi.window_scores[spec], single.scores), spec
        assert torch.equal(x_multi, x_single)
    assert torch.equal(multi.scores, multi.window_scores[4])
