"""modeinterp.detect: detection maths on hand-computed cases, brute-force optimality, filters."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_curve

from modeinterp import detect

# A: in-support 1, 2, 3, 4; hallucinated 3.5, 5, 6, 7 (interleaved order)
A_S = np.array([1.0, 5.0, 2.0, 3.5, 3.0, 6.0, 4.0, 7.0])
A_Y = np.array([0, 1, 0, 1, 0, 1, 0, 1], dtype=bool)
# B (ties): in-support 1, 2, 3, 5; hallucinated 3, 5, 6, 7
B_S = np.array([1.0, 2.0, 3.0, 5.0, 3.0, 5.0, 6.0, 7.0])
B_Y = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)


def _mann_whitney(s, y):
    h, n = s[y], s[~y]
    return ((h[:, None] > n[None]).sum() + 0.5 * (h[:, None] == n[None]).sum()) / (h.size * n.size)


def test_auroc_hand_computed():
    assert detect.auroc(A_S, A_Y) == 15 / 16  # 3.5 beats 1, 2, 3; 5, 6, 7 beat all four
    assert detect.auroc(B_S, B_Y) == 14 / 16  # ties 3 = 3 and 5 = 5 count half
    assert detect.auroc(-A_S, A_Y) == 1 / 16  # reversed direction


def test_auroc_matches_mann_whitney_with_ties():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 6, size=200).astype(float)  # many ties
    y = rng.random(200) < 0.3
    assert detect.auroc(s, y) == pytest.approx(_mann_whitney(s, y), abs=1e-12)


def test_accepts_torch_and_int_labels():
    assert detect.auroc(torch.tensor(A_S, dtype=torch.float32), torch.tensor(A_Y)) == 15 / 16
    assert detect.auroc(list(A_S), A_Y.astype(int)) == 15 / 16


def test_removed_at_retained_hand_computed():
    # threshold = ceil(r * 4)-th smallest in-support score; score > threshold is removed
    assert detect.threshold_at_retained(A_S, A_Y, 0.75) == 3.0
    assert detect.removed_at_retained(A_S, A_Y, 0.75) == 100.0  # 3.5, 5, 6, 7 > 3
    assert detect.threshold_at_retained(A_S, A_Y, 0.96) == 4.0  # ceil(3.84) = 4
    assert detect.removed_at_retained(A_S, A_Y, 0.96) == 75.0  # 3.5 < 4 is kept
    assert detect.removed_at_retained(A_S, A_Y, 1.0) == 75.0


def test_removed_at_retained_ties_are_kept():
    assert detect.threshold_at_retained(B_S, B_Y, 0.75) == 3.0
    assert detect.removed_at_retained(B_S, B_Y, 0.75) == 75.0  # hallucination at 3 == thr: kept
    assert detect.removed_at_retained(B_S, B_Y, 1.0) == 50.0  # thr 5: only 6, 7 removed
    assert detect.rates(B_S, B_Y, 3.0) == (75.0, 75.0)
    assert detect.rates(B_S, B_Y, 2.999) == (100.0, 50.0)


def test_retained_at_removed_hand_computed():
    # need >= ceil(0.95 * 4) = 4 removed -> threshold below 3.5; largest score below it is 3
    assert detect.threshold_at_removed(A_S, A_Y, 0.95) == 3.0
    assert detect.retained_at_removed(A_S, A_Y, 0.95) == 75.0
    assert detect.threshold_at_removed(A_S, A_Y, 0.75) == 4.0  # 3 of 4: below 5
    assert detect.retained_at_removed(A_S, A_Y, 0.75) == 100.0
    # ties: removing all of B needs threshold < 3 -> 2, keeping 1, 2 only
    assert detect.threshold_at_removed(B_S, B_Y, 1.0) == 2.0
    assert detect.retained_at_removed(B_S, B_Y, 1.0) == 50.0
    assert detect.retained_at_removed(B_S, B_Y, 0.5) == 100.0  # below 6: thr 5


def test_threshold_at_removed_when_no_score_is_lower():
    s, y = np.array([1.0, 2.0, 0.5]), np.array([0, 0, 1], bool)
    thr = detect.threshold_at_removed(s, y, 1.0)
    assert thr < 0.5 and np.nextafter(thr, np.inf) == 0.5
    assert detect.retained_at_removed(s, y, 1.0) == 0.0


def test_float_noise_in_target_counts():
    # 0.96 * 25 = 24.000000000000004 must mean 24 samples, not 25
    s = np.concatenate([np.arange(1.0, 26.0), [100.0]])
    y = np.r_[np.zeros(25, bool), True]
    assert detect.threshold_at_retained(s, y, 0.96) == 24.0


@pytest.mark.parametrize("seed", range(5))
def test_thresholds_are_optimal_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 60
    y = rng.random(n) < 0.4
    s = np.round(rng.normal(size=n) + 1.5 * y, 1)  # rounded: ties across classes
    y[:2] = [True, False]
    cands = np.r_[-np.inf, np.unique(s)]
    table = [detect.rates(s, y, t) for t in cands]
    for r in (0.5, 0.9, 0.96, 1.0):
        best = max(rem for rem, ret in table if ret >= 100 * r - 1e-9)
        assert detect.removed_at_retained(s, y, r) == best
    for m in (0.5, 0.9, 0.95, 1.0):
        best = max(ret for rem, ret in table if rem >= 100 * m - 1e-9)
        assert detect.retained_at_removed(s, y, m) == best


def test_roc_matches_sklearn():
    fpr, tpr, thr = detect.roc(B_S, B_Y)
    ref = roc_curve(B_Y, B_S)
    for a, b in zip((fpr, tpr, thr), ref):
        np.testing.assert_array_equal(a, b)
    assert fpr[-1] == 1.0 and tpr[-1] == 1.0


def test_threshold_sweep():
    rows = detect.threshold_sweep(A_S, A_Y, n=None)
    assert [r["threshold"] for r in rows] == sorted(set(A_S))
    assert rows[-1]["removed_pct"] == 0.0 and rows[-1]["retained_pct"] == 100.0
    assert rows[0] == {"threshold": 1.0, "removed_pct": 100.0, "retained_pct": 25.0, "n_kept": 1}
    assert all(a["removed_pct"] >= b["removed_pct"] and a["retained_pct"] <= b["retained_pct"]
               for a, b in zip(rows, rows[1:]))
    few = detect.threshold_sweep(A_S, A_Y, n=3)
    assert 2 <= len(few) <= 3 and all(r["threshold"] in set(A_S) for r in few)
    with pytest.raises(ValueError, match="n must"):
        detect.threshold_sweep(A_S, A_Y, n=1)


def test_evaluate_report():
    rep = detect.evaluate(A_S, A_Y)
    assert rep.auroc == 15 / 16
    assert (rep.removed_at_retained, rep.retained_pct, rep.threshold) == (75.0, 100.0, 4.0)
    assert (rep.retained_at_removed, rep.removed_pct, rep.threshold_removed) == (75.0, 100.0, 3.0)
    assert (rep.n, rep.n_hallucinated, rep.n_in_support) == (8, 4, 4)
    d = rep.to_dict()
    assert d["hallucination_rate"] == 0.5 and d["retained"] == 0.96 and d["removed"] == 0.95
    json.dumps(d)  # plain Python types
    assert "AUROC 0.9375" in str(rep)


def test_separable_scores_reach_paper_numbers():
    rng = np.random.default_rng(1)
    s = np.r_[rng.lognormal(-6, 0.5, 2000), rng.lognormal(-1, 0.5, 100)]
    y = np.r_[np.zeros(2000, bool), np.ones(100, bool)]
    rep = detect.evaluate(s, y)
    assert rep.auroc > 0.99 and rep.removed_at_retained > 95 and rep.retained_pct >= 96


@pytest.mark.parametrize("fn", [detect.auroc, detect.roc, detect.evaluate,
                                detect.removed_at_retained, detect.retained_at_removed])
@pytest.mark.parametrize("value", [False, True])
def test_one_class_raises_naming_labels(fn, value):
    with pytest.raises(ValueError, match="labels"):
        fn(np.arange(4.0), np.full(4, value))


def test_validation_errors():
    with pytest.raises(ValueError, match="labels"):
        detect.auroc(A_S, A_Y[:-1])
    with pytest.raises(ValueError, match="scores"):
        detect.auroc(np.r_[A_S[:-1], np.nan], A_Y)
    with pytest.raises(ValueError, match="scores"):
        detect.filter_lowest(np.array([1.0, np.nan]), 1)
    with pytest.raises(ValueError, match="scores"):
        detect.auroc(A_S.reshape(2, 4), A_Y)
    with pytest.raises(ValueError, match="labels"):
        detect.auroc(A_S, np.arange(8))
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="retained"):
            detect.removed_at_retained(A_S, A_Y, bad)
        with pytest.raises(ValueError, match="removed"):
            detect.retained_at_removed(A_S, A_Y, bad)
    with pytest.raises(ValueError, match="threshold"):
        detect.rates(A_S, A_Y, float("nan"))


def test_oversample():
    assert detect.oversample(1000) == 1025
    assert detect.oversample(40) == 41  # 1.0 exactly, not 2 from float noise
    assert detect.oversample(100) == 103  # 2.5 rounds up
    assert detect.oversample(10, 0.0) == 10
    with pytest.raises(ValueError, match="n must"):
        detect.oversample(-1)
    with pytest.raises(ValueError, match="frac"):
        detect.oversample(10, -0.1)


def test_filter_lowest():
    s = np.array([5.0, 1.0, 3.0, 1.0, 4.0])
    np.testing.assert_array_equal(detect.filter_lowest(s, 2), [1, 3])
    np.testing.assert_array_equal(detect.filter_lowest(s, 3), [1, 2, 3])
    np.testing.assert_array_equal(detect.filter_lowest(s, 0), [])
    np.testing.assert_array_equal(detect.filter_lowest(s, 5), np.arange(5))
    # ties at the cut: earlier index first, exactly n_keep
    np.testing.assert_array_equal(detect.filter_lowest([2.0, 1.0, 1.0, 1.0], 2), [1, 2])
    for bad in (-1, 6, 2.5):
        with pytest.raises(ValueError, match="n_keep"):
            detect.filter_lowest(s, bad)


def test_paper_filter_rule_end_to_end():
    rng = np.random.default_rng(2)
    N = 400
    n = detect.oversample(N)
    y = np.zeros(n, bool)
    y[rng.choice(n, 8, replace=False)] = True
    s = np.where(y, 1.0, 1e-3) * rng.lognormal(0, 0.3, n)
    keep = detect.filter_lowest(s, N)
    assert keep.size == N and not y[keep].any()


def test_filter_quantile():
    s = np.array([7.0, 3.0, 9.0, 1.0, 5.0, 2.0, 10.0, 4.0, 8.0, 6.0])
    np.testing.assert_array_equal(detect.filter_quantile(s, 0.5), np.nonzero(s <= 5)[0])
    assert detect.filter_quantile(s, 0.25).size == 3  # ceil(2.5)
    # ties at the quantile are all kept
    np.testing.assert_array_equal(detect.filter_quantile([1.0, 2.0, 2.0, 2.0, 5.0], 0.4),
                                  [0, 1, 2, 3])
    for bad in (0.0, 1.0, 1.5, -0.2):
        with pytest.raises(ValueError, match="q"):
            detect.filter_quantile(s, bad)
