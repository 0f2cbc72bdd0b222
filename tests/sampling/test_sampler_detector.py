"""A detector inside the sampling pass: Sampler(detector=…) flags equal detector.score on the
stored features; sample_clean keeps exactly N unflagged samples, the same whatever the chunk and
batch sizes; bad detectors are refused before sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeinterp.detect import Detector, result_features
from modeinterp.sampling.sampler import Sampler
from modeinterp.sampling.store import SampleSet
from modeinterp.schedules import Schedule

SHAPE = (1, 4, 4)
TABLE = Schedule.linear(1000, 1e-4, 0.02).table(method="ddim", steps=20, eta=1.0)


def model(x, t):
    return 0.3 * torch.tanh(3 * x)


def _sampler(detector=None, **kwargs):
    return Sampler(model, TABLE, window=[5, 10], aggregations=("mean", "max", "q99"),
                   detector=detector, **kwargs)


@pytest.fixture(scope="module")
def fitted():
    result = _sampler().sample(300, SHAPE, seed=11, progress=False, early_exit=(2,))
    features = result_features(result)
    labels = features["10/max"] > np.quantile(features["10/max"], 0.85)
    names = ["10/mean", "10/max", "5/q99", "early/2", "image/std"]
    return Detector.fit_supervised(features, labels, names=names), result


def test_flags_in_the_pass_equal_the_detector_on_stored_features(fitted):
    detector, _ = fitted
    result = _sampler(detector).sample(120, SHAPE, seed=4, progress=False, batch_size=50)
    assert result.flags.dtype == torch.bool and 0 < int(result.flags.sum()) < 120
    stored = SampleSet.from_result(result)
    assert np.allclose(result.detector_scores.numpy(), detector.score(stored), rtol=1e-6)
    assert torch.equal(result.flags, result.detector_scores > detector.threshold)
    picked = result.select(torch.arange(10))
    assert torch.equal(picked.flags, result.flags[:10])


def test_sample_clean_returns_exactly_n_unflagged_deterministically(fitted):
    detector, _ = fitted
    clean = _sampler(detector).sample_clean(40, SHAPE, seed=5, progress=False, chunk=13)
    assert len(clean.result.samples) == 40 and clean.complete and not clean.result.flags.any()
    assert clean.drawn > 40 and clean.unflagged >= 40
    assert clean.acceptance == clean.unflagged / clean.drawn
    other = _sampler().sample_clean(40, SHAPE, detector=detector, seed=5, progress=False,
                                    chunk=64, batch_size=7)
    assert torch.equal(clean.indices, other.indices)
    assert torch.allclose(clean.result.samples, other.result.samples, atol=1e-6)
    everything = _sampler(detector).sample(int(clean.indices[-1]) + 1, SHAPE, seed=5,
                                           progress=False)
    first_unflagged = torch.nonzero(~everything.flags).flatten()[:40]
    assert torch.equal(first_unflagged, clean.indices)


def test_a_spent_budget_returns_what_it_kept(fitted):
    detector, _ = fitted
    clean = _sampler(detector).sample_clean(40, SHAPE, seed=5, progress=False, budget=41)
    assert clean.drawn == 41 and not clean.complete and len(clean.indices) < 40


def test_bad_detectors_and_requests_are_refused(fitted):
    detector, result = fitted
    with pytest.raises(ValueError, match="needs features"):
        Sampler(model, TABLE, window=[5, 10], detector=detector)  # no max / q99
    with pytest.raises(TypeError, match="detector must be"):
        _sampler(detector=object())
    with pytest.raises(ValueError, match="n must be"):
        _sampler(detector).sample_clean(0, SHAPE, progress=False)
    with pytest.raises(ValueError, match="needs a sampler with a detector"):
        _sampler().sample_clean(5, SHAPE, progress=False)
    features = result_features(result)
    labels = features["10/max"] > np.quantile(features["10/max"], 0.85)
    other_model = Detector.fit_supervised(features, labels, names=["10/mean"],
                                          config_digest="aaaa")
    with pytest.raises(ValueError, match="fitted for the model with config digest"):
        other_model.check_compatible(config_digest="bbbb")
    relative = Sampler(model, TABLE, window=[5, 10], aggregations=("mean", "rel-mean"))
    rel = relative.sample(100, SHAPE, seed=1, progress=False)
    rel_features = result_features(rel)
    rel_labels = rel_features["10/rel-mean"] > np.median(rel_features["10/rel-mean"])
    with pytest.raises(ValueError, match="relative to the whole run"):
        Sampler(model, TABLE, window=[5, 10], aggregations=("mean", "rel-mean"),
                detector=Detector.fit_supervised(rel_features, rel_labels,
                                                 names=["10/rel-mean"]))


def test_resample_tail_keys_each_sample_by_its_global_index():
    sampler = _sampler()
    images = torch.rand(6, *SHAPE) * 2 - 1
    whole = sampler.resample_tail(images, 8, seed=3, progress=False)
    part = sampler.resample_tail(images[2:5], 8, seed=3, first=2, progress=False)
    assert torch.equal(part.samples, whole.samples[2:5])
    assert not torch.equal(sampler.resample_tail(images, 8, seed=4, progress=False).samples,
                           whole.samples)
    with pytest.raises(ValueError, match="begin before start=15"):
        sampler.resample_tail(images, 15, seed=3, progress=False)


def test_repair_flagged_replaces_only_flagged_samples_it_fixes(fitted):
    detector, _ = fitted
    sampler = _sampler(detector)
    result = sampler.sample(120, SHAPE, seed=4, progress=False)
    before = result.flags.clone()
    fix = sampler.repair_flagged(result, start=5, seed=100, rounds=3, progress=False)
    assert not (fix.repaired & ~before).any()  # only flagged samples are touched
    kept = ~fix.repaired
    assert torch.equal(fix.result.samples[kept], result.samples[kept])
    assert 0 < int(fix.repaired.sum()) and int(fix.flags.sum()) < int(before.sum())
    assert torch.equal(fix.flags, fix.result.flags)
    stored = SampleSet.from_result(fix.result)  # the replaced rows carry their own features
    assert torch.equal(torch.as_tensor(detector.flags(stored)), fix.flags)
    assert fix.model_calls >= int(before.sum()) * (len(TABLE) - 5)
    again = sampler.repair_flagged(result, start=5, seed=100, rounds=3, progress=False)
    assert torch.equal(again.result.samples, fix.result.samples)
    with pytest.raises(ValueError, match="needs a sampler with a detector"):
        _sampler().repair_flagged(result, start=5, seed=1)


def test_repair_by_a_sampler_with_fewer_windows_drops_the_scores_it_cannot_redo():
    wide = _sampler().sample(80, SHAPE, seed=4, progress=False)
    features = result_features(wide)
    names = ["5/mean", "5/max", "image/std"]
    labels = features["5/max"] > np.quantile(features["5/max"], 0.8)
    detector = Detector.fit_supervised(features, labels, names=names)
    narrow = Sampler(model, TABLE, window=5, aggregations=("mean", "max"), detector=detector)
    wide = wide.flagged_by(detector)
    fix = narrow.repair_flagged(wide, start=15, seed=9, progress=False)
    assert fix.repaired.any()
    assert set(fix.result.window_scores) <= {5} and (10, "max") not in fix.result.aggregate_scores
    assert torch.equal(torch.as_tensor(detector.flags(fix.result)), fix.flags)
