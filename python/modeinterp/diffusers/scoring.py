"""The scores of one run of a diffusers scheduler — from ``set_timesteps`` to its last step — shared
by the fused DDPM/DDIM schedulers and by :func:`~modeinterp.diffusers.scored` for any other one.

A run's windows are fitted to the steps it has (a window longer than the run scores every step,
with a warning; a (start, stop) pair past its end scores what is left, or nothing and says so
when read). A step the run did not plan — a timestep outside ``scheduler.timesteps``, or one
out of order — is computed as the stock scheduler computes it and left out of the scores; a
window whose timesteps it falls among refuses to give scores, naming it, instead of failing the
step.
"""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import torch

from .. import ops, validation
from ..sampling import SampleResult, ScoreViews, Scores, WindowScores
from ..sampling.aggregations import aggregate, resolve_aggregations
from ..sampling.score_key import early_key
from ..sampling.window import parse_windows
from ..sampling.window_spec import Window


def window_arg(window):
    """``window`` as given or as read back from a config: a list holds several windows, anything
    else is one. Returns (argument for resolve_windows, config value: K an int, a pair as its
    key "start-stop" — a JSON list of two ints would read back as two windows)."""
    def config_value(w: Window):
        return w.spec if w.last is not None else w.key

    if isinstance(window, list):
        windows = [Window.parse(w) for w in window]
        return windows, [config_value(w) for w in windows]
    window = Window.parse(window)
    return window, config_value(window)


class RunScoring:
    """Windows, Welford state and irregular steps of one run. ``owner`` names the scheduler in
    messages. Windows are fitted to each run (:meth:`reset`), never refused for its length."""

    def __init__(self, window, early_exit, owner: str):
        self.owner = owner
        window, self.config_window = window_arg(window)
        self.specs = parse_windows(window)
        self._said: set = set()
        self.early_exit = tuple(validation.check_int("early_exit", k, 1) for k in early_exit)
        self.aggregations = resolve_aggregations(("mean",))
        self.reset(())

    # ---------------------------------------------------------------------- the run
    def reset(self, timesteps) -> None:
        """A new run over ``timesteps`` (the distinct planned timesteps, descending)."""
        self.timesteps = np.asarray([float(t) for t in timesteps], dtype=np.float64)
        steps = len(self.timesteps)
        self.notes, fitted = {}, []
        for k, spec in enumerate(self.specs):
            fitted.append(self._fit(k, spec, steps) if steps else (0, 1))
        self.ranges = fitted
        length = fitted[0][1] - fitted[0][0]
        early = sorted({k for k in self.early_exit if k <= length})
        if steps and len(early) < len(self.early_exit):
            self._warn(f"{self.owner}: early_exit {sorted(set(self.early_exit))} beyond the "
                       f"{length} steps of the window: early scores after {early} only")
        self.state = WindowScores(fitted, early)
        self.irregular: list = []

    def _fit(self, k: int, spec: Window, steps: int) -> tuple:
        if spec.last is not None:
            if spec.last > steps:
                self._warn(f"window={spec} is longer than the {steps} steps of this run: "
                           f"scoring all {steps}")
            return spec.fit(steps).resolve(steps)
        start, stop = spec.spec
        if start >= steps:
            self.notes[k] = (f"window {spec} lies past the {steps} steps of this run: it has no "
                             "scores")
            self._warn(self.notes[k])
            return steps, steps + 1  # never active
        if stop > steps:
            self._warn(f"window {spec} ends past the {steps} steps of this run: scoring "
                       f"steps {start}..{steps - 1}")
        return start, min(stop, steps)

    def _warn(self, message: str) -> None:
        """Warn once per scorer and message: a stock __init__ and the user's set_timesteps
        often plan the same run."""
        if message not in self._said:
            self._said.add(message)
            warnings.warn(message, stacklevel=6)

    def planned(self, timestep) -> Optional[int]:
        """The step index of ``timestep`` when it is the run's next planned step, else None."""
        hits = np.flatnonzero(self.timesteps == float(timestep))
        if len(hits) == 0 or int(hits[0]) <= self.state.main.last:
            return None
        return int(hits[0])

    def same_step(self, timestep) -> bool:
        """Whether ``timestep`` is the step that ran last (a second model call at one timestep:
        Heun's correction, a multi-stage solver)."""
        last = self.state.main.last
        return last >= 0 and self.timesteps[last] == float(timestep)

    def unscored(self, timestep, why: str) -> None:
        """Record a step left out of the scores; warn once per run."""
        if not self.irregular:
            warnings.warn(f"{self.owner}.step at timestep {float(timestep):g}: {why}; computed "
                          "as the stock step does and left out of the scores", RuntimeWarning,
                          stacklevel=4)
        self.irregular.append(float(timestep))

    # ---------------------------------------------------------------------- scoring a step
    def fused_step(self, i: int, x, out, coef, **kwargs):
        """``ops.fused_step`` for planned step i, folding its x̂0 into every active window."""
        return self.state.fused_step(i, x, out, coef, **kwargs)

    def fold(self, i: int, x0: torch.Tensor) -> None:
        """Fold the x̂0 of planned step i, computed elsewhere, into every active window. The
        Welford state is float32: a float64 run's x̂0 is folded as float32."""
        x0 = x0.detach()
        if x0.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            x0 = x0.float()
        for w in self.state.windows:
            args = w.welford_args(i, x0)
            if args:
                ops.welford_update_(args["mean"], args["m2"], x0, args["count"])
            w.step_done(i)

    # ---------------------------------------------------------------------- reading the scores
    def checked(self, k: int):
        """Window k's WindowScore, once it can give scores (else why not)."""
        if k in self.notes:
            raise RuntimeError(f"{self.owner}: {self.notes[k]}")
        start, stop = self.ranges[k]
        span = self.timesteps[start:stop]
        broken = [t for t in self.irregular if len(span) and span.min() <= t <= span.max()]
        if broken:
            raise RuntimeError(
                f"{self.owner}: the score window {self.specs[k]} (timesteps {span.max():g}.."
                f"{span.min():g}) has no scores: the step at timestep {broken[0]:g} was not the "
                "run's next planned step (set_timesteps, then step through scheduler.timesteps in "
                "order)")
        return self.state.windows[k]

    def all_scores(self) -> Scores:
        """The run's scores, each window's read when asked for (an error naming the window
        when it cannot give them): every window's mean and the early scores."""
        values = {(spec, "mean"): (lambda k=k: self.checked(k).scores)
                  for k, spec in enumerate(self.specs)}
        values.update({early_key(k): s for k, s in self.state.main.early_scores.items()})
        return Scores(self.specs, values)

    def result(self, samples: torch.Tensor, aggregations=("mean",), detector=None) -> SampleResult:
        """The run as a :class:`~modeinterp.SampleResult`: every window's ``aggregations`` of
        its score map (``samples``: the run's final x, which ``component`` and the detector's
        image features read) and, with a fitted ``detector``, its scores and flags (the
        aggregations it reads are added)."""
        if detector is not None and not callable(getattr(detector, "score", None)):
            raise TypeError(f"detector must be a modeinterp.detect.Detector, got "
                            f"{type(detector).__name__}")
        names = [a.name for a in resolve_aggregations(aggregations)]
        if detector is not None:
            names += [k.name for k in detector.score_keys if k.window is not None]
        names = list(dict.fromkeys(["mean", *names]))
        values = {(spec, name): s for k, spec in enumerate(self.specs)
                  for name, s in self._aggregate(k, names, samples).items()}
        values.update({early_key(k): s for k, s in self.checked(0).early_scores.items()})
        result = SampleResult(samples, Scores(self.specs, values), step_ranges=list(self.ranges))
        return result if detector is None else result.flagged_by(detector)

    def _aggregate(self, k: int, names, samples) -> dict:
        w = self.checked(k)
        return aggregate(w.map, names, samples, m2=w.m2, count=w.count)


