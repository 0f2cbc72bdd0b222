"""Scored drop-in replacements for diffusers' DDPMScheduler and DDIMScheduler.

Every config, call and number of the stock class: a step is ONE ``modeinterp.ops.fused_step``
call where the kernel's x̂0 = a·x + b·out can express it, with coefficients computed by the stock
step's own float32 arithmetic (:mod:`.stock_coefficients`), so ``prev_sample`` and
``pred_original_sample`` equal the stock scheduler's up to a few float32 roundings given the same
noise. Elsewhere the step *is* the stock step, and its x̂0 is scored all the same
(``welford_update_``): dynamic thresholding, learned variances (``"learned"``,
``"learned_range"``, the 2×C-channel model output split as diffusers splits it) and any other
DDPM ``variance_type`` than the fixed ones, a ``prediction_type`` the stock step refuses (it
raises, as stock), ᾱ_t = 0 under ε-prediction (zero terminal SNR), coefficients that are not
finite, and float64 samples (the kernel computes in float32). Each such reason is said once per
scheduler (:class:`StockStepWarning`); ``step_paths`` counts the run's steps by path.

The noise is Philox keyed by (seed, timestep, element index) unless ``variance_noise=`` or a
``generator`` is passed (then it is drawn exactly as the stock scheduler draws it). Like the
stock classes they take any timestep: a step the run did not plan (outside ``timesteps``, or out
of order) is left out of the scores (:mod:`.scoring`).

``window``, ``seed`` and ``early_exit`` are registered in the scheduler's config, so
``save_config`` / ``from_pretrained`` and ``from_config(s.config)`` keep them: ``window`` an int K,
a ``"start-stop"`` string for one (start, stop) pair, or a list of those; ``early_exit`` a list of
ints. A window longer than a run scores the steps there are (with a warning). A stock config
loads into a scored scheduler (window=10, seed=0, early_exit=()), and a scored config into the
stock scheduler (diffusers logs that it ignores the three keys).
"""

from __future__ import annotations

import collections
import inspect
import threading
import warnings
from typing import Optional

import torch
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.schedulers import scheduling_ddpm
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput
from diffusers.schedulers.scheduling_ddpm import DDPMSchedulerOutput
from diffusers.utils.torch_utils import randn_tensor

from .. import ops, validation
from .scoring import RunScoring, ScoresView
from .stock_coefficients import ddim_coef, ddpm_coef

__all__ = ["ScoredDDPMScheduler", "ScoredDDIMScheduler", "StockStepWarning"]

_KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class StockStepWarning(UserWarning):
    """A scored scheduler ran the stock step (scored as usual) for a reason the fused kernel
    cannot express; said once per scheduler and reason."""


class _Scored(ScoresView):
    """What both scored schedulers add to the stock one: the path of each step, scoring.

    A subclass names the stock scheduler it scores in ``stock_scheduler`` (also a base class)."""

    stock_scheduler: type

    def _init_scoring(self, window, seed, early_exit) -> None:
        validation.check_int("seed", seed, 0)
        self.seed = int(seed)
        self._scoring = RunScoring(window, early_exit, type(self).__name__)
        self.register_to_config(window=self._scoring.config_window, seed=self.seed,
                                early_exit=list(self._scoring.early_exit))
        self._noted: set = set()
        # StepCoef (or why not) by (timestep, previous timestep, step options): the stock
        # arithmetic costs ~0.1 ms a step in 0-dim tensor ops, and pipelines repeat their runs.
        self._coefs: dict = {}
        self._reset_scoring()

    def _coef(self, key: tuple, compute):
        if key not in self._coefs:
            self._coefs[key] = compute()
        return self._coefs[key]

    def _reset_scoring(self) -> None:
        self.step_paths: collections.Counter = collections.Counter()
        self._scoring.reset(self.timesteps if self._planned_run() else ())

    def _planned_run(self) -> bool:
        return True

    def set_timesteps(self, *args, **kwargs):
        """As the stock scheduler's; also resets the scores and ``step_paths``."""
        super().set_timesteps(*args, **kwargs)
        self._reset_scoring()

    def _took_stock_step(self, why: str) -> None:
        self.step_paths[f"stock: {why}"] += 1
        if why not in self._noted:
            self._noted.add(why)
            warnings.warn(f"{type(self).__name__}: {why}: such steps are the stock "
                          f"{self.stock_scheduler.__name__}.step, their x̂0 scored as usual",
                          StockStepWarning, stacklevel=4)

    def _scored_step(self, coef, model_output, timestep, sample, generator, variance_noise,
                     stock_draws: bool, output, return_dict: bool, stock):
        """One fused call with ``coef()`` (a StepCoef, or why the stock step must run). The noise:
        ``variance_noise``; else, where the stock step would draw it (``stock_draws``), from
        ``generator`` exactly as the stock step does; else Philox. ``stock()`` runs the stock
        step; its x̂0 is folded all the same."""
        if variance_noise is not None and generator is not None:
            raise ValueError("pass either generator or variance_noise, not both")
        t = int(timestep)
        i = self._scoring.planned(t)
        if i is None:
            self._scoring.unscored(t, "not the run's next planned timestep")
        coef = coef() if sample.dtype in _KERNEL_DTYPES else \
            f"a {sample.dtype} sample (the fused kernel computes in float32)"
        if isinstance(coef, str):
            self._took_stock_step(coef)
            x_prev, x0 = stock()
            if i is not None:
                self._scoring.fold(i, x0)
            return output(prev_sample=x_prev, pred_original_sample=x0) if return_dict else \
                (x_prev, x0)
        self.step_paths["fused"] += 1
        # Drawn only here, once the stock step is ruled out: it draws from the generator itself.
        if stock_draws and variance_noise is None and generator is not None:
            variance_noise = randn_tensor(model_output.shape, generator=generator,
                                          device=model_output.device, dtype=model_output.dtype)
        kwargs = dict(noise=variance_noise, seed=self.seed, step=t, return_x0=True)
        out = model_output.to(sample.dtype)
        if i is None:
            x_prev, x0 = ops.fused_step(sample, out, coef, **kwargs)
        else:
            x_prev, x0 = self._scoring.fused_step(i, sample, out, coef, **kwargs)
        return output(prev_sample=x_prev, pred_original_sample=x0) if return_dict else (x_prev, x0)


