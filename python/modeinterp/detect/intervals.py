"""Bootstrap 95 % intervals of the detection numbers, so that a table on 9 hallucinations says how
little 9 can tell.

The resampling is scipy's (``scipy.stats.bootstrap``, percentile method), with the hallucinations
and the in-support samples as two independent samples: each resample keeps both counts (a
stratified bootstrap), so every resample has both classes and its AUROC is defined. The
statistics are this package's own definitions (:mod:`.metrics`), vectorised over resamples:

* AUROC: the Mann–Whitney U of hallucinations against in-support samples over their product
  (from ``scipy.stats.rankdata`` mid-ranks; ties count half, as sklearn's ``roc_auc_score``);
* % removed at ≥ ``retained`` kept: each resample's own threshold (the ceil(retained · n)-th
  smallest in-support score), or a fixed ``threshold`` (a calibration half's), and the % of
  hallucinations above it.

A rate (k of n samples hallucinate) gets the exact binomial interval instead
(:func:`rate_interval`, scipy's Clopper–Pearson), in percent like the tables print it.

Intervals are (low, high) floats, (nan, nan) when a class has fewer than two samples; on the
data itself each statistic equals the point value of :mod:`.metrics`. The seed is fixed per call
(``seed``), so reports are reproducible.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_fraction, check_int
from .metrics import DetectionReport, _check_pair, _count_at_least, evaluate

__all__ = ["CONFIDENCE", "auroc_interval", "evaluate_with_intervals", "rate_interval",
           "removed_interval"]

CONFIDENCE = 0.95
N_RESAMPLES = 1000
_BATCH = 100  # resamples per vectorised call: bounds memory at 100 × n floats


def auroc_interval(scores, labels, *, confidence: float = CONFIDENCE,
                   n_resamples: int = N_RESAMPLES, seed: int = 0) -> tuple:
    """Bootstrap interval of :func:`~modeinterp.detect.auroc` (hallucination = positive)."""
    return _bootstrap(_auroc_statistic, scores, labels, confidence, n_resamples, seed)


def evaluate_with_intervals(scores, labels, *, retained: float = 0.96,
                            removed: float = 0.95) -> DetectionReport:
    """:func:`~modeinterp.detect.evaluate` with the bootstrap intervals of its AUROC
    (``auroc_ci``) and of its % removed at ≥ ``retained`` kept (``removed_ci``): seconds on
    100k samples."""
    report = evaluate(scores, labels, retained=retained, removed=removed)
    report.auroc_ci = auroc_interval(scores, labels)
    report.removed_ci = removed_interval(scores, labels, retained)
    return report


def _auroc_statistic(hal: np.ndarray, ins: np.ndarray, axis: int = -1) -> np.ndarray:
    """AUROC of each resample (rows along ``axis``): the Mann–Whitney U from mid-ranks over
    n_h · n_s, i.e. P(h > s) + ½ P(h = s)."""
    from scipy.stats import rankdata

    hal, ins = np.moveaxis(hal, axis, -1), np.moveaxis(ins, axis, -1)
    n_h, n_s = hal.shape[-1], ins.shape[-1]
    ranks = rankdata(np.concatenate([hal, ins], axis=-1), axis=-1)[..., :n_h]
    return (ranks.sum(axis=-1) - n_h * (n_h + 1) / 2) / (n_h * n_s)


def removed_interval(scores, labels, retained: float = 0.96, *, threshold: float | None = None,
                     confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES,
                     seed: int = 0) -> tuple:
    """Bootstrap interval of the % of hallucinations removed at the lowest threshold keeping
    ≥ ``retained`` of the in-support samples (re-chosen in every resample), or above a fixed
    ``threshold`` (then only the hallucinations vary)."""
    retained = check_fraction("retained", retained)
    fixed = None if threshold is None else float(threshold)
    if fixed is not None and math.isnan(fixed):
        raise ValueError("threshold must not be NaN")

    def statistic(hal, ins, axis=-1):
        hal, ins = np.moveaxis(hal, axis, -1), np.moveaxis(ins, axis, -1)
        if fixed is None:
            k = _count_at_least(retained, ins.shape[-1])
            thr = np.partition(ins, k - 1, axis=-1)[..., k - 1:k]
        else:
            thr = fixed
        return 100.0 * (hal > thr).mean(axis=-1)

    return _bootstrap(statistic, scores, labels, confidence, n_resamples, seed)


def rate_interval(k: int, n: int, *, confidence: float = CONFIDENCE) -> tuple:
    """The exact (Clopper–Pearson) interval of a rate of ``k`` in ``n``, in percent; (nan, nan)
    for ``n = 0``."""
    from scipy.stats import binomtest

    n = check_int("n", n, 0)
    k = check_int("k", k, 0, n)
    if n == 0:
        return math.nan, math.nan
    ci = binomtest(k, n).proportion_ci(check_fraction("confidence", confidence, open_hi=True),
                                       method="exact")
    return 100 * float(ci.low), 100 * float(ci.high)


def _bootstrap(statistic, scores, labels, confidence, n_resamples, seed) -> tuple:
    from scipy.stats import bootstrap

    s, y = _check_pair(scores, labels)
    confidence = check_fraction("confidence", confidence, open_hi=True)
    n_resamples = check_int("n_resamples", n_resamples, 1)
    hal, ins = s[y], s[~y]
    if min(hal.size, ins.size) < 2:  # one sample of a class resamples to itself: no spread
        return math.nan, math.nan
    result = bootstrap((hal, ins), statistic, vectorized=True, paired=False,
                       n_resamples=n_resamples, batch=_BATCH, confidence_level=confidence,
                       method="percentile", random_state=np.random.default_rng(seed))
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)
