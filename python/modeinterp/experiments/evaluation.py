"""The numbers ``reproduce`` reports beyond the oracle summary and the detection report: which
reasons and shape counts the score finds, the paper's label-free filter, the window sweep with the
calibrated and label-free choices, and early exit. Each takes arrays or an
:class:`~modeinterp.pipeline.stages.Evaluation` and returns a JSON-able section of metrics.json."""

from __future__ import annotations

import numpy as np

from .. import detect
from ..data.protocol import has

__all__ = ["detection_by_reason", "early_exit_rows", "label_free_filter", "window_choice"]


def early_exit_rows(result, labels) -> list:
    """AUROC of the main window's score after its first k steps, and of the whole window."""
    rows = []
    if labels is not None and labels.any() and not labels.all():
        for k, s in sorted(result.early_scores.items()):
            rows.append(_auroc_row(k, s.cpu().numpy(), labels))
        start, stop = result.step_range
        rows.append(_auroc_row(stop - start, result.scores.cpu().numpy(), labels))
    return rows


def _auroc_row(steps: int, scores: np.ndarray, labels: np.ndarray) -> dict:
    return {"window_steps": steps, "auroc": detect.auroc(scores, labels),
            "auroc_ci": detect.auroc_interval(scores, labels)}


def detection_by_reason(scores: np.ndarray, labels: np.ndarray, reasons, data, samples) -> dict:
    """Which hallucinations the score finds: AUROC of each oracle reason (``reasons``:
    ``data.classify(samples)``) against the in-support samples (a sample with several reasons
    counts for each), and — where the dataset counts objects (``shape_counts``) — the AUROC among
    images with the same number of shapes, since the score averages x̂0's variance over pixels
    and grows with the foreground."""
    out: dict = {"by_reason": {}, "by_count": {}}
    if labels.all() or not labels.any():
        return out
    groups = detect.reason_groups(labels, reasons)
    rows = detect.heldout_by_reason(scores, labels, groups, np.arange(len(labels)))
    out["by_reason"] = {reason: {"n": row["n"], "auroc": row["auroc"],
                                 "auroc_ci": row["auroc_ci"]}
                        for reason, row in rows.items() if reason != "all"}
    if has(data, "shape_counts"):
        counts = data.shape_counts(samples)
        for k in sorted(set(counts.tolist())):
            same = counts == k
            if labels[same].any() and not labels[same].all():
                out["by_count"][str(k)] = {"n": int(same.sum()),
                                           "n_hallucinated": int(labels[same].sum()),
                                           "auroc": detect.auroc(scores[same], labels[same]),
                                           "auroc_ci": detect.auroc_interval(scores[same],
                                                                             labels[same])}
    return out


def label_free_filter(scores: np.ndarray, labels: np.ndarray, frac: float = 0.025) -> dict:
    """The paper's label-free rule applied to this run: read the n samples as N + 2.5% and keep
    the N with the lowest scores; hallucination rate before and after."""
    n_keep = len(scores)
    while detect.oversample(n_keep, frac) > len(scores):
        n_keep -= 1
    kept = detect.filter_lowest(scores, n_keep)
    return {"frac": frac, "n_drawn": int(len(scores)), "n_kept": int(n_keep),
            "rate_before": float(labels.mean()), "rate_after": float(labels[kept].mean())}


def window_choice(result, labels, seed: int) -> dict:
    """The window sweep on all samples, the window calibrated on half of them (numbers from the
    other half) and the label-free choice, when the run has both classes to tell apart."""
    # Plain specs (10, (40, 60)) for detect and the figures, which know no Window type.
    scores = {w.spec: s.cpu().numpy() for w, s in result.window_scores.items()}
    if labels is None and scores:  # no oracle: only the label-free choice can be made
        return {"window_sweep": [], "calibrated": None, "calibrated_splits": None,
                "label_free": _label_free(scores, None)}
    if not scores or labels is None or labels.all() or not labels.any():
        return {"window_sweep": [], "calibrated": None, "calibrated_splits": None,
                "label_free": None}
    try:
        calibrated = detect.calibrate_window(scores, labels, seed=seed).to_dict()
        splits = detect.calibrate_over_splits(scores, labels)
    except ValueError:  # too few hallucinations to split in two
        calibrated = splits = None
    return {"window_sweep": detect.window_sweep(scores, labels), "calibrated": calibrated,
            "calibrated_splits": splits, "label_free": _label_free(scores, calibrated)}


def _label_free(scores: dict, calibrated) -> dict:
    free, separation = detect.label_free_window(scores)
    free = list(free) if isinstance(free, tuple) else free  # as calibrated["window"] and JSON
    return {"window": free, "separation": {str(w): v for w, v in separation.items()},
            "same_as_calibrated": bool(calibrated and calibrated["window"] == free)}
