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

from .any_scheduler import scored

__all__ = ["OUTPUT_FIELDS", "ScoredPipeline", "score_pipeline"]

# What a scored pipeline's dict-like output gains: the views of the run's SampleResult.
OUTPUT_FIELDS = ("all_scores", "windows", "scores", "window_scores", "aggregate_scores",
                 "early_scores", "detector_scores", "flags", "score_maps")


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
        """The pipeline's call; a dict-like output gains the views of the run's
        :class:`~modeinterp.SampleResult` as attributes (:data:`OUTPUT_FIELDS`), a tuple output
        (``return_dict=False``) gains one more element: the SampleResult itself."""
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
        result = self.scheduler.score_result(last["x"], ("mean", *self.aggregations), self.detector)
        if self.want_maps:
            result.score_maps = self.scheduler.score_maps
        if isinstance(output, tuple):
            return (*output, result)
        for name in OUTPUT_FIELDS:
            setattr(output, name, getattr(result, name))
        return output


def score_pipeline(pipe, *, window=10, early_exit=(), detector=None, aggregations=(),
                   score_maps: bool = False) -> ScoredPipeline:
    """``pipe`` wrapped so that each call also returns per-image ``scores`` (variance of x̂0 over
    the last ``window`` steps), and with a fitted ``detector`` its ``flags``; the images are the
    stock pipeline's. ``aggregations`` (e.g. ``["pool4", "q99"]``) reduce the score maps as the
    Sampler does; ``score_maps=True`` returns the maps themselves."""
    return ScoredPipeline(pipe, window=window, early_exit=early_exit, detector=detector,
                          aggregations=aggregations, score_maps=score_maps)
