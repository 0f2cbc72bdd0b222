"""The paper's Gaussian-mixture toy datasets: a 1-D line of modes and a 5×5 grid in 2-D.

Both are equal-weight isotropic mixtures; oracles (nearest mode, hallucination, between-neighbour
region, summary) come from :class:`~modeinterp.data.mixture.MixtureDataset`.
"""
from __future__ import annotations

import math

import numpy as np

from ..validation import check_bool, check_choice, check_int, check_positive, check_vector
from .mixture import MixtureDataset

__all__ = ["Gaussian1D", "GaussianGrid", "LAYOUTS"]

LAYOUTS = ("square", "diamond")


class Gaussian1D(MixtureDataset):
    """Equal-weight 1-D mixture  Σ_k N(means[k], std²) / K, *not* normalised (as in the paper).

    The paper uses means (1, 2, 3) and (1, 2, 4, 5) with std 0.05. Data shape is (n, 1).
    Nearest-neighbour pairs are consecutive means in sorted order (so for (1, 2, 4, 5) the pairs
    are 1–2, 2–4 and 4–5; ``summary(x)["per_pair"]`` separates them). The default ``k_sigma`` is
    ≈ 3.8906 (P(|N(0,1)| > k) = 1e-4), i.e. a support interval of ±0.195 around each mean.
    """

    name = "gaussian1d"

    def __init__(self, means=(1, 2, 3), std: float = 0.05, *, k_sigma=None, tube_sigma=None):
        arr = check_vector("means", means)
        if arr.size < 1:
            raise ValueError("means must not be empty")
        if np.unique(arr).size != arr.size:
            raise ValueError(f"means must be distinct, got {arr.tolist()}")
        order = np.argsort(arr, kind="stable")
        pairs = np.stack([order[:-1], order[1:]], axis=1) if arr.size > 1 else np.zeros((0, 2))
        super().__init__(arr[:, None], std, pairs, k_sigma=k_sigma, tube_sigma=tube_sigma)
        self.means = tuple(arr.tolist())


def grid_normalization(std: float, spacing: float, size: int) -> float:
    """Total per-coordinate standard deviation of the square grid mixture.

    Var = std² + spacing² · Var(u), u uniform on size centred integers -> Var(u) = (size² − 1)/12.
    For the paper's grid (std 0.05, spacing 2, size 5): √(0.05² + 8) ≈ 2.8289.
    """
    return math.sqrt(std**2 + spacing**2 * (size**2 - 1) / 12.0)


class GaussianGrid(MixtureDataset):
    """The paper's 25-mode 2-D grid, square or diamond (45°-rotated) layout. Data shape (n, 2).

    Square (paper's ``Gaussian25``): modes at spacing·(i, j), i, j ∈ {−2..2} (centred, ``size``
    per side), component std 0.05, then everything - modes *and* std - is divided by the mixture's
    total per-coordinate standard deviation √(std² + spacing²·(size²−1)/12) = √(0.05² + 8) ≈ 2.8289
    (``normalization``), as the paper's code does. So ``modes``/``std`` are in normalised units
    (neighbour spacing ≈ 0.7070, std ≈ 0.017675).

    Diamond (paper's ``Gaussian25_Rotated``): the same 5×5 index grid (i, j) mapped through
    (i, j) -> spacing/2 · (i + j, j − i), i.e. the square grid rotated by 45° *and* scaled by 1/√2,
    so the outer corners land on (±4, 0), (0, ±4): the diamond inscribed in the square grid's
    bounding box. Grid neighbours (i±1 or j±1) therefore lie on the diagonals, spacing/√2 = √2 raw
    ≈ 0.4999 normalised apart (28.3 std). This is the paper's code (its modes list); a pure rigid
    rotation would keep spacing 2 and overflow the box. The normalisation constant is the square
    grid's (≈ 2.8289), unchanged, again as the paper's code does.

    Nearest-neighbour pairs are grid neighbours: (i, j)–(i+1, j) and (i, j)–(i, j+1), 40 pairs, in
    both layouts. Mode index is (i + 2)·5 + (j + 2) (the paper's order). The default ``k_sigma`` is
    ≈ 4.2919 (P(chi_2 > k) = 1e-4). ``normalize=False`` keeps raw units.
    """

    def __init__(self, layout: str = "square", *, std: float = 0.05, spacing: float = 2.0,
                 size: int = 5, normalize: bool = True, k_sigma=None, tube_sigma=None):
        layout = check_choice("layout", layout, LAYOUTS)
        raw_std = check_positive("std", std)
        spacing = check_positive("spacing", spacing)
        size = check_int("size", size, 1)
        normalize = check_bool("normalize", normalize)
        u = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
        i, j = (a.ravel() for a in np.meshgrid(u, u, indexing="ij"))
        if layout == "square":
            raw = spacing * np.stack([i, j], axis=1)
        else:
            raw = (spacing / 2.0) * np.stack([i + j, j - i], axis=1)
        norm = grid_normalization(raw_std, spacing, size) if normalize else 1.0
        idx = np.arange(size * size).reshape(size, size)
        pairs = np.concatenate([
            np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1),  # j -> j+1
            np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1),  # i -> i+1
        ])
        super().__init__(raw / norm, raw_std / norm, pairs, k_sigma=k_sigma, tube_sigma=tube_sigma)
        self.layout = layout
        self.name = "gaussian2d" if layout == "square" else "gaussian2d-diamond"
        self.raw_std = raw_std
        self.spacing = spacing
        self.size = size
        self.normalization = norm
