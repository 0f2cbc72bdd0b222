"""Simple Shapes: the generator's statistics, the oracle on its own training set (all in support)
and on constructed hallucinations, the on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("scipy")
from modeinterp.data.shapes import SHAPES, SimpleShapes, shape_stamps  # noqa: E402
from modeinterp.data.shapes_drawing import POSITIONS, downsample, draw_in_strip  # noqa: E402


@pytest.fixture(scope="module")
def shapes():
    return SimpleShapes(cache_dir=None)


def test_stamps_have_about_the_same_area():
    areas = {k: [int(m.sum()) for m in v] for k, v in shape_stamps().items()}
    assert areas == {"square": [64], "triangle": [65], "pentagon": [70]}  # the paper's asserts


def test_generator_statistics(shapes):
    x = shapes.generate(4000, seed=1)
    assert x.shape == (4000, 1, 64, 64) and x.dtype == np.float32
    assert set(np.unique(x)) == {-1.0, 1.0}
    present = np.stack([(x[:, 0, :, start:stop] > 0).any(axis=(1, 2))
                        for start, stop in shapes.strip_bounds], axis=1)
    assert present.any(axis=1).all()  # blank images are redrawn
    expected = 4 / 7  # p = 1/2 given "not all three absent"
    assert np.all(np.abs(present.mean(axis=0) - expected) < 5 * np.sqrt(expected * 3 / 7 / 4000))
    assert (x[:, 0, 63, :] == -1).all() and (x[:, 0, :, 63] == -1).all()  # the zero padding
    assert np.array_equal(x, shapes.generate(4000, seed=1))
    assert not np.array_equal(x, shapes.generate(4000, seed=2))


def test_training_set_is_entirely_in_support(shapes):
    x = shapes.sample(3000, seed=0)
    assert not shapes.is_hallucination(x).any()
    summary = shapes.summary(x)
    assert summary["reasons"] == {"ok": 3000} and summary["well_formed_fraction"] == 1.0
    assert set(summary["shape_counts"]) <= {"1", "2", "3"}


def _canvas():
    return -torch.ones(1, 1, 64, 64)


def _put(img, name, row, col):
    stamp = torch.from_numpy(shape_stamps()[name][0])
    h, w = stamp.shape
    img[0, 0, row:row + h, col:col + w][stamp] = 1.0
    return img


@pytest.mark.parametrize("build,reason", [
    (lambda: _put(_put(_canvas(), "square", 5, 23), "square", 40, 30), "two-squares"),
    (lambda: _put(_canvas(), "square", 20, 4), "square-in-triangle-strip"),
    (lambda: _put(_put(_canvas(), "pentagon", 3, 45), "triangle", 30, 45),
     "triangle-in-pentagon-strip"),
    (lambda: _put(_canvas(), "square", 10, 18), "malformed"),  # straddles two strips
    (lambda: _canvas(), "empty"),
])
def test_constructed_hallucinations(shapes, build, reason):
    assert shapes.classify(build()) == [frozenset({reason})]
    assert shapes.is_hallucination(build()).tolist() == [True]


def test_half_faded_blob_is_malformed_and_reasons_combine(shapes):
    faded = _put(_canvas(), "square", 20, 26)
    faded[0, 0, 24:28, :] = -0.2  # the lower half of the square fades out
    assert shapes.classify(faded) == [frozenset({"malformed"})]
    both = _put(_put(_put(_canvas(), "square", 5, 23), "square", 40, 30), "pentagon", 30, 2)
    assert shapes.classify(both) == [frozenset({"pentagon-in-triangle-strip", "two-squares"})]
    summary = shapes.summary(torch.cat([both, _put(_canvas(), "triangle", 4, 4)]))
    assert summary["reasons"] == {"ok": 1, "pentagon-in-triangle-strip": 1, "two-squares": 1}
    assert summary["n_hallucinated"] == 1 and summary["shape_counts"] == {"1": 1, "3": 1}


def test_cache_round_trip_and_bad_input(tmp_path):
    cached = SimpleShapes(cache_dir=tmp_path)
    first = cached.sample(50, seed=4)
    assert len(list(tmp_path.glob("simple-shapes-*.npy"))) == 1
    assert torch.equal(first, cached.sample(50, seed=4))
    assert torch.equal(first, SimpleShapes(cache_dir=None).sample(50, seed=4))
    with pytest.raises(ValueError, match="64, 64"):
        cached.classify(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="p must"):
        SimpleShapes(p=0)
    assert SHAPES == ("triangle", "square", "pentagon")


def test_32_px_is_the_64_px_image_box_averaged_and_the_oracle_stays_exact():
    small, big = SimpleShapes(size=32, cache_dir=None), SimpleShapes(cache_dir=None)
    assert (small.strip_bounds, small.sample_shape) == (((0, 11), (11, 21), (21, 32)), (1, 32, 32))
    x = small.sample(2000, seed=3)
    assert torch.equal(x, torch.nn.functional.avg_pool2d(big.sample(2000, seed=3), 2))
    assert x.shape == (2000, 1, 32, 32) and small.summary(x)["reasons"] == {"ok": 2000}
    assert all(len(looks) == 4 for looks in small.stamps.values())  # one per placement parity
    canvas = -torch.ones(1, 1, 32, 32)
    stamp = torch.from_numpy(small.stamps["square"][-1])
    for row in (2, 20):  # two squares in the square strip
        canvas[0, 0, row:row + 4, 13:17][stamp] = 1.0
    assert small.classify(canvas) == [frozenset({"two-squares"})]
    for size in (16, 48):
        with pytest.raises(ValueError, match="size must be 64"):
            SimpleShapes(size=size)
    with pytest.raises(ValueError, match="32, 32"):
        small.classify(torch.zeros(1, 1, 64, 64))


def _soft(images: np.ndarray) -> torch.Tensor:
    """A model's take on exact images: the half-grey pixels a little brighter, the shapes a little
    dimmer — enough to flip the pixels a 2×2 box average leaves at exactly 0 when binarised."""
    soft = np.where(images == 0, 0.1, np.where(images == 1, 0.9, images))
    return torch.from_numpy(np.where(images == -0.5, -0.4, soft).astype(np.float32))


def _placed(name: str, strip: int, x1: int, y1: int) -> np.ndarray:
    """A 64-px image holding ``name`` drawn by the generator's rule in strip ``strip``."""
    image = np.full((1, 1, 64, 64), -1.0, dtype=np.float32)
    image[0, 0, :63, 21 * strip:21 * (strip + 1)][draw_in_strip(name, x1, y1)] = 1.0
    return image


