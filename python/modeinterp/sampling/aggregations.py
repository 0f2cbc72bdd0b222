"""Score maps and the per-sample scores read off them.

The Welford state of a score window already holds, for every pixel (every element of a sample),
the variance of x̂0 over the window: the *score map* ``m2 / count``, shaped like a sample. The
paper's score is its mean over all pixels; on images a hallucination is often a small local event
(a second square, a shape in the wrong strip) diluted over the whole image, so other reductions of
the same map can separate better. Every aggregation below is computed from the map (and, for
``component``, the final sample) after the window's last step: no extra sampling pass.

Named aggregations (``aggregation_names()`` lists the families):

* ``mean`` — the paper's score: the pixel mean of the map (``ops.trajectory_score``, bit for bit
  the sampler's ``scores``).
* ``max`` — the largest pixel variance.
* ``poolK`` (``pool2``, ``pool4``, ``pool8``, …) — the map averaged over K×K windows (stride 1,
  channels averaged first), then the maximum: the most uncertain K×K patch.
* ``qP`` (``q99``, ``q99.9``) — the P-th percentile of the pixel variances.
* ``component`` — the final sample's foreground (channel mean > 0) cut into 8-connected regions,
  each grown by one pixel (the variance sits on the edges); the largest mean variance over the
  regions. An image without foreground scores its pixel mean.
* ``rel-<any of the above>`` — the same after a label-free per-pixel normalisation: the map
  divided by the typical (median) variance of that pixel over the whole run, so pixels that are
  always uncertain (where shapes usually sit) stop dominating. Needs every map of the run, so a
  :class:`~modeinterp.Sampler` keeps the windows' maps until the run ends (n × dims floats per
  window).

Any callable ``f(maps, samples) -> (B,)`` is accepted as well; it is named by its ``__name__``.
"""

from __future__ import annotations

import math
import re
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import ops, validation

__all__ = ["Aggregation", "aggregate", "aggregation_names", "pool_size", "pooled_map",
           "resolve_aggregations",
           "run_reference", "score_map"]

_REL = "rel-"
_PATTERNS = {"mean": r"mean", "max": r"max", "poolK": r"pool([1-9][0-9]*)",
             "qP": r"q([0-9]+(?:\.[0-9]+)?)", "component": r"component"}


def aggregation_names() -> list:
    """The families of named aggregations (module doc), each also with the ``rel-`` prefix."""
    return [*_PATTERNS, *(_REL + name for name in _PATTERNS)]


def score_map(m2: torch.Tensor, count: int) -> torch.Tensor:
    """The per-element variance of x̂0 over the ``count`` steps accumulated in ``m2``."""
    return m2 / validation.check_int("count", count, 1, note="x̂0 values in m2")


def pool_size(name: str, default: int = 4) -> int:
    """K of a ``poolK`` (or ``rel-poolK``) aggregation, else ``default``: the patch size at
    which a pair's score map is read (localisation, peaks)."""
    try:
        agg = Aggregation(name)
    except ValueError:  # a callable's name
        return default
    return int(agg.param) if agg.family == "poolK" else default


class Aggregation:
    """One aggregation: ``name``, whether it needs the run's per-pixel reference (``relative``)
    and :meth:`__call__` ``(maps, samples, reference) -> (B,) float32``."""

    def __init__(self, spec):
        if callable(spec):
            self.name, self.relative, self._fn = getattr(spec, "__name__", repr(spec)), False, spec
            return
        if not isinstance(spec, str):
            raise TypeError(f"aggregations must hold names or callables f(maps, samples), got "
                            f"{spec!r}")
        self.name = spec
        self.relative = spec.startswith(_REL)
        base = spec[len(_REL):] if self.relative else spec
        for family, pattern in _PATTERNS.items():
            match = re.fullmatch(pattern, base)
            if match:
                self.family, self.param = family, match.group(1) if match.groups() else None
                break
        else:
            raise ValueError(f"unknown aggregation {spec!r}: one of {aggregation_names()} "
                             "(K a pool size, P a percentile), or a callable f(maps, samples)")
        if self.family == "qP" and not 0.0 <= float(self.param) <= 100.0:
            raise ValueError(f"aggregation {spec!r}: the percentile must be in [0, 100]")
        self._fn = None

    def __repr__(self) -> str:
        return f"Aggregation({self.name!r})"

    def check_shape(self, shape) -> None:
        """Refuse, before any sampling, a sample shape this aggregation cannot reduce."""
        family = getattr(self, "family", None)
        if family not in ("poolK", "component"):
            return
        k = int(self.param) if family == "poolK" else 1
        if len(shape) != 3 or min(shape[1:]) < k:
            raise ValueError(f"aggregation {self.name!r} needs image samples (C, H, W)"
                             f"{f' with H, W >= {k}' if k > 1 else ''}, got sample shape "
                             f"{tuple(shape)}")

    def __call__(self, maps: torch.Tensor, samples: Optional[torch.Tensor] = None,
                 reference: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self._fn is not None:
            return _checked(self._fn(maps, samples), self.name, maps.shape[0])
        if self.relative:
            if reference is None:
                raise ValueError(f"aggregation {self.name!r} needs the run's per-pixel reference "
                                 "(run_reference of every map of the run)")
            maps = maps / reference
        return _FAMILIES[self.family](self, maps, samples).float()


def _checked(scores, name: str, batch: int) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor) or scores.shape != (batch,):
        raise ValueError(f"aggregation {name!r} must return a ({batch},) tensor, got "
                         f"{getattr(scores, 'shape', type(scores).__name__)}")
    return scores.float()


