"""Held-out detection numbers per group of hallucinations (modeinterp.detect.grouped), on a
hand-made example whose every number can be checked by eye."""

from __future__ import annotations

import numpy as np
import pytest

from modeinterp import detect

OK, TWO, MAL = frozenset(), frozenset({"two-squares"}), frozenset({"malformed"})
# 8 in-support samples (scores 0…0.7), two-squares scored high, malformed low, one with both.
REASONS = [OK] * 8 + [TWO, TWO, MAL, MAL, TWO | MAL]
SCORES = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.95, 0.05, 0.15, 0.8])
LABELS = np.array([bool(r) for r in REASONS])


def test_reason_groups_per_reason_and_union():
    groups = detect.reason_groups(LABELS, REASONS, unions={"two-of-a-kind": ["two-squares"],
                                                           "absent": ["empty"]})
    assert list(groups) == ["all", "malformed", "two-squares", "two-of-a-kind"]  # no "absent"
    assert np.flatnonzero(groups["malformed"]).tolist() == [10, 11, 12]  # both reasons: in each
    assert np.flatnonzero(groups["two-squares"]).tolist() == [8, 9, 12]
    assert np.array_equal(groups["all"], LABELS)
    with pytest.raises(ValueError, match="reasons"):
        detect.reason_groups(LABELS, REASONS[:-1])


def test_heldout_by_reason_measures_each_group_against_the_heldout_in_support_samples():
    groups = detect.reason_groups(LABELS, REASONS)
    held = np.arange(LABELS.size)
    rows = detect.heldout_by_reason(SCORES, LABELS, groups, held)
    # ≥ 96 % of the 8 in-support kept: all 8, threshold 0.7.
    assert rows["two-squares"] == {"n": 3, "auroc": 1.0, "removed": 100.0,
                                   "auroc_ci": (1.0, 1.0), "removed_ci": (100.0, 100.0)}
    assert rows["malformed"]["n"] == 3 and rows["malformed"]["removed"] == pytest.approx(100 / 3)
    assert rows["malformed"]["auroc"] == pytest.approx((1 + 2 + 8) / 24)  # 0.05, 0.15, 0.8
    assert rows["all"]["n"] == 5
    at = detect.heldout_by_reason(SCORES, LABELS, groups, held, threshold=0.92)
    assert at["two-squares"]["removed"] == pytest.approx(100 / 3)
    # only some samples held out: groups without held members are left out
    part = detect.heldout_by_reason(SCORES, LABELS, groups, np.array([0, 1, 2, 3, 8, 9]))
    assert list(part) == ["all", "two-squares"] and part["two-squares"]["n"] == 2


def test_heldout_metrics_is_the_score_overall_and_per_group():
    groups = detect.reason_groups(LABELS, REASONS)
    held = np.arange(LABELS.size)
    out = detect.heldout_metrics(SCORES, LABELS, groups, held)
    assert out["auroc"] == detect.auroc(SCORES, LABELS)
    assert out["removed_at_96"] == detect.removed_at_retained(SCORES, LABELS, 0.96) == 60.0
    assert out["kept_at_95"] == detect.retained_at_removed(SCORES, LABELS, 0.95)
    assert out["groups"] == detect.heldout_by_reason(SCORES, LABELS, groups, held)


def test_calibration_split_is_public_and_checks_its_arguments():
    calib, held = detect.calibration_split(LABELS, 0.5, seed=1)
    assert np.union1d(calib, held).tolist() == list(range(LABELS.size))
    assert LABELS[calib].any() and LABELS[held].any()
    with pytest.raises(ValueError, match="frac"):
        detect.calibration_split(LABELS, 1.0)
    with pytest.raises(ValueError, match="labels"):
        detect.calibration_split([0, 2, 1], 0.5)
