"""Choosing the score window: with labels on a calibration split, judged on a held-out split; and
without labels, from the shape of the score distribution alone.

Which last-K window separates hallucinations best depends on the model and the schedule (the paper
fixes K = 10 by hand). :func:`calibrate_window` splits the samples in two (stratified by label,
seeded), picks the window — and its threshold — that removes the most hallucinations at the
target retention on the calibration half, and reports every number on the other half only.
:func:`label_free_window` picks the window whose highest log-scores stand farthest out of the
bulk: what one can do at generation time, with no oracle.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from ..validation import check_fraction, check_int, check_labels
from .intervals import auroc_interval, removed_interval
from .metrics import (_check_pair, _rates, _thr_retained, auroc, removed_at_retained,
                      retained_at_removed)

__all__ = ["Calibration", "calibrate_over_splits", "calibrate_window", "calibration_split",
           "label_free_window", "tail_separation", "window_sweep"]


def window_sweep(window_scores: Mapping[Any, Any], labels, retained: float = 0.96) -> list:
    """One row per window: ``{"window", "auroc", "removed_at_96"}`` and their bootstrap 95 %
    intervals (``"auroc_ci"``, ``"removed_at_96_ci"``) on all the samples given (the
    key is named for the default ``retained`` of 0.96)."""
    return [{"window": _jsonable(w), "auroc": auroc(s, labels),
             "auroc_ci": auroc_interval(s, labels),
             "removed_at_96": removed_at_retained(s, labels, retained),
             "removed_at_96_ci": removed_interval(s, labels, retained)}
            for w, s in window_scores.items()]


@dataclass
class Calibration:
    """What :func:`calibrate_window` chose and what it measured on the held-out split."""
    window: Any
    threshold: float
    retained_target: float
    calibration: list = field(default_factory=list)  # window_sweep rows on the calibration split
    heldout_auroc: float = math.nan
    heldout_removed_at_96: float = math.nan  # % removed at >= `retained` kept, held-out curve
    heldout_kept_at_95: float = math.nan  # % in-support kept at >= 95 % removed, held-out curve
    heldout_removed: float = math.nan  # % removed with the calibration threshold
    heldout_kept: float = math.nan  # % in-support kept with the calibration threshold
    n_calibration: int = 0
    n_heldout: int = 0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["window"] = _jsonable(self.window)
        return out


def _jsonable(window):
    return list(window) if isinstance(window, tuple) else window


def calibration_split(labels, frac: float = 0.5, seed: int = 0) -> tuple:
    """Stratified (calibration, held-out) sorted index arrays of ``labels`` (True =
    hallucination): ``frac`` of each class, at random (``seed``), to calibration. ValueError when
    a class would leave either half empty."""
    labels = check_labels("labels", labels, len(labels))
    frac = check_fraction("frac", frac, open_hi=True)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    calib, held = [], []
    for cls in (False, True):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        k = int(round(frac * idx.size))
        if k == 0 or k == idx.size:
            name = "hallucinations" if cls else "in-support samples"
            raise ValueError(f"labels hold {idx.size} {name}: too few to put some in both the "
                             "calibration and the held-out split")
        calib.append(idx[:k])
        held.append(idx[k:])
    return np.sort(np.concatenate(calib)), np.sort(np.concatenate(held))


def calibrate_window(window_scores: Mapping[Any, Any], labels, retained: float = 0.96,
                     seed: int = 0, calibration_frac: float = 0.5) -> Calibration:
    """Pick the score window and threshold on a calibration split; measure on the held-out split.

    window_scores: {window: (n,) scores} (e.g. ``SampleResult.window_scores``); labels: (n,) bool,
    True = hallucination. The window that removes the most hallucinations at ≥ ``retained``
    in-support kept on the calibration split wins (ties: higher AUROC, then the first given);
    its threshold is the calibration one. Every ``heldout_*`` number uses only the other split.
    """
    if not isinstance(window_scores, Mapping) or not window_scores:
        raise ValueError("window_scores must be a non-empty mapping {window: scores}")
    retained = check_fraction("retained", retained)
    frac = check_fraction("calibration_frac", calibration_frac, open_hi=True)
    seed = check_int("seed", seed, 0)
    pairs = {w: _check_pair(s, labels) for w, s in window_scores.items()}
    y = next(iter(pairs.values()))[1]
    calib, held = calibration_split(y, frac, seed)
    rows, best, best_key = [], None, None
    for w, (s, _) in pairs.items():
        removed = _rates(s[calib], y[calib], _thr_retained(s[calib], y[calib], retained))[0]
        row = {"window": _jsonable(w), "auroc": auroc(s[calib], y[calib]),
               "removed_at_96": removed}
        rows.append(row)
        key = (removed, row["auroc"])
        if best_key is None or key > best_key:
            best, best_key = w, key
    s = pairs[best][0]
    threshold = _thr_retained(s[calib], y[calib], retained)
    removed, kept = _rates(s[held], y[held], threshold)
    return Calibration(
        window=best, threshold=threshold, retained_target=retained, calibration=rows,
        heldout_auroc=auroc(s[held], y[held]),
        heldout_removed_at_96=removed_at_retained(s[held], y[held], retained),
        heldout_kept_at_95=retained_at_removed(s[held], y[held], 0.95),
        heldout_removed=removed, heldout_kept=kept,
        n_calibration=int(calib.size), n_heldout=int(held.size))


def calibrate_over_splits(window_scores: Mapping[Any, Any], labels, retained: float = 0.96,
                          splits: int = 20) -> dict:
    """:func:`calibrate_window` over ``splits`` random calibration/held-out splits (seeds 0…):
    with few hallucinations one split's held-out numbers are noisy, so also say how they spread
    and which windows get chosen."""
    runs = [calibrate_window(window_scores, labels, retained, seed) for seed in range(splits)]
    removed = np.array([c.heldout_removed_at_96 for c in runs])
    chosen: dict = {}
    for c in runs:
        chosen[str(_jsonable(c.window))] = chosen.get(str(_jsonable(c.window)), 0) + 1
    return {"splits": splits, "windows_chosen": chosen,
            "heldout_removed_at_96": {"mean": float(removed.mean()), "min": float(removed.min()),
                                      "max": float(removed.max())},
            "heldout_auroc_mean": float(np.mean([c.heldout_auroc for c in runs])),
            "heldout_kept_mean": float(np.mean([c.heldout_kept for c in runs])),
            "heldout_removed_mean": float(np.mean([c.heldout_removed for c in runs]))}


def tail_separation(log_scores: np.ndarray, top: float = 0.005) -> float:
    """How far the highest ``top`` fraction of the (log) scores sits above the bulk, in units of
    the bulk's spread: (median of the top − median) / interquartile range. A window that flags
    hallucinations pushes a small group of samples far out; a useless one has a plain tail."""
    x = np.sort(log_scores)
    k = max(1, math.ceil(top * x.size))
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    return float((np.median(x[-k:]) - med) / iqr) if iqr > 0 else 0.0


def label_free_window(window_scores: Mapping[Any, Any], top: float = 0.005) -> tuple:
    """(window, {window: separation}): the window whose highest log10-scores stand farthest out
    of the bulk (:func:`tail_separation`) — no labels used. A useful score puts the few
    hallucinations far above the in-support samples."""
    if not isinstance(window_scores, Mapping) or not window_scores:
        raise ValueError("window_scores must be a non-empty mapping {window: scores}")
    separation = {}
    for w, s in window_scores.items():
        s = np.asarray(s.cpu() if hasattr(s, "cpu") else s, dtype=np.float64)
        s = s[np.isfinite(s)]
        floor = float(s[s > 0].min()) if (s > 0).any() else 1e-30  # log of a zero variance
        separation[w] = tail_separation(np.log10(np.maximum(s, floor)), top)
    return max(separation, key=separation.get), separation
