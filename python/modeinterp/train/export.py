"""A trained image model as a standard diffusers pipeline folder: ``DDPMPipeline.from_pretrained
(DIR)`` samples it with the scheduler its training used (T, betas, prediction type). The folder
is written next to DIR and moved into place whole, so a failed export leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..artifacts import write_folder_atomic
from ..models.diffusers_folder import PREDICTION_TYPES
from .checkpoint import load_model, read_checkpoint

__all__ = ["export_diffusers"]


def _training_scheduler(ckpt: dict):
    """DDPMScheduler with the checkpoint's T, betas and prediction type; x̂0 clipped to [-1, 1],
    the range the image datasets are scaled to."""
    from diffusers import DDPMScheduler

    schedule = ckpt["schedule"]
    alphas_cumprod = schedule["alphas_cumprod"].double().numpy()
    betas = schedule.get("betas")
    if betas is None:  # ᾱ_t = ∏ (1 − β): β_t = 1 − ᾱ_t / ᾱ_{t−1}
        betas = 1.0 - alphas_cumprod / np.concatenate([[1.0], alphas_cumprod[:-1]])
    betas = np.asarray(betas, dtype=np.float64)
    prediction = ckpt["config"]["trainer"].get("prediction", "eps")
    return DDPMScheduler(num_train_timesteps=len(betas), trained_betas=betas.tolist(),
                         prediction_type=PREDICTION_TYPES[prediction], clip_sample=True,
                         clip_sample_range=1.0)


def export_diffusers(checkpoint, out_dir, *, overwrite: bool = False) -> Path:
    """Write the checkpoint's image model (its EMA weights, as sampling uses) and its training
    scheduler to ``out_dir`` as a ``DDPMPipeline`` folder; returns ``out_dir``."""
    from diffusers import DDPMPipeline

    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise ValueError(f"{out_dir} exists: choose a new folder (or overwrite it)")
    ckpt = read_checkpoint(checkpoint)
    model = load_model(checkpoint)
    if not hasattr(model, "unet"):
        raise ValueError(f"{os.fspath(checkpoint)} holds a {type(model).__name__}, not an image "
                         "model (UNetDenoiser): only U-Nets have a diffusers pipeline")
    pipe = DDPMPipeline(unet=model.unet, scheduler=_training_scheduler(ckpt))
    write_folder_atomic(out_dir, pipe.save_pretrained)
    return out_dir
