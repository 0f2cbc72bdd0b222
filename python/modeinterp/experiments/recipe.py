"""An experiment config turned into pipeline stages: its dataset, its denoiser trained (or
resumed), its sampler with every window and aggregation, and its sampling run. ``reproduce``,
``ablate``, ``recursive`` and the CLI all go through these, so a config means the same run
everywhere."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from ..errors import UsageError
from ..pipeline import stages
from ..pipeline.distributed import process_rank
from ..sampling import SampleResult, Sampler
from .config import ReproduceConfig
from .plan import Seeds, plan
from .specs import spec_of

__all__ = ["check_runnable", "config_sampler", "dataset_of", "fit", "live_config", "reference_run",
           "sample_run", "train_model"]


def dataset_of(cfg: ReproduceConfig):
    return spec_of(cfg).dataset(cfg)


def train_model(cfg: ReproduceConfig, out, device: str, progress: bool,
                data=None) -> stages.Trained:
    """The config's denoiser trained on ``cfg.n_train`` real samples into ``out/model.pt``
    (resumed after a kill). ``data``: the dataset when the caller has built it already (an image
    folder is read only once)."""
    data, seeds = dataset_of(cfg) if data is None else data, Seeds(cfg.seed)
    return fit(cfg, data, data.sample(cfg.n_train, seed=seeds.data), Path(out) / "model.pt",
               device, progress, seed=seeds.weights())


def fit(cfg: ReproduceConfig, data, train_set, checkpoint, device: str, progress: bool,
        seed: int) -> stages.Trained:
    """A fresh denoiser of the config's kind trained on ``train_set`` (real or generated
    samples); ``seed`` seeds the initial weights, the data order and the noise."""
    return stages.train(lambda: spec_of(cfg).model(cfg, data), train_set, cfg.schedule(),
                        checkpoint=checkpoint, seed=seed, device=device, progress=progress,
                        lr=cfg.lr, lr_schedule=cfg.lr_schedule,
                        lr_decay_steps=cfg.lr_decay_steps, focus_below=cfg.focus_below,
                        focus_prob=cfg.focus_prob, batch_size=cfg.batch_size,
                        steps=cfg.train_steps, ema=cfg.ema, grad_clip=cfg.grad_clip,
                        prediction=cfg.prediction, precision=cfg.train_precision,
                        compile=cfg.train_compile, checkpoint_every=max(1, min(500, cfg.train_steps)))


def config_sampler(model, cfg: ReproduceConfig, sharded: bool = False,
                   windows: Optional[list] = None) -> Sampler:
    """The config's sampler (:meth:`RunPlan.sampler`): its method, steps and clip; the paper's
    window first and every sweep window that fits the run after it (or ``windows`` as given),
    and the config's aggregations, all scored in one pass."""
    return plan(cfg).sampler(model, windows=windows, sharded=sharded)


def check_runnable(cfg: ReproduceConfig) -> None:
    """Build now, without a model, what a run of ``cfg`` will build after training — its step
    table, score windows (which must fit the run) and aggregations — so a mistake is a
    UsageError naming it before any work starts."""
    try:
        config_sampler(_not_a_model, cfg)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"config: {exc}") from None


def _not_a_model(x, t):  # stands in for the denoiser while a config is checked; never called
    raise AssertionError("check_runnable never samples")


def sample_run(model, cfg: ReproduceConfig, device: str, progress: bool, data=None, out=None,
               shard_size: Optional[int] = None,
               shard_maps: bool = False) -> Optional[SampleResult]:
    """The config's ``n_samples`` with every score (:func:`modeinterp.pipeline.stages.sample`:
    one process, or shards under torchrun / with ``shard_size``; None on ranks other than 0),
    recorded in ``out`` (samples.pt, or the shards) when it is given. The config's score maps
    come back from a one-process run, and from shards only with ``shard_maps`` (they are read
    back whole: a sharded run that does not need them stays bounded by one shard)."""
    sampled_in_shards = shard_size is not None or process_rank()[1] > 1
    run = plan(cfg)
    sampler = run.sampler(model, sharded=sampled_in_shards)
    shape = (dataset_of(cfg) if data is None else data).sample_shape
    return stages.sample(sampler, cfg.n_samples, shape, seed=run.seeds.sampling(),
                         batch_size=cfg.sample_batch, device=device, progress=progress,
                         early_exit=run.early_exit,
                         trajectory=min(cfg.trajectory, cfg.n_samples),
                         score_maps=cfg.score_maps and (shard_maps or not sampled_in_shards),
                         out=out, shard_size=shard_size, config=cfg.to_dict())


def live_config(cfg: ReproduceConfig) -> ReproduceConfig:
    """``cfg`` without the ``rel-`` aggregations: every score then belongs to its sample alone
    (what a detector reads while sampling)."""
    return dataclasses.replace(cfg, aggregations=plan(cfg).live().aggregations)


def reference_run(model, cfg: ReproduceConfig, data, device: str, progress: bool,
                  n: int = 512) -> SampleResult:
    """In-support references for a label-free detector: the first ``n`` training images
    forward-noised to the start of the config's late windows and denoised over them
    (:meth:`RunPlan.reference_windows`), every non-``rel-`` score."""
    live = plan(cfg).live()
    images = data.sample(cfg.n_train, seed=live.seeds.data)[:n]
    return live.sampler(model, windows=live.reference_windows()).denoise_references(
        images, seed=live.seeds.references, batch_size=cfg.sample_batch, device=device,
        progress=progress)
