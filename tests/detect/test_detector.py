"""modeinterp.detect.Detector on synthetic features (no sampling): a known rule is recovered, both
tails of a score are caught, the label-free fit never sees a label, saved detectors score bit for
bit the same, and bad input is refused naming what is wrong."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch

from modeinterp.detect import Detector, auroc, feature_matrix, image_features, result_features
from modeinterp.detect.detector import _fit_transform, _standardise
from modeinterp.sampling import Scores

RULE = 1.0  # label = log(a) > RULE


def _rule_data(seed, n=2000):
    """Two variance-like scores: ``10/mean`` decides (label = log a > RULE), ``5/pool4`` is
    noise; an image statistic rides along as is (not logged)."""
    rng = np.random.default_rng(seed)
    log_a = rng.normal(0.0, 1.0, n)
    feats = {"10/mean": np.exp(log_a), "5/pool4": np.exp(rng.normal(0.0, 1.0, n)),
             "image/mean": rng.normal(0.0, 0.3, n)}
    return feats, log_a > RULE


def _refs(seed, n=1500):
    rng = np.random.default_rng(seed)
    return {"10/mean": np.exp(rng.normal(0.0, 0.5, n)), "5/pool4": np.exp(rng.normal(1.0, 0.5, n))}


def _two_sided_data(seed, n=2000):
    """In support: log a ~ N(0, 1). Hallucinations: mostly very HIGH variance (log a ~ N(5, .5)),
    a fifth very LOW (log a ~ N(-5, .5), an empty image's washed-out trajectory)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.15
    low = y & (rng.random(n) < 0.2)
    log_a = np.where(low, rng.normal(-5, 0.5, n), np.where(y, rng.normal(5, 0.5, n),
                                                          rng.normal(0, 1, n)))
    return {"10/mean": np.exp(log_a), "5/pool4": np.exp(rng.normal(0, 1, n))}, y


def _mix(refs_seed=7):
    """References-like samples (label 0) followed by far-out ones on both sides (label 1)."""
    rng = np.random.default_rng(refs_seed)
    refs = _refs(refs_seed, 1000)
    out_a = np.exp(np.concatenate([rng.normal(4.0, 0.3, 50), rng.normal(-4.0, 0.3, 50)]))
    mix = {"10/mean": np.concatenate([refs["10/mean"], out_a]),
           "5/pool4": np.concatenate([refs["5/pool4"], np.exp(rng.normal(1.0, 0.5, 100))])}
    return mix, np.r_[np.zeros(1000, bool), np.ones(100, bool)]


# ------------------------------------------------------------------------------ supervised
@pytest.mark.parametrize("kind", ["logistic", "boosting"])
def test_supervised_recovers_a_known_rule(kind):
    feats, y = _rule_data(0, 1000)
    det = Detector.fit_supervised(feats, y, kind=kind, retained=0.99, config_digest="abc")
    test, y_test = _rule_data(1)
    assert auroc(det.score(test), y_test) > 0.97
    assert (det.flags(test) == y_test).mean() >= 0.95
    assert det.kind == kind and det.names == ["10/mean", "5/pool4", "image/mean"]
    # The threshold keeps 99 % of the label-0 fit samples scored out of fold, so about as many
    # new ones: an in-sample threshold would keep fewer of them than asked for.
    kept = (~det.flags(test))[~y_test].mean()
    assert 0.97 <= kept <= 1.0
    assert det.transform["log"].tolist() == [True, True, False]  # image statistics as they are


def test_supervised_logistic_catches_both_tails():
    feats, y = _two_sided_data(0)
    det = Detector.fit_supervised(feats, y, kind="logistic")
    probe = {"10/mean": np.array([np.exp(6.0), np.exp(-6.0), 1.0]), "5/pool4": np.ones(3)}
    assert det.flags(probe).tolist() == [True, True, False]  # too much, too little, typical
    test, y_test = _two_sided_data(1)
    assert auroc(det.score(test), y_test) > 0.97


@pytest.mark.parametrize("kind", ["mahalanobis", "gmm"])
def test_label_free_catches_both_tails(kind):
    det = Detector.fit_label_free(_refs(0), kind=kind)
    probe = {"10/mean": np.array([np.exp(4.0), np.exp(-4.0), 1.0]), "5/pool4": np.full(3, np.e)}
    assert det.flags(probe).tolist() == [True, True, False]


# ------------------------------------------------------------------------------ label-free
def test_label_free_fit_never_sees_a_label():
    params = inspect.signature(Detector.fit_label_free).parameters
    assert not any("label" in p for p in params)
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params.values())
    with pytest.raises(TypeError):
        Detector.fit_label_free(_refs(0), labels=np.zeros(1500, bool))


