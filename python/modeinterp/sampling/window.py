"""The hallucination score of one run of reverse steps: a window of steps, a Welford accumulator of
x̂0 over it (fed by the fused op), and the score read off at the end — and after the first k steps
of the window for pre-emptive detection ("early scores"). Several windows can be scored in the
same run (:class:`WindowScores`), each exactly as if it were the only one.

Used by :class:`modeinterp.Sampler` (one per batch) and by the scored diffusers schedulers (one per
``set_timesteps``), so both compute exactly the same thing. O(batch × dims) memory per window: no
trajectory.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from .. import ops, validation
from .aggregations import score_map
from .window_spec import Window


def resolve_window(window, steps: int) -> tuple:
    """``window=K``: the last K reverse steps; ``(start, stop)``: step indices [start, stop)
    (any spelling :meth:`Window.parse` reads), placed in a run of ``steps`` steps."""
    return Window.parse(window).resolve(steps)


def resolve_windows(window, steps: int) -> tuple:
    """``(windows, resolved)``: a *list* holds several windows, anything else is one window.
    ``windows`` are :class:`Window` values (the keys of ``window_scores``; they compare equal to
    10 or (40, 60)), ``resolved`` their (start, stop) step ranges; the first window is the main
    one (``scores``, ``early_scores``)."""
    windows = parse_windows(window)
    return windows, [w.resolve(steps) for w in windows]


def parse_windows(window) -> list:
    """The :class:`Window` values of ``window`` (a *list* holds several), for runs of any length
    (a scheduler's run is known only at ``set_timesteps``)."""
    items = list(window) if isinstance(window, list) else [window]
    if not items:
        raise ValueError("window must not be an empty list")
    windows = [Window.parse(w) for w in items]
    if len(set(windows)) != len(windows):
        raise ValueError(f"window lists the same window twice: {items}")
    return windows


def resolve_early_exit(early_exit: Sequence[int], window: tuple) -> list:
    """Sorted distinct k in [1, window length]: score after the first k steps of the window."""
    start, stop = window
    early = sorted({int(k) for k in early_exit})
    if any(not 1 <= k <= stop - start for k in early):
        raise ValueError(f"early_exit values must be in [1, {stop - start}] (window steps), "
                         f"got {list(early_exit)}")
    return early


class WindowScore:
    """Welford state of x̂0 over the steps [start, stop) of one run over a batch.

    Per reverse step i: pass :meth:`welford_args` (i) to ``ops.fused_step`` — mean/m2/count inside
    the window, nothing outside — then call :meth:`step_done` (i). Steps run in increasing i, each
    once; a run may start inside the window (a diffusers img2img pipeline skips the first steps),
    and then the score covers the window steps that ran. ``scores`` is the (B,) score once the
    window's last step has run; ``early_scores[k]`` the score after the first k window steps.
    """

    def __init__(self, window: tuple, early_exit: Sequence[int] = ()):
        self.start, self.stop = window
        self.early = list(early_exit)
        self.mean: Optional[torch.Tensor] = None
        self.m2: Optional[torch.Tensor] = None
        self.count = 0
        self.last = -1  # the last step index that ran
        self.early_scores: dict = {}

    def welford_args(self, i: int, like: torch.Tensor) -> dict:
        """fused_step keyword arguments for reverse step i on a batch shaped like ``like``."""
        if i <= self.last:
            raise RuntimeError(f"reverse step {i} after step {self.last}: steps must run in "
                               "order (descending timesteps), each once; set_timesteps starts over")
        if not self.start <= i < self.stop:
            return {}
        if self.mean is None or self.mean.shape != like.shape or self.mean.device != like.device:
            if self.count:
                raise RuntimeError(f"the batch changed from {tuple(self.mean.shape)} to "
                                   f"{tuple(like.shape)} in the middle of the score window")
            self.mean = torch.zeros(like.shape, dtype=torch.float32, device=like.device)
            self.m2 = torch.zeros_like(self.mean)
        return {"mean": self.mean, "m2": self.m2, "count": self.count}

    def step_done(self, i: int) -> None:
        """Record that step i ran (and its x̂0 entered the accumulator if it is in the window)."""
        self.last = i
        if not self.start <= i < self.stop:
            return
        self.count += 1
        if self.count in self.early:
            self.early_scores[self.count] = ops.trajectory_score(self.m2, self.count)

    def check_complete(self) -> None:
        """Raise, naming the window, until its last step has run."""
        if self.last < self.stop - 1 or self.count == 0:
            raise RuntimeError(f"the score window (steps {self.start}..{self.stop - 1}) is not "
                               f"complete: the last step that ran is {self.last}")

    @property
    def scores(self) -> torch.Tensor:
        """(B,) float32: variance of x̂0 over the window, mean over non-batch dims."""
        self.check_complete()
        return ops.trajectory_score(self.m2, self.count)

    @property
    def map(self) -> torch.Tensor:
        """(B, *shape) float32: variance of x̂0 over the window, per element (the score map)."""
        self.check_complete()
        return score_map(self.m2, self.count)


class WindowScores:
    """Several score windows over one run, each accumulated exactly as a single-window run would.

    Per reverse step i, :meth:`fused_step` runs the step once with the first active window's
    accumulator; every other window active at step i gets one more fused call with σ = 0 (no
    noise, its x_prev discarded) that computes the same x̂0 and folds it into its own accumulator —
    so each window's scores are bit for bit those of a run with that window alone. Windows only
    cost anything on the steps they cover (docs/benchmarks.md: cost of 1 vs 6 windows).
    """

    def __init__(self, windows: Sequence[tuple], early_exit: Sequence[int] = ()):
        self.windows = [WindowScore(w, early_exit if k == 0 else ())
                        for k, w in enumerate(windows)]

    def fused_step(self, i: int, x: torch.Tensor, out: torch.Tensor, coef, **kwargs):
        """``ops.fused_step(x, out, coef, **kwargs)`` for reverse step i, scoring every window."""
        active = [w for w in self.windows if w.start <= i < w.stop]
        main = active[0].welford_args(i, x) if active else {}
        result = ops.fused_step(x, out, coef, **kwargs, **main)
        if len(active) > 1:
            quiet = list(validation.check_coefficients(coef))
            quiet[5] = 0.0  # sigma: no noise to draw, x_prev is not used
            for w in active[1:]:
                ops.fused_step(x, out, quiet, **w.welford_args(i, x))
        for w in self.windows:
            w.step_done(i)
        return result

    @property
    def main(self) -> WindowScore:
        return self.windows[0]
