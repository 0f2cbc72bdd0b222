"""Every per-sample score of one run as one mapping, :class:`Scores`, and its views,
:class:`ScoreViews`, shared by everything that holds one: a fresh
:class:`~modeinterp.sampling.SampleResult`, a stored :class:`~modeinterp.sampling.SampleSet` and
a scored diffusers scheduler.

Keys are :class:`~modeinterp.sampling.score_key.ScoreKey` ``(window, name)``: ``(window,
"mean")``, the paper's score, for every window; ``(window, "pool4")``, ``(window, "q99")``, …
where the run has them; and per-run keys ``(None, name)``: ``(None, "early/k")`` (the main
window's score after its first k steps), ``(None, "detector")`` when a detector ran, and any
score a run adds (``Sampler(run_scores=)``). ``windows[0]`` is the main window.

Adding a score output: docs/design.md ("Adding a new score output").
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Optional

import torch

from .score_key import DETECTOR, ScoreKey
from .window_spec import Window

__all__ = ["ScoreViews", "Scores"]


class Scores(Mapping):
    """``{ScoreKey: (n,) tensor}`` in insertion order (main window first, then every window's
    aggregations, then per-run scores), always filled with ``(window, "mean")`` for every window.
    A value may also be a zero-argument callable, read when its key is (a scheduler's scores
    are computed on request, each window only when it can give them)."""

    def __init__(self, windows: Iterable, values: Mapping):
        self.windows = [Window.parse(w) for w in windows]
        if not self.windows:
            raise ValueError("scores need at least one window")
        self._values = {ScoreKey.of(k): v for k, v in values.items()}
        missing = [w for w in self.windows if (w, "mean") not in self._values]
        if missing:
            raise ValueError(f"scores must hold the mean of every window; missing {missing}")
        stray = [k for k in self._values if k.window is not None and k.window not in self.windows]
        if stray:
            raise ValueError(f"scores {stray} belong to no window of {self.windows}")

    def __getitem__(self, key):
        value = self._values[key if isinstance(key, ScoreKey) else ScoreKey.of(key)]
        return value() if callable(value) else value

    def __contains__(self, key) -> bool:
        try:
            return ScoreKey.of(key) in self._values
        except (TypeError, ValueError):
            return False

    def __iter__(self) -> Iterator[ScoreKey]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Scores({list(self._values)})"

    @property
    def aggregations(self) -> list:
        """The aggregation names scored, in order ("mean" first)."""
        return list(dict.fromkeys(k.name for k in self._values if k.window is not None))

    # ------------------------------------------------------------------ new from old
    def with_values(self, values: Mapping) -> "Scores":
        """These scores with ``values`` added (or replaced)."""
        return Scores(self.windows, {**self._values, **values})

    def map(self, fn) -> "Scores":
        """Every tensor through ``fn`` (a selection, a move to the CPU, a cast)."""
        return Scores(self.windows, {k: fn(self[k]) for k in self._values})

    @classmethod
    def cat(cls, parts: list) -> "Scores":
        """The scores of runs drawn apart, one after the other (the keys of the first)."""
        first = parts[0]
        return cls(first.windows, {k: torch.cat([p[k] for p in parts]) for k in first})


class ScoreViews:
    """The views of ``self.all_scores`` (a :class:`Scores`), one meaning per name wherever a run's
    scores are read: ``windows`` the score windows (:class:`Window`, main first), ``scores`` the
    main window's mean (the paper's score), ``window_scores`` {window: mean}, ``aggregate_scores``
    {(window, aggregation): (n,)} (means included), ``early_scores`` {k: (n,)}, ``run_scores``
    {name: (n,)} (every per-run score but the early ones and the detector's) and
    ``detector_scores``."""

    all_scores: Scores

    @property
    def windows(self) -> list:
        return list(self.all_scores.windows)

    @property
    def scores(self) -> torch.Tensor:
        return self.all_scores[(self.all_scores.windows[0], "mean")]

    @property
    def window_scores(self) -> dict:
        return {w: self.all_scores[(w, "mean")] for w in self.all_scores.windows}

    @property
    def aggregate_scores(self) -> dict:
        """Grouped by window, in window order (a window's names in the order scored)."""
        rank = {w: i for i, w in enumerate(self.all_scores.windows)}
        keys = sorted((k for k in self.all_scores if k.window is not None),
                      key=lambda k: rank[k.window])
        return {k: self.all_scores[k] for k in keys}

    @property
    def early_scores(self) -> dict:
        return {k.early: self.all_scores[k] for k in self.all_scores if k.early is not None}

    @property
    def run_scores(self) -> dict:
        return {k.name: self.all_scores[k] for k in self.all_scores
                if k.window is None and k.early is None and k != DETECTOR}

    @property
    def detector_scores(self) -> Optional[torch.Tensor]:
        return self.all_scores[DETECTOR] if DETECTOR in self.all_scores else None
