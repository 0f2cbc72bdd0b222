"""reverse_loop on its own: the very steps the Sampler runs (bit for bit), its callback, and the
GraphCache's bookkeeping and the CUDA generator restore after a failed capture (both run without a
GPU: capture is a callable, the generator a stand-in)."""

from __future__ import annotations

import pytest
import torch

from modeinterp import Sampler, Schedule, ops
from modeinterp.models import MLPDenoiser
from modeinterp.sampling import NoiseKey, WindowScores, reverse_loop
from modeinterp.sampling.graphed import GraphCache, _rng_restored_on_failure

TABLE = Schedule.linear(60, 1e-3, 0.2).table()


def mlp():
    torch.manual_seed(0)
    return MLPDenoiser(2).eval()


@pytest.mark.parametrize("table", [TABLE, Schedule.linear(60, 1e-3, 0.2).table(
    method="ddim", steps=12, eta=0.5)], ids=["ddpm", "ddim"])
def test_reverse_loop_is_what_the_sampler_runs(table):
    model, seed, n = mlp(), 5, 64
    windows = [10, (2, 7)]
    sampler = Sampler(model, table, window=windows)
    result = sampler.sample(n, (2,), seed=seed, first=3, early_exit=[2], progress=False)
    offset = 3 * 2  # global index of the first sample times dims
    x_T = ops.philox_normal((n, 2), seed=seed, step=table.num_train_timesteps, offset=offset)
    scorer = WindowScores(sampler.step_ranges, [2])
    with torch.inference_mode():
        x = reverse_loop(model, x_T, table, scorer, noise=NoiseKey(seed, offset))
    assert torch.equal(x, result.samples)
    assert torch.equal(scorer.main.scores, result.scores)
    assert torch.equal(scorer.windows[1].scores, result.window_scores[(2, 7)])
    assert torch.equal(scorer.main.early_scores[2], result.early_scores[2])


def test_callback_sees_every_step_in_order_with_x0_on_request():
    model, seen = mlp(), []
    x_T = torch.randn(8, 2)
    scorer = WindowScores([(50, 60)])
    with torch.inference_mode():
        reverse_loop(model, x_T, TABLE, scorer, noise=NoiseKey(), start=40, want_x0=True,
                     callback=lambda info: seen.append((info["i"], info["t"],
                                                        info["x0"].shape)))
    assert [i for i, _, _ in seen] == list(range(40, 60))
    assert [t for _, t, _ in seen] == [int(t) for t in TABLE.timesteps[40:]]
    assert all(shape == (8, 2) for _, _, shape in seen)


def test_a_model_of_the_wrong_shape_is_named():
    scorer = WindowScores([(50, 60)])
    with pytest.raises(RuntimeError, match="model returned shape"):
        reverse_loop(lambda x, t: x[:, :1], torch.zeros(4, 2), TABLE, scorer, noise=NoiseKey())


def test_graph_cache_limit_signature_and_failure():
    cache, made = GraphCache(limit=2), []

    def capture(key):
        return lambda: made.append(key) or f"loop{key}"

    assert cache.get(1, "sig", capture(1)) == "loop1"
    assert cache.get(1, "sig", capture(1)) == "loop1" and made == [1]  # reused
    cache.get(2, "sig", capture(2))
    cache.get(3, "sig", capture(3))  # the oldest (1) goes
    assert len(cache) == 2 and cache.get(1, "sig", capture(1)) == "loop1" and made == [1, 2, 3, 1]
    cache.get(4, "new weights", capture(4))
    assert len(cache) == 1  # a new signature drops every stale graph

    def fails():
        raise RuntimeError("operation not permitted when stream is capturing")

    with pytest.warns(RuntimeWarning, match="capture failed.*not permitted"):
        assert cache.get(5, "new weights", fails) is None
    assert cache.get(6, "new weights", capture(6)) is None and 6 not in made  # no retry


class _Generator:
    """Stands in for torch's CUDA generator: records the state it is handed back."""

    def __init__(self):
        self.restored = []

    def clone_state(self):
        return "before capture"

    def graphsafe_set_state(self, state):
        self.restored.append(state)


def test_a_failed_capture_restores_the_cuda_generator(monkeypatch):
    generator = _Generator()
    monkeypatch.setattr(torch.cuda, "default_generators", (generator,), raising=False)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    with _rng_restored_on_failure(torch.device("cuda")):
        pass
    assert generator.restored == []  # a capture that succeeded keeps torch's bookkeeping
    with pytest.raises(RuntimeError, match="capturing"):
        with _rng_restored_on_failure(torch.device("cuda", 0)):
            raise RuntimeError("operation not permitted when stream is capturing")
    assert generator.restored == ["before capture"]
