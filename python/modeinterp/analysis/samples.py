"""Pictures of generated samples: where they land (:func:`plot_samples`) and how their x̂0 moves
over the reverse steps (:func:`plot_trajectories`)."""
from __future__ import annotations

import numpy as np

from ..validation import as_array, check_int, check_labels
from ._common import COLOURS, new_figure, points, save, title_of

__all__ = ["plot_samples", "plot_trajectories"]

_REGION_NAMES = {0: ("in support", COLOURS["in"]),
                 1: ("hallucination (between neighbours)", COLOURS["between"]),
                 2: ("hallucination (elsewhere)", COLOURS["elsewhere"])}


def _groups(labels_or_regions, n):
    """[(name, colour, mask)] for bool labels (True = hallucination), Region codes (int 0/1/2,
    :class:`modeinterp.data.Region`) or None (one group)."""
    if labels_or_regions is None:
        return [("samples", COLOURS["in"], np.ones(n, bool))]
    arr = as_array("labels_or_regions", labels_or_regions).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"labels_or_regions has length {arr.shape[0]}, expected {n} (samples)")
    if arr.dtype == bool:
        return [("in support", COLOURS["in"], ~arr), ("hallucination", COLOURS["hal"], arr)]
    if arr.dtype.kind not in "iu" or not np.isin(arr, (0, 1, 2)).all():
        raise ValueError("labels_or_regions must be bool (True = hallucination) or Region codes "
                         "0/1/2 (in support / between neighbours / elsewhere)")
    return [(name, colour, arr == code) for code, (name, colour) in _REGION_NAMES.items()]


def plot_samples(samples, labels_or_regions, modes, path, title=None, *, train=None,
                 bins: int = 200):
    """Scatter (d = 2) or histogram (d = 1) of samples, hallucinations in a different colour.

    samples: (n, d) or (n,) with d in {1, 2}. labels_or_regions: bool (True = hallucination),
    int :class:`~modeinterp.data.Region` codes (three colours), or None. modes: (K, d) centres
    (marked in black) or None. train: optional training data, drawn in light grey (1-D: scaled to
    the same total count as ``samples``). 1-D counts use a log y axis so rare hallucinations show.
    Returns the saved Path.
    """
    x = points(samples, "samples")
    n, d = x.shape
    groups = _groups(labels_or_regions, n)
    m = None if modes is None else points(modes, "modes")
    if m is not None and m.shape[1] != d:
        raise ValueError(f"modes must have {d} columns like samples, got shape {m.shape}")
    tr = None if train is None else points(train, "train")
    if tr is not None and tr.shape[1] != d:
        raise ValueError(f"train must have {d} columns like samples, got shape {tr.shape}")
    fig, axes = new_figure(size=(7.0, 4.5) if d == 1 else (5.5, 6.5))
    ax = axes[0, 0]
    if d == 1:
        everything = [x[:, 0]] + ([tr[:, 0]] if tr is not None else []) \
            + ([m[:, 0]] if m is not None else [])
        lo, hi = min(a.min() for a in everything), max(a.max() for a in everything)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
        if tr is not None and len(tr):
            ax.hist(tr[:, 0], bins=edges, weights=np.full(len(tr), n / len(tr)),
                    color=COLOURS["train"], label=f"training data (n={len(tr)}, scaled)")
        data = [x[mask, 0] for _, _, mask in groups]
        names = [f"{name} (n={int(mask.sum())})" for name, _, mask in groups]
        ax.hist(data, bins=edges, stacked=True, color=[c for _, c, _ in groups], label=names,
                log=True, histtype="stepfilled", alpha=0.8)
        if m is not None:
            for i, mu in enumerate(m[:, 0]):
                ax.axvline(mu, color=COLOURS["mode"], ls=":", lw=1,
                           label="modes" if i == 0 else None)
        ax.set_xlabel("x")
        ax.set_ylabel("count (log)")
    else:
        if tr is not None:
            ax.scatter(tr[:, 0], tr[:, 1], s=2, color=COLOURS["train"], label="training data",
                       rasterized=True)
        for name, colour, mask in groups:
            big = name != "in support" and name != "samples"
            ax.scatter(x[mask, 0], x[mask, 1], s=8 if big else 2, color=colour, rasterized=True,
                       label=f"{name} (n={int(mask.sum())})", zorder=3 if big else 2)
        if m is not None:
            ax.scatter(m[:, 0], m[:, 1], marker="x", s=30, color=COLOURS["mode"], label="modes",
                       zorder=4)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    if d == 1:
        ax.legend(fontsize=8, loc="best")
    else:  # below the axes: on a grid of modes every corner holds data
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    title_of(ax, title)
    return save(fig, path)


def _pick(labels, n_each):
    hal = np.nonzero(labels)[0][:n_each]
    ins = np.nonzero(~labels)[0][:n_each]
    return [(i, False) for i in ins] + [(i, True) for i in hal]