@pytest.mark.parametrize("kind", ["mahalanobis", "gmm"])
def test_label_free_fit_on_references_then_score_a_mix(kind):
    det = Detector.fit_label_free(_refs(0), kind=kind, retained=0.96)
    mix, y = _mix()
    assert auroc(det.score(mix), y) > 0.97
    flags = det.flags(mix)
    assert flags[y].mean() > 0.95 and 0.9 <= (~flags[~y]).mean() <= 0.99
    kept = (~det.flags(_refs(0))).mean()  # the threshold keeps 96 % of the references
    assert 0.96 <= kept < 0.961


def test_label_free_scores_are_the_sklearn_models():
    from sklearn.covariance import LedoitWolf
    from sklearn.mixture import GaussianMixture

    refs, (mix, _) = _refs(0), _mix()
    x, xm = feature_matrix(refs, list(refs)), feature_matrix(mix, list(refs))
    t = _fit_transform(x, list(refs))
    z, zm = _standardise(x, t), _standardise(xm, t)
    maha = Detector.fit_label_free(refs, kind="mahalanobis").score(mix)
    assert np.allclose(maha, np.sqrt(LedoitWolf().fit(z).mahalanobis(zm)), rtol=1e-9)
    gmm = Detector.fit_label_free(refs, kind="gmm", n_components=2, seed=3).score(mix)
    ref = GaussianMixture(2, covariance_type="full", random_state=3).fit(z)
    assert np.allclose(gmm, -ref.score_samples(zm), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------------ files
@pytest.mark.parametrize("kind", ["logistic", "mahalanobis", "gmm"])
def test_save_load_round_trip_scores_identically(tmp_path, kind):
    meta = dict(config_digest="d1", windows=[10, (80, 90)], aggregations=["mean", "pool4"])
    if kind == "logistic":
        det = Detector.fit_supervised(*_rule_data(0), kind=kind, **meta)
    else:
        det = Detector.fit_label_free(_refs(0), kind=kind, **meta)
    path = det.save(tmp_path / "sub" / "detector.json")
    back = Detector.load(path)
    test = _rule_data(1)[0] if kind == "logistic" else _mix()[0]
    assert np.array_equal(back.score(test), det.score(test))
    assert np.array_equal(back.flags(test), det.flags(test))
    assert (back.kind, back.names, back.threshold, back.retained) == \
        (det.kind, det.names, det.threshold, det.retained)
    assert (back.config_digest, back.windows, back.aggregations) == \
        ("d1", [10, (80, 90)], ["mean", "pool4"])
    assert json.loads(open(path).read())["version"] == 1
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["detector.json"]
    # The dataset is written only when known: a file without it (older) reads as unknown.
    assert "dataset" not in json.loads(open(path).read()) and back.dataset is None
    det.dataset = "gaussian2d"
    assert Detector.load(det.save(tmp_path / "named.json")).dataset == "gaussian2d"


def test_boosting_refuses_to_save(tmp_path):
    det = Detector.fit_supervised(*_rule_data(0, 400), kind="boosting")
    with pytest.raises(ValueError, match=r"'boosting' detector cannot be saved.*logistic"):
        det.save(tmp_path / "d.json")
    assert not list(tmp_path.iterdir())


def _saved(tmp_path):
    det = Detector.fit_label_free(_refs(0, 200))
    return det, json.loads(open(det.save(tmp_path / "d.json")).read())


@pytest.mark.parametrize("edit, why", [
    (lambda d: d.update(version=2), "version 2"),
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d.pop("threshold"), r"missing keys \['threshold'\]"),
    (lambda d: d["model"].pop("precision"), "precision"),
    (lambda d: d["model"].update(location=[0.0]), "model.location"),
    (lambda d: d.update(kind="boosting"), "kind"),
])
def test_load_refuses_bad_files_naming_them(tmp_path, edit, why):
    _, data = _saved(tmp_path)
    edit(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=why) as err:
        Detector.load(bad)
    assert str(bad) in str(err.value)


def test_load_refuses_a_file_that_is_not_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not JSON") as err:
        Detector.load(bad)
    assert str(bad) in str(err.value)


# ------------------------------------------------------------------------------ bad input
def test_check_compatible_refuses_another_model_and_missing_features():
    det = Detector.fit_label_free(_refs(0, 200), config_digest="aaa")
    det.check_compatible(config_digest="aaa", names_available=["10/mean", "5/pool4", "x"])
    det.check_compatible()  # nothing known: nothing to refuse
    with pytest.raises(ValueError, match="'aaa', not 'bbb'"):
        det.check_compatible(config_digest="bbb")
    with pytest.raises(ValueError, match=r"needs features \['5/pool4'\]"):
        det.check_compatible(names_available={"10/mean": None})


