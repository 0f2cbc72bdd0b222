"""modeinterp for diffusers users (needs the diffusers package: ``pip install
'modeinterp[diffusers]'``).

- :class:`ScoredDDPMScheduler`, :class:`ScoredDDIMScheduler`: drop-in DDPM/DDIM schedulers whose
  step is one fused kernel that also scores every sample::

      pipe.scheduler = ScoredDDPMScheduler.from_config(pipe.scheduler.config, window=10, seed=0)
      images = pipe(batch_size=16).images
      pipe.scheduler.scores          # (16,): x̂0 variance over the last 10 steps

- :func:`scored`: the same scores for any other scheduler (Euler, DPM-Solver++, UniPC, …), its
  sampling untouched.
- :func:`score_pipeline`: a pipeline whose output carries per-image ``scores`` and, with a
  fitted detector, ``flags``.
"""

try:
    import diffusers as _diffusers  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in an environment without diffusers
    raise ImportError("modeinterp.diffusers needs the diffusers package: "
                      "pip install 'modeinterp[diffusers]'") from exc

from .any_scheduler import scored
from .pipeline import OUTPUT_FIELDS, ScoredPipeline, score_pipeline
from .schedulers import ScoredDDIMScheduler, ScoredDDPMScheduler, StockStepWarning

__all__ = ["ScoredDDPMScheduler", "ScoredDDIMScheduler", "StockStepWarning", "scored",
           "score_pipeline", "ScoredPipeline", "OUTPUT_FIELDS"]
