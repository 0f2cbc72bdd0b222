"""Denoiser networks.

``MLPDenoiser`` is the paper's toy model (see :mod:`modeinterp.models.mlp`). ``MODELS`` maps a
class name to its class, so checkpoints can rebuild a model from ``(class name, config())``
via :func:`build_model`.
"""
from __future__ import annotations

from typing import Any, Mapping

from .mlp import MLPDenoiser, TimeBlock, timestep_embedding

__all__ = ["MLPDenoiser", "TimeBlock", "timestep_embedding", "MODELS", "build_model"]

#: class name → model class with ``config()`` / ``from_config(dict)``
MODELS = {"MLPDenoiser": MLPDenoiser}


def build_model(name: str, config: Mapping[str, Any]):
    """Instantiate the registered model class ``name`` from its ``config()`` dict."""
    if name not in MODELS:
        raise ValueError(f"unknown model class {name!r}; known: {sorted(MODELS)}")
    return MODELS[name].from_config(config)
