"""Denoiser networks.

``MLPDenoiser`` is the paper's toy model (see :mod:`modeinterp.models.mlp`); ``UNetDenoiser``
wraps diffusers' UNet2DModel for images (:mod:`modeinterp.models.unet`, needs the
``modeinterp[diffusers]`` extra, imported on first use). ``MODELS`` maps a class name to its
class, so checkpoints can rebuild a model from ``(class name, config())`` via :func:`build_model`.
"""
from __future__ import annotations

from typing import Any, Mapping

from .mlp import MLPDenoiser, TimeBlock, timestep_embedding

__all__ = ["MLPDenoiser", "TimeBlock", "UNetDenoiser", "timestep_embedding", "MODELS",
           "build_model"]

#: class name → model class with ``config()`` / ``from_config(dict)``
MODELS = {"MLPDenoiser": MLPDenoiser}
_OPTIONAL = {"UNetDenoiser": "unet"}  # class name → submodule, imported when first needed


def _optional(name: str):
    import importlib

    return getattr(importlib.import_module(f".{_OPTIONAL[name]}", __name__), name)


def build_model(name: str, config: Mapping[str, Any]):
    """Instantiate the registered model class ``name`` from its ``config()`` dict."""
    if name in _OPTIONAL:
        return _optional(name).from_config(config)
    if name not in MODELS:
        raise ValueError(f"unknown model class {name!r}; known: {sorted(MODELS | _OPTIONAL)}")
    return MODELS[name].from_config(config)


def __getattr__(name: str):
    if name in _OPTIONAL:
        return _optional(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
