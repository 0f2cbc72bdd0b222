"""The three stages every experiment composes — train, sample, evaluate — as functions over small
types, so that ``reproduce``, ``ablate``, ``recursive`` and the CLI share one implementation of
each (docs/design.md, "Layers").

* :func:`train` — a fresh denoiser trained (or resumed) into a checkpoint: :class:`Trained`.
* :func:`sample` — a scored sampling run in this process, or in shards over the processes of a
  ``torchrun`` (or on request): a :class:`~modeinterp.sampling.SampleResult` on rank 0.
* :func:`evaluate` — the dataset's oracle on the finite samples, with detection numbers where
  both classes occur: an :class:`Evaluation`.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch

from .. import detect
from ..data.protocol import OracleSummary, oracle_of, oracle_summary
from ..sampling import SampleResult, Sampler, Scores
from ..sampling.clean import CleanResult, concat_results
from ..sampling.shards import sample_to_shards, write_shard_index
from ..sampling.store import SampleSet, load_samples, load_shard_maps, save_samples
from ..train import Trainer
from ..train.checkpoint import load_model
from . import distributed

__all__ = ["Evaluation", "Trained", "evaluate", "sample", "sample_clean", "train"]


@dataclass
class Trained:
    """A trained denoiser (EMA weights when the run kept an EMA), its loss per step and the
    resumable checkpoint it was read back from."""

    model: torch.nn.Module
    history: np.ndarray
    checkpoint: Path

    @property
    def final_loss(self) -> Optional[float]:
        return float(self.history[-50:].mean()) if len(self.history) else None


def train(build_model: Callable[[], torch.nn.Module], train_set: torch.Tensor, schedule, *,
          checkpoint, seed: int, device: str = "cpu", progress: bool = True,
          **trainer_kwargs) -> Trained:
    """Build a fresh denoiser (``build_model()`` after seeding torch with ``seed``: the initial
    weights) and train it on ``train_set`` with :class:`~modeinterp.train.Trainer`
    (``trainer_kwargs``: lr, steps, batch_size, ema, …), resuming from ``checkpoint`` after a
    kill. Under torchrun the Trainer is data-parallel; every process returns the model."""
    torch.manual_seed(seed)
    trainer = Trainer(build_model(), train_set, schedule, seed=seed, device=device,
                      checkpoint=checkpoint, **trainer_kwargs)
    history = trainer.fit(resume=True, progress=progress)
    return Trained(load_model(checkpoint, map_location=device), np.asarray(history),
                   Path(checkpoint))


def sample(sampler: Sampler, n: int, shape, *, seed: int, batch_size: int, device: str = "cpu",
           progress: bool = True, early_exit=(), trajectory: int = 0, score_maps: bool = False,
           out=None, shard_size: Optional[int] = None, config: Optional[dict] = None,
           consolidate: bool = False) -> Optional[SampleResult]:
    """``n`` scored samples of ``shape``. In one process (and no ``shard_size``) this is
    ``sampler.sample``. Under torchrun, or with ``shard_size``, every process draws its shards
    into ``out/shards/`` (resumable; the rows are the one-process run's noise, shard for shard),
    rank 0 checks them, writes ``shards.json`` and returns the whole run (the first
    ``trajectory`` rows drawn again with their x̂0 paths: the same noise, the same samples);
    the other ranks return None. ``score_maps``: every window's maps too (in the shards when
    sharded).

    The one writer of ``samples.pt``: with ``out``, a one-process run is recorded in
    ``out/samples.pt`` (``seed`` and the digest of ``config``); a sharded one in its shards,
    or with ``consolidate`` in one ``samples.pt`` that replaces them."""
    rank, world = distributed.process_rank()
    kwargs = dict(seed=seed, batch_size=batch_size, device=device, early_exit=early_exit)
    if world == 1 and shard_size is None:
        result = sampler.sample(n, shape, trajectory=trajectory, progress=progress,
                                score_maps=score_maps, **kwargs)
        if out is not None:
            save_samples(Path(out) / "samples.pt", result, seed=seed, config=config)
        return result
    if out is None:
        raise ValueError("sampling in shards needs out: the folder the shards go to")
    shard_size = shard_size or batch_size
    kwargs["batch_size"] = min(batch_size, shard_size)
    sample_to_shards(sampler, n, shape, out, shard_size=shard_size, rank=rank, world=world,
                     score_maps=score_maps, progress=progress and rank == 0, config=config,
                     **kwargs)
    distributed.barrier()
    if rank != 0:
        return None
    write_shard_index(out, n, shape, shard_size, seed=seed, processes=world,
                      windows=[w.key for w in sampler.windows])
    saved = load_samples(out)
    maps = load_shard_maps(out) if score_maps else {}
    if consolidate:
        save_samples(Path(out) / "samples.pt", saved)
        shutil.rmtree(Path(out) / "shards")
    result = SampleResult(saved.samples, saved.all_scores,
                          timesteps=torch.tensor(sampler.table.timesteps.copy()),
                          step_ranges=list(sampler.step_ranges), score_maps=maps)
    if trajectory:
        m = min(trajectory, n)
        result.trajectory = sampler.sample(m, shape, trajectory=m, progress=False,
                                           **kwargs).trajectory
    return result


def sample_clean(sampler: Sampler, n: int, shape, *, detector=None, progress: bool = True,
                 out=None, config: Optional[dict] = None, **kwargs) -> Optional[CleanResult]:
    """``sampler.sample_clean`` (see :func:`modeinterp.sampling.clean.sample_clean`), also
    under torchrun: each round's draws are split into contiguous slices of the stream, one per
    process, and gathered in rank order, so every process sees the one-process round and the
    kept set is the same whatever the world size. Rank 0 returns the result (recorded in
    ``out/samples.pt`` when ``out`` is given, as :func:`sample` does), the others None."""
    rank, world = distributed.process_rank()
    sampler = sampler.with_detector(detector)
    draw = None
    if world > 1:
        def draw(size, shape, *, first, **sample_kwargs):
            lo, hi = first + size * rank // world, first + size * (rank + 1) // world
            mine = None if hi == lo else _on_cpu(sampler.sample(hi - lo, shape, first=lo,
                                                                **sample_kwargs))
            return concat_results([p for p in distributed.all_gather(mine) if p is not None])

    clean = sampler.sample_clean(n, shape, progress=progress and rank == 0, draw=draw,
                                 **kwargs)
    if rank != 0:
        return None
    if out is not None:
        save_samples(Path(out) / "samples.pt", clean.result, seed=kwargs.get("seed", 0),
                     config=config)
    return clean


def _on_cpu(result: SampleResult) -> SampleResult:
    """``result`` with every tensor on the CPU (what crosses processes)."""
    def move(value):
        if isinstance(value, torch.Tensor):
            return value.cpu()
        if isinstance(value, Scores):
            return value.map(torch.Tensor.cpu)
        return {k: move(v) for k, v in value.items()} if isinstance(value, dict) else value

    return dataclasses.replace(result, **{f.name: move(getattr(result, f.name))
                                          for f in dataclasses.fields(result)})


@dataclass
class Evaluation:
    """What the oracle says about a run. ``result``: the run without its non-finite samples
    (an under-trained model can diverge; they are counted in ``n_non_finite`` and left out of
    every number); ``labels``: (n,) bool, True = hallucination (None without an oracle);
    ``reasons``: per sample, the frozenset of the oracle's reasons (``data.classify``: empty in
    support), None without an oracle; ``summary``: the typed oracle summary; ``report``:
    detection numbers of the run's main score when both classes occur, else None."""

    result: Union[SampleResult, SampleSet]
    labels: Optional[np.ndarray]
    reasons: Optional[list]
    summary: OracleSummary
    report: Optional[detect.DetectionReport]
    n_non_finite: int

    @property
    def both_classes(self) -> bool:
        return self.labels is not None and bool(self.labels.any()) and not self.labels.all()


def evaluate(data, result: Union[SampleResult, SampleSet]) -> Evaluation:
    """Label the finite samples of ``result`` (a fresh run or a stored one: the same views) with
    ``data``'s oracle (declared in ``data.oracle``: exact, proxy or none) and measure the main
    score against the labels."""
    finite = (torch.isfinite(result.samples.float().flatten(1)).all(dim=1)
              & torch.isfinite(result.scores)).cpu()
    for pair in result.aggregate_scores.values():
        finite &= torch.isfinite(pair).cpu()
    result = result.select(finite)
    n_bad = int((~finite).sum())
    samples = result.samples.float().cpu()
    summary = oracle_summary(data, samples)
    if oracle_of(data) == "none":
        return Evaluation(result, None, None, summary, None, n_bad)
    labels = data.is_hallucination(samples).numpy()
    reasons = data.classify(samples)
    report = detect.evaluate_with_intervals(result.scores.cpu().numpy(), labels) \
        if labels.any() and not labels.all() else None
    return Evaluation(result, labels, reasons, summary, report, n_bad)
