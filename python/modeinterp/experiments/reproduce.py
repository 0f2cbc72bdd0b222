"""``modeinterp reproduce``: train (or resume) → sample with scores → oracle labels → detection →
figures, metrics.json, report.md and a self-contained report.html."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import analysis, detect, distributed
from ..checkpoint import load_model, save_atomic
from ..distributed import process_rank
from ..sampler import SampleResult, Sampler
from ..sampling.aggregations import score_key
from ..sampling.shards import load_shard_scores, load_window_scores, sample_to_shards
from ..sampling.window import window_key
from ..train import Trainer
from .config import ReproduceConfig
from .report import write_reports
from .score_pairs import pair_section
from .specs import spec_of


def dataset_of(cfg: ReproduceConfig):
    return spec_of(cfg).dataset(cfg)


def train_model(cfg: ReproduceConfig, out: Path, device: str, progress: bool, data=None):
    """Train the experiment's denoiser, resuming from ``out/model.pt`` after a kill. ``data``: the
    config's dataset when the caller has built it already (an image folder is read only once)."""
    data = spec_of(cfg).dataset(cfg) if data is None else data
    return fit_model(cfg, data, data.sample(cfg.n_train, seed=cfg.seed), Path(out) / "model.pt",
                     device, progress, seed=cfg.seed)


def fit_model(cfg: ReproduceConfig, data, train_set, checkpoint: Path, device: str,
              progress: bool, seed: int):
    """Train a fresh denoiser of the config's kind on the tensor ``train_set`` (real or generated
    samples), resuming from ``checkpoint`` after a kill; ``seed`` seeds the initial weights, the
    data order and the noise. Returns (EMA model loaded from the checkpoint, loss history)."""
    torch.manual_seed(seed)  # the model's initial weights
    model = spec_of(cfg).model(cfg, data)
    trainer = Trainer(model, train_set, cfg.schedule(),
                      lr=cfg.lr, lr_schedule=cfg.lr_schedule, focus_below=cfg.focus_below,
                      focus_prob=cfg.focus_prob, batch_size=cfg.batch_size,
                      steps=cfg.train_steps, ema=cfg.ema, grad_clip=cfg.grad_clip,
                      prediction=cfg.prediction, seed=seed, device=device, checkpoint=checkpoint,
                      checkpoint_every=max(1, min(500, cfg.train_steps)))
    history = trainer.fit(resume=True, progress=progress)
    return load_model(checkpoint, map_location=device), np.asarray(history)


def config_sampler(model, cfg: ReproduceConfig, sharded: bool = False) -> Sampler:
    """The config's sampler: its method, steps and clip, the paper's window first and every sweep
    window that fits the run after it, and the config's aggregations (all scored in one pass).
    ``sharded`` (or torchrun): without the ``rel-`` aggregations, which need the whole run."""
    table = cfg.schedule().table(method=cfg.sampling_method, steps=cfg.steps, clip=cfg.clip,
                                 prediction=cfg.prediction)
    window = min(cfg.window, len(table))  # a very short DDIM run scores all its steps
    sweep = [k for k in dict.fromkeys(_fit_window(w, len(table)) for w in cfg.window_sweep)
             if k is not None and k != window]
    aggregations = list(cfg.aggregations)
    if (sharded or process_rank()[1] > 1) and any(a.startswith("rel-") for a in aggregations):
        # Shards never hold the whole run's maps that rel- aggregations normalise by.
        warnings.warn(f"sampling in shards: the aggregations "
                      f"{[a for a in aggregations if a.startswith('rel-')]} need the whole run "
                      "in one process; scoring without them", RuntimeWarning, stacklevel=2)
        aggregations = [a for a in aggregations if not a.startswith("rel-")]
    return Sampler(model, table, window=[window, *sweep], aggregations=aggregations)


