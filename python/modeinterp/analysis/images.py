"""Figures of generated images: a grid with the hallucinations framed in red and their reasons,
the highest- and lowest-scored samples side by side (also with their score maps as heat
overlays), and x̂0 trajectories of a few images."""

from __future__ import annotations

import numpy as np

from ..data.protocol import reasons_key
from ..sampling import resolve_window
from ..validation import as_array
from ._common import COLOURS, new_figure, save

__all__ = ["plot_image_grid", "plot_image_trajectories", "plot_ranked", "plot_score_map_overlays"]


def _pixels(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [−1, 1] → what imshow wants: (H, W) gray or (H, W, 3) RGB in [0, 1]."""
    img = np.clip((image + 1.0) / 2.0, 0.0, 1.0)
    return img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)


def _reason(reasons: frozenset) -> str:
    """A sample's reasons (``data.classify``'s frozenset) one per line, so captions stay inside
    their tile."""
    return reasons_key(reasons).replace("+", "\n")


def _tile(ax, image, *, hallucinated=False, caption=None):
    ax.imshow(_pixels(image), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    colour = COLOURS["hal"] if hallucinated else "0.7"
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3.0 if hallucinated else 0.5)
    if caption:
        ax.set_title(caption, fontsize=6, color=colour if hallucinated else "black", pad=2)


def plot_image_grid(images, path, *, labels=None, reasons=None, scores=None, n: int = 64,
                    cols: int = 8, title=None):
    """The first ``n`` images in a grid; hallucinations (``labels`` True) framed in red with
    their ``reasons``; ``scores`` printed under each when given. Returns the Path."""
    images = as_array("images", images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be (n, C, H, W), got shape {images.shape}")
    n = min(n, len(images))
    if n == 0:
        raise ValueError("images is empty: nothing to draw")
    rows = -(-n // cols)
    fig, axes = new_figure(rows, cols, size=(1.3, 1.45))
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        bad = bool(labels[k]) if labels is not None else False
        parts = [_reason(reasons[k])] if (reasons is not None and bad) else []
        if scores is not None:
            parts.append(f"{float(scores[k]):.2g}")
        _tile(ax, images[k], hallucinated=bad, caption=" ".join(parts) or None)
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)


def plot_ranked(images, scores, path, *, k: int = 16, labels=None, reasons=None, title=None):
    """The ``k`` highest-scored samples (top row block) and the ``k`` lowest (bottom), each with
    its score; hallucinations framed in red. Returns the Path."""
    images = as_array("images", images, np.float32)
    scores = as_array("scores", scores, np.float64).reshape(-1)
    if len(scores) != len(images):
        raise ValueError(f"scores has {len(scores)} values but images has {len(images)}")
    order = np.argsort(scores)
    k = min(k, len(order) // 2) or min(k, len(order))
    picks = [("highest score", order[::-1][:k]), ("lowest score", order[:k])]
    cols = min(8, k)
    rows_each = -(-k // cols)
    fig, axes = new_figure(2 * rows_each, cols, size=(1.3, 1.45))
    for block, (name, idx) in enumerate(picks):
        for j in range(rows_each * cols):
            ax = axes[block * rows_each + j // cols, j % cols]
            if j >= len(idx):
                ax.axis("off")
                continue
            i = idx[j]
            bad = bool(labels[i]) if labels is not None else False
            why = f"\n{_reason(reasons[i])}" if bad and reasons is not None else ""
            caption = f"{scores[i]:.2g}{why}"
            _tile(ax, images[i], hallucinated=bad, caption=caption)
        axes[block * rows_each, 0].set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)


def plot_score_map_overlays(images, maps, scores, path, *, k: int = 8, labels=None,
                            reasons=None, peaks=None, title=None):
    """The ``k`` highest- and ``k`` lowest-scored samples, each as a pair of tiles: the image,
    and its score map (x̂0 variance per pixel, channels averaged, each map scaled to its own
    maximum) as a heat overlay on it. Hallucinations framed in red with their reason; ``peaks``
    ((n, 2) row, column) marks where the pooled map peaks. Returns the Path."""
    images = as_array("images", images, np.float32)
    maps = as_array("maps", maps, np.float32)
    scores = as_array("scores", scores, np.float64).reshape(-1)
    if images.ndim != 4 or maps.shape != images.shape or len(scores) != len(images):
        raise ValueError(f"images (n, C, H, W), maps of the same shape and n scores expected, got "
                         f"{images.shape}, {maps.shape} and {scores.shape}")
    order = np.argsort(scores)
    k = min(k, len(order) // 2) or min(k, len(order))
    picks = [("highest", order[::-1][:k]), ("lowest", order[:k])]
    cols = 4  # two samples (image | overlay) per row
    rows_each = -(-k // 2)
    fig, axes = new_figure(2 * rows_each, cols, size=(1.45, 1.6))
    for block, (name, idx) in enumerate(picks):
        for j in range(rows_each * 2):
            ax_img, ax_map = (axes[block * rows_each + j // 2, 2 * (j % 2) + c] for c in (0, 1))
            if j >= len(idx):
                ax_img.axis("off")
                ax_map.axis("off")
                continue
            i = idx[j]
            bad = bool(labels[i]) if labels is not None else False
            why = f"\n{_reason(reasons[i])}" if bad and reasons is not None else ""
            _tile(ax_img, images[i], hallucinated=bad, caption=f"{name} {j + 1}: {scores[i]:.2g}")
            _tile(ax_map, images[i], hallucinated=bad, caption=why.strip() or "score map")
            heat = maps[i].mean(axis=0)
            ax_map.imshow(heat / max(float(heat.max()), 1e-30), cmap="inferno", alpha=0.6,
                          vmin=0.0, vmax=1.0, interpolation="nearest")
            if peaks is not None:
                ax_map.plot(peaks[i][1], peaks[i][0], "c+", markersize=6, mew=1.2)
    fig.suptitle(title or "highest and lowest scores, with where x̂0 varied (heat)", fontsize=9)
    return save(fig, path)


def _trajectory_columns(steps: int, window: tuple, columns: int) -> list:
    """Step indices to show: spread over the whole run, plus the window's first and last steps."""
    spread = np.linspace(0, steps - 1, max(2, columns - 2)).round().astype(int)
    return sorted({*spread.tolist(), window[0], window[1] - 1})


