"""Sampling with hallucination scores: the :class:`Sampler` (:mod:`.sampler`) and the pieces of a
scored reverse loop it shares with the scored diffusers schedulers (:mod:`modeinterp.diffusers`):
the reverse loop itself (:mod:`.reverse_loop`), the score window and its Welford accumulator
(:mod:`.window`), the score maps it holds and their aggregations into per-sample scores
(:mod:`.aggregations`, :mod:`.map_scores`), the CUDA-graph loop and its cache (:mod:`.graphed`),
samples streamed to disk in shards (:mod:`.shards`) and the one samples schema
every run saves and loads (:mod:`.store`)."""

from .aggregations import aggregate, aggregation_names, score_map
from .noise_key import NoiseKey
from .reverse_loop import reverse_loop, shared_timestep
from .sampler import SampleResult, Sampler
from .score_key import DETECTOR, ScoreKey, early_key
from .scores import ScoreViews, Scores
from .store import SampleSet, iter_shards, load_samples, save_samples
from .window import (WindowScore, WindowScores, resolve_early_exit, resolve_window,
                     resolve_windows)

__all__ = ["DETECTOR", "NoiseKey", "SampleResult", "SampleSet", "Sampler", "ScoreKey", "ScoreViews",
           "Scores", "WindowScore", "WindowScores", "aggregate", "aggregation_names", "early_key",
           "iter_shards", "load_samples", "resolve_early_exit", "resolve_window",
           "resolve_windows", "reverse_loop", "save_samples", "score_map", "shared_timestep"]
