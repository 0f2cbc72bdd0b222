"""Millions of samples, in shards on disk: memory bounded by one shard, resumable after a kill,
and split over processes (torchrun) without changing a single bit.

A run of n samples is cut into shards of ``shard_size`` consecutive samples. Shard i holds the
global samples [start, stop) and is drawn with ``Sampler.sample(first=start)``: its noise is the
same Philox stream a one-process run draws for those rows, so the union of the shards is that run,
whatever the number of processes (on CPU bit for bit, as long as the shard size is a multiple of
the batch size so every batch covers the same rows). Process r of W draws shards r, r + W, ….

On disk (:func:`modeinterp.sampling.store.write_shard` writes a shard, every file atomically;
:func:`~modeinterp.sampling.store.load_samples` and ``iter_shards`` read them; numpy and torch
read the .npy files directly, ``np.load(mmap_mode="r")`` for more than RAM)::

    shards/000000000000-000000100000.samples.npy     (stop - start, *shape) float32
    shards/000000000000-000000100000.scores.npy      (stop - start,) float32, the main window
    shards/000000000000-000000100000.window-5.npy    … every other window, when several
    shards/000000000000-000000100000.early-3.npy     … early-exit scores, when asked for
    shards/000000000000-000000100000.pair-5.pool4.npy  … every (window, aggregation) pair but the
                                                     means, when the sampler has aggregations
    shards/000000000000-000000100000.maps-10.npy     (stop - start, *shape) float32 score maps
                                                     of every window, with score_maps=True
    shards/000000000000-000000100000.json            written last: the shard is complete; its
                                                     windows, pairs, seed, config digest
    shards.json                                      n, shape, shard size, … (rank 0, at the end)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tqdm.auto import tqdm

from .. import validation
from ..artifacts import save_json
from .store import SampleSet, write_shard

__all__ = ["plan_shards", "sample_to_shards", "write_shard_index"]


def plan_shards(n: int, shard_size: int) -> list:
    """[(start, stop), …] covering [0, n) in order."""
    if n < 1 or shard_size < 1:
        raise ValueError(f"n and shard_size must be >= 1, got n={n}, shard_size={shard_size}")
    return [(a, min(n, a + shard_size)) for a in range(0, n, shard_size)]


def _name(start: int, stop: int) -> str:
    return f"{start:012d}-{stop:012d}"


def sample_to_shards(sampler, n: int, shape, out, *, seed: int, shard_size: int,
                     batch_size: int | None = None, device="cpu", rank: int = 0, world: int = 1,
                     early_exit=(), score_maps: bool = False, progress: bool = True,
                     config=None) -> list:
    """Draw this process's shards of an n-sample run into ``out/shards/``, skipping shards already
    complete (a rerun after a kill resumes). ``early_exit``, ``score_maps``: as in
    ``Sampler.sample`` (saved too; the maps read back with ``load_shard_maps``).
    ``config``: the run's JSON-able config, recorded as its digest (as ``save_samples`` does).
    Returns the (start, stop) of the shards it wrote."""
    validation.check_int("rank", rank, 0, world - 1, note=f"world={world} processes")
    batch_size = batch_size or shard_size
    if shard_size % batch_size:
        raise ValueError(f"shard_size ({shard_size}) must be a multiple of batch_size "
                         f"({batch_size}): then every batch covers the same rows in any split")
    relative = [a.name for a in sampler.aggregations if a.relative]
    if relative:
        raise ValueError(f"aggregations {relative} normalise by the whole run's maps, which "
                         "shards never hold together: sample in one process, or drop them")
    folder = Path(out) / "shards"
    folder.mkdir(parents=True, exist_ok=True)
    mine = [s for i, s in enumerate(plan_shards(n, shard_size)) if i % world == rank]
    todo = [s for s in mine if not (folder / f"{_name(*s)}.json").exists()]
    bar = tqdm(total=sum(b - a for a, b in todo), unit="sample", disable=not progress,
               desc=f"rank {rank} of {world}" if world > 1 else "sampling", unit_scale=True)
    for start, stop in todo:
        t0 = time.perf_counter()
        result = sampler.sample(stop - start, shape, seed=seed, first=start,
                                batch_size=batch_size, device=device, early_exit=early_exit,
                                score_maps=score_maps, progress=False)
        sset = SampleSet.from_result(result, seed=seed, config=config)
        write_shard(folder / _name(start, stop), sset, maps=result.score_maps, start=start,
                    stop=stop, rank=rank, pid=os.getpid(),
                    seconds=round(time.perf_counter() - t0, 3))
        bar.update(stop - start)
    bar.close()
    return todo


def write_shard_index(out, n: int, shape, shard_size: int, **facts) -> dict:
    """After every process has finished: check every shard is complete and write ``shards.json``
    (a missing shard — a crashed process — is an error naming it; rerunning resumes)."""
    folder = Path(out) / "shards"
    missing = [_name(*s) for s in plan_shards(n, shard_size)
               if not (folder / f"{_name(*s)}.json").exists()]
    if missing:
        raise RuntimeError(f"{len(missing)} shard(s) missing in {folder} (a process died?): "
                           f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}; rerun "
                           "the same command to draw only those")
    index = {"format": "modeinterp.shards/1", "n": n, "shape": list(shape),
             "shard_size": shard_size, **facts}
    save_json(index, Path(out) / "shards.json")
    return index

