"""Per-image scores and flags in a diffusers pipeline's output, after the precedent of its safety
checker: :func:`score_pipeline` wraps a pipeline so that each call returns the usual output plus
``scores`` (and ``flags`` / ``detector_scores`` with a detector, ``score_maps`` on request).

Works for any pipeline that calls ``scheduler.step`` once per timestep on the whole batch
(unconditional, class-conditional, latent): the scheduler is swapped for its :func:`scored` copy
for the call, so the images are the stock pipeline's bit for bit. In a latent pipeline the score
is the variance of the predicted clean *latent*, and the detector's image statistics are those of
the final latents, not of the decoded images. A pipeline that steps a doubled batch for
classifier-free guidance (DiT) scores the doubled batch: both halves are returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from .any_scheduler import scored

__all__ = ["PipelineScores", "ScoredPipeline", "score_pipeline"]


@dataclass
class PipelineScores:
    """What a scored pipeline call adds: ``scores`` (B,) of the first window, ``window_scores``
    of every window, ``detector_scores`` / ``flags`` (B,) with a detector, ``score_maps`` with
    ``score_maps=True``, ``aggregate_scores`` for the pipeline's ``aggregations``."""

    scores: torch.Tensor
    window_scores: dict = field(default_factory=dict)
    detector_scores: Optional[torch.Tensor] = None
    flags: Optional[torch.Tensor] = None
    score_maps: Optional[dict] = None
    aggregate_scores: dict = field(default_factory=dict)


class ScoredPipeline:
    """A pipeline whose calls also score every image (see :func:`score_pipeline`). Attributes
    other than the call are the pipeline's own."""

    def __init__(self, pipe, *, window, early_exit, detector, aggregations, score_maps: bool):
        if not hasattr(pipe, "scheduler") or not callable(pipe):
            raise TypeError(f"pipe must be a diffusers pipeline with a scheduler, got "
                            f"{type(pipe).__name__}")
        if detector is not None and not callable(getattr(detector, "score", None)):
            raise TypeError(f"detector must be a modeinterp.detect.Detector, got "
                            f"{type(detector).__name__}")
        early = set(early_exit) | set(getattr(detector, "early_steps", ()))
        self.pipe, self.detector = pipe, detector
        self.aggregations, self.want_maps = tuple(aggregations), bool(score_maps)
        self.scheduler = scored(pipe.scheduler, window=window, early_exit=sorted(early))

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, *args, **kwargs):
        """The pipeline's call; a dict-like output gains the :class:`PipelineScores` fields as
        attributes, a tuple output (``return_dict=False``) gains one more element: them."""
        stock, last = self.pipe.scheduler, {}
        step = self.scheduler.step

        def keep_last(*a, **k):
            out = step(*a, **k)
            last["x"] = out[0] if isinstance(out, tuple) else out.prev_sample
            return out

        self.scheduler.step = keep_last
        self.pipe.scheduler = self.scheduler
        try:
            output = self.pipe(*args, **kwargs)
        finally:
            self.pipe.scheduler = stock
            del self.scheduler.step
        scores = self._scores(last["x"])
        if isinstance(output, tuple):
            return (*output, scores)
        for name, value in vars(scores).items():
            setattr(output, name, value)
        return output

    def _scores(self, final: torch.Tensor) -> PipelineScores:
        sched = self.scheduler
        found = PipelineScores(sched.scores, sched.window_scores,
                               score_maps=sched.score_maps if self.want_maps else None)
        if self.aggregations:
            found.aggregate_scores = sched.aggregate_scores(self.aggregations, samples=final)
        if self.detector is not None:
            found.detector_scores, found.flags = sched.detect(self.detector, final)
        return found


def score_pipeline(pipe, *, window=10, early_exit=(), detector=None, aggregations=(),
                   score_maps: bool = False) -> ScoredPipeline:
    """``pipe`` wrapped so that each call also returns per-image ``scores`` (variance of x̂0 over
    the last ``window`` steps), and with a fitted ``detector`` its ``flags``; the images are the
    stock pipeline's. ``aggregations`` (e.g. ``["pool4", "q99"]``) reduce the score maps as the
    Sampler does; ``score_maps=True`` returns the maps themselves."""
    return ScoredPipeline(pipe, window=window, early_exit=early_exit, detector=detector,
                          aggregations=aggregations, score_maps=score_maps)
