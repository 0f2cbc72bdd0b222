"""Choosing the score window (modeinterp.detect): on hand-made scores,
a window that separates perfectly is chosen, the held-out split is disjoint and stratified, and
every reported number comes from the half the choice never saw."""

from __future__ import annotations

import numpy as np
import pytest

from modeinterp.detect import (calibrate_window, calibration_split, label_free_window,
                               window_sweep)


def _data(seed=0, n=3000, rate=0.04):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < rate
    return rng, y


def test_the_perfectly_separating_window_is_chosen():
    rng, y = _data()
    perfect = np.where(y, 5 + rng.random(y.size), rng.random(y.size))
    noisy = perfect + rng.normal(0, 3, y.size)
    useless = rng.random(y.size)
    cal = calibrate_window({2: useless, 10: noisy, (3, 8): perfect}, y, seed=1)
    assert cal.window == (3, 8)
    assert cal.heldout_auroc == 1.0 and cal.heldout_removed_at_96 == 100.0
    assert cal.heldout_kept_at_95 == 100.0 and cal.heldout_removed == 100.0
    assert 90.0 <= cal.heldout_kept <= 100.0
    assert cal.n_calibration + cal.n_heldout == y.size
    assert [r["window"] for r in cal.calibration] == [2, 10, [3, 8]]
    assert cal.to_dict()["window"] == [3, 8]


def test_split_is_disjoint_stratified_and_seeded():
    _, y = _data(1)
    calib, held = calibration_split(y, 0.5, seed=3)
    assert np.intersect1d(calib, held).size == 0 and calib.size + held.size == y.size
    assert abs(y[calib].sum() - y[held].sum()) <= 1
    again, _ = calibration_split(y, 0.5, seed=3)
    other, _ = calibration_split(y, 0.5, seed=4)
    assert np.array_equal(calib, again) and not np.array_equal(calib, other)


def test_heldout_numbers_never_come_from_the_calibration_half():
    """Window A is perfect on the calibration half only (noise on the held-out half); window B
    is decent everywhere. A is chosen, and its held-out numbers show the noise."""
    rng, y = _data(2)
    calib, held = calibration_split(y, 0.5, seed=0)
    a = rng.random(y.size)
    a[calib] = np.where(y[calib], 2.0, 0.5 * rng.random(calib.size))
    b = np.where(y, 1 + rng.random(y.size), 1.6 * rng.random(y.size))
    cal = calibrate_window({"A": a, "B": b}, y, seed=0)
    assert cal.window == "A"
    assert cal.calibration[0]["removed_at_96"] == 100.0
    assert 0.35 < cal.heldout_auroc < 0.65  # chance, where A is noise
    assert cal.heldout_kept < 70.0  # its calibration threshold is far from keeping 96 % there


def test_label_free_choice_and_sweep():
    rng, y = _data(3)
    separating = np.where(y, 50 + rng.random(y.size), rng.random(y.size))
    plain = rng.lognormal(0, 1, y.size)
    window, separation = label_free_window({5: plain, 10: separating})
    assert window == 10 and separation[10] > separation[5]
    rows = window_sweep({5: plain, 10: separating}, y)
    assert [r["window"] for r in rows] == [5, 10] and rows[1]["auroc"] == 1.0


@pytest.mark.parametrize("kwargs,message", [
    (dict(window_scores={}), "non-empty"),
    (dict(retained=1.5), "retained"),
    (dict(seed=-1), "seed"),
])
def test_bad_arguments(kwargs, message):
    rng, y = _data(4)
    args = {"window_scores": {5: rng.random(y.size)}, "labels": y, **kwargs}
    with pytest.raises(ValueError, match=message):
        calibrate_window(**args)


def test_too_few_hallucinations_for_two_splits():
    y = np.zeros(100, dtype=bool)
    y[3] = True
    with pytest.raises(ValueError, match="1 hallucinations"):
        calibrate_window({5: np.arange(100.0)}, y)


def test_calibration_over_splits_summarises_the_spread():
    from modeinterp.detect import calibrate_over_splits

    rng, y = _data(5)
    perfect = np.where(y, 5 + rng.random(y.size), rng.random(y.size))
    summary = calibrate_over_splits({3: rng.random(y.size), 7: perfect}, y, splits=5)
    assert summary["windows_chosen"] == {"7": 5} and summary["splits"] == 5
    assert summary["heldout_removed_at_96"] == {"mean": 100.0, "min": 100.0, "max": 100.0}
