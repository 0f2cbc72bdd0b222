"""Datasets: toy mixtures with ground-truth hallucination oracles (:mod:`modeinterp.data.base`),
Simple Shapes with an exact image oracle (:mod:`.shapes`), real handwritten digits with a
classifier proxy (:mod:`.digits`) and any image folder (:mod:`.folder`). Every dataset answers
``sample(n, seed)``; where an oracle exists also ``is_hallucination``, ``classify``, ``summary``."""
from .base import TAIL_PROB, MixtureDataset, Region, default_k_sigma
from .gaussian import LAYOUTS, Gaussian1D, GaussianGrid, grid_normalization
from .registry import DATASETS, get_dataset, registry
from .shapes import SimpleShapes
from .digits import Digits
from .folder import ImageFolder

__all__ = [
    "MixtureDataset", "Region", "default_k_sigma", "TAIL_PROB",
    "Gaussian1D", "GaussianGrid", "grid_normalization", "LAYOUTS",
    "registry", "DATASETS", "get_dataset", "SimpleShapes", "Digits", "ImageFolder",
]
