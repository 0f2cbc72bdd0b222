"""Hallucination detection from per-sample scores (the x̂0 trajectory variance of the sampler).

Conventions used throughout
---------------------------
* ``labels`` are the oracle's answers (e.g. ``dataset.is_hallucination(samples)``): True / 1 means
  hallucination (the positive class), False / 0 means in support.
* Higher score = more likely a hallucination. A threshold ``thr`` **removes** every sample with
  ``score > thr`` and **keeps** every sample with ``score <= thr``; a sample whose score equals the
  threshold is kept (ties are resolved in favour of keeping).
* "% removed" = 100 · (hallucinations removed) / (hallucinations); "% retained" = 100 · (in-support
  samples kept) / (in-support samples). Functions taking a target (``retained=0.96``,
  ``removed=0.95``) take it as a fraction in (0, 1]; they *return* percentages in [0, 100].
* :func:`auroc` is the Mann–Whitney statistic: P(score_h > score_s) + ½·P(score_h = score_s) for a
  random hallucination h and in-support sample s (sklearn's ``roc_auc_score``; ties count half).
* :func:`roc` returns sklearn's ``roc_curve`` unchanged, whose thresholds flag ``score >= thr``
  (the same set of (fpr, tpr) points as this module's ``>`` rule, labelled one score lower).

Label-free filtering (what one does at generation time, without an oracle) is
:mod:`modeinterp.detect.filters`.
Bad input raises ValueError / TypeError naming the argument.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..validation import check_fraction, check_int, check_labels, check_vector

__all__ = ["auroc", "roc", "threshold_sweep", "rates", "threshold_at_retained",
           "threshold_at_removed", "removed_at_retained", "retained_at_removed",
           "DetectionReport", "evaluate"]


# ------------------------------------------------------------------------------ validation
def _check_pair(scores, labels, *, both: bool = True):
    s = check_vector("scores", scores)
    y = check_labels("labels", labels, s.shape[0])
    if both:
        n_h = int(y.sum())
        if n_h == 0 or n_h == y.size:
            which = ("no hallucinations (all False)" if n_h == 0
                     else "only hallucinations (all True)")
            raise ValueError(f"labels must contain both classes, got {which} in {y.size} samples")
    return s, y


def _count_at_least(frac: float, n: int) -> int:
    """ceil(frac · n), immune to float noise such as 0.96 · 25 = 24.000000000000004."""
    return max(1, math.ceil(round(frac * n, 9)))


# ------------------------------------------------------------------------------ oracle metrics
def auroc(scores, labels) -> float:
    """Area under the ROC curve, hallucination = positive class (ties count half)."""
    from sklearn.metrics import roc_auc_score

    s, y = _check_pair(scores, labels)
    return float(roc_auc_score(y, s))


def roc(scores, labels):
    """(fpr, tpr, thresholds) of sklearn's ``roc_curve`` (flags ``score >= threshold``)."""
    from sklearn.metrics import roc_curve

    s, y = _check_pair(scores, labels)
    return tuple(roc_curve(y, s))


def rates(scores, labels, threshold: float):
    """(% hallucinations removed, % in-support retained) when samples with score > threshold
    are removed."""
    s, y = _check_pair(scores, labels)
    if math.isnan(float(threshold)):
        raise ValueError("threshold must not be NaN")
    return _rates(s, y, float(threshold))


def _rates(s, y, thr):
    removed = 100.0 * float((s[y] > thr).sum()) / int(y.sum())
    retained = 100.0 * float((s[~y] <= thr).sum()) / int((~y).sum())
    return removed, retained


def threshold_at_retained(scores, labels, retained: float = 0.96) -> float:
    """The lowest threshold that keeps at least ``retained`` of the in-support samples.

    It is the ceil(retained · n_in)-th smallest in-support score: every lower threshold keeps
    fewer, and the lowest admissible threshold removes the most hallucinations.
    """
    s, y = _check_pair(scores, labels)
    return _thr_retained(s, y, check_fraction("retained", retained))


def _thr_retained(s, y, retained):
    ins = np.sort(s[~y])
    return float(ins[_count_at_least(retained, ins.size) - 1])


def threshold_at_removed(scores, labels, removed: float = 0.95) -> float:
    """The highest threshold that removes at least ``removed`` of the hallucinations.

    With h_m the ceil(removed · n_h)-th largest hallucination score, any threshold below h_m
    qualifies; the one returned is the largest score (of any sample) below h_m, so it keeps the
    most in-support samples, or the float just below h_m when no score is lower.
    """
    s, y = _check_pair(scores, labels)
    return _thr_removed(s, y, check_fraction("removed", removed))


