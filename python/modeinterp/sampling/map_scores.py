"""Score maps and aggregations over a whole sampling run, batch by batch.

:class:`RunMapScores` takes each batch's Welford states (one per score window) as the batch ends,
reads off the score maps and every aggregation that needs only this batch, keeps the maps where
the caller asked for them or a ``rel-`` aggregation needs the whole run, and at the end of the run
adds the ``rel-`` aggregations (normalised by the run's per-pixel median). Used by
:class:`modeinterp.Sampler` for its eager and CUDA-graph loops alike.
"""

from __future__ import annotations

import torch

from .aggregations import run_reference, score_map

__all__ = ["RunMapScores"]

# Rows per call when the rel- aggregations run over a whole run's maps: bounds the temporaries.
_CHUNK = 4096


class RunMapScores:
    """Scores of every (window, aggregation) pair over n samples.

    specs: the windows as given (the keys); aggregations: resolved, ``mean`` first (its scores are
    the sampler's window scores and are not recomputed here); keep_maps: return every window's
    score maps. ``scores`` is ``{(window, name): (n,) float32}`` after :meth:`finish`.
    """

    def __init__(self, specs, aggregations, n: int, shape, device, keep_maps: bool):
        for a in aggregations:
            a.check_shape(shape)
        self.specs, self.n, self.device = list(specs), n, device
        self.batch_wise = [a for a in aggregations[1:] if not a.relative]
        self.run_wise = [a for a in aggregations if a.relative]
        self.scores = {(w, a.name): torch.empty(n, dtype=torch.float32, device=device)
                       for w in self.specs for a in [*self.batch_wise, *self.run_wise]}
        keep = keep_maps or bool(self.run_wise)
        self.maps = ({w: torch.empty((n, *shape), dtype=torch.float32, device=device)
                      for w in self.specs} if keep else {})
        self.keep_maps = keep_maps
        self.names = [a.name for a in aggregations]

    @property
    def active(self) -> bool:
        return bool(self.scores or self.maps)

    def add_batch(self, b0: int, states, samples: torch.Tensor) -> None:
        """One batch: ``states`` [(m2, count)] per window, ``samples`` its final x_0 (rows
        b0 … b0 + B of the run)."""
        b1 = b0 + samples.shape[0]
        for w, (m2, count) in zip(self.specs, states):
            maps = score_map(m2, count)
            for a in self.batch_wise:
                self.scores[(w, a.name)][b0:b1] = a(maps, samples)
            if self.maps:
                self.maps[w][b0:b1] = maps

    def finish(self, samples: torch.Tensor, window_scores: dict) -> tuple:
        """``(scores, maps)`` of the run: every pair (``mean`` from ``window_scores``) and the
        score maps when asked for (else {})."""
        for w in self.specs:
            if not self.run_wise:
                break
            maps = self.maps[w]
            reference = run_reference(maps)
            for c0 in range(0, self.n, _CHUNK):
                c1 = min(self.n, c0 + _CHUNK)
                for a in self.run_wise:
                    self.scores[(w, a.name)][c0:c1] = a(maps[c0:c1], samples[c0:c1], reference)
        pairs = {(w, "mean"): window_scores[w] for w in self.specs}
        pairs.update(self.scores)
        ordered = {(w, name): pairs[(w, name)] for w in self.specs for name in self.names}
        return ordered, (self.maps if self.keep_maps else {})