class ScoresView(ScoreViews):
    """The read side every scored scheduler shares (``self._scoring`` is its RunScoring): the
    views every holder of scores has (:class:`~modeinterp.sampling.ScoreViews`: ``windows``,
    ``scores``, ``window_scores``, ``early_scores``, …; of the last run, each window's raising
    until its last step has run), the run's step ranges and score maps, and :meth:`score_result`."""

    _scoring: RunScoring

    @property
    def all_scores(self) -> Scores:
        """The last run's scores: every window's mean and the early scores."""
        return self._scoring.all_scores()

    @property
    def step_range(self) -> tuple:
        """(start, stop) step indices of the first window in this run."""
        return self._scoring.ranges[0]

    @property
    def step_ranges(self) -> list:
        """(start, stop) of every window in this run."""
        return list(self._scoring.ranges)

    @property
    def score_maps(self) -> dict:
        """{window as given: (B, *sample shape) float32} the per-element variance of x̂0 over each
        window (the Welford state the scores are read from: no extra cost)."""
        return {spec: self._scoring.checked(k).map for k, spec in enumerate(self._scoring.specs)}

    def score_result(self, samples: torch.Tensor, aggregations=("mean",),
                     detector=None) -> SampleResult:
        """The last run as a :class:`~modeinterp.SampleResult`: every window's score map reduced
        by ``aggregations`` as ``Sampler(aggregations=)`` does
        (:mod:`modeinterp.sampling.aggregations`; ``rel-`` ones normalised over this batch,
        ``component`` reads the final ``samples``) in ``aggregate_scores``, and with a fitted
        :class:`modeinterp.detect.Detector` its ``detector_scores`` and ``flags`` (from the
        run's windows, aggregations, early scores — ask for them with ``early_exit`` — and the
        final ``samples``' statistics)."""
        return self._scoring.result(samples, aggregations, detector)
