"""Recursive training on synthetic data, with hallucination filtering (the paper's §6): each
generation trains from scratch on the previous generation's samples, kept by a filter —
``none``, ``random`` or ``variance`` (the N lowest x̂0-variance scores; also on the window
calibrated on generation 0: ``variance-calibrated``). See :func:`run_recursive`."""

from .config import RecursiveConfig, recursive_config
from ..detect.filters import FILTERS, select
from .metrics import generation_metrics, histogram_kl, sliced_wasserstein
from .run import run_recursive

__all__ = ["FILTERS", "RecursiveConfig", "generation_metrics", "histogram_kl",
           "recursive_config", "run_recursive", "select", "sliced_wasserstein"]
