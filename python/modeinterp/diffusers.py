"""Scored drop-in replacements for diffusers' DDPMScheduler and DDIMScheduler.

Swap one into any pipeline that calls ``scheduler.step`` once per timestep on the whole batch
(``DDPMPipeline``, ``DDIMPipeline``, …)::

    pipe.scheduler = ScoredDDPMScheduler.from_config(pipe.scheduler.config, window=10, seed=0)
    images = pipe(batch_size=16).images
    pipe.scheduler.scores          # (16,) hallucination score: x̂0 variance over the last 10 steps

Each ``step`` is ONE ``modeinterp.ops.fused_step`` call whose coefficients come from a StepTable
built from the scheduler's own ``alphas_cumprod``, timesteps and options, with diffusers' rules for
the previous ᾱ and for when noise is added, so ``prev_sample`` and ``pred_original_sample`` equal
the stock scheduler's to float32 rounding given the same noise. The noise is Philox keyed by
(seed, timestep, element index) unless ``variance_noise=`` or a ``generator`` is passed (then it is
drawn exactly as the stock scheduler draws it). Options we cannot reproduce exactly (dynamic
thresholding, learned variances, …) are refused when the scheduler is built.

``window``, ``seed`` and ``early_exit`` are registered in the scheduler's config, so
``save_config`` / ``from_pretrained`` and ``from_config(s.config)`` keep them. The config holds
them in a form that JSON keeps as it is: ``window`` an int K, a ``"start-stop"`` string for one
(start, stop) pair, or a list of those for several windows; ``early_exit`` a list of ints. A stock
DDPM/DDIM config loads into a scored scheduler (the defaults window=10, seed=0, early_exit=()),
and a scored config into the stock scheduler (diffusers logs that it ignores the three keys).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Optional

import numpy as np
import torch

try:
    from diffusers import DDIMScheduler, DDPMScheduler
    from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput
    from diffusers.schedulers.scheduling_ddpm import DDPMSchedulerOutput
    from diffusers.utils.torch_utils import randn_tensor
except ImportError as exc:  # pragma: no cover - exercised in an environment without diffusers
    raise ImportError("modeinterp.diffusers needs the diffusers package: "
                      "pip install 'modeinterp[diffusers]'") from exc

from . import validation
from .sampling import WindowScores, resolve_early_exit, resolve_window, resolve_windows
from .sampling.aggregations import aggregate
from .sampling.window_spec import parse_window, window_key
from .schedules.step_table import StepTable, table_from_alphas

__all__ = ["ScoredDDPMScheduler", "ScoredDDIMScheduler"]

_PREDICTIONS = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}
_DDPM_VARIANCES = {"fixed_small": "fixed-small", "fixed_small_log": "fixed-small",
                   "fixed_large": "fixed-large"}


def _window_arg(window):
    """``window`` as given or as read back from a config: a list holds several windows, anything
    else is one; each goes through ``parse_window`` (10, "10" -> 10; (40, 60), [40, 60] inside a
    list, "40-60" -> (40, 60)). Returns (argument for resolve_windows, config value)."""
    if isinstance(window, list):
        specs = [parse_window(w) for w in window]
        return specs, [_config_spec(w) for w in specs]
    spec = parse_window(window)
    return spec, _config_spec(spec)


def _config_spec(spec):
    """One window as the config holds it: K as an int, a (start, stop) pair as "start-stop" (a
    JSON list of two ints would read back as two windows)."""
    return window_key(spec) if isinstance(spec, tuple) else spec


class _Scored:
    """What both scored schedulers add to the stock one: options check, tables, window, scores.

    A subclass names the stock scheduler it scores in ``stock_scheduler`` (also a base class)."""

    stock_scheduler: type

    def _init_scoring(self, window, seed, early_exit) -> None:
        if self.config.thresholding:
            raise ValueError(f"{type(self).__name__}: thresholding=True (dynamic thresholding) is "
                             "not supported: its per-sample quantile cannot be fused; set "
                             "thresholding=False or use the stock scheduler")
        if self.config.prediction_type not in _PREDICTIONS:
            raise ValueError(f"{type(self).__name__}: prediction_type="
                             f"{self.config.prediction_type!r} is not one of {sorted(_PREDICTIONS)}")
        validation.check_int("seed", seed, 0)
        self.seed = int(seed)
        window, config_window = _window_arg(window)
        self._specs, _ = resolve_windows(window, self.config.num_train_timesteps)  # refuse now
        self._early_arg = tuple(int(k) for k in early_exit)
        self.register_to_config(window=config_window, seed=self.seed,
                                early_exit=list(self._early_arg))
        self._reset_scoring()

    def _reset_scoring(self) -> None:
        steps = len(self.timesteps)
        fitted = []
        for spec in self._specs:
            if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool) and spec > steps:
                warnings.warn(f"window={spec} is longer than the {steps} steps of this run: "
                              f"scoring all {steps}", stacklevel=3)
                spec = steps
            fitted.append(resolve_window(spec, steps))
        self.windows = fitted
        self.window = fitted[0]
        self._score = WindowScores(fitted, resolve_early_exit(self._early_arg, self.window))
        self._tables: dict = {}

    def set_timesteps(self, *args, **kwargs):
        """As the stock scheduler's; also resets the scores and the coefficient tables."""
        super().set_timesteps(*args, **kwargs)
        self._reset_scoring()

    @property
    def scores(self) -> torch.Tensor:
        """(B,) float32 hallucination score of the last run: variance of x̂0 over the window
        (mean over non-batch dims). Raises until the window's last step has run."""
        return self._score.main.scores

    @property
    def early_scores(self) -> dict:
        """{k: (B,)} the score after the first k steps of the window, for each ``early_exit`` k."""
        return dict(self._score.main.early_scores)

    @property
    def window_scores(self) -> dict:
        """{window as given: (B,)} for every window (``window=[10, 5, (20, 40)]``); the first is
        ``scores``."""
        return {spec: w.scores for spec, w in zip(self._specs, self._score.windows)}

    @property
    def score_maps(self) -> dict:
        """{window as given: (B, *sample shape) float32} the per-element variance of x̂0 over each
        window (the Welford state the scores are read from: no extra cost). Raises until the
        windows are complete."""
        return {spec: w.map for spec, w in zip(self._specs, self._score.windows)}

    def aggregate_scores(self, aggregations=("mean", "pool4"), samples=None) -> dict:
        """{(window, aggregation): (B,)} — the score maps reduced as ``Sampler(aggregations=)``
        does (:mod:`modeinterp.sampling.aggregations`); ``rel-`` ones are normalised over this
        batch, ``component`` needs the final ``samples``."""
        return {(spec, name): scores for spec, w in zip(self._specs, self._score.windows)
                for name, scores in aggregate(w.map, aggregations, samples, m2=w.m2,
                                              count=w.count).items()}

    def _step_index(self, timestep) -> int:
        t = int(timestep)
        hits = (self.timesteps == t).nonzero()
        if len(hits) == 0:
            raise ValueError(f"timestep {t} is not one of this scheduler's timesteps "
                             f"({self.timesteps[:3].tolist()}…); call set_timesteps first")
        return int(hits[0, 0])

    def _alphas(self) -> tuple:
        """(timesteps, ᾱ_t, ᾱ_prev) in float64 from the scheduler's own float32 ᾱ."""
        ab = self.alphas_cumprod.detach().cpu().double().numpy()
        ts = self.timesteps.cpu().numpy().astype(np.int64)
        prev = np.array([self._prev_timestep(int(t)) for t in ts], dtype=np.int64)
        final = float(self._final_alpha_cumprod())
        return ts, ab[ts], np.where(prev >= 0, ab[np.maximum(prev, 0)], final)

    def _table(self, **options) -> StepTable:
        key = tuple(sorted(options.items()))
        if key not in self._tables:
            ts, ab_t, ab_prev = self._alphas()
            clip = self.config.clip_sample_range if self.config.clip_sample else 0.0
            if options["method"] == "ddpm":  # the stock DDPM step adds noise iff t > 0
                options = {**options, "ddpm_noise": ts > 0}
            self._tables[key] = table_from_alphas(
                ts, ab_t, ab_prev, num_train_timesteps=self.config.num_train_timesteps,
                prediction=_PREDICTIONS[self.config.prediction_type], clip=clip,
                spacing=self.config.timestep_spacing, schedule_name=type(self).__name__,
                **options)
        return self._tables[key]

    def _scored_step(self, table, model_output, timestep, sample, generator, variance_noise,
                     stock_draws: bool, output, return_dict: bool):
        """One fused call. The noise: ``variance_noise``; else, where the stock step would draw
        it (``stock_draws``), from ``generator`` exactly as the stock step does; else Philox."""
        if variance_noise is not None and generator is not None:
            raise ValueError("pass either generator or variance_noise, not both")
        if stock_draws and variance_noise is None and generator is not None:
            variance_noise = randn_tensor(model_output.shape, generator=generator,
                                          device=model_output.device, dtype=model_output.dtype)
        i = self._step_index(timestep)
        x_prev, x0 = self._score.fused_step(i, sample, model_output.to(sample.dtype),
                                            table.coef(i), noise=variance_noise, seed=self.seed,
                                            step=int(timestep), return_x0=True)
        return output(prev_sample=x_prev, pred_original_sample=x0) if return_dict else (x_prev, x0)


