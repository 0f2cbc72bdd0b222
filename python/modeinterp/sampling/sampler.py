"""Sampling loops (DDPM / DDIM) that run every reverse step through the fused op and return each
sample's hallucination score: the variance of x̂0 over a window of reverse steps, accumulated
online (Welford) in O(batch × dims) memory instead of storing every x̂0 of every step.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
import warnings
from typing import Callable, Mapping, Optional, Sequence

import torch
from tqdm.auto import tqdm

from .. import ops, validation
from .aggregations import resolve_aggregations
from .forward import Forward
from .graphed import GraphCache, GraphedLoop, model_signature
from .map_scores import RunMapScores
from .noise_key import NoiseKey
from .non_finite import warn_non_finite
from .reverse_loop import reverse_loop, shared_timestep
from .result import SampleResult, check_run_scores
from .score_key import early_key
from .scores import Scores
from .window import WindowScores, resolve_early_exit, resolve_window, resolve_windows
from ..schedules import StepTable

__all__ = ["SampleResult", "Sampler", "resolve_window"]


class _Call:
    """One :meth:`Sampler.sample` call: its arguments, the tensors its batches fill and its
    progress bar — what used to be per-call state on the sampler itself."""

    def __init__(self, sampler: "Sampler", n: int, shape: tuple, device: torch.device, early,
                 trajectory: int, score_maps: bool, *, noise: NoiseKey, start: int,
                 model_kwargs: dict, callback, progress: bool):
        self.shape, self.device, self.dims, self.trajectory = shape, device, math.prod(shape), \
            trajectory
        self.noise, self.start = noise, start  # noise: the stream of the call's first sample
        self.model_kwargs, self.callback = model_kwargs, callback
        self.samples = torch.empty((n, *shape), dtype=sampler.dtype, device=device)
        self.window_scores = {spec: torch.empty(n, dtype=torch.float32, device=device)
                              for spec in sampler.windows}
        self.early_scores = {k: torch.empty(n, dtype=torch.float32, device=device) for k in early}
        steps = len(sampler.table)
        self.traj = (torch.empty((trajectory, steps, *shape), device=device)
                     if trajectory else None)
        self.map_scores = RunMapScores(sampler.windows, sampler.aggregations, n, shape,
                                       device, score_maps)
        self.bar = tqdm(total=n * (steps - start), unit="sample-step", disable=not progress,
                        desc=f"{sampler.table.method} x{steps}")

    def on_step(self, b0: int, b1: int, keep: int) -> Callable[[dict], None]:
        """What the eager loop does after each step of batch [b0, b1): the first ``keep``
        trajectory rows, the user's callback, the bar."""
        traj, callback, bar = self.traj, self.callback, self.bar

        def after_step(info: dict) -> None:
            if keep:
                traj[b0:b0 + keep, info["i"]] = info["x0"][:keep].float()
            if callback is not None:
                callback({**info, "batch": slice(b0, b1)})
            bar.update(b1 - b0)
        return after_step


