"""What a sampling run returns, :class:`SampleResult`: the samples, every score of the run (a
:class:`~modeinterp.sampling.Scores` read through the shared
:class:`~modeinterp.sampling.ScoreViews`), and what only a fresh run has — step ranges,
trajectories, score maps, flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Optional

import torch

from .. import validation
from .score_key import DETECTOR, ScoreKey
from .scores import ScoreViews, Scores

__all__ = ["SampleResult", "check_run_scores"]


@dataclass
class SampleResult(ScoreViews):
    """What :meth:`Sampler.sample` returns.

    samples: (n, *shape) final x_0, in the sampler's dtype, on the sampling device.
    all_scores: every per-sample score of the run, one :class:`~modeinterp.sampling.Scores`
        mapping ``{(window, name): (n,) float32}`` — each window's ``"mean"`` (the paper's score)
        and aggregations, the main window's early scores, the run's own scores, the detector's.
    trajectory: (m, S, *shape) float32 x̂0 of the first m samples at every reverse step (on request).
    timesteps: the S model timesteps, descending. step_ranges: every window's (start, stop) step
        range in this run, in order (``step_range``: the main one's).
    score_maps: {window: (n, *shape) float32} per-element variance of x̂0 over each window
        (``sample(score_maps=True)``); the mean over non-batch dims of a map is its score.
    flags: (n,) bool from the sampler's ``detector`` (None without one).

    Views of ``all_scores`` (:class:`~modeinterp.sampling.ScoreViews`, the same on a stored
    SampleSet and a scored scheduler): ``windows``, ``scores`` (the main window's mean),
    ``window_scores``, ``aggregate_scores``, ``early_scores``, ``run_scores``,
    ``detector_scores``.
    """

    samples: torch.Tensor
    all_scores: Scores
    trajectory: Optional[torch.Tensor] = None
    timesteps: Optional[torch.Tensor] = None
    step_ranges: list = field(default_factory=list)
    score_maps: dict = field(default_factory=dict)
    flags: Optional[torch.Tensor] = None

    @property
    def step_range(self) -> tuple:
        """The main window's (start, stop) step range."""
        return self.step_ranges[0] if self.step_ranges else (0, 0)

    def flagged_by(self, detector) -> "SampleResult":
        """This result with ``detector``'s score of each sample (``detector_scores``) and its
        ``flags`` (score above its threshold)."""
        scores = torch.as_tensor(detector.score(self))
        return dataclasses.replace(self, all_scores=self.all_scores.with_values(
            {DETECTOR: scores}), flags=scores > detector.threshold)

    def select(self, keep: torch.Tensor) -> "SampleResult":
        """The result restricted to the samples ``keep`` (a bool mask or indices); the
        trajectory, which holds only the first m samples, keeps those of its rows selected."""
        traj = self.trajectory
        if traj is not None:
            mask = keep if keep.dtype == torch.bool else \
                torch.zeros(len(self.samples), dtype=torch.bool).index_fill_(0, keep.cpu(), True)
            traj = traj[mask[: traj.shape[0]].to(traj.device)]
        pick = keep.to(self.samples.device)
        return SampleResult(self.samples[pick], self.all_scores.map(lambda v: v[keep.to(v.device)]),
                            traj, self.timesteps, list(self.step_ranges),
                            {w: v[pick] for w, v in self.score_maps.items()},
                            None if self.flags is None else self.flags[keep.cpu()])


def check_run_scores(run_scores) -> dict:
    """``Sampler(run_scores=)`` as {ScoreKey(None, name): f}; bad names or values refused."""
    if run_scores is None:
        return {}
    validation.check_type("run_scores", run_scores, Mapping, "a mapping {name: f(result)}")
    out = {}
    for name, fn in run_scores.items():
        try:
            key = ScoreKey(None, name)
        except ValueError as exc:
            raise ValueError(f"run_scores: {exc}") from None
        if key == DETECTOR or key.early is not None:
            raise ValueError(f"run_scores: {name!r} is the name of a score the sampler computes")
        if not callable(fn):
            raise TypeError(f"run_scores[{name!r}] must be callable f(result) -> (n,), got "
                            f"{type(fn).__name__}")
        out[key] = fn
    return out
