"""DDPM training, in pieces: the batch stream (:mod:`.stream`), the objective for data of any
(N, …) shape (:mod:`.objective`), the EMA (:mod:`.ema`) and the Trainer that runs them with
atomic checkpoints and exact resume (:mod:`.trainer`; format: :mod:`.checkpoint`)."""

from .ema import EMA
from .objective import PREDICTIONS, TimestepSampler, diffusion_batch
from .stream import BatchStream
from .trainer import Trainer, load_model

__all__ = ["BatchStream", "EMA", "PREDICTIONS", "TimestepSampler", "Trainer", "diffusion_batch",
           "load_model"]
