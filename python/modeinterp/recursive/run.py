"""``modeinterp recursive``: train generation after generation on the previous generation's
samples, filtered (or not) by the hallucination score, and measure what happens.

Layout of a run folder::

    manifest.json              config, calibrated window, per-stage status and timings
    gen-0/                     shared by every filter: trained on real data
        model.pt samples.pt metrics.json
    <filter>/gen-<k>/          k = 1 … generations-1, one lineage per filter
        train.pt               the N samples of generation k-1 this filter kept
        model.pt samples.pt metrics.json
    recursive.json report.md report.html *.png

Every file is written atomically and each stage is skipped when its outputs exist; training
resumes from its last periodic checkpoint. Under ``torchrun`` every process runs every stage:
training is data-parallel (DDP), each generation's samples are drawn as shards over the processes
(``<stage>/shards/``, merged into samples.pt and removed), every process then holds the whole
generation, and rank 0 alone writes files; a barrier before each stage keeps the processes on
the same files. Training and sampling are seeded by (seed,
generation), so a killed run, rerun with the same command, ends with the same numbers as one that
never stopped. Scores come from the fused sampler; no trajectory is stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import artifacts, detect
from ..detect.filters import select
from ..experiments.plan import plan
from ..experiments.recipe import dataset_of, fit
from ..pipeline import distributed, stages
from ..sampling.store import SampleSet, load_samples
from ..sampling.window_spec import Window
from .config import RecursiveConfig
from .manifest import Manifest
from .metrics import generation_metrics

__all__ = ["run_recursive"]


@dataclass
class Generation:
    name: str  # "gen-0" or "<filter>/gen-<k>"
    samples: torch.Tensor  # (n, ...) float32, CPU
    scores: dict  # {Window.key: (n,) float64 numpy}
    metrics: dict


def _as_generation(name: str, saved: SampleSet, metrics: dict) -> Generation:
    return Generation(name, saved.samples,
                      {w.key: s.double().numpy() for w, s in saved.scores.items()},
                      metrics)


class _Run:
    def __init__(self, cfg: RecursiveConfig, out: Path, device: str, progress: bool):
        self.cfg, self.base, self.out = cfg, cfg.base, Path(out)
        self.device, self.progress = device, progress
        self.rank, self.world = distributed.process_rank()
        self.main = self.rank == 0  # under torchrun only rank 0 writes
        self.manifest = Manifest(self.out / "manifest.json", cfg.to_dict(), write=self.main)
        self.plan = plan(self.base)
        self.data = dataset_of(self.base)
        self.real = self.data.sample(self.base.n_train, seed=self.plan.seeds.data)
        self.paper = self.plan.main_window
        self.n_draw = detect.oversample(cfg.n_keep, cfg.margin)

    # -- one generation -----------------------------------------------------------------
    def generation(self, name: str, g: int, train_set: torch.Tensor, windows: list,
                   extra: dict | None = None) -> Generation:
        folder = self.out / name
        paths = {k: folder / f"{k}.{ext}" for k, ext in
                 (("model", "pt"), ("samples", "pt"), ("metrics", "json"))}
        distributed.barrier()  # every process sees the files of the stages before
        if paths["metrics"].exists() and paths["samples"].exists():
            return self._load(name, paths)
        seed = self.plan.seeds.weights(g)
        t0 = time.perf_counter()
        trained = fit(self.base, self.data, train_set, paths["model"], self.device,
                      self.progress, seed=seed)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        saved = self._samples(trained.model, windows, g, folder)
        sample_s = time.perf_counter() - t0
        metrics = generation_metrics(self.data, saved.samples, self.real)
        metrics.update(generation=g, train_size=int(len(train_set)),
                       final_train_loss=trained.final_loss, auroc=self._auroc(saved),
                       **(extra or {}))
        if self.main:
            artifacts.save_json(metrics, paths["metrics"], default=float)
        self.manifest.record(name, generation=g, seed=seed, train_s=round(train_s, 2),
                             sample_s=round(sample_s, 2), n_drawn=int(len(saved.samples)),
                             done=time.strftime("%Y-%m-%d %H:%M:%S"))
        # As a rerun would read it back (JSON values), without reading the files again.
        return _as_generation(name, saved, json.loads(json.dumps(metrics, default=float)))

    def _samples(self, model, windows: list, g: int, folder: Path) -> SampleSet:
        """Generation ``g``'s samples with every window's score (the mean only: the filters
        read nothing else): ``folder/samples.pt`` when a killed run left it, else drawn — in
        shards of one batch each under torchrun, the rows of the one-process run, consolidated
        into samples.pt by rank 0 — and read back by every process."""
        if not (folder / "samples.pt").exists():
            sharded = self.world > 1
            stages.sample(self.plan.sampler(model, windows=windows, aggregations=("mean",)),
                          self.n_draw, self.data.sample_shape, seed=self.plan.seeds.sampling(g),
                          batch_size=self.base.sample_batch, device=self.device,
                          progress=self.progress and self.main, out=folder,
                          shard_size=self.base.sample_batch if sharded else None,
                          consolidate=sharded)
            distributed.barrier()  # every process sees samples.pt
        return load_samples(folder / "samples.pt")

    def _auroc(self, saved: SampleSet):
        """AUROC of the paper's window on this generation's samples (None: one class only)."""
        samples = saved.samples
        scores = saved.scores[self.paper].double().numpy()
        ok = torch.isfinite(samples.flatten(1)).all(dim=1).numpy() & np.isfinite(scores)
        if not ok.any():
            return None
        labels = self.data.is_hallucination(samples[torch.from_numpy(ok)]).numpy()
        return detect.auroc(scores[ok], labels) if labels.any() and not labels.all() else None

    @staticmethod
    def _load(name: str, paths: dict) -> Generation:
        return _as_generation(name, load_samples(paths["samples"]),
                              artifacts.load_json(paths["metrics"]))

    # -- between generations ------------------------------------------------------------
    def kept(self, prev: Generation, rule: str, window_of_rule: str, g: int, name: str):
        """The training set of generation ``g`` of lineage ``rule`` (saved, so a rerun reuses
        it): the N samples of ``prev`` the rule keeps, among those that are finite."""
        path = self.out / name / "train.pt"
        distributed.barrier()
        if path.exists():
            saved = torch.load(path, weights_only=True)
            return saved["x"], saved["train_rate"]
        scores = prev.scores[window_of_rule]
        finite = torch.isfinite(prev.samples.flatten(1)).all(dim=1).numpy() & np.isfinite(scores)
        pool = np.flatnonzero(finite)
        n_keep = min(self.cfg.n_keep, len(pool))
        if n_keep == 0:
            raise RuntimeError(f"{prev.name}: no finite sample left to train {name} on")
        idx = pool[select(rule, n_keep, scores[pool], seed=self.plan.seeds.selection(g))]
        x = prev.samples[torch.from_numpy(idx)]
        rate = float(self.data.is_hallucination(x).float().mean())
        if self.main:
            artifacts.save_pt({"x": x, "kept": torch.from_numpy(idx), "from": prev.name,
                         "rule": rule, "train_rate": rate}, path)
        return x, rate

    def calibrated_window(self, gen0: Generation):
        """The window calibrated on generation 0 (exact oracles only), or None with a reason."""
        known = self.manifest.data.get("calibrated_window")
        if known is not None:
            window = known.get("window")
            return (None if window is None else Window.from_json(window)), known.get("reason")
        if self.data.oracle != "exact":
            window, reason = None, "the dataset's labels are a proxy (no exact oracle)"
        else:
            ok = torch.isfinite(gen0.samples.flatten(1)).all(dim=1).numpy()
            for s in gen0.scores.values():
                ok &= np.isfinite(s)
            labels = self.data.is_hallucination(gen0.samples[torch.from_numpy(ok)]).numpy()
            keys = {k: s[ok] for k, s in gen0.scores.items()}
            try:
                cal = detect.calibrate_window(keys, labels, seed=self.base.seed)
                window, reason = Window.parse(cal.window), None
            except ValueError as exc:  # one class only, or too few hallucinations to split
                window, reason = None, f"calibration failed on generation 0: {exc}"
        self.manifest.note("calibrated_window", {"window": window and window.to_json(),
                                                  "reason": reason})
        return window, reason


def run_recursive(cfg: RecursiveConfig, out, device: str = "cpu", progress: bool = True) -> dict:
    """Run (or resume) the recursive experiment into ``out``; returns the summary
    ``{"config", "calibrated_window", "lineages": {filter: [metrics of generation 0, 1, …]}}``
    also written to ``recursive.json`` with figures and report.md / report.html."""
    from .report import write_recursive_report

    run = _Run(cfg, Path(out), device, progress)
    gen0 = run.generation("gen-0", 0, run.real, list(run.plan.windows),
                          extra={"train_rate": 0.0})
    filters = list(cfg.filters)
    calibrated = reason = None
    if "variance-calibrated" in filters:
        calibrated, reason = run.calibrated_window(gen0)
        if calibrated is None:
            filters.remove("variance-calibrated")
    later = [run.paper] + ([calibrated] if calibrated not in (None, run.paper) else [])
    lineages = {}
    for rule in filters:
        key = (calibrated if rule == "variance-calibrated" else run.paper).key
        prev, rows = gen0, [gen0.metrics]
        for g in range(1, cfg.generations):
            name = f"{rule}/gen-{g}"
            x, rate = run.kept(prev, rule, key, g, name)
            prev = run.generation(name, g, x, later, extra={"train_rate": rate})
            rows.append(prev.metrics)
        lineages[rule] = rows
    summary = {"config": cfg.to_dict(), "device": device,
               "calibrated_window": calibrated and calibrated.to_json(), "calibration_note": reason,
               "paper_window": run.paper.to_json(), "n_keep": cfg.n_keep, "n_drawn": run.n_draw,
               "lineages": lineages, "stages": run.manifest.data["stages"]}
    if run.main:
        artifacts.save_json(summary, Path(out) / "recursive.json", default=float)
        write_recursive_report(summary, run, Path(out))
    return summary
