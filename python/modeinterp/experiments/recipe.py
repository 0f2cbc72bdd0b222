"""An experiment config turned into pipeline stages: its dataset, its denoiser trained (or
resumed), its sampler with every window and aggregation, and its sampling run. ``reproduce``,
``ablate``, ``recursive`` and the CLI all go through these, so a config means the same run
everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import UsageError
from ..pipeline import stages
from ..pipeline.distributed import process_rank
from ..sampling import SampleResult
from .config import ReproduceConfig
from .plan import RunPlan, plan
from .specs import spec_of

__all__ = ["check_runnable", "dataset_of", "fit", "reference_run", "sample_run", "train_model"]


def dataset_of(cfg: ReproduceConfig):
    return spec_of(cfg).dataset(cfg)


def train_model(run: RunPlan, out, device: str, progress: bool, data=None) -> stages.Trained:
    """The plan's denoiser trained on ``n_train`` real samples into ``out/model.pt`` (resumed
    after a kill). ``data``: the dataset when the caller has built it already (an image folder
    is read only once)."""
    data = dataset_of(run.cfg) if data is None else data
    return fit(run, data, data.sample(run.cfg.n_train, seed=run.seeds.data),
               Path(out) / "model.pt", device, progress)


def fit(run: RunPlan, data, train_set, checkpoint, device: str, progress: bool,
        generation: int = 0) -> stages.Trained:
    """A fresh denoiser of the plan's kind trained on ``train_set`` (real or generated samples)
    with the plan's settings; ``run.seeds.weights(generation)`` seeds the initial weights, the
    data order and the noise."""
    return stages.train(lambda: spec_of(run.cfg).model(run.cfg, data), train_set,
                        checkpoint=checkpoint, seed=run.seeds.weights(generation), device=device,
                        progress=progress, **run.training)


def check_runnable(cfg: ReproduceConfig) -> None:
    """Build now, without a model, what a run of ``cfg`` will build after training — its step
    table, score windows (which must fit the run) and aggregations — so a mistake is a
    UsageError naming it before any work starts."""
    try:
        plan(cfg).sampler(_not_a_model)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"config: {exc}") from None


def _not_a_model(x, t):  # stands in for the denoiser while a config is checked; never called
    raise AssertionError("check_runnable never samples")


def sample_run(model, run: RunPlan, device: str, progress: bool, data=None, out=None,
               shard_size: Optional[int] = None,
               shard_maps: bool = False) -> Optional[SampleResult]:
    """The plan's ``n_samples`` with every score (:func:`modeinterp.pipeline.stages.sample`:
    one process, or shards under torchrun / with ``shard_size``; None on ranks other than 0),
    recorded in ``out`` (samples.pt, or the shards) when it is given. The config's score maps
    come back from a one-process run, and from shards only with ``shard_maps`` (they are read
    back whole: a sharded run that does not need them stays bounded by one shard)."""
    sampled_in_shards = shard_size is not None or process_rank()[1] > 1
    cfg = run.cfg
    sampler = run.sampler(model, sharded=sampled_in_shards)
    shape = (dataset_of(cfg) if data is None else data).sample_shape
    return stages.sample(sampler, cfg.n_samples, shape, seed=run.seeds.sampling(),
                         batch_size=cfg.sample_batch, device=device, progress=progress,
                         early_exit=run.early_exit,
                         trajectory=min(cfg.trajectory, cfg.n_samples),
                         score_maps=cfg.score_maps and (shard_maps or not sampled_in_shards),
                         out=out, shard_size=shard_size, config=cfg.to_dict())


def reference_run(model, run: RunPlan, data, device: str, progress: bool,
                  n: int = 512) -> SampleResult:
    """In-support references for a label-free detector: the first ``n`` training images
    forward-noised to the start of the plan's late windows and denoised over them
    (:meth:`RunPlan.reference_windows`), every non-``rel-`` score."""
    live = run.live()
    images = data.sample(run.cfg.n_train, seed=live.seeds.data)[:n]
    return live.sampler(model, windows=live.reference_windows()).denoise_references(
        images, seed=live.seeds.references, batch_size=run.cfg.sample_batch, device=device,
        progress=progress)
