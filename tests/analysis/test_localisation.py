"""Where the score maps point: the Simple Shapes oracle's blamed strips, peak hit rates against
chance, and the (window × aggregation) section of a reproduction on hand-made scores — whose
calibration never sees the held-out half."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeinterp.analysis import localisation_rates, map_peaks
from modeinterp.detect import calibrate_window, calibration_split
from modeinterp.data import SimpleShapes
from modeinterp.experiments.score_pairs import pair_markdown, pair_section
from modeinterp.sampling import SampleResult, Scores
from modeinterp.sampling.aggregations import aggregate


@pytest.fixture(scope="module")
def shapes():
    return SimpleShapes(size=32, cache_dir=None)


def hallucinated_set(shapes, n=160, bad=50, seed=1):
    """Training images, the first ``bad`` of them with the square strip copied into the
    triangle strip (a square in the triangle strip, or an empty-looking strip pair)."""
    x = shapes.sample(n, seed=seed).clone()
    (t0, _), (s0, s1) = shapes.strip_bounds[:2]
    x[:bad, :, :, t0:t0 + s1 - s0] = x[:bad, :, :, s0:s1]
    return x


def test_blame_points_at_the_strip(shapes):
    x = -torch.ones(3, 1, 32, 32)
    stamp = torch.from_numpy(shapes.stamps["square"][-1]).float() * 2 - 1
    h, w = stamp.shape
    x[0, 0, 2:2 + h, 11:11 + w] = torch.maximum(x[0, 0, 2:2 + h, 11:11 + w], stamp)
    x[0, 0, 18:18 + h, 11:11 + w] = torch.maximum(x[0, 0, 18:18 + h, 11:11 + w], stamp)
    x[1, 0, 5:5 + h, 1:1 + w] = torch.maximum(x[1, 0, 5:5 + h, 1:1 + w], stamp)
    blame = shapes.blame(x)
    strips = shapes.strip_masks()
    assert set(blame[0]) == {"two-squares"} and np.array_equal(blame[0]["two-squares"], strips[1])
    assert set(blame[1]) == {"square-in-triangle-strip"}
    assert np.array_equal(blame[1]["square-in-triangle-strip"], strips[0])
    assert blame[2] == {}  # empty: nothing to point at
    assert strips.sum(axis=0).max() == 1 and strips.any(axis=0).all()  # the strips tile the image


def test_peaks_and_hit_rates_against_chance(shapes):
    maps = torch.zeros(4, 1, 32, 32)
    maps[0, 0, 4:8, 2:6] = 1.0      # strip 0
    maps[1, 0, 20:24, 12:16] = 1.0  # strip 1
    maps[2, 0, 0:4, 26:30] = 1.0    # strip 2
    maps[3, 0, 10:14, 2:6] = 1.0    # strip 0
    assert map_peaks(maps, 4).tolist() == [[5, 3], [21, 13], [1, 27], [11, 3]]
    strips = shapes.strip_masks()
    blame = [{"a": strips[0]}, {"a": strips[0], "b": strips[1]}, {}, {"b": strips[0]}]
    rates = localisation_rates(maps, blame, 4)
    assert rates["a"] == {"n": 2, "hit_rate": 0.5, "uniform": pytest.approx(11 / 32),
                          "shuffled": 0.5}  # two of the four peaks lie in strip 0 (11 of 32 columns)
    assert rates["b"]["n"] == 2 and rates["b"]["hit_rate"] == 1.0
    assert rates["all"]["n"] == 4 and rates["all"]["hit_rate"] == 0.75
    with pytest.raises(ValueError, match="one per sample"):
        localisation_rates(maps, blame[:2])


def fake_result(shapes, seed):
    """A SampleResult over hand-made images: random maps, the hallucinations' window-10 maps hot
    in the triangle strip (a good 'pool4' there), window 5 uninformative."""
    x = hallucinated_set(shapes)
    labels = shapes.is_hallucination(x).numpy()
    gen = torch.Generator().manual_seed(seed)
    maps = {10: torch.rand(len(x), 1, 32, 32, generator=gen),
            5: torch.rand(len(x), 1, 32, 32, generator=gen)}
    maps[10][torch.from_numpy(labels), :, 8:12, 2:6] += 0.8
    pairs = {(w, a): s for w, m in maps.items()
             for a, s in aggregate(m, ["mean", "pool4", "max"], x).items()}
    result = SampleResult(x, Scores([10, 5], pairs), step_ranges=[(90, 100), (95, 100)],
                          score_maps=maps)
    return result, labels


def test_pair_section_numbers_figures_and_localisation(shapes, tmp_path, seed=0):
    result, labels = fake_result(shapes, seed)
    reasons = shapes.classify(result.samples)
    section = pair_section(result, labels, reasons, shapes, seed, 10, tmp_path)
    assert section["pairs"] == ["10/mean", "10/pool4", "10/max", "5/mean", "5/pool4", "5/max"]
    rows = {r["pair"]: r for r in section["heldout"]}
    assert rows["10/pool4"]["auroc"] == 1.0 and rows["10/pool4"]["removed_at_96"] == 100.0
    assert rows["5/pool4"]["auroc"] < 0.8
    assert section["calibrated"]["window"] in ("10/pool4", "10/max")
    assert section["operating"]["paper_mean"]["pair"] == "10/mean"
    calibrated = section["operating"]["calibrated"]
    assert calibrated["removed"] == 100.0 and calibrated["kept"] >= 90.0
    held = calibration_split(labels, 0.5, seed)[1]
    assert calibrated["groups"]["all"]["n"] == labels[held].sum() and len(held) == section["n_heldout"]
    loc = section["localisation"]["rates"]
    assert loc["square-in-triangle-strip"]["hit_rate"] == 1.0
    assert loc["square-in-triangle-strip"]["uniform"] == pytest.approx(11 / 32)
    for name in ("score_maps", "pair_sweep"):  # missed.png only when the filter misses some
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    text = "\n".join(pair_markdown(section))
    assert "(calibrated)" in text and "blamed strip" in text and "Over 20 random splits" in text


def test_calibration_never_sees_the_held_out_half(shapes):
    result, labels = fake_result(shapes, 1)
    pairs = {f"{w}/{a}": s.numpy() for (w, a), s in result.aggregate_scores.items()}
    calib, held = calibration_split(labels, 0.5, 0)
    before = calibrate_window(pairs, labels, seed=0)
    rng = np.random.default_rng(0)
    scrambled = {k: v.copy() for k, v in pairs.items()}
    for v in scrambled.values():
        v[held] = rng.permutation(v[held]) * 7.0  # anything at all on the held-out half
    after = calibrate_window(scrambled, labels, seed=0)
    assert after.window == before.window and after.threshold == before.threshold
    assert after.calibration == before.calibration