class Sampler:
    """Sample from a denoiser with a :class:`StepTable` and score every sample while doing so.

    model: any callable ``model(x_t, t) -> prediction`` shaped like x_t, t an int64 (B,) tensor of
        original (un-respaced) timesteps (one value expanded over the batch: read-only, see
        :func:`shared_timestep`); the prediction type is the table's (eps / x0 / v).
    table: from :meth:`Schedule.table` (DDPM or DDIM, respaced or not, clip on/off).
    window: last K reverse steps (default 10, the paper's choice) or a (start, stop) pair — or a
        list of such windows, all scored in the same pass (``window=[10, 5, 20, (900, 950)]``):
        ``scores`` and ``early_scores`` belong to the first, ``window_scores`` holds them all.
    aggregations: how each window's score map becomes a per-sample score
        (:mod:`modeinterp.sampling.aggregations`): ``"mean"`` (the paper's, always computed and
        always ``scores``), ``"max"``, ``"pool4"``, ``"q99"``, ``"component"``, ``"rel-pool4"``, …
        or callables ``f(maps, samples) -> (n,)``; every (window, aggregation) pair lands in
        ``aggregate_scores``, all from the same pass.
    detector: a fitted :class:`modeinterp.detect.Detector` (any object with ``check_sampler``,
        ``early_steps`` and ``score``/``threshold``): every result then carries its
        ``detector_scores`` and ``flags``, from the features of the same pass; refused at
        construction when this sampler does not produce the features it reads.
    graph: on CUDA, capture each batch's whole reverse loop (denoiser + fused step, every step)
        once per batch size as a CUDA graph and replay it (:mod:`modeinterp.sampling.graphed`):
        the same samples and scores as the eager loop, far fewer launches. None (default): on
        for CUDA devices. Runs that need Python at every step (``trajectory``, ``callback``) and
        CPU devices use the eager loop; if capture fails (a denoiser that synchronises with the
        host, say) the sampler warns once and samples eagerly.
    precision: the denoiser's forward in ``"fp32"`` (default) or under ``"bf16"`` autocast;
        compile: ``torch.compile`` it (once per batch shape). The fused step, x̂0 and the score
        accumulators stay float32 either way; see :mod:`modeinterp.sampling.forward`.
    run_scores: ``{name: f(result) -> (n,)}``, scores of the whole run computed from its
        :class:`SampleResult` (samples, every window's scores, early scores), kept under the key
        ``(None, name)`` in ``all_scores`` (``run_scores`` view), in samples.pt and as detector
        feature ``name``; computed before the detector reads the features.
    """

    def __init__(self, model: Callable, table: StepTable, window=10, *,
                 dtype: torch.dtype = torch.float32, graph: Optional[bool] = None,
                 aggregations: Sequence = ("mean",), detector=None, precision: str = "fp32",
                 compile: bool = False, run_scores: Optional[Mapping] = None):
        self.forward = Forward(model, precision, compile)  # checks model, precision, compile
        if not isinstance(table, StepTable):
            raise TypeError(f"table must be a StepTable (Schedule.table(...)), got "
                            f"{type(table).__name__}")
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise TypeError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
        if graph not in (None, True, False):
            raise TypeError(f"graph must be None, True or False, got {graph!r}")
        self.model, self.table, self.dtype, self.graph = model, table, dtype, graph
        self._graphs = GraphCache()
        self.windows, self.step_ranges = resolve_windows(window, len(table))
        self.step_range = self.step_ranges[0]
        self.aggregations = resolve_aggregations(aggregations)
        self.run_scores = check_run_scores(run_scores)
        self.detector = detector
        if detector is not None:
            if not callable(getattr(detector, "check_sampler", None)):
                raise TypeError(f"detector must be a modeinterp.detect.Detector, got "
                                f"{type(detector).__name__}")
            detector.check_sampler(self)

    def sample(self, n: int, shape, *, seed: int = 0, batch_size: Optional[int] = None,
               device="cpu", trajectory: int = 0, early_exit: Sequence[int] = (),
               progress: bool = True, model_kwargs: Optional[Mapping] = None,
               callback: Optional[Callable[[dict], None]] = None,
               first: int = 0, score_maps: bool = False,
               x_start: Optional[torch.Tensor] = None, start: int = 0) -> SampleResult:
        """Draw n samples of ``shape`` (per sample) with their scores.

        Noise is Philox keyed by (seed, timestep, global element index): results do not depend on
        batch_size or device (beyond the model's float rounding). ``first``: the global index of
        the first sample (rows [first, first + n) of this seed's stream: shards of one run).
        ``model_kwargs``: to every model call (class labels, conditioning). ``callback(info)``: after
        every reverse step, ``info = {"i", "t", "x" (x_prev), "x0" (x̂0), "batch" (a slice)}``.
        ``score_maps``: also return every window's per-element x̂0 variance (n × dims floats each).
        ``x_start`` (n, *shape): begin at reverse step index ``start`` (default 0) from these x_t
        instead of at step 0 from Philox noise (windows within [start, S): denoise_references).
        """
        if self.detector is not None:  # the early scores it reads, beside the ones asked for
            early_exit = sorted(set(early_exit) | set(self.detector.early_steps))
        n, shape, batch_size, early = self._check(n, shape, batch_size, trajectory, early_exit)
        start = self._check_start(x_start, start, n, shape)
        self._check_call(first, model_kwargs, callback, score_maps)
        call = _Call(self, n, shape, torch.device(device), early, trajectory, score_maps,
                     noise=NoiseKey.rows(seed, first, shape), start=start,
                     model_kwargs=dict(model_kwargs or {}),
                     callback=callback, progress=progress)
        with torch.inference_mode():
            for b0 in range(0, n, batch_size):
                b1 = min(n, b0 + batch_size)
                x_first = None if x_start is None else x_start[b0:b1].to(call.device, self.dtype)
                call.samples[b0:b1] = self._run_batch(call, b0, b1, x_first)
            pairs, maps = call.map_scores.finish(call.samples, call.window_scores)
        call.bar.close()
        values = dict(pairs)  # every (window, aggregation), means included
        values.update({early_key(k): v for k, v in call.early_scores.items()})
        result = SampleResult(call.samples, Scores(self.windows, values), call.traj,
                              torch.tensor(self.table.timesteps.copy()), list(self.step_ranges),
                              maps)
        return self._with_flags(self._with_run_scores(result))

    def _with_run_scores(self, result: SampleResult) -> SampleResult:
        values = {}
        for key, fn in self.run_scores.items():
            value = torch.as_tensor(fn(result), device=result.samples.device)
            if value.shape != (len(result.samples),):
                raise ValueError(f"run_scores[{key.name!r}] must return one score per sample, "
                                 f"shape ({len(result.samples)},), got {tuple(value.shape)}")
            values[key] = value.float()
        return dataclasses.replace(result, all_scores=result.all_scores.with_values(values)) \
            if values else result

    def _with_flags(self, result: SampleResult) -> SampleResult:
        """``result`` with the detector's scores and flags (as is without a detector); a
        RuntimeWarning says how many samples are not finite, and why."""
        warn_non_finite(result.samples, self.table)
        return result if self.detector is None else result.flagged_by(self.detector)

    def sample_clean(self, n: int, shape, *, detector=None, **kwargs):
        """``n`` samples the detector does not flag (``detector``, else the sampler's own): see
        :func:`modeinterp.sampling.clean.sample_clean` for the keyword arguments (seed, budget,
        chunk, batch_size, device, progress) and the returned ``CleanResult``."""
        from .clean import sample_clean

        return sample_clean(self.with_detector(detector), n, shape, **kwargs)

    def repair_flagged(self, result: SampleResult, *, start: int, seed: int, rounds: int = 1,
                       **kwargs):
        """Re-run from step ``start``, with fresh noise, the samples of ``result`` the detector
        flags: :func:`modeinterp.sampling.clean.repair_flagged` (returns a ``RepairResult``)."""
        from .clean import repair_flagged

        return repair_flagged(self, result, start=start, seed=seed, rounds=rounds, **kwargs)

    def with_detector(self, detector) -> "Sampler":
        """This sampler with ``detector`` (checked against it) instead of its own; itself when
        ``detector`` is None or already its own."""
        if detector is None or detector is self.detector:
            return self
        detector.check_sampler(self)
        sampler = copy.copy(self)
        sampler.detector = detector
        return sampler

    def denoise_references(self, images: torch.Tensor, *, seed: int = 0,
                           batch_size: Optional[int] = None, device="cpu",
                           progress: bool = True, score_maps: bool = False) -> SampleResult:
        """Score in-support references: ``images`` (e.g. training images) run through
        :meth:`resample_tail` from the first step of the earliest window. Their scores describe
        good samples of this model: what a label-free detector is fitted on."""
        return self.resample_tail(images, min(w[0] for w in self.step_ranges), seed=seed,
                                  batch_size=batch_size, device=device, progress=progress,
                                  score_maps=score_maps)

    def resample_tail(self, images: torch.Tensor, start: int, *, seed: int, first: int = 0,
                      batch_size: Optional[int] = None, device="cpu", progress: bool = True,
                      score_maps: bool = False) -> SampleResult:
        """Run reverse steps [start, S) again from ``images`` forward-noised to step ``start``:
        x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·z, z fresh Philox noise keyed by (``seed``, T + 1 + t, global
        element index from ``first``): a key no reverse step draws, so z is independent of the
        steps' own noise. Scored like any sample (every window must lie in [start, S)); what
        :meth:`repair_flagged` and :meth:`denoise_references` run."""
        validation.check_type("images", images, torch.Tensor, "a tensor")
        if images.ndim < 2 or len(images) == 0:
            raise ValueError(f"images must be (n, *shape) with n >= 1, got {tuple(images.shape)}")
        if validation.check_int("start", start, 0) >= len(self.table):
            raise ValueError(f"start must be a step index below {len(self.table)}, got {start}")
        n, shape = len(images), tuple(images.shape[1:])
        t, abar = int(self.table.timesteps[start]), float(self.table.alphas_cumprod_t[start])
        z = ops.philox_normal(tuple(images.shape), seed=seed,
                              step=self.table.num_train_timesteps + 1 + t,
                              offset=validation.check_int("first", first, 0) * math.prod(shape),
                              device=device)
        x_t = math.sqrt(abar) * images.to(device, torch.float32) + math.sqrt(1 - abar) * z
        return self.sample(n, shape, seed=seed, batch_size=batch_size, device=device,
                           progress=progress, score_maps=score_maps, x_start=x_t, start=start,
                           first=first)

    def _run_batch(self, call: "_Call", b0: int, b1: int, x_T: Optional[torch.Tensor]):
        """Samples [b0, b1) of ``call``: their x_0 (a replay's x is overwritten by the next
        replay: the caller copies it out first); their scores land in ``call``'s tensors."""
        size, noise = b1 - b0, call.noise.skip(b0 * call.dims)
        if x_T is None:
            x_T = ops.philox_normal((size, *call.shape), seed=noise.seed,
                                    step=self.table.num_train_timesteps, offset=noise.offset,
                                    device=call.device).to(self.dtype)
        keep = max(0, min(call.trajectory, b1) - b0)  # trajectory rows in this batch
        graphed = None if call.start else self._graphed(call, size, keep > 0)
        if graphed is not None:
            x, scores, early = graphed.replay(x_T, noise)
            states = graphed.states
            if not call.bar.disable:  # a replay only enqueues: let the bar show finished work
                torch.cuda.current_stream(call.device).synchronize()
            call.bar.update(size * (len(self.table) - call.start))
        else:
            windows = WindowScores(self.step_ranges, list(call.early_scores))
            x = reverse_loop(self.forward, x_T, self.table, windows, noise=noise,
                             start=call.start, extra_args=call.model_kwargs,
                             callback=call.on_step(b0, b1, keep),
                             want_x0=keep > 0 or call.callback is not None)
            scores, early = [w.scores for w in windows.windows], windows.main.early_scores
            states = [(w.m2, w.count) for w in windows.windows]
        if call.map_scores.active:
            call.map_scores.add_batch(b0, states, x)
        for k, value in early.items():
            call.early_scores[k][b0:b1] = value
        for spec, value in zip(self.windows, scores):
            call.window_scores[spec][b0:b1] = value
        return x

    def _graphed(self, call: "_Call", size: int, trajectory: bool) -> Optional[GraphedLoop]:
        """The captured loop for this batch, or None for the eager loop (see ``graph``)."""
        if call.device.type != "cuda" or self.graph is False:
            return None
        if trajectory or call.callback is not None:
            if self.graph:
                warnings.warn("Sampler(graph=True): trajectory and callback need Python at every "
                              "step; sampling this call eagerly", RuntimeWarning, stacklevel=4)
            return None
        early = list(call.early_scores)
        kwargs = call.model_kwargs

        def run(x_T, windows, noise):
            return reverse_loop(self.forward, x_T, self.table, windows, noise=noise,
                                extra_args=kwargs)

        def warm_up(x):
            out = self.forward(x, shared_timestep(int(self.table.timesteps[0]), x.shape[0],
                                                x.device), **kwargs)
            ops.fused_step(x, out.to(self.dtype), self.table.coef(0), seed=0, step=0)

        return self._graphs.get(
            (size, call.shape, call.device, tuple(early)), model_signature(self.model, kwargs),
            lambda: GraphedLoop(run, lambda: WindowScores(self.step_ranges, early), size, call.shape,
                                self.dtype, call.device, warm_up))

    @staticmethod
    def _check_call(first, model_kwargs, callback, score_maps) -> None:
        validation.check_int("first", first, 0, note="a global sample index")
        if model_kwargs is not None:
            validation.check_type("model_kwargs", model_kwargs, Mapping, "a mapping")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        validation.check_bool("score_maps", score_maps)

    def _check_start(self, x_start, start, n, shape) -> int:
        validation.check_int("start", start, 0)
        if start >= len(self.table):
            raise ValueError(f"start must be a step index below {len(self.table)}, got {start}")
        if x_start is None and start:
            raise ValueError("start > 0 needs x_start: the x_t of reverse step start")
        if x_start is not None:
            validation.check_type("x_start", x_start, torch.Tensor, "a tensor")
            if tuple(x_start.shape) != (n, *shape):
                raise ValueError(f"x_start must have shape {(n, *shape)}, got "
                                 f"{tuple(x_start.shape)}")
            early = [w for w in self.step_ranges if w[0] < start]
            if early:
                raise ValueError(f"windows {early} begin before start={start}: their scores "
                                 "would cover fewer steps")
        return int(start)

    def _check(self, n, shape, batch_size, trajectory, early_exit):
        validation.check_int("n", n, 1)
        shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)
        if not shape or any(s < 1 for s in shape):
            raise ValueError(f"shape must be a non-empty tuple of positive sizes, got {shape}")
        batch_size = n if batch_size is None else batch_size
        validation.check_int("batch_size", batch_size, 1)
        if not 0 <= trajectory <= n:
            raise ValueError(f"trajectory must be in [0, n={n}], got {trajectory}")
        return int(n), shape, int(batch_size), resolve_early_exit(early_exit, self.step_range)
