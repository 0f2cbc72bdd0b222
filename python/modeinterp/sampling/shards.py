"""Millions of samples, in shards on disk: memory bounded by one shard, resumable after a kill,
and split over processes (torchrun) without changing a single bit.

A run of n samples is cut into shards of ``shard_size`` consecutive samples. Shard i holds the
global samples [start, stop) and is drawn with ``Sampler.sample(first=start)``: its noise is the
same Philox stream a one-process run draws for those rows, so the union of the shards is that run,
whatever the number of processes (on CPU bit for bit, as long as the shard size is a multiple of
the batch size so every batch covers the same rows). Process r of W draws shards r, r + W, ….

On disk (numpy and torch read .npy directly; ``np.load(mmap_mode="r")`` for more than RAM)::

    shards/000000000000-000000100000.samples.npy     (stop - start, *shape) float32
    shards/000000000000-000000100000.scores.npy      (stop - start,) float32, the first window
    shards/000000000000-000000100000.window-5.npy    … every other window, when several
    shards/000000000000-000000100000.pair-5.pool4.npy  … every (window, aggregation) pair but the
                                                     means, when the sampler has aggregations
    shards/000000000000-000000100000.json            written last: the shard is complete
    shards.json                                      n, shape, shard size, windows (rank 0, at
                                                     the end)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .aggregations import score_key
from .window import window_key

__all__ = ["load_samples", "load_shard_scores", "load_window_scores", "plan_shards",
           "sample_to_shards", "write_shard_index"]


def plan_shards(n: int, shard_size: int) -> list:
    """[(start, stop), …] covering [0, n) in order."""
    if n < 1 or shard_size < 1:
        raise ValueError(f"n and shard_size must be >= 1, got n={n}, shard_size={shard_size}")
    return [(a, min(n, a + shard_size)) for a in range(0, n, shard_size)]


def _name(start: int, stop: int) -> str:
    return f"{start:012d}-{stop:012d}"


def _save_npy(array: np.ndarray, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def sample_to_shards(sampler, n: int, shape, out, *, seed: int, shard_size: int,
                     batch_size: int | None = None, device="cpu", rank: int = 0, world: int = 1,
                     early_exit=(), progress: bool = True) -> list:
    """Draw this process's shards of an n-sample run into ``out/shards/``, skipping shards already
    complete (a rerun after a kill resumes). ``early_exit``: as in ``Sampler.sample`` (saved too).
    Returns the (start, stop) of the shards it wrote."""
    if not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, world={world}), got {rank}")
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
               desc=f"rank {rank}/{world}" if world > 1 else "sampling", unit_scale=True)
    for start, stop in todo:
        t0 = time.perf_counter()
        result = sampler.sample(stop - start, shape, seed=seed, first=start,
                                batch_size=batch_size, device=device, early_exit=early_exit,
                                progress=False)
        base = folder / _name(start, stop)
        _save_npy(result.samples.float().cpu().numpy(), base.with_suffix(".samples.npy"))
        _save_npy(result.scores.cpu().numpy(), base.with_suffix(".scores.npy"))
        extra = list(result.window_scores.items())[1:]  # the first window is ``scores``
        for window, scores in extra:
            _save_npy(scores.cpu().numpy(),
                      base.with_suffix(f".window-{window_key(window)}.npy"))
        for k, scores in result.early_scores.items():
            _save_npy(scores.cpu().numpy(), base.with_suffix(f".early-{k}.npy"))
        pairs = [(w, a) for (w, a) in result.aggregate_scores if a != "mean"]
        for w, a in pairs:
            _save_npy(result.aggregate_scores[(w, a)].cpu().numpy(),
                      base.with_suffix(f".pair-{_pair_file(w, a)}.npy"))
        marker = {"start": start, "stop": stop, "seed": seed, "rank": rank, "pid": os.getpid(),
                  "windows": [window_key(w) for w, _ in extra],
                  "early": sorted(result.early_scores),
                  "pairs": [score_key(w, a) for w, a in pairs],
                  "seconds": round(time.perf_counter() - t0, 3)}
        tmp = base.with_name(f".{base.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(marker))
        os.replace(tmp, base.with_suffix(".json"))  # last: the shard is now complete
        bar.update(stop - start)
    bar.close()
    return todo


def _pair_file(window, aggregation: str) -> str:
    return f"{window_key(window)}.{aggregation}"


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
    tmp = Path(out) / f".shards.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, Path(out) / "shards.json")
    return index


def _markers(out: Path) -> list:
    """The complete shards' markers in order; an error naming the gap when they do not cover a
    contiguous range from 0."""
    folder = out / "shards"
    markers = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not markers:
        raise FileNotFoundError(f"{out} holds no samples: neither samples.pt nor shards/*.json")
    spans = [tuple(int(v) for v in m.stem.split("-")) for m in markers]
    gaps = [f"[{a}, {b})" for (_, a), (b, _) in zip(spans, spans[1:]) if a != b]
    if spans[0][0] != 0 or gaps:
        raise RuntimeError(f"{folder}: shards do not cover a contiguous range from 0 (missing "
                           f"{', '.join(gaps) or f'[0, {spans[0][0]})'}): rerun the sampling")
    return markers


def load_shard_scores(out_dir) -> dict:
    """Every score the shards hold, concatenated in sample order: ``{"windows": {name: (n,)},
    "early": {k: (n,)}, "pairs": {"5/pool4": (n,)}}`` (window names as ``"5"`` / ``"20-30"``;
    the first window is the one :func:`load_samples` returns; pairs: every (window, aggregation)
    but the means, keyed by :func:`~modeinterp.sampling.aggregations.score_key`)."""
    markers = _markers(Path(out_dir))
    meta = json.loads(markers[0].read_text())

    def cat(suffix):
        return torch.from_numpy(np.concatenate([np.load(m.with_suffix(suffix)) for m in markers]))

    return {"windows": {w: cat(f".window-{w}.npy") for w in meta.get("windows", [])},
            "early": {int(k): cat(f".early-{k}.npy") for k in meta.get("early", [])},
            "pairs": {p: cat(f".pair-{p.replace('/', '.', 1)}.npy") for p in meta.get("pairs", [])}}


def load_window_scores(out_dir, windows) -> tuple:
    """``(samples, {window: scores}, early)`` of a sharded run, for a sampler's windows as it was
    given them (``Sampler.window_specs``; the first is the one :func:`load_samples` returns)."""
    samples, first = load_samples(out_dir)
    extra = load_shard_scores(out_dir)
    return (samples, {w: extra["windows"].get(window_key(w), first) for w in windows},
            extra["early"])


def load_samples(out_dir, *, mmap: bool = False):
    """(samples, scores) of a sampling run in global sample order, whatever it left on disk:
    ``samples.pt`` (one process, one file) or ``shards/`` (streamed, any number of processes).
    ``mmap=True`` memory-maps the shards instead of reading them: two lists of read-only numpy
    arrays, one per shard, in order."""
    out = Path(out_dir)
    if (out / "samples.pt").exists() and not (out / "shards").is_dir():
        saved = torch.load(out / "samples.pt", weights_only=True)
        return saved["samples"], saved["scores"]
    markers = _markers(out)
    mode = "r" if mmap else None
    samples = [np.load(m.with_suffix(".samples.npy"), mmap_mode=mode) for m in markers]
    scores = [np.load(m.with_suffix(".scores.npy"), mmap_mode=mode) for m in markers]
    if mmap:
        return samples, scores
    return torch.from_numpy(np.concatenate(samples)), torch.from_numpy(np.concatenate(scores))
