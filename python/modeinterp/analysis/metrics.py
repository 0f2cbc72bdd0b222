"""Pictures of detection quality: score histograms, ROC curves, early-exit AUROC, ablations."""
from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from .. import detect
from ..validation import as_array, check_labels, check_vector
from ._common import COLOURS, new_figure, save, title_of

__all__ = ["plot_score_histograms", "plot_roc", "plot_early_exit", "ablation_plot"]


def plot_score_histograms(scores, labels, path, *, threshold=None, retained: float = 0.96,
                          bins: int = 50, density: bool = False, title=None):
    """Log-x histograms of the score for in-support vs hallucinated samples, with a threshold line.

    threshold: where to draw the line; None -> :func:`modeinterp.detect.threshold_at_retained`
    (``retained`` of in-support kept) when both classes are present, else no line. Scores <= 0
    (log axis) are drawn at the smallest positive score. density: draw each class as the fraction
    of that class per bin (hallucinations are usually rare), else raw counts. Returns the saved
    Path.
    """
    s = check_vector("scores", scores)
    y = check_labels("labels", labels, s.size)
    if s.size == 0:
        raise ValueError("scores must not be empty")
    if threshold is None and 0 < y.sum() < y.size:
        threshold = detect.threshold_at_retained(s, y, retained)
    pos = s[s > 0]
    floor = pos.min() if pos.size else 1e-12
    sc = np.maximum(s, floor)
    hi = sc.max() if sc.max() > floor else floor * 10
    edges = np.geomspace(floor, hi, int(bins) + 1)
    fig, axes = new_figure(size=(7.0, 4.5))
    ax = axes[0, 0]
    for mask, name, colour in ((~y, "in support", COLOURS["in"]),
                               (y, "hallucination", COLOURS["hal"])):
        if mask.any():
            weights = np.full(int(mask.sum()), 1.0 / mask.sum()) if density else None
            ax.hist(sc[mask], bins=edges, color=colour, alpha=0.6, weights=weights,
                    label=f"{name} (n={mask.sum()})")
    if threshold is not None:
        thr = float(threshold)
        label = f"threshold {thr:.3g}"
        if 0 < y.sum() < y.size:
            removed, kept = detect.rates(s, y, thr)
            label += f" (removes {removed:.1f}%, keeps {kept:.1f}%)"
        ax.axvline(max(thr, floor), color="black", ls="--", lw=1.2, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("score: Var(x̂0) over the window (log)")
    ax.set_ylabel("fraction of the class per bin" if density else "count")
    ax.legend(fontsize=8)
    title_of(ax, title)
    return save(fig, path)


def _curves(scores, labels):
    """{name: (scores, labels)} from the three accepted forms (see :func:`plot_roc`)."""
    if not isinstance(scores, Mapping):
        return {"score": (scores, labels)}
    if not scores:
        raise ValueError("scores must not be an empty dict")
    out = {}
    for name, value in scores.items():
        if labels is None:
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                raise ValueError(f"scores[{name!r}] must be a (scores, labels) pair when labels "
                                 "is None")
            out[str(name)] = tuple(value)
        else:
            out[str(name)] = (value, labels)
    return out


def plot_roc(scores, labels=None, path=None, *, title=None):
    """ROC curve(s), hallucination = positive class, AUROC in the legend.

    scores: (n,) scores with ``labels`` (n,) bool; or a dict {name: (scores, labels)} (labels
    None) or {name: scores} sharing ``labels`` (e.g. ``SampleResult.early_scores``) to overlay
    several curves. Returns the saved Path.
    """
    curves = _curves(scores, labels)
    fig, axes = new_figure(size=(5.0, 5.0))
    ax = axes[0, 0]
    for name, (s, y) in curves.items():
        fpr, tpr, _ = detect.roc(s, y)
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUROC {detect.auroc(s, y):.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (in-support removed)")
    ax.set_ylabel("true positive rate (hallucinations removed)")
    ax.legend(fontsize=8, loc="lower right")
    title_of(ax, title)
    return save(fig, path)


def plot_early_exit(ks, aurocs, path, *, title=None, full=None):
    """AUROC of the score computed from only the first k steps of the window, against k.

    ks: the k values; aurocs: matching AUROCs, or {name: AUROCs} for several series.
    full: optional AUROC of the full-window score, drawn as a dashed line. Returns the Path.
    """
    k = as_array("ks", ks, np.float64).reshape(-1)
    series = aurocs if isinstance(aurocs, Mapping) else {"AUROC": aurocs}
    fig, axes = new_figure(size=(6.0, 4.0))
    ax = axes[0, 0]
    for name, values in series.items():
        v = as_array("aurocs", values, np.float64).reshape(-1)
        if v.shape != k.shape:
            raise ValueError(f"aurocs has {v.size} values but ks has {k.size}: they must match")
        order = np.argsort(k)
        ax.plot(k[order], v[order], marker="o", label=str(name))
    if full is not None:
        ax.axhline(float(full), color="black", ls="--", lw=1, label=f"full window ({full:.3f})")
    ax.set_xlabel("k: steps of the window used (early exit)")
    ax.set_ylabel("AUROC")
    ax.legend(fontsize=8)
    title_of(ax, title)
    return save(fig, path)


def plot_window_sweep(rows, path, *, title=None, chosen=None, paper=10):
    """AUROC (left axis) and % of hallucinations removed at 96 % in-support kept (right axis)
    against the score window, last K steps; mid-trajectory (start, stop) windows, when the sweep
    has any, in a second panel of bars. rows: ``window_sweep`` rows (``window``, ``auroc``,
    ``removed_at_96``). ``chosen``: the calibrated window (a star, or a gold edge on its bars),
    ``paper``: the paper's K (a dashed line). Returns the Path."""
    last_k = sorted((r for r in rows if isinstance(r["window"], int)), key=lambda r: r["window"])
    spans = sorted((r for r in rows if isinstance(r["window"], (list, tuple))),
                   key=lambda r: tuple(r["window"]))
    if not last_k and not spans:
        raise ValueError("rows holds no window to plot")
    fig, axes = new_figure(1, 1 + bool(last_k and spans), size=(6.5, 4.0))
    if last_k:
        _plot_last_k(axes[0, 0], last_k, chosen, paper)
    if spans:
        _plot_spans(axes[0, -1], spans, chosen)
    if title:
        fig.suptitle(str(title), fontsize=11)
    return save(fig, path)


def _plot_last_k(ax, rows, chosen, paper) -> None:
    k = np.array([r["window"] for r in rows])
    ax.plot(k, [r["auroc"] for r in rows], marker="o", color="tab:blue", label="AUROC")
    ax.set_xlabel("score window: last K reverse steps")
    ax.set_ylabel("AUROC", color="tab:blue")
    if k.max() / max(k.min(), 1) >= 20:  # 2 … 100 steps: a log axis keeps the short ones apart
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(k.tolist(), [str(v) for v in k.tolist()])
    right = ax.twinx()
    removed = [r["removed_at_96"] for r in rows]
    right.plot(k, removed, marker="s", color="tab:red", label="% removed at 96 % kept")
    right.set_ylabel("% hallucinations removed at 96 % kept", color="tab:red")
    right.set_ylim(0, 100)
    if paper is not None:
        ax.axvline(paper, color="grey", ls="--", lw=1, label=f"paper (K = {paper})")
    if isinstance(chosen, int) and chosen in k.tolist():
        right.plot([chosen], [removed[k.tolist().index(chosen)]], marker="*", ms=16, color="gold",
                   mec="black", ls="none", label=f"calibrated (K = {chosen})")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=8, loc="lower center")


def _plot_spans(ax, rows, chosen) -> None:
    names = [f"[{r['window'][0]}, {r['window'][1]})" for r in rows]
    y = np.arange(len(rows))
    ax.barh(y + 0.2, [100 * r["auroc"] for r in rows], height=0.4, color="tab:blue",
            label="AUROC × 100")
    ax.barh(y - 0.2, [r["removed_at_96"] for r in rows], height=0.4, color="tab:red",
            label="% removed at 96 % kept")
    for i, r in enumerate(rows):
        if isinstance(chosen, (list, tuple)) and list(r["window"]) == list(chosen):
            ax.axhspan(i - 0.45, i + 0.45, color="gold", alpha=0.3, zorder=0,
                       label="calibrated")
    ax.set_yticks(y, names)
    ax.set_xlim(0, 100)
    ax.set_xlabel("%")
    ax.set_ylabel("mid-trajectory window: steps [start, stop)")
    ax.legend(fontsize=8, loc="lower right")


def _rows(table_rows):
    if isinstance(table_rows, Mapping):  # columns -> rows
        cols = {key: list(v) for key, v in table_rows.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise ValueError("table_rows given as columns must have columns of one length")
        n = lengths.pop() if lengths else 0
        return [{key: v[i] for key, v in cols.items()} for i in range(n)]
    rows = list(table_rows)
    if not all(isinstance(r, Mapping) for r in rows):
        raise TypeError("table_rows must be a list of dicts (or a dict of columns)")
    return rows


def ablation_plot(table_rows, x_key, y_key, path, *, group_key=None, yerr_key=None, title=None,
                  xlabel=None, ylabel=None, logx: bool = False, logy: bool = False):
    """Line plot of ``y_key`` against ``x_key`` over sweep rows (e.g. hallucination rate vs
    training-set size / mode separation / sampling steps), one line per ``group_key`` value.

    table_rows: list of dicts (or a dict of equal-length columns). yerr_key: optional column
    of error bars. Rows are sorted by x within each group. Returns the saved Path.
    """
    rows = _rows(table_rows)
    if not rows:
        raise ValueError("table_rows must not be empty")
    for key, name in ((x_key, "x_key"), (y_key, "y_key"), (group_key, "group_key"),
                      (yerr_key, "yerr_key")):
        if key is not None and any(key not in r for r in rows):
            raise ValueError(f"{name}={key!r} is not a key of every row")
    groups = {}
    for r in rows:
        groups.setdefault(r[group_key] if group_key is not None else None, []).append(r)
    fig, axes = new_figure(size=(6.0, 4.0))
    ax = axes[0, 0]
    for g, rs in groups.items():
        if all(isinstance(r[x_key], numbers.Real) for r in rs):
            rs = sorted(rs, key=lambda r: r[x_key])
        xs = [r[x_key] for r in rs]
        ys = np.array([float(r[y_key]) for r in rs])
        label = None if g is None else f"{group_key}={g}"
        if yerr_key is not None:
            ax.errorbar(xs, ys, yerr=[float(r[yerr_key]) for r in rs], marker="o", capsize=3,
                        label=label)
        else:
            ax.plot(xs, ys, marker="o", label=label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or str(x_key))
    ax.set_ylabel(ylabel or str(y_key))
    if group_key is not None:
        ax.legend(fontsize=8)
    title_of(ax, title)
    return save(fig, path)