def plot_image_trajectories(trajectory, path, *, window, labels=None, reasons=None, scores=None,
                            rows: int = 6, columns: int = 8, title=None):
    """x̂0 of a few images along the reverse run, one row per image, and in the last column the
    per-pixel standard deviation of x̂0 over the score ``window`` (where the score comes from).

    trajectory: (m, S, C, H, W) x̂0 of m samples at each of S steps (``SampleResult.trajectory``);
    window: the scored steps, as the sampler takes it (last K steps, or a (start, stop) range);
    labels / reasons / scores: of those m samples.
    Hallucinations are shown first (framed in red) so both kinds appear. Returns the Path."""
    traj = as_array("trajectory", trajectory, np.float32)
    if traj.ndim != 5 or len(traj) == 0:
        raise ValueError(f"trajectory must be a non-empty (m, S, C, H, W) array, got {traj.shape}")
    m, steps = traj.shape[:2]
    start, stop = resolve_window(window, steps)
    bad = np.zeros(m, bool) if labels is None else np.asarray(labels[:m], dtype=bool)
    bad_first = np.concatenate([np.flatnonzero(bad), np.flatnonzero(~bad)])
    picks = np.concatenate([np.flatnonzero(bad)[: rows // 2], np.flatnonzero(~bad)])[:rows]
    if len(picks) < min(rows, m):  # fewer in-support rows than asked: fill with hallucinations
        picks = bad_first[:rows]
    cols = _trajectory_columns(steps, (start, stop), columns)
    fig, axes = new_figure(len(picks), len(cols) + 1, size=(1.2, 1.3))
    for r, i in enumerate(picks):
        for c, step in enumerate(cols):
            in_window = start <= step < stop
            caption = f"step {step}" + (" ·w" if in_window else "") if r == 0 else None
            _tile(axes[r, c], traj[i, step], hallucinated=bool(bad[i]), caption=caption)
        spread = traj[i, start:stop].std(axis=0).mean(axis=0)  # (H, W), channels averaged
        ax = axes[r, -1]
        ax.imshow(spread, cmap="magma", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        label = "" if scores is None else f"score {float(scores[i]):.2g}"
        if bad[i] and reasons is not None:
            label += f"\n{_reason(reasons[i])}"
        ax.set_title(("x̂0 std over window\n" if r == 0 else "") + label, fontsize=6, pad=2)
    fig.suptitle(title or f"x̂0 along the reverse run (·w: inside the score window "
                          f"[{start}, {stop}))", fontsize=9)
    return save(fig, path)
