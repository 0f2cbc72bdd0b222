"""Hallucination detection from per-sample scores: metrics against an oracle's labels
(:mod:`.metrics`) and per group of hallucinations, e.g. per oracle reason (:mod:`.grouped`),
choosing the score window or (window × aggregation) pair (:mod:`.calibration`), keeping samples
without labels (:mod:`.filters`), a fitted detector over every per-sample feature the sampler
computes (:mod:`.features`, :mod:`.detector`), and bootstrap intervals of the numbers
(:mod:`.intervals`). numpy, scipy and scikit-learn only."""

from .calibration import (Calibration, calibrate_over_splits, calibrate_window, calibration_split,
                          label_free_window, tail_separation, window_sweep)
from .detector import Detector
from .features import IMAGE_FEATURES, feature_matrix, image_features, result_features
from .filters import FILTERS, filter_lowest, filter_quantile, oversample, select
from .intervals import auroc_interval, evaluate_with_intervals, rate_interval, removed_interval
from .grouped import heldout_by_reason, heldout_metrics, reason_groups
from .metrics import (DetectionReport, auroc, evaluate, rates, removed_at_retained,
                      retained_at_removed, roc, threshold_at_removed, threshold_at_retained,
                      threshold_sweep)

__all__ = ["Calibration", "DetectionReport", "Detector", "FILTERS", "IMAGE_FEATURES", "auroc",
           "auroc_interval", "evaluate_with_intervals", "rate_interval", "removed_interval",
           "calibrate_over_splits", "calibrate_window", "calibration_split", "evaluate",
           "feature_matrix", "filter_lowest", "filter_quantile", "heldout_by_reason",
           "heldout_metrics", "image_features", "label_free_window", "oversample", "rates",
           "reason_groups", "removed_at_retained", "result_features", "retained_at_removed", "roc",
           "select", "tail_separation", "threshold_at_removed", "threshold_at_retained",
           "threshold_sweep", "window_sweep"]
