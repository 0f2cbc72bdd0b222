"""Name -> dataset factory, with the CLI's names (and the paper code's names as aliases)."""
from __future__ import annotations

from functools import partial

from .base import MixtureDataset
from .gaussian import Gaussian1D, GaussianGrid

__all__ = ["registry", "DATASETS", "get_dataset"]

registry = {
    "gaussian1d": Gaussian1D,
    "gaussian2d": partial(GaussianGrid, layout="square"),
    "gaussian2d-diamond": partial(GaussianGrid, layout="diamond"),
}
DATASETS = tuple(registry)
_ALIASES = {"gaussian25": "gaussian2d", "gaussian25_rotated": "gaussian2d-diamond"}


def get_dataset(name: str, **kwargs) -> MixtureDataset:
    """Build a dataset by name; kwargs go to its constructor (e.g. ``means=(1, 2, 4, 5)``)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in registry:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    return registry[key](**kwargs)
