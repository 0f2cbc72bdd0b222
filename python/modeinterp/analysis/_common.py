"""Shared plumbing for the plotting modules: Agg figures, saving, sample points, colours.

Figures are built as ``matplotlib.figure.Figure`` on a ``FigureCanvasAgg`` canvas, never through
pyplot: the global backend and pyplot's figure registry are left untouched (safe in notebooks and
threads), and a figure is released as soon as it is saved.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..artifacts import write_atomic
from ..validation import as_array, check_path

#: colours by class: in support, hallucination (between neighbours), hallucination (elsewhere)
COLOURS = {"in": "tab:blue", "hal": "tab:red", "between": "tab:red", "elsewhere": "tab:orange",
           "train": "0.75", "mode": "black"}


def new_figure(nrows: int = 1, ncols: int = 1, *, size=(6.0, 4.5), **kwargs):
    """(fig, axes) on an Agg canvas; ``size`` is per subplot (width, height) in inches."""
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def save(fig, path) -> Path:
    """Save ``fig`` to ``path`` atomically like every other artifact (parent folders created;
    the format from the suffix, PNG without one), release it, return the Path."""
    path = Path(check_path("path", path))
    fig.tight_layout()
    fmt = path.suffix[1:].lower() or "png"
    write_atomic(path, lambda f: fig.savefig(f, dpi=120, format=fmt))
    fig.clear()
    return path


def points(x, name: str) -> np.ndarray:
    """(n,) or (n, d) -> (n, d) float64 with d in {1, 2}; ValueError naming ``name``."""
    arr = as_array(name, x, np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] not in (1, 2):
        raise ValueError(f"{name} must have shape (n,), (n, 1) or (n, 2), got {arr.shape}")
    return arr


def title_of(ax, title) -> None:
    if title:
        ax.set_title(str(title))
