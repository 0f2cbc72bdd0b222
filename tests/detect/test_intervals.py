"""Bootstrap intervals of the detection numbers (scipy's resampler, stratified by class): against
the binomial closed form where the bootstrap distribution is exactly binomial, the statistics
against the point metrics (ties included), reproducibility, and too-few-samples cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom, norm
from sklearn.metrics import roc_auc_score

from modeinterp import detect
from modeinterp.detect.intervals import _auroc_statistic
from modeinterp.reports import with_interval


@pytest.fixture
def rng(test_seed):
    return np.random.default_rng(test_seed)


def two_level_table(n_hal: int, above: int, n_ins: int):
    """In-support scores all 0; ``above`` hallucinations at +1, the rest at −1. Every resample's
    AUROC (and % removed: the threshold is 0 in every resample) is then the share of resampled
    hallucinations at +1, exactly Binomial(n_hal, above / n_hal) / n_hal."""
    scores = np.r_[np.where(np.arange(n_hal) < above, 1.0, -1.0), np.zeros(n_ins)]
    labels = np.r_[np.ones(n_hal, bool), np.zeros(n_ins, bool)]
    return scores, labels


def quantile_scores(labels: np.ndarray, shift: float) -> np.ndarray:
    """Each class at its standard normal quantiles, hallucinations shifted up by ``shift``: the
    AUROC is then fixed by ``shift`` alone (not by the luck of a few draws), in any label order."""
    scores = np.empty(len(labels))
    for cls, offset in ((labels, shift), (~labels, 0.0)):
        k = int(cls.sum())
        scores[cls] = norm.ppf((np.arange(k) + 0.5) / k) + offset
    return scores


@pytest.mark.parametrize("n_hal, above", [(400, 120), (200, 20), (900, 450)])
def test_intervals_match_the_binomial_closed_form(n_hal, above):
    scores, labels = two_level_table(n_hal, above, 1500)
    p = above / n_hal
    closed = (binom.ppf(0.025, n_hal, p) / n_hal, binom.ppf(0.975, n_hal, p) / n_hal)
    # Percentile quantiles of 2000 resamples: within ~2 binomial steps of the exact quantiles.
    tol = 2.5 / n_hal
    lo, hi = detect.auroc_interval(scores, labels, n_resamples=2000, seed=1)
    assert detect.auroc(scores, labels) == pytest.approx(p)
    assert lo == pytest.approx(closed[0], abs=tol) and hi == pytest.approx(closed[1], abs=tol)
    lo, hi = detect.removed_interval(scores, labels, 0.96, n_resamples=2000, seed=1)
    assert lo == pytest.approx(100 * closed[0], abs=100 * tol)
    assert hi == pytest.approx(100 * closed[1], abs=100 * tol)
    lo, hi = detect.removed_interval(scores, labels, threshold=0.5, n_resamples=2000, seed=1)
    assert lo == pytest.approx(100 * closed[0], abs=100 * tol)


def test_the_auroc_statistic_is_sklearns_with_ties(rng):
    values = rng.integers(0, 5, size=(3, 60)).astype(float)  # many ties
    hal, ins = values[:, :25], values[:, 25:]
    got = _auroc_statistic(hal, ins)
    for row in range(3):
        truth = np.r_[np.ones(25), np.zeros(35)]
        assert got[row] == pytest.approx(roc_auc_score(truth, values[row]), abs=1e-12)


def test_intervals_bracket_the_point_value_narrow_with_n_and_are_reproducible(rng):
    def table(n):
        # Each class at its normal quantiles (shift 1), in a random order: both tables then have
        # the same AUROC (≈ 0.76), so only n sets the width. Plain normal draws of 9 positives can
        # land near AUROC 1, where the interval is narrow for another reason.
        labels = rng.permutation(np.arange(n) < n // 10)
        return quantile_scores(labels, shift=1.0), labels

    small, large = table(90), table(9000)  # 9 and 900 hallucinations
    widths = []
    for scores, labels in (small, large):
        lo, hi = detect.auroc_interval(scores, labels)
        assert lo <= detect.auroc(scores, labels) <= hi
        rlo, rhi = detect.removed_interval(scores, labels)
        assert rlo <= detect.removed_at_retained(scores, labels) <= rhi
        widths.append(hi - lo)
    assert widths[0] > 4 * widths[1]  # 9 positives say little; the interval says so
    assert detect.auroc_interval(*small, seed=3) == detect.auroc_interval(*small, seed=3)


def test_a_class_of_one_has_no_interval_and_bad_input_is_refused():
    scores, labels = np.arange(10.0), np.arange(10) == 9
    assert all(math.isnan(v) for v in detect.auroc_interval(scores, labels))
    assert all(math.isnan(v) for v in detect.removed_interval(scores, labels))
    with pytest.raises(ValueError, match="both classes"):
        detect.auroc_interval(scores, np.zeros(10, bool))
    with pytest.raises(ValueError, match="confidence"):
        detect.auroc_interval(scores, np.arange(10) > 5, confidence=1.5)
    with pytest.raises(ValueError, match="threshold"):
        detect.removed_interval(scores, np.arange(10) > 5, threshold=float("nan"))


def test_evaluate_and_heldout_tables_carry_intervals(rng):
    labels = rng.permutation(np.arange(400) < 40)
    scores = quantile_scores(labels, shift=2.0)
    report = detect.evaluate_with_intervals(scores, labels)
    assert report.auroc_ci[0] <= report.auroc <= report.auroc_ci[1]
    assert report.removed_ci[0] <= report.removed_at_retained <= report.removed_ci[1]
    assert all(math.isnan(v) for v in detect.evaluate(scores, labels).auroc_ci)
    # Five hallucinations spread over their class (ranks 4, 12, 20, 28, 36 of 40): about 3 of 5
    # sit above the threshold, so their removed share is a 5-trial binomial, whatever the order.
    ranks = np.argsort(np.argsort(np.where(labels, scores, np.inf)))
    groups = {"all": labels, "few": labels & np.isin(ranks, [4, 12, 20, 28, 36])}
    metrics = detect.heldout_metrics(scores, labels, groups, np.arange(400))
    assert metrics["auroc_ci"][0] <= metrics["auroc"] <= metrics["auroc_ci"][1]
    few = metrics["groups"]["few"]
    assert few["n"] == 5 and few["removed_ci"][1] - few["removed_ci"][0] >= 40


def test_interval_cells_render_with_and_without_an_interval():
    fmt = with_interval(".3f")
    assert fmt((0.9123, (0.88, 0.94))) == "0.912 [0.880, 0.940]"
    assert fmt((0.9123, (math.nan, math.nan))) == "0.912"
    assert fmt((0.9123, None)) == "0.912" and fmt(0.5) == "0.500"
    assert with_interval(".1f", " %")((95.25, [93.0, 97.0])) == "95.2 % [93.0, 97.0]"


def test_a_rate_interval_is_the_exact_binomial_one_in_percent():
    from scipy.stats import beta

    k, n = 12, 1024  # Clopper–Pearson from its beta quantiles, independently of binomtest
    lo, hi = detect.rate_interval(k, n)
    assert lo == pytest.approx(100 * beta.ppf(0.025, k, n - k + 1), rel=1e-9)
    assert hi == pytest.approx(100 * beta.ppf(0.975, k + 1, n - k), rel=1e-9)
    assert detect.rate_interval(0, 10)[0] == 0 and detect.rate_interval(10, 10)[1] == 100
    assert all(math.isnan(v) for v in detect.rate_interval(0, 0))
    with pytest.raises(ValueError, match="k"):
        detect.rate_interval(11, 10)