def test_features_the_sampler_does_not_produce_are_named():
    feats, y = _rule_data(0, 200)
    with pytest.raises(ValueError, match=r"needs features \['20/max'\].*produces"):
        Detector.fit_supervised(feats, y, names=["10/mean", "20/max"])
    det = Detector.fit_label_free(_refs(0, 200))
    with pytest.raises(ValueError, match=r"needs features \['5/pool4'\]"):
        det.score({"10/mean": np.ones(3)})


@pytest.mark.parametrize("retained", [0, 0.0, 1.0, 1.5, -0.1, float("nan")])
def test_retained_out_of_range(retained):
    feats, y = _rule_data(0, 200)
    with pytest.raises(ValueError, match="retained"):
        Detector.fit_supervised(feats, y, retained=retained)
    with pytest.raises(ValueError, match="retained"):
        Detector.fit_label_free(feats, retained=retained)


def test_bad_labels_kinds_and_features():
    feats, y = _rule_data(0, 200)
    with pytest.raises(ValueError, match="both classes"):
        Detector.fit_supervised(feats, np.zeros(200, bool))
    with pytest.raises(ValueError, match="labels has length 199"):
        Detector.fit_supervised(feats, y[:199])
    with pytest.raises(ValueError, match="kind"):
        Detector.fit_supervised(feats, y, kind="mahalanobis")
    with pytest.raises(ValueError, match="kind"):
        Detector.fit_label_free(feats, kind="logistic")
    with pytest.raises(ValueError, match="empty"):
        Detector.fit_label_free({})
    with pytest.raises(TypeError, match="reference_features must be a mapping"):
        Detector.fit_label_free(np.ones((5, 2)))
    with pytest.raises(ValueError, match="one length"):
        Detector.fit_label_free({"a": np.ones(5), "b": np.ones(4)})
    with pytest.raises(ValueError, match=r"\['a'\] hold NaN"):
        Detector.fit_label_free({"a": np.array([1.0, np.nan, 2.0])})
    with pytest.raises(ValueError, match="at least 3"):
        Detector.fit_label_free({"a": np.ones(2)}, kind="gmm", n_components=3)


# ------------------------------------------------------------------------------ features
def _result():
    from modeinterp import SampleResult

    samples = torch.tensor([[[[1.0, -1.0], [0.2, -0.2]]], [[[-1.0, -1.0], [-1.0, 0.6]]]])
    s = {10: torch.tensor([1.0, 2.0]), (80, 90): torch.tensor([3.0, 4.0])}
    pairs = {(w, "mean"): v for w, v in s.items()}
    pairs.update({(w, "pool4"): v * 10 for w, v in s.items()})
    pairs[(None, "early/3")] = torch.tensor([0.5, 0.25])
    return SampleResult(samples, Scores([10, (80, 90)], pairs), step_ranges=[(90, 100), (80, 90)])


def test_result_features_names_every_score_and_the_image():
    feats = result_features(_result())
    assert list(feats)[0] == "10/mean"
    assert set(feats) == {"10/mean", "80-90/mean", "10/pool4", "80-90/pool4", "early/3",
                          "image/foreground", "image/mean", "image/std", "image/undecided"}
    assert feats["80-90/pool4"].tolist() == [30.0, 40.0] and feats["early/3"].dtype == np.float64
    assert feats["image/foreground"].tolist() == [0.5, 0.25]
    assert feats["image/undecided"].tolist() == [0.5, 0.0]
    assert np.allclose(feats["image/mean"], [0.0, -0.6])
    assert np.allclose(feats["image/std"], [np.std([1, -1, .2, -.2]), np.std([-1, -1, -1, .6])])
    only_main = result_features(type(_result())(torch.zeros(2, 3), Scores(
        [10], {(10, "mean"): torch.tensor([1.0, 2.0])})))
    assert set(only_main) == {"10/mean", *[k for k in feats if k.startswith("image/")]}


def test_result_features_of_a_saved_sample_set_match():
    from modeinterp.sampling import SampleSet

    r = _result()
    saved = SampleSet.stored(r.samples, dict(r.window_scores), [10, (80, 90)], r.early_scores,
                      {"10/pool4": r.aggregate_scores[(10, "pool4")],
                       "80-90/pool4": r.aggregate_scores[((80, 90), "pool4")]})
    a, b = result_features(r), result_features(saved)
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    det = Detector.fit_label_free({k: np.tile(v, 5) + np.arange(10) for k, v in a.items()})
    assert np.array_equal(det.score(r), det.score(a))


def test_image_features_refuse_a_batchless_array():
    with pytest.raises(ValueError, match="samples"):
        image_features(np.ones(4))