def sample_and_score(model, cfg: ReproduceConfig, device: str, progress: bool, data=None,
                     out=None):
    """The config's samples with every score. Under torchrun (a process group of several) each
    process draws its shards into ``out/shards/`` and rank 0 returns the whole run (the other
    ranks None); the rows are the one-process run's noise, shard for shard."""
    sampler = config_sampler(model, cfg)
    window = sampler.window[1] - sampler.window[0]
    early = tuple(k for k in cfg.early_exit if k < window)
    spec = spec_of(cfg)
    shape = spec.sample_shape(spec.dataset(cfg) if data is None else data)
    m = min(cfg.trajectory, cfg.n_samples)
    kwargs = dict(seed=cfg.seed + 1, batch_size=cfg.sample_batch, device=device,
                  early_exit=early)
    rank, world = process_rank()
    if world == 1:
        return sampler.sample(cfg.n_samples, shape, trajectory=m, progress=progress,
                              score_maps=cfg.score_maps, **kwargs)
    if out is None:
        raise ValueError("sampling under torchrun needs out: the folder the shards go to")
    sample_to_shards(sampler, cfg.n_samples, shape, out, shard_size=cfg.sample_batch, rank=rank,
                     world=world, progress=progress and rank == 0, **kwargs)
    distributed.barrier()
    if rank != 0:
        return None
    samples, window_scores, early = load_window_scores(out, sampler.window_specs)
    scores = window_scores[sampler.window_specs[0]]
    pairs = load_shard_scores(out)["pairs"]
    aggregate = {(w, a.name): window_scores[w] if a.name == "mean" else pairs[score_key(w, a.name)]
                 for w in sampler.window_specs for a in sampler.aggregations} \
        if len(sampler.aggregations) > 1 else {}
    # The first m rows again, with their x̂0 paths: the same noise, so the same samples.
    traj = sampler.sample(m, shape, trajectory=m, progress=False, **kwargs).trajectory if m else None
    return SampleResult(samples, scores, early, traj,
                        torch.tensor(sampler.table.timesteps.copy()), sampler.window,
                        window_scores if len(sampler.windows) > 1 else {}, list(sampler.windows),
                        aggregate)


def _fit_window(window, steps: int):
    """A sweep window for a run of ``steps`` steps: last-K clamped to the run, a mid-trajectory
    (start, stop) pair kept as is, or None when the run is too short to hold it."""
    if isinstance(window, (tuple, list)):
        start, stop = (int(w) for w in window)
        return (start, stop) if stop <= steps else None
    return min(int(window), steps)


def _early_exit_rows(result, labels, cfg) -> list:
    rows = []
    if labels is not None and labels.any() and not labels.all():
        for k, s in sorted(result.early_scores.items()):
            rows.append({"window_steps": k, "auroc": detect.auroc(s.cpu().numpy(), labels)})
        rows.append({"window_steps": result.window[1] - result.window[0],
                     "auroc": detect.auroc(result.scores.cpu().numpy(), labels)})
    return rows


def _subset(result, keep: torch.Tensor):
    """The SampleResult restricted to the samples in ``keep`` (trajectories: the first rows)."""
    traj = result.trajectory
    if traj is not None:
        traj = traj[keep[: traj.shape[0]].to(traj.device)]
    keep = keep.to(result.samples.device)
    return SampleResult(result.samples[keep], result.scores[keep],
                        {k: v[keep] for k, v in result.early_scores.items()}, traj,
                        result.timesteps, result.window,
                        {w: v[keep] for w, v in result.window_scores.items()}, result.windows,
                        {p: v[keep] for p, v in result.aggregate_scores.items()},
                        {w: v[keep] for w, v in result.score_maps.items()})


def label_and_evaluate(data, result):
    """Oracle labels and detection numbers of a SampleResult.

    An under-trained model can diverge (ᾱ_T is ~1e-43 with the paper's schedule): samples or
    scores that are not finite are counted apart and left out of the oracle and detection numbers.
    Returns (finite result, labels, regions, oracle summary, DetectionReport or None, n_bad).
    """
    finite = (torch.isfinite(result.samples.float().flatten(1)).all(dim=1)
              & torch.isfinite(result.scores)).cpu()
    for pair in result.aggregate_scores.values():
        finite &= torch.isfinite(pair).cpu()
    result = _subset(result, finite)
    samples = result.samples.float().cpu()
    if not hasattr(data, "is_hallucination"):  # e.g. an image folder: no oracle, no labels
        return result, None, None, {"n": len(samples), "labelled": False}, None, \
            int((~finite).sum())
    labels = data.is_hallucination(samples).numpy()
    report = detect.evaluate(result.scores.cpu().numpy(), labels) \
        if labels.any() and not labels.all() else None
    regions = data.classify(samples)  # toy: Region per point; images: a reason per image
    regions = regions.numpy() if isinstance(regions, torch.Tensor) else np.asarray(regions)
    return result, labels, regions, data.summary(samples), report, int((~finite).sum())


