"""Fitted detectors beside the single scores: which features carry the detection, supervised or
label-free, measured like the (window × aggregation) pairs on the same held-out half.

Supervised detectors (logistic on [z, z²], gradient boosting) are fitted on the calibration half
with the oracle's labels over three feature sets — the trajectory's scores only (every window ×
aggregation but the run-relative ``rel-`` ones, early scores), the final image's statistics only,
and both — so the table says how much comes from the trajectory and how much from looking at
the image. Label-free detectors (Mahalanobis, Gaussian mixture) are fitted on in-support
references only: training images forward-noised to the start of the late windows (the last 20 %
of the steps) and denoised over them by the same model (:func:`.recipe.reference_run`)."""

from __future__ import annotations

import numpy as np

from .. import detect
from ..detect import Detector
from ..detect.features import early_steps, feature_sets, live_features, score_keys
from ..reports import INTERVAL_NOTE, markdown_table, with_interval
from .plan import Seeds, plan
from .score_pairs import group_removed, hallucination_groups

__all__ = ["detector_markdown", "detector_report", "detector_section", "fit_run_detector"]

SUPERVISED = ("logistic", "boosting")
LABEL_FREE = ("mahalanobis", "gmm")
# Fewer hallucinations or good samples than this: nothing to fit on each half (and 5 folds).
MIN_PER_CLASS = 10


def _row(name, det, features, labels, groups, held) -> dict:
    """Held-out numbers of a fitted detector: at ≥ 96 % kept of the held-out half (as the pairs),
    and with the detector's own threshold (supervised: out-of-fold on the calibration half;
    label-free: the references')."""
    s = det.score(features)
    removed, kept = detect.rates(s[held], labels[held], det.threshold)
    return {"pair": name, **detect.heldout_metrics(s, labels, groups, held),
            "operating": {"threshold": det.threshold, "removed": removed, "kept": kept,
                          "groups": detect.heldout_by_reason(s, labels, groups, held,
                                                             det.threshold)}}


def detector_section(result, labels, reasons, data, seeds: Seeds, references=None,
                     splits: int = 20, run_steps=None) -> dict:
    """Held-out rows for every detector (see the module doc); ``result``: a SampleResult or a
    stored SampleSet; ``reasons``: ``data.classify`` of the samples; ``references``: the
    SampleResult of :meth:`Sampler.denoise_references` (label-free rows), or None;
    ``run_steps``: (S, the main window's first step) of the run, for the early-exit row (none
    without). ``{}`` when a class has fewer than ``MIN_PER_CLASS`` samples."""
    labels = np.asarray(labels, dtype=bool)
    if min(labels.sum(), (~labels).sum()) < MIN_PER_CLASS:
        return {}
    features = live_features(result)
    groups = hallucination_groups(labels, reasons, data, result.samples.float().cpu())
    seed = seeds.detectors
    calib, held = detect.calibration_split(labels, 0.5, seed)
    rows = []
    for set_name, names in feature_sets(features).items():
        for kind in SUPERVISED:
            det = Detector.fit_supervised({k: features[k][calib] for k in names}, labels[calib],
                                          names=names, kind=kind, seed=seed)
            rows.append({"family": "supervised", "features": set_name, "kind": kind,
                         **_row(f"{kind} · {set_name}", det, features, labels, groups, held)})
    early = [k.key for k in score_keys(features) if k.early is not None]
    if early and run_steps is not None:  # decided after k window steps: a flagged
        # trajectory skips the rest of its steps
        det = Detector.fit_supervised({k: features[k][calib] for k in early}, labels[calib],
                                      names=early, seed=seed)
        s = det.score(features)
        row = _row("logistic · early", det, features, labels, groups, held)
        (steps, start), k = run_steps, max(early_steps(early))
        skipped = steps - (start + k)  # steps a trajectory flagged at k never runs
        flagged = float((s[held] > row["operating"]["threshold"]).mean())
        rows.append({"family": "early exit", "features": f"early scores (≤ {k} window steps)",
                     "kind": "logistic", "compute_saved": 100.0 * flagged * skipped / steps,
                     **row})
    if references is not None:
        ref = live_features(references)
        names = [k for k in ref if k in features]
        for kind in LABEL_FREE:
            det = Detector.fit_label_free(ref, names=names, kind=kind, seed=seed)
            rows.append({"family": "label-free", "features": "late windows + image", "kind": kind,
                         **_row(f"{kind} · references", det, features, labels, groups, held)})
    names = feature_sets(features)["trajectory + image"]
    spread = _splits(features, names, labels, splits, seeds)
    return {"rows": rows, "n_heldout": int(held.size), "splits": spread,
            "n_references": None if references is None else len(references.samples)}


