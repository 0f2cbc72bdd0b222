"""An experiment config turned into pipeline stages: its dataset, its denoiser trained (or
resumed), its sampler with every window and aggregation, and its sampling run. ``reproduce``,
``ablate``, ``recursive`` and the CLI all go through these, so a config means the same run
everywhere."""

from __future__ import annotations

import dataclasses

import warnings
from pathlib import Path
from typing import Optional

from ..errors import UsageError
from ..pipeline import stages
from ..pipeline.distributed import process_rank
from ..sampling import SampleResult, Sampler
from ..sampling.window_spec import Window
from .config import ReproduceConfig
from .specs import spec_of

__all__ = ["check_runnable", "config_sampler", "dataset_of", "fit", "main_window", "sample_run", "train_model"]


def dataset_of(cfg: ReproduceConfig):
    return spec_of(cfg).dataset(cfg)


def train_model(cfg: ReproduceConfig, out, device: str, progress: bool,
                data=None) -> stages.Trained:
    """The config's denoiser trained on ``cfg.n_train`` real samples into ``out/model.pt``
    (resumed after a kill). ``data``: the dataset when the caller has built it already (an image
    folder is read only once)."""
    data = dataset_of(cfg) if data is None else data
    return fit(cfg, data, data.sample(cfg.n_train, seed=cfg.seed), Path(out) / "model.pt",
               device, progress, seed=cfg.seed)


def fit(cfg: ReproduceConfig, data, train_set, checkpoint, device: str, progress: bool,
        seed: int) -> stages.Trained:
    """A fresh denoiser of the config's kind trained on ``train_set`` (real or generated
    samples); ``seed`` seeds the initial weights, the data order and the noise."""
    return stages.train(lambda: spec_of(cfg).model(cfg, data), train_set, cfg.schedule(),
                        checkpoint=checkpoint, seed=seed, device=device, progress=progress,
                        lr=cfg.lr, lr_schedule=cfg.lr_schedule, focus_below=cfg.focus_below,
                        focus_prob=cfg.focus_prob, batch_size=cfg.batch_size,
                        steps=cfg.train_steps, ema=cfg.ema, grad_clip=cfg.grad_clip,
                        prediction=cfg.prediction,
                        checkpoint_every=max(1, min(500, cfg.train_steps)))


def config_sampler(model, cfg: ReproduceConfig, sharded: bool = False,
                   windows: Optional[list] = None) -> Sampler:
    """The config's sampler: its method, steps and clip; the paper's window first and every
    sweep window that fits the run after it (or ``windows`` as given), and the config's
    aggregations, all scored in one pass. ``sharded`` (or torchrun): without the ``rel-``
    aggregations, which need the whole run in one process."""
    table = cfg.schedule().table(method=cfg.sampling_method, steps=cfg.steps, clip=cfg.clip,
                                 prediction=cfg.prediction, eta=cfg.eta)
    if windows is None:
        window = main_window(cfg, len(table))
        sweep = [w for w in dict.fromkeys(w.fit(len(table)) for w in cfg.window_sweep)
                 if w is not None and w != window]
        windows = [window, *sweep]
    aggregations = list(cfg.aggregations)
    relative = [a for a in aggregations if a.startswith("rel-")]
    if relative and (sharded or process_rank()[1] > 1):
        warnings.warn(f"sampling in shards: the aggregations {relative} need the whole run in "
                      "one process; scoring without them", RuntimeWarning, stacklevel=2)
        aggregations = [a for a in aggregations if a not in relative]
    return Sampler(model, table, window=list(windows), aggregations=aggregations)


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


def main_window(cfg: ReproduceConfig, steps: int) -> Window:
    """The config's score window in a run of ``steps`` steps: last K clamped to the run (a very
    short DDIM run scores all its steps), or a (start, stop) range that must fit in it."""
    window = cfg.window.fit(steps)
    if window is None:
        raise ValueError(f"window {cfg.window} does not fit a run of {steps} steps")
    return window


def sample_run(model, cfg: ReproduceConfig, device: str, progress: bool, data=None, out=None,
               shard_size: Optional[int] = None) -> Optional[SampleResult]:
    """The config's ``n_samples`` with every score (:func:`modeinterp.pipeline.stages.sample`:
    one process, or shards under torchrun / with ``shard_size``; None on ranks other than 0)."""
    sampled_in_shards = shard_size is not None or process_rank()[1] > 1
    sampler = config_sampler(model, cfg, sharded=sampled_in_shards)
    window = sampler.window[1] - sampler.window[0]
    shape = (dataset_of(cfg) if data is None else data).sample_shape
    return stages.sample(sampler, cfg.n_samples, shape, seed=cfg.seed + 1,
                         batch_size=cfg.sample_batch, device=device, progress=progress,
                         early_exit=tuple(k for k in cfg.early_exit if k < window),
                         trajectory=min(cfg.trajectory, cfg.n_samples),
                         score_maps=cfg.score_maps and not sampled_in_shards, out=out,
                         shard_size=shard_size)


REFERENCE_SPAN = 0.2  # label-free references are denoised over the last 20 % of the steps


def reference_windows(sampler) -> list:
    """The sampler's windows that start in the last ``REFERENCE_SPAN`` of its steps: late
    enough that a forward-noised training image is still that image (what references need)."""
    steps = len(sampler.table)
    late = [spec for spec, (start, _) in zip(sampler.window_specs, sampler.windows)
            if start >= (1 - REFERENCE_SPAN) * steps]
    return late or [sampler.window_specs[0]]


def live_config(cfg: ReproduceConfig) -> ReproduceConfig:
    """``cfg`` without the ``rel-`` aggregations: every score then belongs to its sample alone
    (what a detector reads while sampling)."""
    return dataclasses.replace(cfg, aggregations=tuple(a for a in cfg.aggregations
                                                       if not a.startswith("rel-")))


def reference_run(model, cfg: ReproduceConfig, data, device: str, progress: bool,
                  n: int = 512) -> SampleResult:
    """In-support references for a label-free detector: the first ``n`` training images
    forward-noised to the start of the config's late windows and denoised over them
    (:func:`reference_windows`), every non-``rel-`` score."""
    live = live_config(cfg)
    windows = reference_windows(config_sampler(model, live))
    images = data.sample(cfg.n_train, seed=cfg.seed)[:n]
    return config_sampler(model, live, windows=windows).denoise_references(
        images, seed=cfg.seed + 2, batch_size=cfg.sample_batch, device=device, progress=progress)
