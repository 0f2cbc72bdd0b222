"""``modeinterp reproduce``: train (or resume) → sample with scores → oracle labels → detection →
figures, metrics.json, report.md and a self-contained report.html."""

from __future__ import annotations

import time
from typing import Optional
from pathlib import Path

import numpy as np
import torch

from .. import analysis, artifacts
from ..pipeline import stages
from ..sampling.window_spec import Window
from ..train.checkpoint import load_model, model_digest
from .config import ReproduceConfig
from .evaluation import detection_by_reason, early_exit_rows, label_free_filter, window_choice
from .detectors import MIN_PER_CLASS, detector_section
from .plan import plan
from .recipe import dataset_of, reference_run, sample_run, train_model
from .report import write_reports
from .score_pairs import pair_section
from .specs import spec_of

__all__ = ["reproduce"]


def reproduce(cfg: ReproduceConfig, out, device: str = "cpu", progress: bool = True,
              model=None, shard_size: Optional[int] = None) -> dict:
    """Run the whole experiment into directory ``out``; returns the metrics dict (``{}`` on the
    processes of a torchrun other than rank 0, which labels and reports). ``model``: a model
    trained elsewhere (a checkpoint or a diffusers U-Net folder) to evaluate instead of training
    one. ``shard_size``: sample into ``out/shards/`` in shards of this many (resumable after a
    kill, shard by shard; as under torchrun)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run, data = plan(cfg), dataset_of(cfg)
    t0 = time.perf_counter()
    if model is None:
        trained = train_model(run, out, device, progress, data)  # DDP under torchrun
    else:
        trained = stages.Trained(load_model(model, map_location=device), np.zeros(0), Path(model))
    t1 = time.perf_counter()
    result = sample_run(trained.model, run, device, progress, data, out=out,
                        shard_size=shard_size, shard_maps=True)  # localisation reads them
    timings = {"train_s": t1 - t0, "sample_s": time.perf_counter() - t1}
    if result is None:
        return {}
    ev = stages.evaluate(data, result)
    metrics = _metrics(cfg, ev, data, trained, timings, device)
    if model is not None:
        metrics["model"] = {"path": str(model), "digest": model_digest(model)}
    aggregated = len(ev.result.all_scores.aggregations) > 1
    if aggregated and ev.reasons is not None and metrics["calibrated"]:
        metrics["score_pairs"] = pair_section(ev.result, ev.labels, ev.reasons, data, cfg.seed,
                                              ev.result.step_range[1] - ev.result.step_range[0],
                                              out)
    if ev.labels is not None and min(ev.labels.sum(), (~ev.labels).sum()) >= MIN_PER_CLASS:
        references = reference_run(trained.model, run, data, device, progress)
        metrics["detectors"] = detector_section(
            ev.result, ev.labels, ev.reasons, data, run.seeds, references,
            run_steps=(len(ev.result.timesteps), ev.result.step_range[0]))
    _save_score_maps(result, out)  # as samples.pt: every sample drawn
    figs = _figures(cfg, data, trained.model, ev, metrics, out)
    artifacts.save_json(metrics, out / "metrics.json", default=float)
    write_reports(metrics, figs, out)
    return metrics


def _metrics(cfg: ReproduceConfig, ev: stages.Evaluation, data, trained: stages.Trained,
             timings: dict, device: str) -> dict:
    result, labels = ev.result, ev.labels
    scores = result.scores.cpu().numpy()
    metrics = {
        "config": cfg.to_dict(), "device": device,
        # What ran: the method and the window scored (a short run scores all of its steps).
        "sampling": {"method": cfg.sampling_method, "steps": cfg.steps or cfg.T,
                     "window": result.step_range[1] - result.step_range[0]},
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "timings": timings, "samples_per_s": cfg.n_samples / timings["sample_s"],
        "final_train_loss": trained.final_loss,
        "n_non_finite": ev.n_non_finite,
        "oracle": {k: v for k, v in ev.summary.to_dict().items() if k != "pairs"},
        "detection": ev.report.to_dict() if ev.report else None,
        "early_exit": early_exit_rows(result, labels),
        "label_free_filter": label_free_filter(scores, labels)
        if labels is not None and len(labels) else None,
        "paper": {"removed_pct": 95.0, "retained_pct": 96.0},
        **window_choice(result, labels, cfg.seed),
    }
    if labels is not None:
        metrics["detection_by_reason"] = detection_by_reason(
            scores, labels, ev.reasons, data, result.samples.float().cpu())
    return metrics


def _save_score_maps(result, out: Path) -> None:
    """Every window's per-pixel variance beside samples.pt (which the sample stage wrote): new
    aggregations need no resampling."""
    if result.score_maps:
        artifacts.save_pt({Window.parse(w).key: m.cpu() for w, m in result.score_maps.items()},
                          out / "score_maps.pt")


def _figures(cfg: ReproduceConfig, data, model, ev: stages.Evaluation, metrics: dict,
             out: Path) -> dict:
    figs = spec_of(cfg).figures(cfg, data, model, ev, out)
    figs.update({name: Path(path) for name, path
                 in metrics.get("score_pairs", {}).pop("figures", {}).items()})
    if metrics["window_sweep"]:
        chosen = metrics["calibrated"]["window"] if metrics["calibrated"] else None
        figs["window_sweep"] = analysis.plot_window_sweep(
            metrics["window_sweep"], out / "window_sweep.png", chosen=chosen,
            paper=metrics["sampling"]["window"], title=f"{cfg.dataset}: which window?")
    if metrics["early_exit"]:
        figs["early_exit"] = analysis.plot_early_exit(
            [r["window_steps"] for r in metrics["early_exit"]],
            [r["auroc"] for r in metrics["early_exit"]], out / "early_exit.png")
    return figs
