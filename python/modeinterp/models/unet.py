"""Image denoisers: diffusers' ``UNet2DModel`` as a ``model(x_t, t)`` callable for our Sampler and
Trainer, rebuildable from ``config()`` (checkpoints) and with presets for the image sizes the
image experiments use. Needs the ``modeinterp[diffusers]`` extra.

Presets (parameter counts and training speed on 2 CPU cores: docs/benchmarks.md, "U-Net presets"):

=========== ====== ============================================= =========================
preset      size   channels per level, layers per block            attention
=========== ====== ============================================= =========================
digits-8    8×8    (32, 64), 1                                     none
digits-16   16×16  (32, 64, 64), 1                                 lowest level
shapes-32   32×32  (32, 64, 64), 1                                 lowest level
shapes-32-  32×32  (32, 32, 64), 1                                 none
small
shapes-64   64×64  (32, 64, 128, 128), 1                           lowest level
shapes-64-  64×64  (16, 32, 32, 32), 1                             none
small
=========== ====== ============================================= =========================
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ..validation import check_bool, check_int, check_type, is_int

try:
    from diffusers import UNet2DModel
except ImportError as exc:  # pragma: no cover - exercised in an environment without diffusers
    raise ImportError("modeinterp.models.UNetDenoiser needs the diffusers package: "
                      "pip install 'modeinterp[diffusers]'") from exc

__all__ = ["UNetDenoiser", "PRESETS"]

PRESETS = {
    "digits-8": dict(sample_size=8, block_out_channels=(32, 64), attention=False),
    "digits-16": dict(sample_size=16, block_out_channels=(32, 64, 64)),
    "shapes-32": dict(sample_size=32, block_out_channels=(32, 64, 64)),
    # The CPU --quick model for 32×32 shapes: 760k parameters, 0.26 s per step of 32 (2 cores).
    "shapes-32-small": dict(sample_size=32, block_out_channels=(32, 32, 64), attention=False),
    "shapes-64": dict(sample_size=64, block_out_channels=(32, 64, 128, 128)),
    # The CPU --quick model for 64×64 shapes: 370k parameters, 2.2 steps/s at batch 32 (2 cores).
    "shapes-64-small": dict(sample_size=64, block_out_channels=(16, 32, 32, 32), attention=False),
}
_KEYS = ("sample_size", "channels", "block_out_channels", "layers_per_block", "attention",
         "norm_num_groups", "T")


class UNetDenoiser(nn.Module):
    """A diffusers ``UNet2DModel`` predicting (by default) ε from ``(x_t, t)``.

    sample_size: image side (square images, divisible by 2^(levels − 1)); channels: image
    channels (1 grayscale, 3 RGB); block_out_channels: channels per resolution level;
    layers_per_block: ResNet blocks per level; attention: self-attention at the lowest
    resolution; norm_num_groups: GroupNorm groups (must divide every level's channels); T: the
    number of diffusion timesteps (t must lie in [0, T)).
    """

    def __init__(self, sample_size: int, channels: int = 1, block_out_channels=(32, 64),
                 layers_per_block: int = 1, attention: bool = True, norm_num_groups: int = 8,
                 T: int = 1000):
        super().__init__()
        self.sample_size = check_int("sample_size", sample_size, 4)
        self.channels = check_int("channels", channels, 1)
        self.block_out_channels = tuple(check_int("block_out_channels", c, 1)
                                        for c in block_out_channels)
        self.layers_per_block = check_int("layers_per_block", layers_per_block, 1)
        self.norm_num_groups = check_int("norm_num_groups", norm_num_groups, 1)
        self.T = check_int("T", T, 1)
        self.attention = check_bool("attention", attention)
        levels = len(self.block_out_channels)
        if levels < 1 or self.sample_size % (2 ** (levels - 1)):
            raise ValueError(f"sample_size={self.sample_size} must be divisible by "
                             f"2^(levels-1) = {2 ** (levels - 1)} for {levels} levels")
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"norm_num_groups={self.norm_num_groups} must divide every entry of "
                             f"block_out_channels, not {bad}")
        down = ["DownBlock2D"] * levels
        up = ["UpBlock2D"] * levels
        if attention and levels > 1:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        self.unet = UNet2DModel(
            sample_size=self.sample_size, in_channels=self.channels, out_channels=self.channels,
            layers_per_block=self.layers_per_block, block_out_channels=self.block_out_channels,
            down_block_types=tuple(down), up_block_types=tuple(up),
            norm_num_groups=self.norm_num_groups, num_train_timesteps=self.T)

    @classmethod
    def preset(cls, name: str, **overrides) -> "UNetDenoiser":
        """One of :data:`PRESETS` (e.g. ``"shapes-64"``), optionally with arguments changed."""
        if name not in PRESETS:
            raise ValueError(f"unknown UNet preset {name!r}; known: {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def config(self) -> dict:
        """Constructor arguments as a plain dict (checkpoints rebuild the model from it)."""
        return {"sample_size": self.sample_size, "channels": self.channels,
                "block_out_channels": list(self.block_out_channels),
                "layers_per_block": self.layers_per_block, "attention": self.attention,
                "norm_num_groups": self.norm_num_groups, "T": self.T}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "UNetDenoiser":
        check_type("config", config, Mapping, "a mapping")
        unknown = sorted(set(config) - set(_KEYS))
        if unknown:
            raise ValueError(f"config has unknown keys for UNetDenoiser: {unknown}")
        return cls(**dict(config))

    def forward(self, x_t: torch.Tensor, t) -> torch.Tensor:
        expected = (self.channels, self.sample_size, self.sample_size)
        if not isinstance(x_t, torch.Tensor) or x_t.dim() != 4 or tuple(x_t.shape[1:]) != expected:
            got = tuple(x_t.shape) if isinstance(x_t, torch.Tensor) else type(x_t).__name__
            raise ValueError(f"x_t must be (B, {', '.join(map(str, expected))}), got {got}")
        if is_int(t):
            t = torch.full((x_t.shape[0],), int(t), dtype=torch.int64, device=x_t.device)
        if not isinstance(t, torch.Tensor) or t.dtype in (torch.bool,) or t.is_floating_point():
            raise TypeError(f"t must be an integer tensor of timesteps, got {t!r}")
        dtype = next(self.unet.parameters()).dtype
        return self.unet(x_t.to(dtype), t).sample.to(x_t.dtype)

    def extra_repr(self) -> str:
        return (f"sample_size={self.sample_size}, channels={self.channels}, "
                f"block_out_channels={self.block_out_channels}, attention={self.attention}")