def detection_by_reason(scores: np.ndarray, labels: np.ndarray, regions, data, samples) -> dict:
    """Which hallucinations the score finds: AUROC of each reason against the in-support samples
    (an image with several reasons counts for each), and — where the dataset counts objects
    (``shape_counts``) — the AUROC among images with the same number of shapes, since the score
    averages x̂0's variance over pixels and grows with the foreground."""
    out: dict = {"by_reason": {}, "by_count": {}}
    if not len(regions) or isinstance(regions[0], (int, np.integer)) or labels.all() \
            or not labels.any():
        return out
    ok = ~labels
    reasons = sorted({r for region in regions for r in str(region).split("+")} - {"ok"})
    for reason in reasons:
        has = np.array([reason in str(region).split("+") for region in regions])
        out["by_reason"][reason] = {"n": int(has.sum()), "auroc": detect.auroc(
            np.r_[scores[has], scores[ok]], np.r_[np.ones(has.sum(), bool), np.zeros(ok.sum(),
                                                                                    bool)])}
    if hasattr(data, "shape_counts"):
        counts = data.shape_counts(samples)
        for k in sorted(set(counts.tolist())):
            same = counts == k
            if labels[same].any() and not labels[same].all():
                out["by_count"][str(k)] = {"n": int(same.sum()),
                                           "n_hallucinated": int(labels[same].sum()),
                                           "auroc": detect.auroc(scores[same], labels[same])}
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
    scores = {w: s.cpu().numpy() for w, s in result.window_scores.items()}
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


def reproduce(cfg: ReproduceConfig, out, device: str = "cpu", progress: bool = True) -> dict:
    """Run the whole toy experiment into directory ``out``; returns the metrics dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = dataset_of(cfg)
    timings = {}
    t0 = time.perf_counter()
    model, history = train_model(cfg, out, device, progress, data)  # DDP under torchrun
    timings["train_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = sample_and_score(model, cfg, device, progress, data, out=out)
    timings["sample_s"] = time.perf_counter() - t0
    if result is None:  # another process of a torchrun: rank 0 labels and reports
        return {}
    result, labels, regions, summary, report, n_bad = label_and_evaluate(data, result)
    metrics = {
        "config": cfg.to_dict(), "device": device,
        # What ran: the method and the window scored (a short run scores all of its steps).
        "sampling": {"method": cfg.sampling_method, "steps": cfg.steps or cfg.T,
                     "window": result.window[1] - result.window[0]},
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "timings": timings, "samples_per_s": cfg.n_samples / timings["sample_s"],
        "final_train_loss": float(history[-50:].mean()) if len(history) else None,
        "n_non_finite": n_bad,
        "oracle": {k: v for k, v in summary.items() if k not in ("pairs",)},
        "detection": report.to_dict() if report else None,
        "early_exit": _early_exit_rows(result, labels, cfg),
        "label_free_filter": label_free_filter(result.scores.cpu().numpy(), labels)
        if labels is not None and len(labels) else None,
        "paper": {"removed_pct": 95.0, "retained_pct": 96.0},
        **window_choice(result, labels, cfg.seed),
    }
    if labels is not None and regions is not None:
        metrics["detection_by_reason"] = detection_by_reason(
            result.scores.cpu().numpy(), labels, regions, data, result.samples.float().cpu())
    if result.aggregate_scores and labels is not None and regions is not None \
            and metrics["calibrated"]:
        metrics["score_pairs"] = pair_section(result, labels, regions, data, cfg.seed,
                                              result.window[1] - result.window[0], out)
    # The samples and every window's scores, for analyses the report does not make.
    save_atomic({"samples": result.samples.cpu(), "scores": result.scores.cpu(),
                 "window_scores": {window_key(w): s.cpu() for w, s in result.window_scores.items()},
                 "early_scores": {k: v.cpu() for k, v in result.early_scores.items()},
                 "pair_scores": {score_key(w, a): s.cpu()
                                 for (w, a), s in result.aggregate_scores.items()}},
                out / "samples.pt")
    if result.score_maps:  # every window's per-pixel variance: new aggregations need no resampling
        save_atomic({window_key(w): m.cpu() for w, m in result.score_maps.items()},
                    out / "score_maps.pt")
    figs = spec_of(cfg).figures(cfg, data, model, result, labels, regions, report, out)
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
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    write_reports(metrics, figs, out)
    return metrics
