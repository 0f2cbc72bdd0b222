"""Sampling loops (DDPM / DDIM) that run every reverse step through the fused op and return each
sample's hallucination score: the variance of x̂0 over a window of reverse steps, accumulated
online (Welford) in O(batch × dims) memory instead of storing every x̂0 of every step.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import torch
from tqdm.auto import tqdm

from .. import ops, validation
from .aggregations import resolve_aggregations
from .graphed import GraphedLoop, model_signature
from .map_scores import RunMapScores
from .non_finite import warn_non_finite
from .window import WindowScores, resolve_early_exit, resolve_window, resolve_windows
from ..schedules import StepTable

__all__ = ["SampleResult", "Sampler", "resolve_window"]

# Captured loops a Sampler keeps, each with its own memory pool: one per batch size and shape
# (a run whose n is not a multiple of batch_size needs two).
_MAX_GRAPHS = 4


def shared_timestep(t: int, size: int, device) -> torch.Tensor:
    """The ``(size,)`` int64 ``t`` a model gets at one reverse step: one element expanded over the
    batch (stride 0), so that a model may embed it once instead of per row (MLPDenoiser does)."""
    return torch.full((), t, dtype=torch.int64, device=device).expand(size)


@dataclass
class SampleResult:
    """What :meth:`Sampler.sample` returns.

    samples: (n, *shape) final x_0, in the sampler's dtype, on the sampling device.
    scores: (n,) float32 — variance of x̂0 over the window (mean over dims): the hallucination score.
    early_scores: {k: (n,) float32} — the same score after only the first k steps of the window
        (pre-emptive detection), for each k asked for with ``early_exit``.
    trajectory: (m, S, *shape) float32 x̂0 of the first m samples at every reverse step (on request).
    timesteps: the S model timesteps, descending. window: (start, stop) step indices scored.
    window_scores: {window as given: (n,) float32} for every window of a multi-window sampler
        (the first is ``scores``); ``windows``: their (start, stop) step ranges, in order.
    aggregate_scores: {(window, aggregation name): (n,) float32} for every pair of a sampler with
        ``aggregations`` beyond ``"mean"`` (``(window, "mean")`` is that window's score).
    score_maps: {window: (n, *shape) float32} per-element variance of x̂0 over each window
        (``sample(score_maps=True)``); the mean over non-batch dims of a map is its score.
    window_specs: the windows as the sampler was given them (one or several), in order.
    detector_scores, flags: (n,) float64 / bool from the sampler's ``detector`` (None without
        one): its score of each sample's features and whether it flags the sample.
    """

    samples: torch.Tensor
    scores: torch.Tensor
    early_scores: dict = field(default_factory=dict)
    trajectory: Optional[torch.Tensor] = None
    timesteps: Optional[torch.Tensor] = None
    window: tuple = (0, 0)
    window_scores: dict = field(default_factory=dict)
    windows: list = field(default_factory=list)
    aggregate_scores: dict = field(default_factory=dict)
    score_maps: dict = field(default_factory=dict)
    window_specs: list = field(default_factory=list)
    detector_scores: Optional[torch.Tensor] = None
    flags: Optional[torch.Tensor] = None

    def select(self, keep: torch.Tensor) -> "SampleResult":
        """The result restricted to the samples ``keep`` (a bool mask or indices); the
        trajectory, which holds only the first m samples, keeps those of its rows selected."""
        traj = self.trajectory
        if traj is not None:
            mask = keep if keep.dtype == torch.bool else \
                torch.zeros(len(self.samples), dtype=torch.bool).index_fill_(0, keep.cpu(), True)
            traj = traj[mask[: traj.shape[0]].to(traj.device)]
        pick = keep.to(self.samples.device)
        return SampleResult(self.samples[pick], self.scores[pick],
                            {k: v[pick] for k, v in self.early_scores.items()}, traj,
                            self.timesteps, self.window,
                            {w: v[pick] for w, v in self.window_scores.items()}, self.windows,
                            {p: v[pick] for p, v in self.aggregate_scores.items()},
                            {w: v[pick] for w, v in self.score_maps.items()}, self.window_specs,
                            *(None if v is None else v[keep.cpu()]
                              for v in (self.detector_scores, self.flags)))


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
    """

    def __init__(self, model: Callable, table: StepTable, window=10, *,
                 dtype: torch.dtype = torch.float32, graph: Optional[bool] = None,
                 aggregations: Sequence = ("mean",), detector=None):
        if not callable(model):
            raise TypeError(f"model must be callable as model(x_t, t), got {type(model).__name__}")
        if not isinstance(table, StepTable):
            raise TypeError(f"table must be a StepTable (Schedule.table(...)), got "
                            f"{type(table).__name__}")
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise TypeError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
        if graph not in (None, True, False):
            raise TypeError(f"graph must be None, True or False, got {graph!r}")
        self.model, self.table, self.dtype, self.graph = model, table, dtype, graph
        self._graphs: dict = {}  # (size, shape, device, early) -> GraphedLoop, one signature
        self._graphs_for = None
        self._graph_failed = False
        self.window_specs, self.windows = resolve_windows(window, len(table))
        self.window = self.windows[0]
        self.aggregations = resolve_aggregations(aggregations)
        self.coefs = [table.coef(i) for i in range(len(table))]
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
        self._model_kwargs, self._callback = dict(model_kwargs or {}), callback
        device = torch.device(device)
        dims = math.prod(shape)
        samples = torch.empty((n, *shape), dtype=self.dtype, device=device)
        window_scores = {spec: torch.empty(n, dtype=torch.float32, device=device)
                         for spec in self.window_specs}
        early_scores = {k: torch.empty(n, dtype=torch.float32, device=device) for k in early}
        traj = (torch.empty((trajectory, len(self.table), *shape), device=device)
                if trajectory else None)
        map_scores = RunMapScores(self.window_specs, self.aggregations, n, shape, device,
                                  score_maps)
        bar = tqdm(total=n * (len(self.table) - start), unit="sample-step", disable=not progress,
                   desc=f"{self.table.method} x{len(self.table)}")
        with torch.inference_mode():
            for b0 in range(0, n, batch_size):
                b1 = min(n, b0 + batch_size)
                keep = max(0, min(trajectory, b1) - b0)  # trajectory rows in this batch
                x_first = None if x_start is None else x_start[b0:b1].to(device, self.dtype)
                x = self._run_batch(b1 - b0, shape, seed, (int(first) + b0) * dims, device,
                                    early_scores, window_scores, b0, keep,
                                    traj[b0:b0 + keep] if keep else None, bar, map_scores,
                                    (start, x_first))
                samples[b0:b1] = x
            pairs, maps = map_scores.finish(samples, window_scores)
        bar.close()
        scores = window_scores[self.window_specs[0]]
        result = SampleResult(samples, scores, early_scores, traj,
                              torch.tensor(self.table.timesteps.copy()), self.window,
                              window_scores if len(self.windows) > 1 else {},
                              list(self.windows), pairs if len(self.aggregations) > 1 else {},
                              maps, list(self.window_specs))
        return self._with_flags(result)

    def _with_flags(self, result: SampleResult) -> SampleResult:
        """``result`` with the detector's scores and flags (as is without a detector); a
        RuntimeWarning says how many samples are not finite, and why."""
        warn_non_finite(result.samples, self.table)
        if self.detector is not None:
            result.detector_scores = torch.as_tensor(self.detector.score(result))
            result.flags = result.detector_scores > self.detector.threshold
        return result

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
        return self.resample_tail(images, min(w[0] for w in self.windows), seed=seed,
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

    def _run_batch(self, size, shape, seed, offset, device, early_scores, window_scores, b0, keep,
                   traj, bar, map_scores, begin=(0, None)):
        start, x_T = begin
        if x_T is None:
            T = self.table.num_train_timesteps
            x_T = ops.philox_normal((size, *shape), seed=seed, step=T, offset=offset, device=device)
            x_T = x_T.to(self.dtype)
        graphed = None if start else self._graphed(size, shape, device, list(early_scores),
                                                   traj is not None)
        if graphed is not None:
            x, scores, early = graphed.replay(x_T, seed, offset)
            states = graphed.states
            if not bar.disable:  # a replay only enqueues: let the bar show finished work
                torch.cuda.current_stream(device).synchronize()
            bar.update(size * len(self.coefs))
        else:
            windows = WindowScores(self.windows, list(early_scores))
            x = self._steps(x_T, windows, seed=seed, offset=offset, start=start,
                            on_step=self._on_step(b0, size, keep, traj, bar),
                            want_x0=traj is not None or self._callback is not None)
            scores, early = [w.scores for w in windows.windows], windows.main.early_scores
            states = [(w.m2, w.count) for w in windows.windows]
        if map_scores.active:
            map_scores.add_batch(b0, states, x)
        for k, value in early.items():
            early_scores[k][b0:b0 + size] = value
        for spec, value in zip(self.window_specs, scores):
            window_scores[spec][b0:b0 + size] = value
        return x  # a replay's x is overwritten by the next replay: sample() copies it out first

    def _steps(self, x, windows, *, seed, offset, counter=None, on_step=None, want_x0=False,
               start=0):
        """The reverse loop from x_T (or from step ``start``'s x_t): every denoiser call and
        fused step; x_0 out. ``on_step(i, t, x_prev, x0)`` after each step (x0 None unless
        ``want_x0``)."""
        size, device = x.shape[0], x.device
        for i, coef in enumerate(self.coefs[start:], start=start):
            t = int(self.table.timesteps[i])
            out = self.model(x, shared_timestep(t, size, device), **self._model_kwargs)
            if out.shape != x.shape:
                raise RuntimeError(f"model returned shape {tuple(out.shape)} for x_t of shape "
                                   f"{tuple(x.shape)}: it must predict a tensor shaped like x_t")
            result = windows.fused_step(i, x, out.to(self.dtype), coef, seed=seed, step=t,
                                        offset=offset, return_x0=want_x0, counter=counter)
            x, x0 = result if want_x0 else (result, None)
            if on_step is not None:
                on_step(i, t, x, x0)
        return x

    def _on_step(self, b0, size, keep, traj, bar):
        """Per-step work of the eager loop: trajectory rows, the user's callback, the bar."""
        callback = self._callback

        def on_step(i, t, x, x0):
            if traj is not None:
                traj[:, i] = x0[:keep].float()
            if callback is not None:
                callback({"i": i, "t": t, "x": x, "x0": x0, "batch": slice(b0, b0 + size)})
            bar.update(size)
        return on_step

    def _graphed(self, size, shape, device, early, trajectory):
        """The captured loop for this batch, or None for the eager loop (see ``graph``)."""
        if device.type != "cuda" or self.graph is False or self._graph_failed:
            return None
        if trajectory or self._callback is not None:
            if self.graph:
                warnings.warn("Sampler(graph=True): trajectory and callback need Python at every "
                              "step; sampling this call eagerly", RuntimeWarning, stacklevel=4)
            return None
        signature = model_signature(self.model, self._model_kwargs)
        if signature != self._graphs_for:  # new weights or arguments: old graphs are stale
            self._graphs, self._graphs_for = {}, signature
        key = (size, tuple(shape), device, tuple(early))
        if key not in self._graphs:
            if len(self._graphs) >= _MAX_GRAPHS:  # each holds its own memory pool: drop the oldest
                del self._graphs[next(iter(self._graphs))]
            try:
                self._graphs[key] = GraphedLoop(
                    self._steps, lambda: WindowScores(self.windows, early), size, shape,
                    self.dtype, device, self._warm_up)
            except Exception as exc:  # noqa: BLE001 — any capture failure falls back to eager
                self._graph_failed = True
                warnings.warn(f"Sampler: CUDA graph capture failed ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); sampling "
                              f"eagerly", RuntimeWarning, stacklevel=4)
                return None
        return self._graphs[key]

    def _warm_up(self, x):
        t = shared_timestep(int(self.table.timesteps[0]), x.shape[0], x.device)
        out = self.model(x, t, **self._model_kwargs)
        ops.fused_step(x, out.to(self.dtype), self.coefs[0], seed=0, step=0)

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
            early = [w for w in self.windows if w[0] < start]
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
        return int(n), shape, int(batch_size), resolve_early_exit(early_exit, self.window)
