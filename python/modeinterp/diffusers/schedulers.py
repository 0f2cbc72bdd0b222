"""Scored drop-in replacements for diffusers' DDPMScheduler and DDIMScheduler.

Each ``step`` is ONE ``modeinterp.ops.fused_step`` call whose coefficients come from a StepTable
built from the scheduler's own ``alphas_cumprod``, timesteps and options, with diffusers' rules for
the previous ᾱ and for when noise is added, so ``prev_sample`` and ``pred_original_sample`` equal
the stock scheduler's to float32 rounding given the same noise. The noise is Philox keyed by
(seed, timestep, element index) unless ``variance_noise=`` or a ``generator`` is passed (then it is
drawn exactly as the stock scheduler draws it). Only dynamic thresholding and learned variances
are refused, when the scheduler is built.

Like the stock classes they take any timestep: a step the run did not plan (outside
``timesteps``, or out of order) gets its coefficients built on the fly and is left out of the
scores (:mod:`.scoring`). A step at ᾱ_t = 0 with ε-prediction (zero terminal SNR) cannot write
x̂0 as a·x + b·ε; there x̂0 is computed as the stock step computes it (±inf, clamped with
``clip_sample``) and handed to the fused step as an x0-prediction. Coefficients that are not
finite (ᾱ_t = ᾱ_prev = 0, e.g. ``beta_end`` near 1) give the non-finite samples the stock step
gives, with a warning at ``set_timesteps``.

``window``, ``seed`` and ``early_exit`` are registered in the scheduler's config, so
``save_config`` / ``from_pretrained`` and ``from_config(s.config)`` keep them: ``window`` an int K,
a ``"start-stop"`` string for one (start, stop) pair, or a list of those; ``early_exit`` a list of
ints. A stock config loads into a scored scheduler (window=10, seed=0, early_exit=()), and a
scored config into the stock scheduler (diffusers logs that it ignores the three keys).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Optional

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput
from diffusers.schedulers.scheduling_ddpm import DDPMSchedulerOutput
from diffusers.utils.torch_utils import randn_tensor

from .. import ops, validation
from ..schedules.step_table import StepTable, table_from_alphas
from .scoring import RunScoring, ScoresView

__all__ = ["ScoredDDPMScheduler", "ScoredDDIMScheduler"]

_PREDICTIONS = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}
_DDPM_VARIANCES = {"fixed_small": "fixed-small", "fixed_small_log": "fixed-small",
                   "fixed_large": "fixed-large"}


class _Scored(ScoresView):
    """What both scored schedulers add to the stock one: options check, tables, scoring.

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
        self._scoring = RunScoring(window, early_exit, self.config.num_train_timesteps,
                                   type(self).__name__)
        self.register_to_config(window=self._scoring.config_window, seed=self.seed,
                                early_exit=list(self._scoring.early_exit))
        self._reset_scoring()

    def _reset_scoring(self) -> None:
        self._tables: dict = {}
        self._scoring.reset(self.timesteps if self._planned_run() else ())
        if self._planned_run():
            self._warn_non_finite()

    def _planned_run(self) -> bool:
        return True

    def set_timesteps(self, *args, **kwargs):
        """As the stock scheduler's; also resets the scores and the coefficient tables."""
        super().set_timesteps(*args, **kwargs)
        self._reset_scoring()

    def _alphas(self, ts) -> tuple:
        """(ᾱ_t, ᾱ_prev) in float64 from the scheduler's own float32 ᾱ, for timesteps ``ts``."""
        ab = self.alphas_cumprod.detach().cpu().double().numpy()
        prev = np.array([self._prev_timestep(int(t)) for t in ts], dtype=np.int64)
        final = float(self._final_alpha_cumprod())
        return ab[ts], np.where(prev >= 0, ab[np.maximum(prev, 0)], final)

    def _table(self, ts=None, **options) -> StepTable:
        """The table of the planned timesteps (``ts`` None: cached) or of ``ts``. Rows where
        ᾱ_t = 0 under ε-prediction hold the x0-prediction coefficients (see the module doc)."""
        key = tuple(sorted(options.items()))
        if ts is None and key in self._tables:
            return self._tables[key]
        steps = self.timesteps.cpu().numpy().astype(np.int64) if ts is None else np.asarray(ts)
        ab_t, ab_prev = self._alphas(steps)
        clip = self.config.clip_sample_range if self.config.clip_sample else 0.0
        prediction = _PREDICTIONS[self.config.prediction_type]
        if options["method"] == "ddpm":  # the stock DDPM step adds noise iff t > 0
            options = {**options, "ddpm_noise": steps > 0}
        build = dict(num_train_timesteps=self.config.num_train_timesteps, clip=clip,
                     spacing=self.config.timestep_spacing, schedule_name=type(self).__name__,
                     check_finite=False, **options)
        with warnings.catch_warnings():  # x0 rows replace the ε rows' infinities below
            warnings.simplefilter("ignore", RuntimeWarning)
            table = table_from_alphas(steps, ab_t, ab_prev, prediction=prediction, **build)
            if prediction == "eps" and (ab_t == 0).any():
                table = table.with_rows(ab_t == 0, table_from_alphas(
                    steps, ab_t, ab_prev, prediction="x0", **build))
        if ts is None:
            self._tables[key] = table
        return table

    def _warn_non_finite(self) -> None:
        table = self._table(**self._default_options())
        bad = ~np.isfinite(table.as_array()).all(axis=1)
        if bad.any():
            ts = table.timesteps[bad].tolist()
            where = (f"{len(ts)} timesteps ({ts[0]} ... {ts[-1]})" if len(ts) > 6
                     else f"timesteps {ts}")
            warnings.warn(f"{type(self).__name__}: the step coefficients are not finite at "
                          f"{where} (ᾱ_t = ᾱ_prev = 0 there): "
                          "those steps give non-finite samples, as the stock scheduler's do",
                          RuntimeWarning, stacklevel=3)

    def _scored_step(self, options: dict, model_output, timestep, sample, generator,
                     variance_noise, stock_draws: bool, output, return_dict: bool, stock):
        """One fused call. The noise: ``variance_noise``; else, where the stock step would draw
        it (``stock_draws``), from ``generator`` exactly as the stock step does; else Philox.
        ``stock()`` runs the stock step instead where the coefficients are not finite or the
        sample is float64 (the kernel computes in float32); its x̂0 is folded all the same."""
        if variance_noise is not None and generator is not None:
            raise ValueError("pass either generator or variance_noise, not both")
        t = int(timestep)
        i = self._scoring.planned(t)
        if i is None:
            self._scoring.unscored(t, "not the run's next planned timestep")
            table, row = self._table([t], **options), 0
        else:
            table, row = self._table(**options), i
        in_kernel = sample.dtype in (torch.float32, torch.float16, torch.bfloat16)
        if not in_kernel or not np.isfinite(table.as_array()[row]).all():  # ᾱ_t = ᾱ_prev = 0
            x_prev, x0 = stock()
            if i is not None:
                self._scoring.fold(i, x0)
            return output(prev_sample=x_prev, pred_original_sample=x0) if return_dict else \
                (x_prev, x0)
        # Drawn only here, once stock() is ruled out: it draws from the generator itself.
        if stock_draws and variance_noise is None and generator is not None:
            variance_noise = randn_tensor(model_output.shape, generator=generator,
                                          device=model_output.device, dtype=model_output.dtype)
        x, out = self._fused_inputs(table, row, sample, model_output.to(sample.dtype), options)
        kwargs = dict(noise=variance_noise, seed=self.seed, step=t, return_x0=True)
        if i is None:
            x_prev, x0 = ops.fused_step(x, out, table.coef(row), **kwargs)
        else:
            x_prev, x0 = self._scoring.fused_step(i, x, out, table.coef(row), **kwargs)
        return output(prev_sample=x_prev, pred_original_sample=x0) if return_dict else (x_prev, x0)

    def _fused_inputs(self, table: StepTable, row: int, sample, model_output, options) -> tuple:
        """(x, out) of the fused call: the step's own, or at an ᾱ_t = 0 ε row (x0 coefficients)
        x̂0 as the stock step computes it, and in x's place what multiplies c1 there — the
        model's ε for DDIM (stock uses it as ε̂), the sample otherwise."""
        if self.config.prediction_type != "epsilon" or table.alphas_cumprod_t[row] != 0:
            return sample, model_output
        alpha = self.alphas_cumprod[int(table.timesteps[row])].to(sample.device)
        x0 = (sample - (1 - alpha) ** 0.5 * model_output) / alpha ** 0.5
        if self.config.clip_sample:
            r = self.config.clip_sample_range
            x0 = x0.clamp(-r, r)
        eps_as_x = options["method"] == "ddim" and not options["use_clipped_model_output"]
        return (model_output if eps_as_x else sample), x0


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

    def _default_options(self) -> dict:
        return dict(method="ddpm", variance=_DDPM_VARIANCES[self.config.variance_type])

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None, return_dict: bool = True,
             variance_noise: Optional[torch.Tensor] = None):
        """The stock step, fused and scored; ``variance_noise`` (optional) is the z of this step."""
        def stock():
            return DDPMScheduler.step(self, model_output, timestep, sample, generator=generator,
                                      return_dict=False)

        return self._scored_step(self._default_options(), model_output, timestep, sample,
                                 generator, variance_noise, int(timestep) > 0,
                                 DDPMSchedulerOutput, return_dict, stock)


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

    def _planned_run(self) -> bool:  # stock DDIM has no run before set_timesteps
        return self.num_inference_steps is not None

    def _default_options(self) -> dict:
        return dict(method="ddim", eta=0.0, use_clipped_model_output=False)

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, eta: float = 0.0,
             use_clipped_model_output: bool = False, generator: Optional[torch.Generator] = None,
             variance_noise: Optional[torch.Tensor] = None, return_dict: bool = True):
        """The stock step, fused and scored."""
        if not self._planned_run():
            raise ValueError("call set_timesteps(num_inference_steps) before step")
        options = dict(method="ddim", eta=float(eta),
                       use_clipped_model_output=bool(use_clipped_model_output))
        def stock():
            return DDIMScheduler.step(self, model_output, timestep, sample, eta,
                                      use_clipped_model_output, generator, variance_noise, False)

        return self._scored_step(options, model_output, timestep, sample, generator,
                                 variance_noise, eta > 0, DDIMSchedulerOutput, return_dict, stock)
