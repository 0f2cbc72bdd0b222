"""Digits: scikit-learn's bundled handwritten digits in [−1, 1], the cached digit classifier
(held-out accuracy), its proxy label and the Fréchet distance in its feature space."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")
from modeinterp.data.digits import Digits, _split  # noqa: E402


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return Digits(cache_dir=tmp_path_factory.mktemp("cache"))


def test_shapes_range_and_determinism(digits):
    x = digits.sample(2000, seed=3)  # more than the 1,797 digits: permutations repeat
    assert x.shape == (2000, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1 and x.max() == 1
    assert torch.equal(x, digits.sample(2000, seed=3))
    assert not torch.equal(x[:50], digits.sample(50, seed=4))
    big = Digits(size=16, cache_dir=None).sample(5, seed=3)
    assert big.shape == (5, 1, 16, 16) and torch.equal(big[:, :, ::2, ::2], x[:5])
    train, held = _split()
    assert np.intersect1d(train, held).size == 0 and train.size + held.size == 1797


def test_classifier_held_out_accuracy_and_cache(digits, tmp_path):
    x = digits.sample(359, seed=0, split="heldout")
    y = digits.labels(359, seed=0, split="heldout")
    predicted, _ = digits.predict(x)
    accuracy = float((torch.from_numpy(predicted) == y).float().mean())
    assert accuracy >= 0.95, accuracy
    assert len(list(digits.cache_dir.glob("digit-classifier-*.npz"))) == 1
    again = Digits(cache_dir=digits.cache_dir)  # loads the cached weights
    assert np.array_equal(again.predict(x)[0], predicted)


def test_proxy_label_and_frechet_distance(digits):
    real = digits.sample(359, seed=1, split="heldout")
    noise = torch.rand(359, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert digits.is_hallucination(real).float().mean() < 0.1
    assert digits.is_hallucination(noise).float().mean() > 0.7
    assert digits.frechet_distance(real) < 0.2 * digits.frechet_distance(noise)
    summary = digits.summary(real)
    assert summary["n"] == 359 and "proxy" in summary["label"]
    assert sum(summary["digit_counts"].values()) + summary["n_hallucinated"] == 359
    reasons = digits.classify(noise)
    assert reasons == [frozenset({"unrecognisable"}) if bad else frozenset()
                       for bad in digits.is_hallucination(noise).tolist()]
    assert any(reasons) and digits.predict(noise)[0].shape == (359,)  # the digits it reads


def test_bad_arguments(digits):
    with pytest.raises(ValueError, match="size"):
        Digits(size=12)
    with pytest.raises(ValueError, match="split"):
        digits.sample(3, split="test")
    with pytest.raises(ValueError, match="shape"):
        digits.classify(torch.zeros(2, 1, 16, 16))
