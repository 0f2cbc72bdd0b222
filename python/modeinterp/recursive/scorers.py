"""What each filter of a recursive run ranks a generation's samples by — the paper's window, the
window calibrated on generation 0, or a fitted detector — chosen once, on generation 0, and
recorded in the run folder, so that a resumed run filters with the same one.

Only ``variance-calibrated`` and ``detector-supervised`` read oracle labels, and only generation
0's (an upper bound: a real loop has no oracle). The label-free ``detector`` reads none: it is
fitted on generation 0's real training data, forward-noised to the late windows and denoised by
generation 0's model (:func:`~modeinterp.experiments.recipe.reference_run`), or it is the saved
detector the config names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import detect
from ..detect import Detector
from ..detect.features import feature_sets, live_features, result_features
from ..experiments.recipe import reference_run
from ..sampling.window_spec import Window
from ..train.checkpoint import load_model

__all__ = ["DETECTOR_FILES", "calibrated_window", "fit_detectors", "filter_scores"]

# Where a run folder keeps the detectors it fitted on generation 0.
DETECTOR_FILES = {"detector": "detector.json", "detector-supervised": "detector-supervised.json"}


def calibrated_window(run, gen0):
    """The window calibrated on generation 0 (exact oracles only), or None with a reason."""
    known = run.manifest.data.get("calibrated_window")
    if known is not None:
        window = known.get("window")
        return (None if window is None else Window.from_json(window)), known.get("reason")
    if run.data.oracle != "exact":
        window, reason = None, "the dataset's labels are a proxy (no exact oracle)"
    else:
        means = {w.key: s.double().numpy() for w, s in gen0.saved.window_scores.items()}
        ok = gen0.finite()
        for s in means.values():
            ok &= np.isfinite(s)
        labels = run.data.is_hallucination(gen0.samples[torch.from_numpy(ok)]).numpy()
        keys = {k: s[ok] for k, s in means.items()}
        try:
            cal = detect.calibrate_window(keys, labels, seed=run.base.seed)
            window, reason = Window.parse(cal.window), None
        except ValueError as exc:  # one class only, or too few hallucinations to split
            window, reason = None, f"calibration failed on generation 0: {exc}"
    run.manifest.note("calibrated_window", {"window": window and window.to_json(),
                                             "reason": reason})
    return window, reason


def _fit(run, rule: str, gen0) -> Detector:
    # the image statistics only for images: on a 2-D point they describe no image at all
    chosen = "trajectory + image" if len(run.data.sample_shape) > 1 else "trajectory"
    if rule == "detector":
        if run.cfg.detector is not None:
            return Detector.load(run.cfg.detector)
        model = load_model(run.out / "gen-0" / "model.pt", map_location=run.device)
        refs = live_features(reference_run(model, run.plan, run.data, run.device, False,
                                           n=min(run.base.n_train, 2048)))
        return Detector.fit_label_free(refs, names=feature_sets(refs)[chosen], seed=run.base.seed,
                                       dataset=run.base.dataset)
    features = live_features(gen0.saved)
    ok = gen0.finite()
    labels = run.data.is_hallucination(gen0.samples[torch.from_numpy(ok)]).numpy()
    return Detector.fit_supervised({k: v[ok] for k, v in features.items()}, labels,
                                   names=feature_sets(features)[chosen], seed=run.base.seed,
                                   dataset=run.base.dataset)


def fit_detectors(run, gen0, rules) -> tuple:
    """({rule: Detector} for the detector rules among ``rules``, {rule: why it is left out}),
    each fitted on generation 0 and saved in the run folder (a rerun reads it back)."""
    fitted, left_out = {}, {}
    for rule in (r for r in rules if r in DETECTOR_FILES):
        path = Path(run.out) / DETECTOR_FILES[rule]
        if path.exists():
            fitted[rule] = Detector.load(path)
            continue
        try:
            fitted[rule] = _fit(run, rule, gen0)
        except ValueError as exc:  # one class only on generation 0, too few references
            left_out[rule] = f"no detector could be fitted on generation 0: {exc}"
            continue
        if run.main:
            fitted[rule].save(path)
    return fitted, left_out


def filter_scores(rule: str, gen, *, paper, calibrated, detectors) -> np.ndarray:
    """(n,) float64: what ``rule`` ranks ``gen``'s samples by (the paper's window for
    ``none`` / ``random``, which only need the count and which samples are finite)."""
    if rule in DETECTOR_FILES:
        return detectors[rule].score(result_features(gen.saved))
    window = calibrated if rule == "variance-calibrated" else paper
    return gen.saved.window_scores[window].double().numpy()
