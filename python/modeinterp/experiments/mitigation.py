"""Repair beside filtering, measured: re-run the last steps of a sample with fresh noise
(:meth:`Sampler.repair_flagged`) and count the hallucinations that fixes, and at what cost.

On a run's held-out half (the detector rows' split): a logistic detector fitted on the
calibration half over the features of the late windows (the last 20 % of the steps, so a repair
can start there) flags samples, and each flagged one is forward-noised to reverse step ``start``
and denoised again, up to ``rounds`` times, until the detector accepts it. Beside it, the
oracle's own hallucinations re-run once from ``start``: how many a re-run fixes when the
detection is perfect, which separates what the repair can do from what the detector finds."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..detect import Detector, calibration_split
from ..detect.features import live_features, sampler_feature_names
from ..reports import markdown_table
from .detectors import MIN_PER_CLASS
from .plan import plan

__all__ = ["repair_markdown", "repair_section"]

def repair_section(model, cfg, data, ev, *, rounds: int = 2, starts=None, device="cpu",
                   progress: bool = True) -> dict:
    """Held-out repair numbers for the run ``ev`` (an :class:`Evaluation` with labels) of
    ``model``: one row per repair start (default: the start of the late windows, and halfway),
    with the oracle's rate before and after, and the model calls spent relative to the run's."""
    labels = np.asarray(ev.labels, dtype=bool)
    if min(labels.sum(), (~labels).sum()) < MIN_PER_CLASS:
        return {}
    live = plan(cfg).live()
    seeds = live.seeds
    sampler = live.sampler(model, windows=live.reference_windows())
    steps = len(sampler.table)
    late = min(w[0] for w in sampler.step_ranges)
    starts = sorted(set(starts or (late, steps // 2)))
    features = live_features(ev.result)
    names = [k for k in sampler_feature_names(sampler) if k in features]
    calib, held = calibration_split(labels, 0.5, seeds.detectors)
    det = Detector.fit_supervised({k: features[k][calib] for k in names}, labels[calib],
                                  names=names, seed=seeds.detectors)
    sampler = sampler.with_detector(det)
    run = ev.result.select(torch.as_tensor(held)).flagged_by(det)
    before = labels[held]
    rows = []
    for start in starts:
        t0 = time.perf_counter()
        fix = sampler.repair_flagged(run, start=start, seed=seeds.repair, rounds=rounds,
                                     batch_size=cfg.sample_batch, device=device,
                                     progress=progress)
        after = data.is_hallucination(fix.result.samples.float().cpu()).numpy()
        bad = torch.as_tensor(np.flatnonzero(before))
        rerun = sampler.resample_tail(run.samples[bad.to(run.samples.device)], start,
                                      seed=seeds.repair, batch_size=cfg.sample_batch,
                                      device=device, progress=progress)
        still = data.is_hallucination(rerun.samples.float().cpu()).numpy()
        rows.append({
            "start": start, "steps_rerun": steps - start, "rounds": rounds,
            "flagged": int(run.flags.sum()), "repaired": int(fix.repaired.sum()),
            "rate_before": 100.0 * before.mean(), "rate_after": 100.0 * after.mean(),
            "flagged_after": int(fix.flags.sum()),
            "extra_compute": 100.0 * fix.model_calls / (len(held) * steps),
            "oracle_rerun_fixed": 100.0 * float((~still).mean()),
            "wall_s": time.perf_counter() - t0})
    return {"n_heldout": int(len(held)), "steps": steps, "detector_features": names,
            "detector_threshold": float(det.threshold), "rows": rows}


def repair_markdown(section: dict) -> list:
    """results.md lines for :func:`repair_section`."""
    if not section:
        return []

    def pct(v):
        return f"{v:.1f} %"

    table = markdown_table(
        ["re-run from step", "steps re-run", "rounds", "flagged", "repaired",
         "hallucinated: before", "after", "extra model calls", "oracle's hallucinations fixed "
         "by one re-run"],
        [[f"{r['start']} of {section['steps']}", r["steps_rerun"], r["rounds"], r["flagged"],
          r["repaired"], pct(r["rate_before"]), pct(r["rate_after"]), pct(r["extra_compute"]),
          pct(r["oracle_rerun_fixed"])] for r in section["rows"]])
    return [f"Repair on the held-out half ({section['n_heldout']} samples): a logistic detector "
            f"over the late windows' features ({len(section['detector_features'])}) flags, each "
            "flagged sample's tail is re-run with fresh noise until the detector accepts it; "
            "extra model calls relative to the run's own.", "", *table, ""]
