"""Learned vs true score on 1-D data: the paper's explanation of mode interpolation.

A trained network's score s_θ(x, t) = −ε̂(x, t)/√(1 − ᾱ_t) is smooth between two modes, where the
score of the noised mixture (:meth:`MixtureDenoiser.score`, closed form) jumps sharply at small t;
the smooth interpolation is what carries samples into the gap between modes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..validation import as_array, check_choice
from ._common import COLOURS, new_figure, save

__all__ = ["ScoreComparison", "learned_vs_true_score", "default_score_timesteps"]


@dataclass
class ScoreComparison:
    """x: (G,) grid; ts: (nt,) timesteps; learned / true: (nt, G) float64 scores; path: the
    figure (None when no path was given)."""

    x: np.ndarray
    ts: np.ndarray
    learned: np.ndarray
    true: np.ndarray
    path: Optional[Path] = None

    def max_abs_diff(self) -> np.ndarray:
        """(nt,) largest |learned − true| over the grid, per timestep."""
        return np.abs(self.learned - self.true).max(axis=1)


def default_score_timesteps(T: int) -> tuple:
    """t ≈ 0.1%, 1%, 5% and 20% of T (late in sampling, where the true score is sharpest)."""
    return tuple(sorted({min(T - 1, max(0, int(round(T * f)))) for f in (0.001, 0.01, 0.05, 0.2)}))


def _model_place(model, dtype, device):
    tensors = []
    if isinstance(model, torch.nn.Module):
        tensors = [p for p in model.parameters() if p.is_floating_point()] \
            or [b for b in model.buffers() if b.is_floating_point()]
    if dtype is None:
        dtype = tensors[0].dtype if tensors else torch.float32
    if device is None:
        device = tensors[0].device if tensors else torch.device("cpu")
    return dtype, torch.device(device)


def _eps_from(out, x, ab, prediction):
    """ε̂ from a model output of the given prediction type (float64)."""
    if prediction == "eps":
        return out
    if prediction == "x0":
        return (x - ab.sqrt() * out) / (1 - ab).sqrt()
    return ab.sqrt() * out + (1 - ab).sqrt() * x  # v


def learned_vs_true_score(model, dataset, schedule, ts=None, path=None, *, x=None,
                          n_grid: int = 801, prediction: str = "eps", dtype=None, device=None,
                          title=None) -> ScoreComparison:
    """Evaluate s_θ(x, t) = −ε̂(x, t)/√(1 − ᾱ_t) and the true mixture score on a grid of x.

    model: ``model(x_t (G, 1), t (G,) int64) -> prediction`` (eps / x0 / v per ``prediction``),
    evaluated under ``torch.inference_mode`` in ``dtype`` on ``device`` (default: those of the
    model's first floating parameter, else buffer, else float32 on CPU).
    dataset: a 1-D :class:`~modeinterp.data.MixtureDataset` (e.g. Gaussian1D), whose modes and
    std define the true score. schedule: a :class:`~modeinterp.schedules.Schedule` (or its ᾱ array).
    ts: timesteps to compare (default :func:`default_score_timesteps`). x: the grid (default
    ``n_grid`` points spanning the modes plus half a mode spacing, at least 10 std, each side).
    path: where to save the figure (one subplot per t), or None for arrays only.
    """
    from ..models.mixture import MixtureDenoiser

    prediction = check_choice("prediction", prediction, ("eps", "x0", "v"))
    if getattr(dataset, "dim", None) != 1:
        raise ValueError(f"dataset must be a 1-D mixture dataset (dim 1), got "
                         f"{getattr(dataset, 'dim', type(dataset).__name__)}")
    ab_all = np.asarray(getattr(schedule, "alphas_cumprod", schedule), dtype=np.float64)
    if ab_all.ndim != 1 or ab_all.size < 1:
        raise ValueError("schedule must be a Schedule or a 1-D array of alphas_cumprod")
    T = ab_all.size
    ts = default_score_timesteps(T) if ts is None else ts
    ts = np.atleast_1d(as_array("ts", ts)).reshape(-1)
    if ts.size == 0 or ts.dtype.kind not in "iu" or ts.min() < 0 or ts.max() >= T:
        raise ValueError(f"ts must be integer timesteps in [0, {T - 1}], got {ts.tolist()}")
    if not (ab_all[ts] < 1).all():
        raise ValueError("ts must index timesteps with alphas_cumprod < 1 (noise level > 0)")
    mu = dataset.modes.numpy()[:, 0]
    if x is None:
        spread = mu.max() - mu.min()
        pad = max(0.5 * spread / max(mu.size - 1, 1), 10 * dataset.std)
        x = np.linspace(mu.min() - pad, mu.max() + pad, int(n_grid))
    grid = as_array("x", x, np.float64).reshape(-1)
    if grid.size == 0 or not np.isfinite(grid).all():
        raise ValueError("x must be a non-empty finite grid")
    dtype, device = _model_place(model, dtype, device)
    true_model = MixtureDenoiser(dataset.modes.numpy(), dataset.std, ab_all)
    xs64 = torch.tensor(grid, dtype=torch.float64).unsqueeze(1)  # (G, 1)
    learned, true = [], []
    with torch.inference_mode():
        for t in ts:
            tt = torch.full((grid.size,), int(t), dtype=torch.int64)
            ab = torch.tensor(ab_all[int(t)], dtype=torch.float64)
            out = model(xs64.to(device=device, dtype=dtype), tt.to(device))
            out = torch.as_tensor(out).detach().to("cpu", torch.float64).reshape(-1, 1)
            if out.shape != xs64.shape:
                raise RuntimeError(f"model returned {out.numel()} values for {grid.size} points")
            eps = _eps_from(out, xs64, ab, prediction)
            learned.append((-eps / (1 - ab).sqrt()).squeeze(1).numpy())
            true.append(true_model.score(xs64, tt).squeeze(1).numpy())
    res = ScoreComparison(grid, ts.astype(np.int64), np.stack(learned), np.stack(true))
    if path is not None:
        res.path = _plot(res, mu, ab_all, path, title)
    return res


def _plot(res, mu, ab_all, path, title):
    nt = res.ts.size
    ncols = min(nt, 2)
    nrows = -(-nt // ncols)
    fig, axes = new_figure(nrows, ncols, size=(5.5, 3.8))
    for k, ax in enumerate(axes.flat):
        if k >= nt:
            ax.set_visible(False)
            continue
        t = int(res.ts[k])
        ax.plot(res.x, res.true[k], color="black", lw=1.5, label="true score (mixture)")
        ax.plot(res.x, res.learned[k], color=COLOURS["hal"], lw=1.5, ls="--",
                label="learned score s_θ")
        for m in np.sqrt(ab_all[t]) * mu:
            ax.axvline(m, color="0.6", ls=":", lw=0.8)
        ax.axhline(0, color="0.8", lw=0.6)
        ax.set_title(f"t = {t} (ᾱ_t = {ab_all[t]:.4g})", fontsize=9)
        ax.set_xlabel("x_t")
        ax.set_ylabel("∇ log p_t(x)")
        if k == 0:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(str(title))
    return save(fig, path)
