"""Toy datasets with ground-truth hallucination oracles (see :mod:`modeinterp.data.base`)."""
from .base import TAIL_PROB, MixtureDataset, Region, default_k_sigma
from .gaussian import LAYOUTS, Gaussian1D, GaussianGrid, grid_normalization
from .registry import DATASETS, get_dataset, registry

__all__ = [
    "MixtureDataset", "Region", "default_k_sigma", "TAIL_PROB",
    "Gaussian1D", "GaussianGrid", "grid_normalization", "LAYOUTS",
    "registry", "DATASETS", "get_dataset",
]
