"""Datasets: toy mixtures with ground-truth hallucination oracles (:mod:`modeinterp.data.mixture`),
Simple Shapes with an exact image oracle (:mod:`.shapes`), real handwritten digits with a
classifier proxy (:mod:`.digits`) and any image folder (:mod:`.folder`). What every dataset
answers, and how it declares its oracle, is :mod:`.protocol`; the registry by name is the
experiment specs' (:func:`modeinterp.experiments.specs.get_spec`)."""
from .mixture import TAIL_PROB, MixtureDataset, Region, default_k_sigma
from .gaussian import LAYOUTS, Gaussian1D, GaussianGrid, grid_normalization
from .protocol import (ORACLES, Dataset, OracleSummary, has, oracle_of, oracle_summary,
                       reasons_key)
from .shapes import SimpleShapes
from .digits import Digits
from .folder import ImageFolder

__all__ = [
    "MixtureDataset", "Region", "default_k_sigma", "TAIL_PROB",
    "Gaussian1D", "GaussianGrid", "grid_normalization", "LAYOUTS",
    "SimpleShapes", "Digits", "ImageFolder",
    "ORACLES", "Dataset", "OracleSummary", "has", "oracle_of", "oracle_summary", "reasons_key",
]
