"""Hallucination detection from per-sample scores: metrics against an oracle's labels
(:mod:`.metrics`), choosing the score window or (window × aggregation) pair (:mod:`.calibration`),
and keeping samples without labels (:mod:`.filters`). numpy and scikit-learn only."""

from .calibration import (Calibration, calibrate_over_splits, calibrate_window, label_free_window,
                          tail_separation, window_sweep)
from .filters import FILTERS, filter_lowest, filter_quantile, oversample, select
from .metrics import (DetectionReport, auroc, evaluate, rates, removed_at_retained,
                      retained_at_removed, roc, threshold_at_removed, threshold_at_retained,
                      threshold_sweep)

__all__ = ["Calibration", "DetectionReport", "FILTERS", "auroc", "calibrate_over_splits",
           "calibrate_window", "evaluate", "filter_lowest", "filter_quantile", "label_free_window",
           "oversample", "rates", "removed_at_retained", "retained_at_removed", "roc", "select",
           "tail_separation", "threshold_at_removed", "threshold_at_retained", "threshold_sweep",
           "window_sweep"]