def _with_scoring_signature(cls):
    """diffusers' from_config passes only the keys in ``__init__``'s signature: ours is the stock
    one (``cls.stock_scheduler``'s) plus our keyword-only ``window``, ``seed``, ``early_exit``."""
    if cls.stock_scheduler not in cls.__bases__:
        raise TypeError(f"{cls.__name__}.stock_scheduler must be one of its base classes")
    base = inspect.signature(cls.stock_scheduler.__init__)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
             for name, default in (("window", 10), ("seed", 0), ("early_exit", ()))]
    cls.__init__.__signature__ = base.replace(parameters=[*base.parameters.values(), *extra])
    return cls


@_with_scoring_signature
class ScoredDDPMScheduler(_Scored, DDPMScheduler):
    """diffusers' DDPMScheduler whose ``step`` also scores every sample (see the module doc).

    window: last K steps (default 10) or a (start, stop) pair of step indices (also spelt
    "start-stop"), or a list of such windows scored together (``window_scores``); seed: the
    Philox noise seed; early_exit: window lengths k to also report ``early_scores[k]`` for (first
    window). All three are in ``config`` (see the module doc).
    """

    stock_scheduler = DDPMScheduler

    def __init__(self, *args, window=10, seed=0, early_exit=(), **kwargs):
        super().__init__(*args, **kwargs)
        if self.config.variance_type not in _DDPM_VARIANCES:
            raise ValueError(f"ScoredDDPMScheduler: variance_type={self.config.variance_type!r} is "
                             f"not supported (one of {sorted(_DDPM_VARIANCES)}): learned "
                             "variances need a second model output the fused step does not take")
        self._init_scoring(window, seed, early_exit)

    def _prev_timestep(self, t: int) -> int:
        return int(self.previous_timestep(t))

    def _final_alpha_cumprod(self):
        return 1.0

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None, return_dict: bool = True,
             variance_noise: Optional[torch.Tensor] = None):
        """The stock step, fused and scored; ``variance_noise`` (optional) is the z of this step."""
        table = self._table(method="ddpm", variance=_DDPM_VARIANCES[self.config.variance_type])
        return self._scored_step(table, model_output, timestep, sample, generator, variance_noise,
                                 int(timestep) > 0, DDPMSchedulerOutput, return_dict)


