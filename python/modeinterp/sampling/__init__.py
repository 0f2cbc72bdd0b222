"""Pieces of a scored reverse loop shared by :class:`modeinterp.Sampler` and the scored diffusers
schedulers (:mod:`modeinterp.diffusers`): the score window and its Welford accumulator."""

from .window import (WindowScore, WindowScores, resolve_early_exit, resolve_window,
                     resolve_windows)

__all__ = ["WindowScore", "WindowScores", "resolve_early_exit", "resolve_window",
           "resolve_windows"]