class _GivenNoise(threading.local):
    noise: Optional[torch.Tensor] = None


_GIVEN = _GivenNoise()


def _randn_or_given(shape, generator=None, device=None, dtype=None, layout=None):
    """``scheduling_ddpm.randn_tensor`` while a scored DDPM step runs the stock step with a
    ``variance_noise`` of its own (the stock DDPM step has no such argument); the stock draw
    otherwise, and in every other thread."""
    if _GIVEN.noise is None:
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype,
                            layout=layout)
    return _GIVEN.noise.to(device=device, dtype=dtype)


def _stock_ddpm_step(sched, model_output, timestep, sample, generator, variance_noise):
    """``DDPMScheduler.step`` as (x_prev, x̂0), with ``variance_noise`` as its z when given."""
    if variance_noise is None:
        return DDPMScheduler.step(sched, model_output, timestep, sample, generator=generator,
                                  return_dict=False)
    scheduling_ddpm.randn_tensor = _randn_or_given  # idempotent; stock draws when not ours
    _GIVEN.noise = variance_noise
    try:
        return DDPMScheduler.step(sched, model_output, timestep, sample, return_dict=False)
    finally:
        _GIVEN.noise = None


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
        self._init_scoring(window, seed, early_exit)

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None, return_dict: bool = True,
             variance_noise: Optional[torch.Tensor] = None):
        """The stock step, fused and scored; ``variance_noise`` (optional) is the z of this step."""
        def stock():
            return _stock_ddpm_step(self, model_output, timestep, sample, generator,
                                    variance_noise)

        def coef():
            t = int(timestep)
            return self._coef((t, int(self.previous_timestep(t))), lambda: ddpm_coef(self, t))

        return self._scored_step(coef, model_output, timestep, sample, generator, variance_noise,
                                 int(timestep) > 0, DDPMSchedulerOutput, return_dict, stock)


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

    def _planned_run(self) -> bool:  # stock DDIM has no run before set_timesteps
        return self.num_inference_steps is not None

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, eta: float = 0.0,
             use_clipped_model_output: bool = False, generator: Optional[torch.Generator] = None,
             variance_noise: Optional[torch.Tensor] = None, return_dict: bool = True):
        """The stock step, fused and scored."""
        if not self._planned_run():
            raise ValueError("Number of inference steps is 'None', you need to run "
                             "'set_timesteps' after creating the scheduler")

        def stock():
            return DDIMScheduler.step(self, model_output, timestep, sample, eta,
                                      use_clipped_model_output, generator, variance_noise, False)

        def coef():
            t, noise, clipped = int(timestep), float(eta), bool(use_clipped_model_output)
            return self._coef((t, self.num_inference_steps, noise, clipped),
                              lambda: ddim_coef(self, t, noise, clipped))

        return self._scored_step(coef, model_output, timestep, sample, generator,
                                 variance_noise, eta > 0, DDIMSchedulerOutput, return_dict, stock)
