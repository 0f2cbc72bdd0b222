"""Image models trained elsewhere: a diffusers ``UNet2DModel`` folder (the U-Net's own, with
``config.json``, or a pipeline's, with ``model_index.json`` and ``unet/``) as a ``model(x_t, t)``
for the Sampler, checked against the schedule and images it is to sample. Local paths only:
nothing is downloaded. Writing such a folder from a trained checkpoint: ``modeinterp.train.export``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["FolderUNet", "PREDICTION_TYPES", "load_unet_folder", "check_unet_folder",
           "folder_digest"]

#: our prediction target → diffusers' ``prediction_type``
PREDICTION_TYPES = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}


class FolderUNet(nn.Module):
    """A diffusers ``UNet2DModel`` as ``model(x_t, t)`` (its ``.sample``), t an int or a tensor."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x_t: torch.Tensor, t) -> torch.Tensor:
        if not isinstance(t, torch.Tensor):
            t = torch.full((x_t.shape[0],), int(t), dtype=torch.int64, device=x_t.device)
        dtype = next(self.unet.parameters()).dtype
        return self.unet(x_t.to(dtype), t).sample.to(x_t.dtype)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds {type(data).__name__}, not a JSON object")
    return data


def _unet_dir(path: Path) -> Path:
    if (path / "model_index.json").is_file():
        if not (path / "unet" / "config.json").is_file():
            raise ValueError(f"{path} is a diffusers pipeline folder without unet/config.json")
        return path / "unet"
    if (path / "config.json").is_file():
        return path
    raise ValueError(f"{path} is not a diffusers model folder: no config.json or "
                     "model_index.json in it")


def _unet_config(path: Path) -> dict:
    config = _read_json(_unet_dir(path) / "config.json")
    if config.get("_class_name") != "UNet2DModel":
        raise ValueError(f"{path} holds a {config.get('_class_name')!r}, not a UNet2DModel")
    return config


def load_unet_folder(path, map_location="cpu") -> FolderUNet:
    """The folder's ``UNet2DModel`` in eval mode on ``map_location`` (local files only)."""
    from diffusers import UNet2DModel

    path = Path(path)
    _unet_config(path)
    unet = UNet2DModel.from_pretrained(_unet_dir(path), local_files_only=True,
                                       low_cpu_mem_usage=False)  # no accelerate needed
    return FolderUNet(unet).to(map_location).eval()


def check_unet_folder(path, prediction: str, alphas_cumprod, sample_shape=None) -> None:
    """Refuse a folder whose U-Net cannot sample these images (channels, size, a learned
    variance), or whose pipeline scheduler was set up for another prediction target or noise
    schedule than sampling is (a U-Net folder alone has no scheduler: the config is trusted)."""
    path = Path(path)
    config = _unet_config(path)
    channels, out_channels = config.get("in_channels", 3), config.get("out_channels", 3)
    if out_channels != channels:
        raise ValueError(f"{path}: the U-Net has {channels} input and {out_channels} output "
                         "channels (a learned variance?); sampling needs as many out as in")
    if sample_shape is not None:
        size = config.get("sample_size")
        if tuple(sample_shape) != (channels, size, size):
            raise ValueError(f"{path}: the U-Net takes {channels}×{size}×{size} images but the "
                             f"dataset's are {'×'.join(map(str, sample_shape))}")
    scheduler = path / "scheduler" / "scheduler_config.json"
    if (path / "model_index.json").is_file() and scheduler.is_file():
        _check_scheduler(path, _read_json(scheduler), prediction, alphas_cumprod)


def _check_scheduler(path: Path, config: dict, prediction: str, alphas_cumprod) -> None:
    from diffusers import DDPMScheduler

    want = PREDICTION_TYPES[prediction]
    if config.get("prediction_type", "epsilon") != want:
        raise ValueError(f"{path}: its scheduler predicts {config.get('prediction_type')!r} but "
                         f"sampling is set to prediction={prediction!r} ({want!r}): use a config "
                         "with its prediction target")
    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
            "rescale_betas_zero_snr")
    stock = DDPMScheduler(**{k: config[k] for k in keys if k in config})
    saved = stock.alphas_cumprod.double().numpy()  # diffusers builds them in float32
    now = np.asarray(alphas_cumprod, dtype=np.float64)
    if saved.shape != now.shape or not np.allclose(saved, now, rtol=1e-5, atol=1e-7):
        raise ValueError(f"{path}: its scheduler has another noise schedule (T = {len(saved)}) "
                         f"than sampling is set to (T = {len(now)}, or other betas): use a "
                         "config with its schedule")


def folder_digest(path) -> str:
    """The first 16 hex digits of a sha256 over the folder's files (names and contents): which
    model a run sampled, as :func:`modeinterp.train.checkpoint.model_digest` is for a file."""
    digest = hashlib.sha256()
    root = Path(path)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