def _mean(agg, maps, samples):
    return maps.flatten(1).mean(dim=1)


def _max(agg, maps, samples):
    return maps.flatten(1).amax(dim=1)


def pooled_map(maps: torch.Tensor, k: int) -> torch.Tensor:
    """(B, H − k + 1, W − k + 1) float32: image maps averaged over channels, then over every k×k
    window inside the image (stride 1); element (r, c) is the window whose top-left pixel is
    (r, c)."""
    if maps.dim() != 4 or min(maps.shape[-2:]) < k:
        raise ValueError(f"pooling needs image maps (B, C, H, W) with H, W >= {k}, got "
                         f"{tuple(maps.shape)}")
    return F.avg_pool2d(maps.float().mean(dim=1, keepdim=True), k, stride=1)[:, 0]


def _pool(agg, maps, samples):
    return pooled_map(maps, int(agg.param)).flatten(1).amax(dim=1)


def _quantile(agg, maps, samples):
    q = float(agg.param) / 100.0
    flat = maps.float().flatten(1)
    # torch.quantile's interpolation, computed by sorting (it refuses inputs over 2^24 elements).
    pos = q * (flat.shape[1] - 1)
    lo, frac = int(math.floor(pos)), pos - math.floor(pos)
    ordered = flat.sort(dim=1).values
    hi = min(lo + 1, flat.shape[1] - 1)
    return ordered[:, lo] + frac * (ordered[:, hi] - ordered[:, lo])


def _component(agg, maps, samples):
    from scipy import ndimage

    if samples is None or samples.shape != maps.shape or maps.dim() != 4:
        raise ValueError(f"aggregation {agg.name!r} needs image maps (B, C, H, W) and the final "
                         f"samples of the same shape, got maps {tuple(maps.shape)}")
    heat = maps.float().mean(dim=1).cpu().numpy()
    fg = (samples.float().mean(dim=1) > 0).cpu().numpy()
    eight = np.ones((3, 3), dtype=bool)
    out = np.empty(len(heat), dtype=np.float32)
    for b, (h, mask) in enumerate(zip(heat, fg)):
        labels, count = ndimage.label(mask, structure=eight)
        if count == 0:
            out[b] = h.mean()
            continue
        grown = ndimage.grey_dilation(labels, footprint=eight)  # each region plus its rim
        out[b] = max(h[grown == k].mean() for k in range(1, count + 1))
    return torch.from_numpy(out).to(maps.device)


_FAMILIES = {"mean": _mean, "max": _max, "poolK": _pool, "qP": _quantile,
             "component": _component}


def resolve_aggregations(aggregations: Sequence) -> list:
    """:class:`Aggregation` objects for names or callables, ``"mean"`` first (it is the
    sampler's ``scores``); refuses an empty list and duplicates."""
    if isinstance(aggregations, (str, bytes)) or callable(aggregations):
        aggregations = [aggregations]
    items = [Aggregation(a) for a in aggregations]
    if not items:
        raise ValueError("aggregations must not be empty")
    names = [a.name for a in items]
    if len(set(names)) != len(names):
        raise ValueError(f"aggregations lists the same name twice: {names}")
    if names[0] != "mean":
        items = [Aggregation("mean")] + [a for a in items if a.name != "mean"]
    return items


def run_reference(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """The typical variance of every pixel over a run: the median over its samples (dim 0) of the
    maps, floored at ``eps`` so that a pixel that never varies divides nothing by zero."""
    return maps.float().median(dim=0).values.clamp_min(eps)


def aggregate(maps: torch.Tensor, aggregations: Sequence, samples: Optional[torch.Tensor] = None,
              reference: Optional[torch.Tensor] = None, m2=None, count: int = 0) -> dict:
    """``{name: (B,) float32}`` of every aggregation of ``maps`` (B, *shape). ``reference``: the
    run's per-pixel typical variance for ``rel-`` ones (default: :func:`run_reference` of these
    maps, i.e. the maps are the whole run). With ``m2``/``count`` given, ``mean`` is the fused
    ``ops.trajectory_score`` — bit for bit the sampler's score."""
    items = resolve_aggregations(aggregations)
    if reference is None and any(a.relative for a in items):
        reference = run_reference(maps)
    out = {}
    for a in items:
        if a.name == "mean" and m2 is not None:
            out[a.name] = ops.trajectory_score(m2, count)
        else:
            out[a.name] = a(maps, samples, reference)
    return out
