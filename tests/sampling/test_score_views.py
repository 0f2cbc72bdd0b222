"""One set of score views (:class:`modeinterp.sampling.ScoreViews`): a run read as a fresh
SampleResult, as the SampleSet it saved and through a scored diffusers scheduler gives the same
values under the same names. A per-run score, key ``(None, name)`` — docs/design.md, "Adding a new
score output" — goes end to end: sampler → samples.pt and shards → load_samples → detector
features → a detector reading it while sampling."""

from __future__ import annotations

import pytest
import torch

from modeinterp import Sampler, ops
from modeinterp.detect import Detector, result_features
from modeinterp.sampling import ScoreKey, load_samples, save_samples
from modeinterp.sampling.shards import sample_to_shards

from test_score_maps import SCHEDULE, SHAPE, ToyImageModel, seed  # noqa: F401 (the fixture)

VIEWS = ("windows", "scores", "window_scores", "aggregate_scores", "early_scores", "run_scores",
         "detector_scores")


def ratio(result) -> torch.Tensor:
    """A per-run score: how much of the long window's variance the last 5 steps hold."""
    return result.window_scores[5] / result.window_scores[12]


def _same(a, b, **close) -> None:
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k], **close)
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a.cpu(), b.cpu(), **close) if close else \
            torch.testing.assert_close(a.cpu(), b.cpu(), rtol=0, atol=0)
    else:
        assert a == b


def test_a_result_and_the_set_it_saved_read_alike(tmp_path, seed):
    sampler = Sampler(ToyImageModel(seed), SCHEDULE.table(method="ddim", steps=15),
                      window=[12, 5], aggregations=["mean", "pool3"], run_scores={"ratio": ratio})
    result = sampler.sample(7, SHAPE, seed=seed, early_exit=[2], progress=False)
    save_samples(tmp_path, result)
    saved = load_samples(tmp_path)
    for name in VIEWS:
        _same(getattr(result, name), getattr(saved, name))
    assert saved.windows == [12, 5] and set(saved.early_scores) == {2}
    assert set(k.key for k in saved.aggregate_scores) == {"12/mean", "12/pool3", "5/mean",
                                                          "5/pool3"}


def test_a_scored_scheduler_reads_like_the_sampler(seed):
    pytest.importorskip("diffusers")
    from modeinterp.diffusers import ScoredDDPMScheduler

    model = ToyImageModel(seed)
    sched = ScoredDDPMScheduler(num_train_timesteps=100, beta_end=0.02, window=[5, (3, 9)],
                                early_exit=[2], seed=seed)
    sched.set_timesteps(20)
    table = SCHEDULE.table(method="ddpm", variance="fixed-small", steps=20, clip=1.0)
    result = Sampler(model, table, window=[5, (3, 9)]).sample(6, SHAPE, seed=seed,
                                                               early_exit=[2], progress=False)
    x = ops.philox_normal((6, *SHAPE), seed=seed, step=100)  # the Sampler's x_T
    with torch.inference_mode():
        for t in sched.timesteps:
            x = sched.step(model(x, t.expand(6)), t, x).prev_sample
    close = dict(rtol=1e-3, atol=1e-5)
    for name in VIEWS:
        _same(getattr(sched, name), getattr(result, name), **close)
    assert sched.step_ranges == result.step_ranges
    _same(sched.score_result(x).aggregate_scores, result.aggregate_scores, **close)


def test_a_per_run_score_goes_end_to_end(tmp_path, seed):
    table = SCHEDULE.table(method="ddim", steps=15)
    model = ToyImageModel(seed)
    sampler = Sampler(model, table, window=[12, 5], run_scores={"ratio": ratio})
    result = sampler.sample(40, SHAPE, seed=seed, batch_size=16, progress=False)
    plain = result.window_scores[5] / result.window_scores[12]
    assert torch.equal(result.run_scores["ratio"], plain)
    assert torch.equal(result.all_scores[(None, "ratio")], plain)
    # samples.pt and shards keep it; load_samples reads it back under the same key
    save_samples(tmp_path / "one", result)
    sample_to_shards(sampler, 40, SHAPE, tmp_path / "sharded", seed=seed, shard_size=15,
                     progress=False)
    for folder in ("one", "sharded"):
        assert torch.equal(load_samples(tmp_path / folder).run_scores["ratio"], plain), folder
    # a detector feature, named by its key
    features = result_features(load_samples(tmp_path / "one"))
    assert list(features)[-5] == "ratio" and ScoreKey.parse("ratio") == (None, "ratio")
    labels = (plain > plain.median()).numpy()
    det = Detector.fit_supervised(features, labels, names=["ratio", "12/mean"], seed=seed)
    flagged = Sampler(model, table, window=[12, 5], run_scores={"ratio": ratio}, detector=det)
    again = flagged.sample(40, SHAPE, seed=seed, batch_size=16, progress=False)
    assert torch.equal(again.flags, torch.as_tensor(det.flags(features)))
    with pytest.raises(ValueError, match="ratio"):  # a sampler without it cannot feed it
        Sampler(model, table, window=[12, 5], detector=det)


@pytest.mark.parametrize("run_scores, error, match", [
    ({"early/2": ratio}, ValueError, "computes"), ({"detector": ratio}, ValueError, "computes"),
    ({"10/x": ratio}, ValueError, "per-run score name"), ({"ratio": 3}, TypeError, "callable"),
    ([ratio], TypeError, "run_scores")])
def test_bad_run_scores_are_refused_by_name(run_scores, error, match):
    with pytest.raises(error, match=match):
        Sampler(ToyImageModel(0), SCHEDULE.table(method="ddim", steps=15),
                run_scores=run_scores)


def test_a_run_score_of_the_wrong_shape_is_refused():
    sampler = Sampler(ToyImageModel(0), SCHEDULE.table(method="ddim", steps=15),
                      run_scores={"total": lambda r: r.scores.sum()})
    with pytest.raises(ValueError, match=r"run_scores\['total'\] must return one score"):
        sampler.sample(3, SHAPE, progress=False)


@pytest.mark.parametrize("text, key", [("10/pool4", (10, "pool4")),
                                       ("40-60/mean", ((40, 60), "mean")),
                                       ("early/3", (None, "early/3")),
                                       ("detector", (None, "detector"))])
def test_a_key_round_trips_through_its_text(text, key):
    parsed = ScoreKey.parse(text)
    assert parsed == key and hash(parsed) == hash(key) and parsed.key == text
    assert ScoreKey.of(key) == parsed and ScoreKey.of(parsed) is parsed
