"""N clean samples: sample in chunks, drop what the sampler's detector flags, stop at N kept.

The noise of sample i is Philox keyed by (seed, step, i) and a detector reads only sample i's own
features, so whether sample i is kept does not depend on the chunk size, the batch size or the
device: the kept set is "the first N unflagged samples of the seed's stream", always the same."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import torch
from tqdm.auto import tqdm

from .. import validation
from .result import SampleResult
from .scores import Scores


@dataclass
class CleanResult:
    """What :func:`sample_clean` returns. result: the kept samples (all unflagged), in stream
    order; indices: their global indices in the seed's stream; drawn: samples drawn in all;
    complete: N were kept within the budget."""

    result: SampleResult
    indices: torch.Tensor
    drawn: int
    complete: bool
    unflagged: int = 0  # of the drawn samples, those the detector did not flag (kept or not)

    @property
    def acceptance(self) -> float:
        """The fraction of drawn samples the detector accepts (unflagged / drawn)."""
        return self.unflagged / self.drawn if self.drawn else 0.0


def concat_results(parts: list):
    """SampleResults of one sampler, drawn apart, as one (samples and every per-sample field;
    no trajectory)."""
    first = parts[0]
    maps = {w: torch.cat([p.score_maps[w] for p in parts]) for w in first.score_maps}
    flags = None if first.flags is None else torch.cat([p.flags for p in parts])
    return type(first)(torch.cat([p.samples for p in parts]),
                       Scores.cat([p.all_scores for p in parts]), None, first.timesteps,
                       list(first.step_ranges), maps, flags)


def sample_clean(sampler, n: int, shape, *, seed: int = 0, budget: Optional[int] = None,
                 chunk: Optional[int] = None, batch_size: Optional[int] = None, device="cpu",
                 progress: bool = True, model_kwargs: Optional[Mapping] = None,
                 score_maps: bool = False, draw: Optional[Callable] = None) -> CleanResult:
    """Draw with ``sampler`` (a Sampler with a detector) until ``n`` samples its detector does
    not flag are kept, or ``budget`` samples (default 10·n) have been drawn (then ``complete``
    is False and fewer are returned).
    ``chunk``: samples drawn in the first round (default n; later rounds draw what the
    acceptance so far says is missing, +10 %, at most ``chunk``).
    ``draw``: what draws a round, called like ``sampler.sample`` (the default) with ``first`` the
    round's first global index; torchrun's split of each round over the processes is one
    (:func:`modeinterp.pipeline.stages.sample_clean`)."""
    if getattr(sampler, "detector", None) is None:
        raise ValueError("sample_clean needs a sampler with a detector: "
                         "Sampler(model, table, ..., detector=Detector.load(path))")
    n = validation.check_int("n", n, 1)
    budget = validation.check_int("budget", 10 * n if budget is None else budget, n,
                                  note="the most samples to draw, at least n")
    chunk = validation.check_int("chunk", chunk or n, 1)
    parts, indices, drawn, unflagged = [], [], 0, 0
    bar = tqdm(total=n, unit="kept", disable=not progress, desc="clean samples")
    while sum(len(i) for i in indices) < n and drawn < budget:
        missing = n - sum(len(i) for i in indices)
        # After the first round, draw about what the acceptance so far says is missing (+10 %):
        # the kept set is the same whatever the rounds, only the overdraw shrinks.
        size = chunk if not drawn else max(1, min(chunk, math.ceil(
            1.1 * missing * drawn / max(unflagged, 1))))
        size = min(size, budget - drawn)
        part = (draw or sampler.sample)(size, shape, seed=seed, batch_size=batch_size,
                                        device=device, progress=False, first=drawn,
                                        model_kwargs=model_kwargs, score_maps=score_maps)
        keep = torch.nonzero(~part.flags.cpu()).flatten()
        unflagged += len(keep)
        keep = keep[:missing]
        parts.append(part.select(keep))
        indices.append(keep + drawn)
        drawn += size
        bar.update(len(keep))
    bar.close()
    index = torch.cat(indices)
    return CleanResult(concat_results(parts), index, drawn, len(index) == n, unflagged)


@dataclass
class RepairResult:
    """What :func:`repair_flagged` returns. result: every sample, each repaired one in place of
    the flagged original (no trajectory); repaired: (n,) bool, the samples replaced; flags: (n,)
    bool, what the detector flags after the repairs; model_calls: denoiser evaluations the
    repairs spent, one per sample per reverse step (the run itself spent n · S)."""

    result: SampleResult
    repaired: torch.Tensor
    flags: torch.Tensor
    model_calls: int


def repair_flagged(sampler, result, *, start: int, seed: int, rounds: int = 1,
                   batch_size: Optional[int] = None, device="cpu",
                   progress: bool = True) -> RepairResult:
    """Mitigation beside filtering: re-run the last steps of every sample ``sampler``'s detector
    flags in ``result``, with fresh noise — forward-noised to reverse step ``start`` and denoised
    again (:meth:`Sampler.resample_tail`, seed ``seed + round``) — up to ``rounds`` times; a
    repair replaces its sample as soon as the detector stops flagging it. Cost: S − start model
    calls per flagged sample per round. Deterministic per (result, seed)."""
    if getattr(sampler, "detector", None) is None or result.flags is None:
        raise ValueError("repair_flagged needs a sampler with a detector and a result it flagged")
    rounds = validation.check_int("rounds", rounds, 1)
    seed = validation.check_int("seed", seed, 0)
    flags = result.flags.cpu().clone()
    repaired = torch.zeros_like(flags)
    parts, calls = [], 0
    for r in range(rounds):
        todo = torch.nonzero(flags).flatten()
        if not len(todo):
            break
        redo = sampler.resample_tail(result.samples[todo.to(result.samples.device)], start,
                                     seed=seed + r, batch_size=batch_size, device=device,
                                     progress=progress)
        calls += len(todo) * (len(sampler.table) - start)
        fixed = ~redo.flags.cpu()
        flags[todo[fixed]] = False
        repaired[todo[fixed]] = True
        parts.append((todo[fixed], redo.select(torch.nonzero(fixed).flatten())))
    return RepairResult(_with_rows(result, parts), repaired, flags, calls)


def _with_rows(result, parts):
    """``result`` (copied, without trajectory) with rows ``index`` of each (index, part) pair
    replaced by ``part``'s samples and every per-sample field. A score the parts do not have
    (a window the repairing sampler does not score) is dropped: its replaced rows would be
    stale."""
    def in_parts(key, group) -> bool:
        return all(key in group(p) for _, p in parts)

    scores = {k: v.clone() for k, v in result.all_scores.items()
              if in_parts(k, lambda p: p.all_scores)}
    maps = {w: v.clone() for w, v in result.score_maps.items()
            if in_parts(w, lambda p: p.score_maps)}
    samples, flags = result.samples.clone(), result.flags.clone()
    for index, part in parts:
        pairs = [(samples, part.samples), (flags, part.flags),
                 *((t, part.all_scores[k]) for k, t in scores.items()),
                 *((t, part.score_maps[w]) for w, t in maps.items())]
        for target, source in pairs:
            target[index.to(target.device)] = source.to(target.device, target.dtype)
    windows = [w for w in result.all_scores.windows if (w, "mean") in scores]
    return dataclasses.replace(result, samples=samples, all_scores=Scores(windows, scores),
                               trajectory=None, score_maps=maps, flags=flags)
