"""Experiment specs, one file per kind of dataset: the CLI's dataset choices, the --quick and full
configs and ``reproduce`` all derive from :data:`SPECS` (see :class:`.base.ExperimentSpec`)."""

from __future__ import annotations

from .base import ExperimentSpec
from .gaussian import SPECS as _GAUSSIAN
from .images import SPECS as _IMAGES

__all__ = ["ExperimentSpec", "SPECS", "get_spec", "spec_of"]

# The one dataset registry: the CLI's choices, configs and datasets all come from here.
SPECS = {spec.name: spec for spec in (*_GAUSSIAN, *_IMAGES)}
ALIASES = {"gaussian25": "gaussian2d", "gaussian25_rotated": "gaussian2d-diamond"}  # paper's code


def get_spec(name: str) -> ExperimentSpec:
    key = ALIASES.get(name, name) if isinstance(name, str) else name
    if key not in SPECS:
        raise ValueError(f"dataset must be one of {sorted(SPECS)}, got {name!r}")
    return SPECS[key]


def spec_of(cfg) -> ExperimentSpec:
    """The spec of a ReproduceConfig's dataset."""
    return get_spec(cfg.dataset)
