"""Pieces of a scored reverse loop shared by :class:`modeinterp.Sampler` and the scored diffusers
schedulers (:mod:`modeinterp.diffusers`): the score window and its Welford accumulator, the score
maps it holds and their aggregations into per-sample scores."""

from .aggregations import aggregate, aggregation_names, score_key, score_map
from .window import (WindowScore, WindowScores, resolve_early_exit, resolve_window,
                     resolve_windows)

__all__ = ["WindowScore", "WindowScores", "aggregate", "aggregation_names", "resolve_early_exit",
           "resolve_window", "resolve_windows", "score_key", "score_map"]