def _thr_removed(s, y, removed):
    hal = np.sort(s[y])[::-1]
    h_m = hal[_count_at_least(removed, hal.size) - 1]
    below = s[s < h_m]
    return float(below.max()) if below.size else float(np.nextafter(h_m, -np.inf))


def removed_at_retained(scores, labels, retained: float = 0.96) -> float:
    """% of hallucinations removed at :func:`threshold_at_retained` (≥ ``retained`` kept)."""
    s, y = _check_pair(scores, labels)
    return _rates(s, y, _thr_retained(s, y, check_fraction("retained", retained)))[0]


def retained_at_removed(scores, labels, removed: float = 0.95) -> float:
    """% of in-support samples kept at :func:`threshold_at_removed` (≥ ``removed`` removed)."""
    s, y = _check_pair(scores, labels)
    return _rates(s, y, _thr_removed(s, y, check_fraction("removed", removed)))[1]


def threshold_sweep(scores, labels, n: int | None = 50) -> list:
    """Table of thresholds and what they do, one row (dict) per threshold, ascending.

    Rows: ``{"threshold", "removed_pct", "retained_pct", "n_kept"}``. Thresholds are ``n``
    quantiles (0 … 1, evenly spaced, deduplicated) of all scores, each an observed score; with
    ``n=None`` every distinct score is a row. The first row, at the minimum score, keeps only
    the samples with that score.
    """
    s, y = _check_pair(scores, labels)
    if n is None:
        thr = np.unique(s)
    else:
        n = check_int("n", n, 2, note="or None for every distinct score")
        thr = np.unique(np.quantile(s, np.linspace(0.0, 1.0, n), method="inverted_cdf"))
    rows = []
    for t in thr:
        removed, retained = _rates(s, y, float(t))
        rows.append({"threshold": float(t), "removed_pct": removed, "retained_pct": retained,
                     "n_kept": int((s <= t).sum())})
    return rows


# ------------------------------------------------------------------------------ report
@dataclass
class DetectionReport:
    """Everything :func:`evaluate` measures; percentages in [0, 100], targets as fractions.

    removed_at_retained: % hallucinations removed at ``threshold`` (the lowest threshold keeping
        ≥ ``retained`` of in-support samples); retained_pct: % in-support actually kept there.
    retained_at_removed: % in-support kept at ``threshold_removed`` (the highest threshold
        removing ≥ ``removed`` of hallucinations); removed_pct: % hallucinations removed there.
    """

    auroc: float
    removed_at_retained: float
    retained_pct: float
    threshold: float
    retained: float
    retained_at_removed: float
    removed_pct: float
    threshold_removed: float
    removed: float
    n: int
    n_hallucinated: int
    n_in_support: int
    # Bootstrap 95 % intervals of auroc and removed_at_retained; (nan, nan) unless made by
    # intervals.evaluate_with_intervals.
    auroc_ci: tuple = (math.nan, math.nan)
    removed_ci: tuple = (math.nan, math.nan)

    @property
    def hallucination_rate(self) -> float:
        return self.n_hallucinated / self.n

    def to_dict(self) -> dict:
        """JSON-friendly dict of all fields (plain Python floats and ints) plus the rate."""
        d = asdict(self)
        d["hallucination_rate"] = self.hallucination_rate
        return d

    def __str__(self) -> str:
        return (f"AUROC {self.auroc:.4f} | removed {self.removed_at_retained:.1f}% of "
                f"{self.n_hallucinated} hallucinations while keeping {self.retained_pct:.1f}% of "
                f"{self.n_in_support} in-support (threshold {self.threshold:.4g}) | keeps "
                f"{self.retained_at_removed:.1f}% when removing ≥{100 * self.removed:.0f}%")


def evaluate(scores, labels, *, retained: float = 0.96, removed: float = 0.95) -> DetectionReport:
    """AUROC and the two headline numbers (the paper: > 95% removed while keeping ~96%);
    :func:`modeinterp.detect.intervals.evaluate_with_intervals` adds their bootstrap intervals.

    Needs both classes in ``labels`` (ValueError otherwise, like :func:`auroc`).
    """
    s, y = _check_pair(scores, labels)
    retained = check_fraction("retained", retained)
    removed = check_fraction("removed", removed)
    thr = _thr_retained(s, y, retained)
    rem_r, ret_r = _rates(s, y, thr)
    thr_rm = _thr_removed(s, y, removed)
    rem_m, ret_m = _rates(s, y, thr_rm)
    n_h = int(y.sum())
    return DetectionReport(auroc=auroc(s, y), removed_at_retained=rem_r, retained_pct=ret_r,
                           threshold=thr, retained=retained, retained_at_removed=ret_m,
                           removed_pct=rem_m, threshold_removed=thr_rm, removed=removed,
                           n=int(y.size), n_hallucinated=n_h, n_in_support=int(y.size) - n_h)
