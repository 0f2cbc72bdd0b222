"""Shared machinery for toy mixtures with a ground-truth hallucination oracle.

A dataset here is an equal-weight mixture of K isotropic Gaussians N(mode_k, std² I) in d dims.
Besides sampling it answers, for any point, the questions the paper asks of generated samples:

* ``nearest_mode(x)``      -> (index, Euclidean distance) of the closest mode;
* ``is_hallucination(x)``  -> distance to *every* mode is more than ``k · std``;
* ``regions(x)``           -> :class:`Region` code: in support / between nearest-neighbour modes /
  elsewhere; ``classify(x)`` the same as reasons (:mod:`.protocol`): none, ``between-neighbours``
  or ``elsewhere``;
* ``summary(x)``           -> counts of the above as a JSON-friendly dict.

Default k (``k_sigma``)
-----------------------
For a sample of one mode, ``r / std`` (r = distance to its mode) follows a chi distribution with d
degrees of freedom. We choose k so that P(chi_d > k) = 1e-4 (:data:`TAIL_PROB`): a true sample is
called a hallucination with probability 1e-4, so training data is labelled in-support at ≈ 99.99%
(≥ 99.9% with a wide margin even for finite n). Closed forms: d = 1 -> Φ⁻¹(1 − p/2) ≈ 3.8906;
d = 2 -> √(−2 ln p) ≈ 4.2919; other d use ``scipy.stats.chi.isf``. Neighbouring modes are
≥ 20 std apart in every default dataset here (1-D: 20, diamond: 28.3, square: 40), so the k-balls
never overlap and the gap between them is where interpolated samples land.

"Between nearest-neighbour modes" rule
--------------------------------------
Each dataset lists its nearest-neighbour pairs (``neighbour_pairs``: consecutive means on the
line, grid neighbours on the grid). A hallucinated point x is BETWEEN_NEIGHBOURS when, for some
pair (a, b), with t = <x − a, b − a> / |b − a|² and perpendicular distance
ρ = |x − a − t (b − a)|, both 0 ≤ t ≤ 1 and ρ ≤ tube · std hold. ``tube`` defaults to the k in
use, so the region is the convex hull of the two modes' support balls (a "stadium"): exactly the
points reachable by linearly interpolating an in-support sample of a with one of b, i.e. mode
interpolation. Every other hallucination is ELSEWHERE (e.g. the centre of a grid cell, the
midpoint of a *diagonal* pair on the square grid, or beyond the outermost mode). In 1-D ρ = 0, so
any point strictly between two consecutive means (and outside both support intervals) is between.

``summary`` also counts the ELSEWHERE points that lie in the same kind of stadium around a pair of
*second*-nearest modes (``second_pairs``: every pair at the second-smallest mode distance) — the
diagonals of the square grid, the long (axis-aligned) directions of the diamond. The paper's
finding is that interpolation follows nearest neighbours only, so this count should stay near 0.
"""
from __future__ import annotations

import enum
import math
from statistics import NormalDist

import numpy as np
import torch

from ..validation import check_fraction, check_int, check_positive

__all__ = ["Region", "MixtureDataset", "default_k_sigma", "TAIL_PROB"]

TAIL_PROB = 1e-4
_CHUNK = 1 << 15  # rows per chunk for the (n, K|P, d) distance tensors


def default_k_sigma(dim: int, tail: float = TAIL_PROB) -> float:
    """Smallest k with P(chi_dim > k) <= tail (see the module docstring)."""
    dim = check_int("dim", dim, 1)
    tail = check_fraction("tail", tail, open_hi=True)
    if dim == 1:  # |N(0,1)| > k  <=>  two-sided normal tail
        return NormalDist().inv_cdf(1.0 - tail / 2.0)
    if dim == 2:  # Rayleigh: P(R > k) = exp(-k²/2)
        return math.sqrt(-2.0 * math.log(tail))
    from scipy.stats import chi

    return float(chi.isf(tail, dim))


