"""Which generated samples the next generation trains on: draw N plus a margin, keep N.

The paper's rule (Aithal et al. 2024, §6): ``variance`` keeps the N lowest hallucination scores;
the controls keep a uniformly random N (``random``: the same amount of data thrown away, blindly)
or the first N (``none``: no filtering at all). ``variance-calibrated`` is ``variance`` on the
window calibrated on generation 0 instead of the paper's last 10 steps.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..detect import filter_lowest

__all__ = ["FILTERS", "select"]

FILTERS = ("none", "random", "variance", "variance-calibrated")


def select(rule: str, n_keep: int, scores=None, *, seed: int = 0) -> np.ndarray:
    """Indices (int64, ascending) of the ``n_keep`` samples ``rule`` keeps out of ``len(scores)``.

    rule: ``none`` (the first n_keep), ``random`` (a uniformly random n_keep, seeded),
    ``variance`` / ``variance-calibrated`` (the n_keep lowest scores; ties kept in sample order).
    scores: (n,) hallucination scores (only their length matters for ``none`` and ``random``).
    """
    if rule not in FILTERS:
        raise ValueError(f"filter must be one of {list(FILTERS)}, got {rule!r}")
    if scores is None:
        raise ValueError("scores must be given (their length is the number of samples drawn)")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = scores.size
    if isinstance(n_keep, bool) or not isinstance(n_keep, numbers.Integral) \
            or not 0 <= n_keep <= n:
        raise ValueError(f"n_keep must be an int in [0, {n}] (the samples drawn), got {n_keep!r}")
    if rule == "none":
        return np.arange(int(n_keep), dtype=np.int64)
    if rule == "random":
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(n, size=int(n_keep), replace=False)).astype(np.int64)
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite to filter by variance")
    return filter_lowest(scores, int(n_keep))
