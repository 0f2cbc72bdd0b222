"""``modeinterp.train``: the Trainer and its helpers (they live in :mod:`modeinterp.training`)."""

from .training import PREDICTIONS, Trainer, diffusion_batch, load_model

__all__ = ["Trainer", "load_model", "diffusion_batch", "PREDICTIONS"]
