"""``modeinterp recursive``: train generation after generation on the previous generation's
samples, filtered (or not) by the hallucination score, and measure what happens.

Layout of a run folder::

    manifest.json              config, calibrated window, per-stage status and timings
    gen-0/                     shared by every filter: trained on real data
        model.pt samples.pt metrics.json
    detector.json              the detectors fitted on generation 0 (``detector`` and
    detector-supervised.json   ``detector-supervised`` lineages: :mod:`.scorers`)
    <filter>/gen-<k>/          k = 1 … generations-1, one lineage per filter
        train.pt               the N samples of generation k-1 this filter kept
        model.pt samples.pt metrics.json
    recursive.json report.md report.html *.png

With ``replicates`` R > 1 the folder holds ``rep-0/`` … ``rep-<R-1>/``, each the folder above of
the lone run with the replicate's seed, and the study's manifest, recursive.json and report.

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
from .config import RecursiveConfig
from .manifest import Manifest
from .metrics import generation_metrics
from .scorers import calibrated_window, filter_scores, fit_detectors

__all__ = ["run_recursive"]


@dataclass
class Generation:
    name: str  # "gen-0" or "<filter>/gen-<k>"
    saved: SampleSet  # its samples.pt: every window, every per-sample aggregation
    metrics: dict  # as metrics.json holds them (JSON values)

    @property
    def samples(self) -> torch.Tensor:
        return self.saved.samples

    def finite(self) -> np.ndarray:
        """(n,) bool: the samples whose every value is finite."""
        return torch.isfinite(self.samples.flatten(1)).all(dim=1).numpy()


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
    def generation(self, name: str, g: int, train_set: torch.Tensor,
                   extra: dict | None = None) -> Generation:
        folder = self.out / name
        paths = {k: folder / f"{k}.{ext}" for k, ext in
                 (("model", "pt"), ("samples", "pt"), ("metrics", "json"))}
        distributed.barrier()  # every process sees the files of the stages before
        if paths["metrics"].exists() and paths["samples"].exists():
            return self._load(name, paths)
        t0 = time.perf_counter()
        trained = fit(self.plan, self.data, train_set, paths["model"], self.device,
                      self.progress, generation=g)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        saved = self._samples(trained.model, g, folder)
        sample_s = time.perf_counter() - t0
        metrics = generation_metrics(self.data, saved.samples, self.real)
        metrics.update(generation=g, train_size=int(len(train_set)),
                       final_train_loss=trained.final_loss, auroc=self._auroc(saved),
                       **(extra or {}))
        if self.main:
            artifacts.save_json(metrics, paths["metrics"], default=float)
        self.manifest.record(name, generation=g, seed=self.plan.seeds.weights(g),
                             train_s=round(train_s, 2),
                             sample_s=round(sample_s, 2), n_drawn=int(len(saved.samples)),
                             done=time.strftime("%Y-%m-%d %H:%M:%S"))
        # As a rerun would read it back (JSON values), without reading the files again.
        return Generation(name, saved, json.loads(json.dumps(metrics, default=float)))

    def _samples(self, model, g: int, folder: Path) -> SampleSet:
        """Generation ``g``'s samples with every window's every per-sample score (what the
        filters and detectors read): ``folder/samples.pt`` when a killed run left it, else
        drawn — in shards of one batch each under torchrun, the rows of the one-process run,
        consolidated into samples.pt by rank 0 — and read back by every process."""
        if not (folder / "samples.pt").exists():
            sharded = self.world > 1
            stages.sample(self.plan.live().sampler(model),
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
        scores = saved.window_scores[self.paper].double().numpy()
        ok = torch.isfinite(samples.flatten(1)).all(dim=1).numpy() & np.isfinite(scores)
        if not ok.any():
            return None
        labels = self.data.is_hallucination(samples[torch.from_numpy(ok)]).numpy()
        return detect.auroc(scores[ok], labels) if labels.any() and not labels.all() else None

    @staticmethod
    def _load(name: str, paths: dict) -> Generation:
        return Generation(name, load_samples(paths["samples"]),
                          artifacts.load_json(paths["metrics"]))

    # -- between generations ------------------------------------------------------------
    def kept(self, prev: Generation, rule: str, scores: np.ndarray, g: int, name: str):
        """The training set of generation ``g`` of lineage ``rule`` (saved, so a rerun reuses
        it): the N samples of ``prev`` the rule keeps by ``scores``, among the finite ones.
        Every lineage keeps exactly N: the keep rate is the study's, not the filter's."""
        path = self.out / name / "train.pt"
        distributed.barrier()
        if path.exists():
            saved = torch.load(path, weights_only=True)
            return saved["x"], saved["train_rate"]
        pool = np.flatnonzero(prev.finite() & np.isfinite(scores))
        if len(pool) < self.cfg.n_keep:
            raise RuntimeError(f"{prev.name}: {len(pool)} of {len(scores)} samples are finite "
                               f"under {rule}, fewer than N = {self.cfg.n_keep} to train {name} "
                               "on; raise margin")
        idx = pool[select(rule, self.cfg.n_keep, scores[pool], seed=self.plan.seeds.selection(g))]
        x = prev.samples[torch.from_numpy(idx)]
        rate = float(self.data.is_hallucination(x).float().mean())
        if self.main:
            artifacts.save_pt({"x": x, "kept": torch.from_numpy(idx), "from": prev.name,
                               "rule": rule, "train_rate": rate}, path)
        return x, rate


def _lone_run(cfg: RecursiveConfig, out: Path, device: str, progress: bool) -> dict:
    """One study with one seed: generation 0, then every filter's lineage from it."""
    from .report import write_recursive_report

    run = _Run(cfg, out, device, progress)
    gen0 = run.generation("gen-0", 0, run.real, extra={"train_rate": 0.0})
    filters, notes = list(cfg.filters), {}
    calibrated = None
    if "variance-calibrated" in filters:
        calibrated, notes["variance-calibrated"] = calibrated_window(run, gen0)
    detectors, left_out = fit_detectors(run, gen0, filters)
    notes.update(left_out)
    filters = [f for f in filters if notes.get(f) is None]
    lineages = {}
    for rule in filters:
        prev, rows = gen0, [gen0.metrics]
        for g in range(1, cfg.generations):
            name = f"{rule}/gen-{g}"
            scores = filter_scores(rule, prev, paper=run.paper, calibrated=calibrated,
                                   detectors=detectors)
            x, rate = run.kept(prev, rule, scores, g, name)
            prev = run.generation(name, g, x, extra={"train_rate": rate})
            rows.append(prev.metrics)
        lineages[rule] = rows
    summary = {"config": cfg.to_dict(), "device": device,
               "calibrated_window": calibrated and calibrated.to_json(),
               "calibration_note": notes.get("variance-calibrated"),
               "left_out": {k: v for k, v in notes.items() if v is not None},
               "detectors": {rule: {"kind": d.kind, "names": d.names}
                             for rule, d in detectors.items()},
               "paper_window": run.paper.to_json(), "n_keep": cfg.n_keep, "n_drawn": run.n_draw,
               "lineages": lineages, "stages": run.manifest.data["stages"]}
    if run.main:
        artifacts.save_json(summary, out / "recursive.json", default=float)
        write_recursive_report(summary, run, out)
    return summary


def run_recursive(cfg: RecursiveConfig, out, device: str = "cpu", progress: bool = True) -> dict:
    """Run (or resume) the recursive experiment into ``out``; returns the summary — one seed:
    ``{"config", "calibrated_window", "lineages": {filter: [metrics of generation 0, 1, …]}}``;
    ``cfg.replicates`` > 1: each replicate's in ``rep-<r>/`` (the lone run of its seed) and
    their spread (:mod:`.replicates`) — also written to ``recursive.json`` with figures and
    report.md / report.html."""
    if cfg.replicates == 1:
        return _lone_run(cfg, Path(out), device, progress)
    from .replicates import run_replicates

    return run_replicates(cfg, Path(out), lambda c, o: _lone_run(c, o, device, progress))
