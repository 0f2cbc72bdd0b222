"""Training checkpoints: writing (atomically: :func:`modeinterp.artifacts.save_pt`), reading,
config comparison, model loading.

A checkpoint (written by :class:`modeinterp.train.Trainer`) is a ``torch.save``d dict holding
only tensors and plain Python values, so it loads with ``torch.load(weights_only=True)``::

    format      "modeinterp.train/1"
    step        optimizer steps taken
    config      {"model_class", "model" (model.config() or None), "trainer" (hyperparameters
                 and fingerprints of data and schedule)}; must match to resume
    run         {"steps", "checkpoint_every"}: informational, may change between runs
    model, optimizer, ema (None without EMA): state dicts
    rng         generator states and the data-order state (current permutation, position)
    history     float32 tensor, the loss of every step so far
    schedule    {"T", "alphas_cumprod" (float64 tensor), "betas" (float64 tensor or None)}
    torch       torch version that wrote it
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np
import torch

from ..errors import UsageError

__all__ = ["FORMAT", "read_checkpoint", "config_diff", "check_trained_for",
           "load_model", "model_digest"]

FORMAT = "modeinterp.train/1"


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Load and sanity-check a Trainer checkpoint (``weights_only=True``)."""
    try:
        ckpt = torch.load(os.fspath(path), map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # a foreign or truncated file: torch's advice to unpickle it is unsafe
        raise UsageError(f"{os.fspath(path)} is not a modeinterp Trainer checkpoint: torch.load "
                         f"cannot read it as tensors and plain values ({type(exc).__name__})"
                         ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise UsageError(f"path {os.fspath(path)!r} is not a modeinterp Trainer checkpoint "
                         f"(expected format {FORMAT!r}, found {found!r})")
    return ckpt


def config_diff(saved: Any, current: Any, prefix: str = "", *,
                saved_as: str = "checkpoint") -> list[str]:
    """Human-readable differences between two nested config dicts (empty if equal);
    ``saved_as`` names where ``saved`` comes from in the messages. Configs record a key only
    when it is not its default, so a key on one side only is the default on the other."""
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        out: list[str] = []
        for key in sorted(set(saved) | set(current), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in saved:
                out.append(f"{name}: the default in {saved_as}, now {current[key]!r}")
            elif key not in current:
                out.append(f"{name}: {saved_as} {saved[key]!r}, now the default")
            else:
                out.extend(config_diff(saved[key], current[key], name, saved_as=saved_as))
        return out
    if isinstance(saved, (list, tuple)) and isinstance(current, (list, tuple)):
        saved, current = list(saved), list(current)
    if saved != current:
        return [f"{prefix or 'config'}: {saved_as} {saved!r}, now {current!r}"]
    return []


def model_digest(path: str | os.PathLike) -> str:
    """The first 16 hex digits of the sha256 of a checkpoint file: which trained model a fitted
    detector belongs to (a resumed or retrained model is another file, another digest). A
    diffusers model folder: the digest of its files."""
    import hashlib

    if os.path.isdir(path):
        from ..models.diffusers_folder import folder_digest

        return folder_digest(path)

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def check_trained_for(path: str | os.PathLike, prediction: str, alphas_cumprod,
                      sample_shape=None) -> None:
    """Refuse to sample the checkpoint's model with another prediction target or noise schedule
    than it was trained with: either gives noise-like samples, and no error on its own. A
    diffusers model folder: :func:`modeinterp.models.diffusers_folder.check_unet_folder`."""
    if os.path.isdir(path):
        from ..models.diffusers_folder import check_unet_folder

        return check_unet_folder(path, prediction, alphas_cumprod, sample_shape)
    ckpt = read_checkpoint(path)
    trained = ckpt["config"]["trainer"].get("prediction", "eps")
    if trained != prediction:
        raise UsageError(f"{os.fspath(path)} was trained to predict {trained!r} but sampling is "
                         f"set to prediction={prediction!r}: use the config it was trained with")
    saved = ckpt["schedule"]["alphas_cumprod"].numpy()
    now = np.asarray(alphas_cumprod, dtype=np.float64)
    if saved.shape != now.shape or not np.array_equal(saved, now):
        raise UsageError(f"{os.fspath(path)} was trained with another noise schedule (T = "
                         f"{len(saved)}) than sampling is set to (T = {len(now)}, or other "
                         "betas): use the config it was trained with")


def load_model(path: str | os.PathLike, *, ema: bool = True, map_location: Any = "cpu"):
    """Rebuild the trained model from a Trainer checkpoint, ready for sampling.

    The architecture comes from the checkpoint's ``config`` (class name + ``config()``; the
    class must be registered in :data:`modeinterp.models.MODELS`). The weights are the **EMA
    weights when the run used EMA** (``ema=True``, the default, as is usual for sampling from
    diffusion models), else the raw trained weights. The model is returned in ``eval()`` mode on
    ``map_location``. A diffusers ``UNet2DModel`` folder (:mod:`modeinterp.models.diffusers_folder`)
    loads as its U-Net.
    """
    from ..models import build_model

    if os.path.isdir(path):
        from ..models.diffusers_folder import load_unet_folder

        return load_unet_folder(path, map_location=map_location)

    ckpt = read_checkpoint(path, map_location=map_location)
    config = ckpt["config"]
    if config.get("model") is None:
        raise ValueError(f"checkpoint {os.fspath(path)!r} has no model config (the model had "
                         "no config() method); rebuild the model yourself and load "
                         "read_checkpoint(path)['model']")
    model = build_model(config["model_class"], config["model"])
    state = ckpt["ema"] if (ema and ckpt.get("ema") is not None) else ckpt["model"]
    model.load_state_dict(state)
    return model.to(map_location).eval()