def plot_trajectories(trajectory, labels, timesteps, path, *, window=10, n_each: int = 4,
                      modes=None, title=None):
    """x̂0 over the reverse steps for the first ``n_each`` in-support and hallucinated samples.

    trajectory: (m, S, *shape) x̂0 at every reverse step (``SampleResult.trajectory``), with
    prod(shape) in {1, 2}. labels: (m,) bool, True = hallucination. timesteps: the S model
    timesteps, descending (``SampleResult.timesteps``), or None for S−1 … 0. window: the scored
    steps, as the sampler takes it (last K steps, or a (start, stop) pair such as
    ``SampleResult.step_range``), shaded; None for no shading.
    1-D: x̂0 against t (left: all steps; right: the last steps around the window, shaded).
    2-D: paths in the plane, the window part drawn thick, the final x̂0 marked.
    """
    tr, lab, ts, win = _trajectory_inputs(trajectory, labels, timesteps, window)
    chosen = _pick(lab, check_int("n_each", n_each, 1))
    mm = None if modes is None else points(modes, "modes")
    if tr.shape[2] == 1:
        fig = _plot_paths_1d(tr, ts, win, chosen, mm, title)
    else:
        fig = _plot_paths_2d(tr, win, chosen, mm, title)
    return save(fig, path)


def _trajectory_inputs(trajectory, labels, timesteps, window) -> tuple:
    """(x̂0 (m, S, d) with d in {1, 2}, labels (m,) bool, timesteps (S,), the window as a
    (start, stop) step range or None), each checked against the trajectory's shape."""
    from ..sampling import resolve_window

    tr = as_array("trajectory", trajectory, np.float64)
    if tr.ndim < 2:
        raise ValueError(f"trajectory must have shape (m, S, *shape), got {tr.shape}")
    m, S = tr.shape[:2]
    if m == 0 or S == 0:
        raise ValueError(f"trajectory holds no samples or no steps: shape {tr.shape}")
    tr = tr.reshape(m, S, -1)
    if tr.shape[2] not in (1, 2):
        raise ValueError(f"trajectory samples must be 1-D or 2-D, got {tr.shape[2]} values per "
                         "step")
    lab = check_labels("labels", labels, m)
    ts = (np.arange(S - 1, -1, -1) if timesteps is None
          else as_array("timesteps", timesteps, np.float64))
    if ts.shape != (S,):
        raise ValueError(f"timesteps must have shape ({S},) (one per step), got {ts.shape}")
    win = None if window is None else resolve_window(window, S)
    return tr, lab, ts, win


def _colour(hallucinated) -> str:
    return COLOURS["hal"] if hallucinated else COLOURS["in"]


def _label(hallucinated, seen: set):
    """The legend entry of a path: its class the first time the class is drawn, else None."""
    return None if hallucinated in seen else ("hallucination" if hallucinated else "in support")


def _plot_paths_1d(tr, ts, win, chosen, modes, title):
    """x̂0 against t: all steps (left) and the steps around the window (right)."""
    S = tr.shape[1]
    fig, axes = new_figure(1, 2, size=(6.0, 4.0))
    zoom_from = max(0, S - 20) if win is None else max(0, win[0] - (win[1] - win[0]))
    for ax, lo in ((axes[0, 0], 0), (axes[0, 1], zoom_from)):
        seen = set()
        for i, h in chosen:
            ax.plot(ts[lo:], tr[i, lo:, 0], color=_colour(h), lw=1, alpha=0.8,
                    label=_label(h, seen))
            seen.add(h)
        if win is not None:
            ax.axvspan(ts[win[1] - 1], ts[win[0]], color="0.85", zorder=0,
                       label=f"score window ({win[1] - win[0]} steps)")
        if modes is not None:
            for mu in modes[:, 0]:
                ax.axhline(mu, color=COLOURS["mode"], ls=":", lw=0.8)
        ax.invert_xaxis()
        ax.set_xlabel("timestep t (sampling runs left to right)")
        ax.set_ylabel("x̂0")
    axes[0, 0].legend(fontsize=8)
    axes[0, 1].set_title("final steps")
    title_of(axes[0, 0], title)
    return fig


def _plot_paths_2d(tr, win, chosen, modes, title):
    """x̂0 paths in the plane, the window part thick, the final x̂0 marked."""
    fig, axes = new_figure(size=(5.5, 5.5))
    ax = axes[0, 0]
    seen = set()
    for i, h in chosen:
        ax.plot(tr[i, :, 0], tr[i, :, 1], color=_colour(h), lw=0.8, alpha=0.5,
                label=_label(h, seen))
        if win is not None:
            ax.plot(tr[i, win[0]:win[1], 0], tr[i, win[0]:win[1], 1], color=_colour(h), lw=2.5)
        ax.scatter(tr[i, -1, 0], tr[i, -1, 1], color=_colour(h), s=20, zorder=3)
        seen.add(h)
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], marker="x", color=COLOURS["mode"], s=30,
                   label="modes")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x̂0₁")
    ax.set_ylabel("x̂0₂")
    ax.legend(fontsize=8)
    title_of(ax, title if title else "x̂0 paths (thick: score window)")
    return fig
