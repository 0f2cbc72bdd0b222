"""plan(cfg) is where a config becomes objects (table, windows, aggregations, seeds), and the
sample stage is the one writer of samples.pt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeinterp.experiments import config_for
from modeinterp.experiments.plan import Seeds, plan
from modeinterp.models import MLPDenoiser
from modeinterp.pipeline import stages
from modeinterp.sampling import load_samples
from modeinterp.sampling.store import config_digest


def test_plan_orders_windows_and_honours_every_sampling_knob():
    cfg = config_for("gaussian2d", quick=True, window=5, window_sweep=(2, 5, (40, 45), (90, 120)),
                     method="ddim", steps=50, eta=0.5, aggregations=("mean", "max"))
    run = plan(cfg)
    assert list(run.windows) == [5, 2, (40, 45)]  # main first; a span past the run is dropped
    assert run.table.method == "ddim" and len(run.table) == 50
    stochastic = cfg.schedule().table(method="ddim", steps=50, eta=0.5,
                                      prediction=cfg.prediction, clip=cfg.clip)
    assert np.array_equal(run.table.sigma, stochastic.sigma) and run.table.sigma.any()
    assert run.aggregations == ("mean", "max") and run.live().aggregations == ("mean", "max")
    sampler = run.sampler(lambda x, t: x)
    assert sampler.windows == [5, 2, (40, 45)] and sampler.step_ranges[0] == (45, 50)
    assert run.reference_windows() == [5, 2, (40, 45)]  # all start in the last 20 % of 50


def test_precision_and_compile_reach_the_sampler_and_are_recorded_only_when_set():
    cfg = config_for("gaussian2d", quick=True, precision="bf16", compile=True)
    forward = plan(cfg).sampler(lambda x, t: x).forward
    assert (forward.precision, forward.compile) == ("bf16", True)
    # bf16 is another run; compiling is how it runs (like the device): a run resumes either way.
    assert cfg.to_dict()["precision"] == "bf16" and "compile" not in cfg.to_dict()
    # At their defaults these keys stay out of run records and digests: older runs resume.
    default = config_for("gaussian2d", quick=True).to_dict()
    assert not {"precision", "compile", "train_precision", "train_compile"} & set(default)
    assert plan(config_for("gaussian2d", quick=True)).sampler(lambda x, t: x).forward.plain


def test_seeds_are_named_once():
    seeds = Seeds(7)
    assert (seeds.data, seeds.weights(), seeds.sampling(), seeds.references) == (7, 7, 8, 9)
    assert (seeds.weights(3), seeds.sampling(3), seeds.selection(3)) == (10, 11, 7003)


def test_a_window_that_does_not_fit_is_refused_when_planned():
    cfg = config_for("gaussian2d", quick=True, window=(990, 1000), steps=50, method="ddim")
    with pytest.raises(ValueError, match="does not fit a run of 50 steps"):
        plan(cfg)


@pytest.mark.parametrize("shard_size", [None, 16], ids=["one-file", "consolidated-shards"])
def test_the_sample_stage_writes_samples_pt(tmp_path, shard_size):
    torch.manual_seed(0)
    cfg = config_for("gaussian2d", quick=True, steps=20, method="ddim")
    run = plan(cfg)
    sampler = run.sampler(MLPDenoiser(2).eval())
    result = stages.sample(sampler, 40, (2,), seed=run.seeds.sampling(), batch_size=16,
                           progress=False, out=tmp_path, shard_size=shard_size,
                           config=cfg.to_dict(), consolidate=shard_size is not None)
    saved = load_samples(tmp_path / "samples.pt")
    assert not (tmp_path / "shards").exists()
    assert torch.equal(saved.samples, result.samples) and torch.equal(saved.scores,
                                                                      result.scores)
    assert saved.seed == run.seeds.sampling()
    if shard_size is None:  # consolidated shards keep what their markers recorded
        assert saved.config_digest == config_digest(cfg.to_dict())
