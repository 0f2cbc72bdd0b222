"""The (window × aggregation) sweep as two heat maps: held-out AUROC and % of hallucinations
removed at ≥ 96 % kept, one cell per pair, the calibrated pair and the paper's score outlined."""

from __future__ import annotations

import numpy as np

from ..sampling.score_key import ScoreKey
from ._common import new_figure, save

__all__ = ["plot_pair_sweep"]


def plot_pair_sweep(rows, path, *, chosen=None, paper=None, title=None):
    """rows: ``[{"pair": "10/pool4", "auroc", "removed_at_96"}, …]`` (held-out numbers);
    ``chosen`` / ``paper``: pair keys to outline (white / cyan). Returns the Path."""
    if not rows:
        raise ValueError("rows is empty: no (window, aggregation) pair to draw")
    keys = [ScoreKey.parse(r["pair"]) for r in rows]
    windows = list(dict.fromkeys(k.window for k in keys))
    aggs = list(dict.fromkeys(k.name for k in keys))
    fig, axes = new_figure(1, 2, size=(0.62 * len(aggs) + 1.6, 0.42 * len(windows) + 1.4))
    for ax, (field, label, fmt) in zip(axes[0], (("auroc", "held-out AUROC", "{:.2f}"),
                                                 ("removed_at_96", "held-out % removed at ≥ 96 % "
                                                  "kept", "{:.0f}"))):
        grid = np.full((len(windows), len(aggs)), np.nan)
        for r, (w, a) in zip(rows, keys):
            grid[windows.index(w), aggs.index(a)] = r[field]
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
        fig.colorbar(image, ax=ax, fraction=0.04)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=6,
                        color="white" if v < np.nanmean(grid) else "black")
        for key, colour in ((paper, "cyan"), (chosen, "white")):
            w, a = ScoreKey.parse(key) if key else (None, None)
            if w in windows and a in aggs:
                ax.add_patch(_box(windows.index(w), aggs.index(a), colour))
        ax.set_xticks(range(len(aggs)), aggs, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(windows)), [f"last {w.last}" if w.last else f"steps {w.key}"
                                            for w in windows], fontsize=7)
        ax.set_title(label, fontsize=9)
    fig.suptitle(title or "which window × aggregation? (white: calibrated, cyan: the paper's "
                          "pixel mean)", fontsize=9)
    return save(fig, path)


def _box(i, j, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=colour, linewidth=2)