def _splits(features, names, labels, splits: int, seeds: Seeds) -> dict:
    """The logistic detector on trajectory + image, refitted on ``splits`` random calibration
    halves: held-out removed at the calibrated threshold (≥ 96 % kept on the calibration half)."""
    removed, kept = [], []
    for k in range(splits):
        calib, held = detect.calibration_split(labels, 0.5, seeds.split(k))
        det = Detector.fit_supervised({n: features[n][calib] for n in names}, labels[calib],
                                      names=names, seed=seeds.detectors)
        out, ok = detect.rates(det.score({n: features[n][held] for n in names}), labels[held],
                               det.threshold)
        removed.append(out)
        kept.append(ok)
    return {"splits": splits, "removed": _spread(removed), "kept": _spread(kept)}


def _spread(values) -> dict:
    return {"mean": float(np.mean(values)), "min": float(np.min(values)),
            "max": float(np.max(values))}


def fit_run_detector(cfg, out, *, label_free: bool = False, kind=None, device="cpu",
                     progress: bool = True, model_path=None) -> tuple:
    """(Detector, samples fitted on) for the run in ``out``, tied to its model (``model_path``,
    default ``out/model.pt``): supervised
    on its samples with the oracle's labels, or label-free on in-support references. Every
    feature a sampler computes for each sample alone (no ``rel-``) is used."""
    from pathlib import Path

    from ..pipeline import stages
    from ..sampling.store import load_samples
    from ..train.checkpoint import load_model, model_digest
    from .recipe import dataset_of, reference_run

    out, data = Path(out), dataset_of(cfg)
    model_path = out / "model.pt" if model_path is None else Path(model_path)
    digest = model_digest(model_path)
    if label_free:
        model = load_model(model_path, map_location=device)
        features = live_features(reference_run(model, plan(cfg), data, device, progress))
        det = Detector.fit_label_free(features, kind=kind or "mahalanobis", seed=cfg.seed,
                                      config_digest=digest, dataset=cfg.dataset)
        return det, len(next(iter(features.values())))
    if getattr(data, "oracle", "none") == "none":
        raise ValueError(f"{cfg.dataset} has no oracle to label samples with: fit with "
                         "--label-free")
    ev = stages.evaluate(data, load_samples(out))
    features = live_features(ev.result)
    det = Detector.fit_supervised(features, ev.labels, kind=kind or "logistic", seed=cfg.seed,
                                  config_digest=digest, dataset=cfg.dataset)
    return det, len(ev.labels)


def detector_report(cfg, data, ev, model=None, *, device="cpu", progress: bool = True,
                    run_steps=None) -> list:
    """``detect``'s detector table for a stored run of ``data`` evaluated as ``ev``: every
    supervised detector, and the label-free ones when the run's ``model`` is given
    (``run_steps``: as for :func:`detector_section`)."""
    from .recipe import reference_run

    if ev.labels is None or min(ev.labels.sum(), (~ev.labels).sum()) < MIN_PER_CLASS:
        return []
    run = plan(cfg)
    references = None if model is None else reference_run(model, run, data, device, progress)
    return detector_markdown(detector_section(ev.result, ev.labels, ev.reasons, data, run.seeds,
                                              references, run_steps=run_steps))


_PCT = "{:.1f} %"


def detector_markdown(section: dict) -> list:
    """report.md lines: one row per detector, held out."""
    if not section:
        return []
    groups = [g for g in ("two-of-a-kind", "malformed", "empty")
              if any(g in r["groups"] for r in section["rows"])]
    table = markdown_table(
        ["detector", "features", "AUROC", "removed at ≥ 96 % kept", *(f"{g}" for g in groups),
         "own threshold: kept", "own threshold: removed"],
        [[r["kind"], r["features"], (r["auroc"], r.get("auroc_ci")),
          (r["removed_at_96"], r.get("removed_at_96_ci")),
          *(group_removed(r["groups"].get(g)) for g in groups),
          r["operating"]["kept"], r["operating"]["removed"]] for r in section["rows"]],
        formats=[None, None, with_interval(".3f"), with_interval(".1f", " %"),
                 *[with_interval(".1f", " %")] * len(groups), _PCT, _PCT],
        missing="—") + ["", INTERVAL_NOTE]
    spread = section["splits"]
    refs = section["n_references"]
    saved = [r for r in section["rows"] if "compute_saved" in r]
    note = [f"Early exit: deciding after the window's first steps skips "
            f"{saved[0]['compute_saved']:.2f} % of the run's denoiser calls (the flagged "
            "samples' remaining steps).", ""] if saved else []
    return [f"## Fitted detectors (held out: {section['n_heldout']} samples)", "",
            "Supervised: fitted on the calibration half with the oracle's labels. Label-free: "
            f"fitted on {refs} in-support references only (no labels)." if refs else
            "Supervised: fitted on the calibration half with the oracle's labels.", "", *table,
            "", f"Logistic on trajectory + image over {spread['splits']} random splits: held-out "
            f"removed {spread['removed']['mean']:.1f} % (min {spread['removed']['min']:.1f}, max "
            f"{spread['removed']['max']:.1f}) at kept {spread['kept']['mean']:.1f} %.", "",
            *note]
