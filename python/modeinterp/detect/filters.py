"""Filters: which generated samples to keep, without an oracle. The paper draws N + 2.5 % and keeps
the N with the lowest scores (:func:`oversample`, :func:`filter_lowest`); recursive training keeps
each generation's training set with :func:`select`.

The paper's rule (Aithal et al. 2024, §6): ``variance`` keeps the N lowest hallucination scores;
the controls keep a uniformly random N (``random``: the same amount of data thrown away, blindly)
or the first N (``none``: no filtering at all). ``variance-calibrated`` is ``variance`` on the
window calibrated on generation 0 instead of the paper's last 10 steps; ``detector`` and
``detector-supervised`` keep the N lowest scores of a fitted :class:`~modeinterp.detect.Detector`
(label-free, or fitted with oracle labels: an upper bound).
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_choice, check_fraction, check_int, check_real, check_vector
from .metrics import _count_at_least

__all__ = ["FILTERS", "filter_lowest", "filter_quantile", "oversample", "select"]

FILTERS = ("none", "random", "variance", "variance-calibrated", "detector",
           "detector-supervised")


def select(rule: str, n_keep: int, scores=None, *, seed: int = 0) -> np.ndarray:
    """Indices (int64, ascending) of the ``n_keep`` samples ``rule`` keeps out of ``len(scores)``.

    rule: ``none`` (the first n_keep), ``random`` (a uniformly random n_keep, seeded),
    any other rule of :data:`FILTERS` (the n_keep lowest scores; ties kept in sample order).
    scores: (n,) hallucination scores (only their length matters for ``none`` and ``random``).
    """
    rule = check_choice("filter", rule, FILTERS)
    if scores is None:
        raise ValueError("scores must be given (their length is the number of samples drawn)")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = scores.size
    n_keep = check_int("n_keep", n_keep, 0, n, note="the samples drawn")
    if rule == "none":
        return np.arange(n_keep, dtype=np.int64)
    if rule == "random":
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(n, size=n_keep, replace=False)).astype(np.int64)
    if not np.isfinite(scores).all():
        raise ValueError(f"scores must be finite to filter by {rule}")
    return filter_lowest(scores, n_keep)


def oversample(n: int, frac: float = 0.025) -> int:
    """How many samples to draw so that dropping the ``frac`` highest-scored leaves ``n``:
    n + ceil(frac · n) (the paper: N + 2.5%, e.g. 1000 -> 1025)."""
    n, frac = check_int("n", n, 0), check_real("frac", frac, 0)
    return n + math.ceil(round(frac * n, 9))


def filter_lowest(scores, n_keep: int) -> np.ndarray:
    """Indices (int64, ascending, i.e. in sample order) of the ``n_keep`` lowest scores.

    Ties at the cut are broken by index (earlier samples kept first), so exactly ``n_keep``
    indices come back.
    """
    s = check_vector("scores", scores)
    n_keep = check_int("n_keep", n_keep, 0, s.size, note="len(scores)")
    order = np.argsort(s, kind="stable")[:n_keep]
    return np.sort(order).astype(np.int64)


def filter_quantile(scores, q: float) -> np.ndarray:
    """Indices (int64, ascending) of the samples with score <= the q-quantile of ``scores``.

    The quantile is the ceil(q · n)-th smallest score (numpy's ``inverted_cdf``), so at least a
    fraction q is kept: exactly ceil(q · n) samples when scores are distinct; every sample tied
    with the quantile is kept too. q must be in (0, 1).
    """
    s = check_vector("scores", scores)
    q = check_fraction("q", q, open_hi=True)
    if s.size == 0:
        raise ValueError("scores must not be empty")
    thr = np.sort(s)[_count_at_least(q, s.size) - 1]
    return np.nonzero(s <= thr)[0].astype(np.int64)