def _second_nearest_pairs(modes: torch.Tensor, rtol: float = 1e-6) -> torch.Tensor:
    """(Q, 2) pairs i < j whose distance is the second-smallest distinct mode distance."""
    K = modes.shape[0]
    if K < 3:
        return torch.zeros((0, 2), dtype=torch.int64)
    i, j = torch.triu_indices(K, K, offset=1)
    dist = (modes[i] - modes[j]).norm(dim=1)
    rest = dist[dist > float(dist.min()) * (1 + rtol)]
    if rest.numel() == 0:
        return torch.zeros((0, 2), dtype=torch.int64)
    second = float(rest.min())
    keep = (dist - second).abs() <= second * rtol
    return torch.stack([i[keep], j[keep]], dim=1)


class Region(enum.IntEnum):
    """Codes returned by :meth:`MixtureDataset.regions`."""

    IN_SUPPORT = 0
    BETWEEN_NEIGHBOURS = 1
    ELSEWHERE = 2


# classify()'s reasons per Region code: the names protocol.oracle_summary gives summary()'s counts.
_REASONS = (frozenset(), frozenset({"between-neighbours"}), frozenset({"elsewhere"}))


class MixtureDataset:
    """Equal-weight isotropic Gaussian mixture with hallucination oracles.

    Args:
        modes: (K, d) mode centres (in the dataset's units, i.e. after any normalisation).
        std: per-coordinate standard deviation of every component (same units as ``modes``).
        pairs: (P, 2) indices of nearest-neighbour mode pairs (for the "between" rule).
        k_sigma: support radius in units of ``std``; None -> :func:`default_k_sigma` (d).
        tube_sigma: half-width of the "between" tube in units of ``std``; None -> the k in use.
    """

    name = "mixture"
    oracle = "exact"  # data.protocol: which region a point is in is known exactly

    def __init__(self, modes, std, pairs, *, k_sigma=None, tube_sigma=None):
        modes = torch.as_tensor(np.asarray(modes, dtype=np.float64))
        if modes.ndim != 2 or modes.shape[0] < 1 or modes.shape[1] < 1:
            raise ValueError(f"modes must have shape (K, d), K, d >= 1, got {tuple(modes.shape)}")
        if not torch.isfinite(modes).all():
            raise ValueError("modes must be finite")
        self._modes = modes
        self._std = check_positive("std", std)
        self._k = (default_k_sigma(modes.shape[1]) if k_sigma is None
                   else check_positive("k_sigma", k_sigma))
        self._tube = None if tube_sigma is None else check_positive("tube_sigma", tube_sigma)
        pairs = torch.as_tensor(np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
        if pairs.numel() and (pairs.min() < 0 or pairs.max() >= modes.shape[0]
                              or (pairs[:, 0] == pairs[:, 1]).any()):
            raise ValueError("pairs must index two distinct modes")
        self._pairs = pairs
        self._second_pairs = _second_nearest_pairs(modes)

    # ---------------------------------------------------------------- properties
    @property
    def sample_shape(self) -> tuple:
        return (self.dim,)

    @property
    def modes(self) -> torch.Tensor:
        """(K, d) float64 mode centres (a copy)."""
        return self._modes.clone()

    @property
    def std(self) -> float:
        return self._std

    @property
    def dim(self) -> int:
        return int(self._modes.shape[1])

    @property
    def num_modes(self) -> int:
        return int(self._modes.shape[0])

    @property
    def k_sigma(self) -> float:
        return self._k

    @property
    def tube_sigma(self) -> float | None:
        return self._tube

    @property
    def neighbour_pairs(self) -> torch.Tensor:
        """(P, 2) int64 indices of nearest-neighbour mode pairs."""
        return self._pairs.clone()

    @property
    def second_pairs(self) -> torch.Tensor:
        """(Q, 2) int64 indices of the mode pairs at the second-smallest distance."""
        return self._second_pairs.clone()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, K={self.num_modes}, d={self.dim}, "
                f"std={self._std:.6g}, k_sigma={self._k:.4g})")

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, seed: int = 0, *, return_labels: bool = False, device=None):
        """Draw n points, float32 (n, d), modes balanced and order shuffled.

        Every mode gets n // K points; the n % K leftover points go to distinct modes chosen by the
        generator. All randomness comes from ``torch.Generator().manual_seed(seed)`` so the result
        depends only on (n, seed). With ``return_labels`` also returns the (n,) int64 mode index.
        """
        n = check_int("n", n, 0)
        seed = check_int("seed", seed, 0)
        gen = torch.Generator().manual_seed(seed)
        K, d = self.num_modes, self.dim
        counts = torch.full((K,), n // K, dtype=torch.int64)
        extra = torch.randperm(K, generator=gen)[: n % K]
        counts[extra] += 1
        labels = torch.repeat_interleave(torch.arange(K), counts)
        noise = torch.randn(n, d, generator=gen, dtype=torch.float64)
        perm = torch.randperm(n, generator=gen)
        labels = labels[perm]
        x = (self._modes[labels] + self._std * noise).to(torch.float32)
        if device is not None:
            x, labels = x.to(device), labels.to(device)
        return (x, labels) if return_labels else x

    # ------------------------------------------------------------------- oracles
    def _points(self, x, name: str = "x") -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            try:
                x = torch.as_tensor(np.asarray(x))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must be a tensor or array of numbers") from exc
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name} must be a real tensor, got dtype {x.dtype}")
        if x.ndim == 1 and self.dim == 1:
            x = x.unsqueeze(1)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (n, {self.dim}), got {tuple(x.shape)}")
        x = x.to(torch.float64)
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains non-finite values")
        return x

    def _k_or_default(self, k) -> float:
        return self._k if k is None else check_positive("k", k)

    def nearest_mode(self, x):
        """(indices (n,) int64, distances (n,) float64) of each point's closest mode."""
        return self._nearest_mode(self._points(x))

    def _nearest_mode(self, x):
        modes = self._modes.to(x.device)
        idx, dist = [], []
        for chunk in x.split(_CHUNK):
            d2 = sum((chunk[:, j, None] - modes[None, :, j]).square() for j in range(self.dim))
            dmin, imin = d2.min(dim=1)
            idx.append(imin)
            dist.append(dmin.sqrt())
        if not idx:
            return (torch.empty(0, dtype=torch.int64, device=x.device),
                    torch.empty(0, dtype=torch.float64, device=x.device))
        return torch.cat(idx), torch.cat(dist)

    def is_hallucination(self, x, k=None) -> torch.Tensor:
        """Bool (n,): the point is more than ``k · std`` from every mode (k defaults to k_sigma)."""
        k = self._k_or_default(k)
        return self.nearest_mode(x)[1] > k * self._std

    def nearest_segment(self, x):
        """For each point, the neighbour pair whose segment it projects inside and lies closest to.

        Returns (pair (n,) int64 index into ``neighbour_pairs``, -1 if the point projects inside no
        segment; perpendicular distance (n,) float64, inf where pair is -1).
        """
        return self._nearest_segment(self._points(x))

    def _nearest_segment(self, x, pairs=None):
        pairs = self._pairs if pairs is None else pairs
        n = x.shape[0]
        pair = torch.full((n,), -1, dtype=torch.int64, device=x.device)
        perp = torch.full((n,), math.inf, dtype=torch.float64, device=x.device)
        if pairs.numel() == 0 or n == 0:
            return pair, perp
        a = self._modes[pairs[:, 0]].to(x.device)  # (P, d)
        ab = self._modes[pairs[:, 1]].to(x.device) - a
        len2 = (ab * ab).sum(-1)  # (P,)
        start = 0
        for chunk in x.split(_CHUNK):
            # per coordinate on (m, P) tensors: t = <x - a, ab> / |ab|^2, rho = |x - a - t ab|
            ax = [chunk[:, j, None] - a[None, :, j] for j in range(self.dim)]
            t = sum(ax[j] * ab[None, :, j] for j in range(self.dim)) / len2
            rho2 = sum((ax[j] - t * ab[None, :, j]).square() for j in range(self.dim))
            rho2.masked_fill_((t < 0) | (t > 1), math.inf)
            best, arg = rho2.min(dim=1)
            best = best.sqrt()
            stop = start + chunk.shape[0]
            perp[start:stop] = best
            pair[start:stop] = torch.where(torch.isfinite(best), arg, torch.full_like(arg, -1))
            start = stop
        return pair, perp

    def _classify(self, x, k, tube):
        k = self._k_or_default(k)
        if tube is not None:
            tube = check_positive("tube", tube)
        else:
            tube = k if self._tube is None else self._tube
        x = self._points(x)
        mode_idx, dist = self._nearest_mode(x)
        halluc = dist > k * self._std
        labels = torch.full_like(mode_idx, int(Region.IN_SUPPORT))
        pair = torch.full_like(mode_idx, -1)
        h_idx = halluc.nonzero().squeeze(1)
        if h_idx.numel():  # segments only for the (usually few) hallucinated points
            h_pair, h_perp = self._nearest_segment(x[h_idx])
            between = h_perp <= tube * self._std
            labels[h_idx] = torch.where(between, int(Region.BETWEEN_NEIGHBOURS),
                                        int(Region.ELSEWHERE))
            pair[h_idx] = torch.where(between, h_pair, -1)
        return labels, mode_idx, pair, k, tube

    def regions(self, x, k=None, *, tube=None) -> torch.Tensor:
        """(n,) int64 :class:`Region` codes (see the module docstring for the rule).

        ``k`` overrides ``k_sigma``; ``tube`` overrides the tube half-width (in std units).
        """
        return self._classify(x, k, tube)[0]

    def classify(self, x, k=None, *, tube=None) -> list:
        """One frozenset of reasons per point (:mod:`.protocol`): :meth:`regions` named, empty in
        support, ``{"between-neighbours"}`` or ``{"elsewhere"}`` for a hallucination."""
        return [_REASONS[code] for code in self.regions(x, k, tube=tube).tolist()]

    def summary(self, x, k=None, *, tube=None) -> dict:
        """JSON-friendly counts for a batch of (e.g. generated) points.

        Keys: n, n_in_support, n_hallucinated, rate (= n_hallucinated / n, 0.0 when n = 0),
        n_between_neighbours, n_elsewhere, n_between_second_neighbours (the ELSEWHERE points
        inside a ``second_pairs`` stadium), per_mode (in-support points per mode, length K),
        per_pair (between-neighbour points per ``neighbour_pairs`` row), pairs, k_sigma, tube_sigma.
        """
        x = self._points(x)
        labels, mode_idx, pair, k, tube = self._classify(x, k, tube)
        elsewhere = (labels == int(Region.ELSEWHERE)).nonzero().squeeze(1)
        n_second = 0
        if elsewhere.numel():
            _, perp = self._nearest_segment(x[elsewhere], self._second_pairs)
            n_second = int((perp <= tube * self._std).sum())
        n = int(labels.numel())
        ins = labels == int(Region.IN_SUPPORT)
        n_between = int((labels == int(Region.BETWEEN_NEIGHBOURS)).sum())
        n_else = int((labels == int(Region.ELSEWHERE)).sum())
        per_mode = torch.bincount(mode_idx[ins].cpu(), minlength=self.num_modes)
        P = int(self._pairs.shape[0])
        per_pair = (torch.bincount(pair[pair >= 0].cpu(), minlength=P) if P
                    else torch.zeros(0, dtype=torch.int64))
        n_h = n_between + n_else
        return {
            "n": n,
            "n_in_support": int(ins.sum()),
            "n_hallucinated": n_h,
            "rate": n_h / n if n else 0.0,
            "n_between_neighbours": n_between,
            "n_elsewhere": n_else,
            "n_between_second_neighbours": n_second,
            "per_mode": per_mode.tolist(),
            "per_pair": per_pair.tolist(),
            "pairs": self._pairs.tolist(),
            "k_sigma": k,
            "tube_sigma": tube,
        }
