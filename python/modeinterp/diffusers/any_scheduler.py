"""Scores for any diffusers scheduler — Euler, Euler ancestral, Heun, DPM-Solver++, UniPC, LCM, … —
without touching its sampling: :func:`scored` returns the scheduler with a ``step`` that calls the
stock ``step`` unchanged (the same images bit for bit, for the same generator) and then folds this
step's x̂0 into the running variance with the compiled ``ops.welford_update_``.

x̂0 is the step's own ``pred_original_sample`` (``denoised`` for LCM) where the scheduler returns
it; otherwise it is derived from the model output before the step, with the scheduler's own
``sigmas`` and ``_sigma_to_alpha_sigma_t`` (DPM-Solver, UniPC, DEIS: x̂0 = (x − σ_t·ε)/α_t,
α_t·x − σ_t·v, or the output itself), or x̂0 = x − σ·v for flow matching. Another scheduler takes
``x0_fn(model_output, timestep, sample, scheduler) -> x̂0``.

Multi-stage solvers call ``step`` more than once per timestep (Heun's correction): one x̂0 is
scored per timestep, the first call's. The window counts the run's distinct timesteps.
"""

from __future__ import annotations

import copy
import inspect
from typing import Callable, Optional

import torch

from .scoring import RunScoring, ScoresView

__all__ = ["scored"]

_CLASSES: dict = {}


def scored(scheduler, *, window=10, early_exit=(), x0_fn: Optional[Callable] = None):
    """A scored copy of a diffusers ``scheduler`` (its class, config and state; the original is
    left as it was): ``step`` as stock, plus ``scores``, ``window_scores``, ``early_scores``,
    ``score_maps`` and ``score_result(samples, aggregations, detector)`` after each run
    (``set_timesteps`` starts one). ``window`` / ``early_exit`` as for the Sampler."""
    if isinstance(scheduler, ScoresView):
        raise ValueError(f"{type(scheduler).__name__} already scores its steps")
    if not callable(getattr(scheduler, "step", None)) or not hasattr(scheduler, "config"):
        raise TypeError(f"scheduler must be a diffusers scheduler (with config and step), got "
                        f"{type(scheduler).__name__}")
    if x0_fn is not None and not callable(x0_fn):
        raise TypeError(f"x0_fn must be callable, got {type(x0_fn).__name__}")
    new = copy.deepcopy(scheduler)
    new.__class__ = _scored_class(type(scheduler))
    new._scoring = RunScoring(window, early_exit, f"scored({type(scheduler).__name__})")
    new._x0_fn = x0_fn
    new._x0_in_output = False  # learnt at the first step
    new._reset_scoring()
    return new


def _scored_class(stock: type) -> type:
    """``Scored<Stock>``: its ``step`` keeps the stock signature, which pipelines inspect (for
    ``eta`` and ``generator``)."""
    if stock not in _CLASSES:
        def step(self, *args, **kwargs):
            return self._scored_step(stock.step, *args, **kwargs)

        step.__signature__ = inspect.signature(stock.step)
        step.__doc__ = "The stock step, unchanged; its x̂0 folded into the scores."
        _CLASSES[stock] = type(f"Scored{stock.__name__}", (AnyScored, stock),
                               {"step": step, "__doc__": f"{stock.__name__} scored by "
                                "modeinterp.diffusers.scored (see .any_scheduler)."})
    return _CLASSES[stock]


class AnyScored(ScoresView):
    """The scoring half of a ``Scored<Stock>`` class built by :func:`scored`."""

    def _reset_scoring(self) -> None:
        timesteps = getattr(self, "timesteps", None)
        planned = [] if timesteps is None else torch.unique_consecutive(
            torch.as_tensor(timesteps).detach().cpu().double()).tolist()
        self._scoring.reset(planned)

    def set_timesteps(self, *args, **kwargs):
        """As the stock scheduler's; also starts a new scored run."""
        super().set_timesteps(*args, **kwargs)
        if "_scoring" in self.__dict__:  # stock __init__ may call set_timesteps before we exist
            self._reset_scoring()

    def _scored_step(self, stock_step, *args, **kwargs):
        """``stock_step`` unchanged; its x̂0 folded into the scores (first call per timestep)."""
        given = inspect.signature(stock_step).bind(self, *args, **kwargs).arguments
        model_output, timestep, sample = (given[k] for k in ("model_output", "timestep", "sample"))
        scoring = self._scoring
        i = scoring.planned(float(timestep))
        if i is None and not scoring.same_step(float(timestep)):
            scoring.unscored(float(timestep), "not the run's next planned timestep")
        derived = None if i is None else self._x0_before(model_output, timestep, sample)
        output = stock_step(self, *args, **kwargs)
        if i is not None:
            x0, self._x0_in_output = _x0_after(output, derived, type(self).__name__)
            scoring.fold(i, x0)
        return output

    def _x0_before(self, model_output, timestep, sample) -> Optional[torch.Tensor]:
        """x̂0 from the model output at this step's σ, for schedulers whose step hides it."""
        if self._x0_fn is not None:
            return self._x0_fn(model_output, timestep, sample, self)
        sigmas = getattr(self, "sigmas", None)
        if sigmas is None or not hasattr(self, "step_index") or self._x0_in_output:
            return None  # known after the first step: the output carries x̂0
        if self.step_index is None:
            self._init_step_index(timestep)  # what the stock step does first
        sigma = sigmas[self.step_index].to(sample.device)
        prediction = getattr(self.config, "prediction_type", "epsilon")
        if not hasattr(self, "_sigma_to_alpha_sigma_t"):  # flow matching: x_t = (1−σ)·x0 + σ·ε
            return sample - sigma * model_output if prediction in ("flow_prediction", "epsilon") \
                else None
        alpha_t, sigma_t = self._sigma_to_alpha_sigma_t(sigma)
        if prediction == "epsilon":
            return (sample - sigma_t * model_output) / alpha_t
        if prediction == "v_prediction":
            return alpha_t * sample - sigma_t * model_output
        if prediction == "sample":
            return model_output
        if prediction == "flow_prediction":
            return sample - sigma_t * model_output
        return None


def _x0_after(output, derived, name: str) -> tuple:
    """(x̂0 of the step, whether its output carried it)."""
    if isinstance(output, tuple):  # return_dict=False: (prev_sample, x̂0) where there is one
        if len(output) > 1 and torch.is_tensor(output[1]):
            return output[1], True
    else:
        for key in ("pred_original_sample", "denoised"):
            if getattr(output, key, None) is not None:
                return getattr(output, key), True
    if derived is None:
        raise TypeError(f"{name}: its step returns no x̂0 and modeinterp cannot derive one from "
                        "its sigmas; pass scored(..., x0_fn=lambda out, t, x, sched: x̂0)")
    return derived, False