def test_32_px_oracle_names_soft_shapes_by_their_grey_pixels():
    """At 32 px a square and a pentagon differ by pixels the box average leaves grey (0); the
    oracle tells them apart by those grey values, not by a mask binarised at 0 — which called soft
    pentagons squares. Every shape of the generator's ranges, softened, stays itself, in its own
    strip and in another's."""
    small = SimpleShapes(size=32, cache_dir=None)
    own, foreign = [], []
    for strip, name in enumerate(SHAPES):
        (x_lo, x_hi), (y_lo, y_hi) = POSITIONS[name]
        for x1 in range(x_lo, x_hi + 1):
            for y1 in sorted({y_lo, y_lo + 1, (y_lo + y_hi) // 2, y_hi - 1, y_hi}):
                own.append(_placed(name, strip, x1, y1))
                foreign.append(_placed(name, (strip + 1) % 3, x1, y1))
    own, foreign = (_soft(downsample(np.concatenate(x), 32)) for x in (own, foreign))
    assert small.classify(own) == [frozenset()] * len(own)
    strips = [SHAPES[(SHAPES.index(name) + 1) % 3] for name in SHAPES]
    want = [frozenset({f"{name}-in-{strip}-strip"}) for name, strip in zip(SHAPES, strips)]
    counts = [len(range(lo, hi + 1)) * 5 for (lo, hi), _ in (POSITIONS[n] for n in SHAPES)]
    assert small.classify(foreign) == [w for w, k in zip(want, counts) for _ in range(k)]


def test_oracle_reuses_the_last_batch_only_for_the_same_pixels(monkeypatch):
    """labels, reasons, counts and summary of one batch match blobs once; any other batch (even
    one pixel changed) is matched afresh."""
    shapes = SimpleShapes(size=32, cache_dir=None)
    x = shapes.sample(20, seed=5)
    calls = []
    real = shapes._image_reasons
    monkeypatch.setattr(shapes, "_image_reasons", lambda img: calls.append(1) or real(img))
    labels, reasons = shapes.is_hallucination(x), shapes.classify(x)
    counts, summary = shapes.shape_counts(x), shapes.summary(x.clone())
    assert len(calls) == 20 and not labels.any() and reasons == [frozenset()] * 20
    assert summary["n"] == 20 and counts.sum() == sum(int(k) * v for k, v in
                                                       summary["shape_counts"].items())
    dot = x[:1].clone()
    dot[0, 0, 31, 31] = 1.0  # one pixel in the padding corner: a blob that matches no shape
    assert shapes.classify(dot) == [frozenset({"malformed"})] and len(calls) == 21
    assert shapes.classify(x[:1]) == [frozenset()] and len(calls) == 22
    shapes.classify(x[:2])
    assert len(calls) == 24