@_with_scoring_signature
class ScoredDDIMScheduler(_Scored, DDIMScheduler):
    """diffusers' DDIMScheduler whose ``step`` also scores every sample (see the module doc).

    window, seed, early_exit: as :class:`ScoredDDPMScheduler`. ``eta`` and
    ``use_clipped_model_output`` are per-call arguments of ``step``, as in the stock scheduler.
    """

    stock_scheduler = DDIMScheduler

    def __init__(self, *args, window=10, seed=0, early_exit=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._init_scoring(window, seed, early_exit)

    def _prev_timestep(self, t: int) -> int:
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step (as the stock "
                             "DDIMScheduler needs)")
        return t - self.config.num_train_timesteps // self.num_inference_steps

    def _final_alpha_cumprod(self):
        return self.final_alpha_cumprod

    def _reset_scoring(self) -> None:
        if self.num_inference_steps is None:  # stock DDIM has no timesteps before set_timesteps
            self._window_pending = True
            return
        self._window_pending = False
        super()._reset_scoring()

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, eta: float = 0.0,
             use_clipped_model_output: bool = False, generator: Optional[torch.Generator] = None,
             variance_noise: Optional[torch.Tensor] = None, return_dict: bool = True):
        """The stock step, fused and scored."""
        if self._window_pending:
            raise ValueError("call set_timesteps(num_inference_steps) before step")
        table = self._table(method="ddim", eta=float(eta),
                            use_clipped_model_output=bool(use_clipped_model_output))
        return self._scored_step(table, model_output, timestep, sample, generator, variance_noise,
                                 eta > 0, DDIMSchedulerOutput, return_dict)
