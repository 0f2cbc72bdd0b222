"""The recursive experiment's figures and report: one line per filter for every metric over
generations, a panel of samples per generation and filter, and a markdown/HTML summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis._common import new_figure, save
from ..reports import Report, markdown_table, write_report
from ..sampling.store import load_samples

__all__ = ["STYLE", "finish_panels", "plot_generation_panel", "plot_mode_mass", "plot_over_generations",
           "write_recursive_report"]

# metric key -> axis label; a metric is plotted when generation 0 has it
METRICS = {
    "rate": "hallucination rate of the samples",
    "train_rate": "hallucination rate of the training set",
    "mode_coverage": "modes covered (≥ 10 % of a uniform share)",
    "histogram_kl": "histogram KL(real ‖ generated)",
    "sliced_wasserstein": "sliced Wasserstein-1 to real",
    "frechet": "Fréchet distance (classifier features)",
    "mean_shapes": "well-formed shapes per image",
    "auroc": "AUROC of the paper's window",
}
# filter -> (colour, marker), in every recursive figure
STYLE = {"none": ("0.3", "o"), "random": ("tab:orange", "s"), "variance": ("tab:blue", "^"),
         "variance-calibrated": ("tab:green", "v"), "detector": ("tab:purple", "D"),
         "detector-supervised": ("tab:brown", "P")}


def _present(lineages: dict) -> list:
    first = next(iter(lineages.values()))[0]
    return [k for k in METRICS if first.get(k) is not None
            or any(r.get(k) is not None for rows in lineages.values() for r in rows)]


def plot_over_generations(lineages: dict, path, *, title=None):
    """One panel per metric, one line per filter, generations on the x axis. Returns the Path."""
    keys = _present(lineages)
    cols = min(3, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = new_figure(rows, cols, size=(4.2, 3.2))
    for ax, key in zip(axes.flat, keys):
        for rule, rows_ in lineages.items():
            colour, marker = STYLE.get(rule, ("black", "x"))
            gens = [r["generation"] for r in rows_ if r.get(key) is not None]
            vals = [r[key] for r in rows_ if r.get(key) is not None]
            ax.plot(gens, vals, marker=marker, color=colour, label=rule)
        ax.set_xlabel("generation")
        ax.set_title(METRICS[key], fontsize=9)
        ax.set_xticks(range(max(len(r) for r in lineages.values())))
    return finish_panels(fig, axes, len(keys), path, title)


def finish_panels(fig, axes, used: int, path, title=None):
    """Blank the panels past the ``used`` ones, add the legend (first panel) and the title, save
    to ``path``. Returns the Path."""
    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return save(fig, path)


def plot_mode_mass(lineages: dict, path, *, title=None):
    """Mass per mode (in-support samples of the mode / all samples) at the last generation, one
    bar series per filter, generation 0 as the reference line. Returns the Path."""
    first = next(iter(lineages.values()))[0]["per_mode_mass"]
    k = np.arange(len(first))
    width = 0.8 / len(lineages)
    fig, axes = new_figure(size=(max(6.0, 0.35 * len(k) * len(lineages) / 2), 3.5))
    ax = axes[0, 0]
    for j, (rule, rows) in enumerate(lineages.items()):
        colour = STYLE.get(rule, ("black",))[0]
        ax.bar(k + (j - (len(lineages) - 1) / 2) * width, rows[-1]["per_mode_mass"], width,
               color=colour, label=f"{rule}, generation {rows[-1]['generation']}")
    ax.step(np.r_[k - 0.5, k[-1] + 0.5], np.r_[first, first[-1]], where="post", color="black",
            lw=1, label="generation 0")
    ax.set_xlabel("mode")
    ax.set_ylabel("share of all samples")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return save(fig, path)


def _images_tile(samples: np.ndarray, k: int = 4) -> np.ndarray:
    """The first k×k images (C, H, W) of ``samples`` as one mosaic in [0, 1] (gray: 2-D)."""
    n, c, h, w = samples.shape
    mosaic = np.ones((k * (h + 1) - 1, k * (w + 1) - 1, c), dtype=np.float32)
    for i in range(min(n, k * k)):
        r, col = divmod(i, k)
        img = np.clip((samples[i] + 1) / 2, 0, 1).transpose(1, 2, 0)
        mosaic[r * (h + 1):r * (h + 1) + h, col * (w + 1):col * (w + 1) + w] = img
    return mosaic[..., 0] if c == 1 else mosaic


def plot_generation_panel(panel: dict, path, *, modes=None, title=None):
    """Rows: filters; columns: generations. ``panel``: {filter: [(generation, samples,
    hallucination rate)]}; points (n, d ≤ 2) are scattered, images (n, C, H, W) tiled."""
    rows = list(panel)
    cols = max(len(v) for v in panel.values())
    fig, axes = new_figure(len(rows), cols, size=(2.4, 2.4))
    for r, rule in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            if c >= len(panel[rule]):
                ax.axis("off")
                continue
            g, x, rate = panel[rule][c]
            x = np.asarray(x, dtype=np.float32)
            if x.ndim == 4:
                ax.imshow(_images_tile(x), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            elif x.ndim == 2 and x.shape[1] == 2:
                ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3, color=STYLE.get(rule, ("k",))[0])
                if modes is not None:  # the modes' frame: a few diverged points stay outside
                    ax.scatter(modes[:, 0], modes[:, 1], s=6, color="black", marker="+")
                    lo, hi = modes.min(axis=0), modes.max(axis=0)
                    pad = 0.15 * (hi - lo).max() + 1e-3
                    ax.set_xlim(lo[0] - pad, hi[0] + pad)
                    ax.set_ylim(lo[1] - pad, hi[1] + pad)
            else:  # 1-D points: a histogram over the modes' range
                span = None if modes is None else (float(modes.min()) - 0.5,
                                                   float(modes.max()) + 0.5)
                ax.hist(x.reshape(-1), bins=100, range=span, color=STYLE.get(rule, ("k",))[0])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"gen {g}: {rate:.1%}", fontsize=8)
        axes[r, 0].set_ylabel(rule, fontsize=9)
    if title:
        fig.suptitle(title)
    return save(fig, path)


_PERCENT_METRICS = ("rate", "train_rate", "mode_coverage")


def _final_generation_tables(lineages: dict) -> list:
    """The oracle's reasons and shape counts (Simple Shapes) or digit counts at generation 0 and
    at every filter's last generation."""
    lines = []
    columns = {"generation 0": next(iter(lineages.values()))[0]}
    columns.update({f"{rule}, gen {rows[-1]['generation']}": rows[-1]
                    for rule, rows in lineages.items()})
    for key, name in (("reasons", "reason"), ("shape_counts", "well-formed shapes"),
                      ("digit_counts", "recognised digit")):
        tables = {c: (row.get("oracle") or {}).get(key) for c, row in columns.items()}
        if not any(tables.values()):
            continue
        keys = sorted({k for t in tables.values() if t for k in t},
                      key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else k))
        lines += [f"## Samples per {name}", ""]
        lines += markdown_table([name, *columns],
                                [[k, *((t or {}).get(k, 0) for t in tables.values())]
                                 for k in keys])
        lines.append("")
    return lines


def _metric_table(lineages: dict, key: str) -> list:
    """One metric: a row per generation, a column per filter ("–" where a lineage is shorter)."""
    n_gen = max(len(r) for r in lineages.values())
    fmt = ".2%" if key in _PERCENT_METRICS else ".4g"
    rows = [[str(g), *(rows[g].get(key) if g < len(rows) else None
                       for rows in lineages.values())] for g in range(n_gen)]
    return markdown_table(["generation", *lineages], rows, align="r" * (len(lineages) + 1),
                          formats=[None] + [fmt] * len(lineages)) + [""]


def markdown(summary: dict, figs: dict) -> str:
    cfg, lineages = summary["config"], summary["lineages"]
    base = cfg["base"]
    doc = Report(f"Recursive training: {base['dataset']}", figs)
    doc.paragraph(
        f"{cfg['generations']} generations (generation 0 trains on {base['n_train']:,} real "
        f"samples); each later one trains from scratch on N = {summary['n_keep']:,} samples "
        f"kept out of {summary['n_drawn']:,} drawn from the previous generation "
        f"(margin {cfg['margin']:.1%}). Device: {summary['device']}. Sampling: "
        f"{base['method'] or 'ddpm'}, {base['steps'] or base['T']} steps; paper window: "
        f"last {summary['paper_window']} steps.")
    if summary["calibrated_window"] is not None:
        doc.paragraph(f"variance-calibrated filters on the window calibrated on generation 0: "
                      f"**{summary['calibrated_window']}**.")
    left_out = summary.get("left_out") or (  # a summary written before detectors existed
        {"variance-calibrated": summary["calibration_note"]}
        if summary.get("calibration_note") else {})
    for rule, why in left_out.items():
        doc.paragraph(f"No {rule} lineage: {why}.")
    for rule, det in summary.get("detectors", {}).items():
        doc.paragraph(f"{rule} filters by a {det['kind']} detector fitted on generation 0 "
                      f"({'no labels' if rule == 'detector' else 'oracle labels: an upper bound'}"
                      f"; features {', '.join(det['names'])}).")
    for key in _present(lineages):
        doc.heading(METRICS[key]).extend(_metric_table(lineages, key))
    doc.extend(_final_generation_tables(lineages))
    total = sum(s.get("train_s", 0) + s.get("sample_s", 0) for s in summary["stages"].values())
    doc.paragraph(f"Compute: {total / 60:.1f} min of training and sampling over "
                  f"{len(summary['stages'])} stages (manifest.json has each).")
    return doc.markdown()


def write_recursive_report(summary: dict, run, out: Path) -> dict:
    lineages = summary["lineages"]
    figs = {"over_generations": plot_over_generations(
        lineages, out / "over_generations.png", title=f"{summary['config']['base']['dataset']}: "
                                                      "recursive training")}
    if lineages[next(iter(lineages))][0].get("per_mode_mass") is not None:
        figs["mode_mass"] = plot_mode_mass(lineages, out / "mode_mass.png",
                                           title="mass per mode, last generation")
    panel = {}
    for rule in lineages:
        cells = []
        for g in range(len(lineages[rule])):
            name = "gen-0" if g == 0 else f"{rule}/gen-{g}"
            x = load_samples(out / name).samples[:2000]
            cells.append((g, x.numpy(), lineages[rule][g]["rate"]))
        panel[rule] = cells
    modes = getattr(run.data, "modes", None)
    figs["samples"] = plot_generation_panel(
        panel, out / "generations.png",
        modes=None if modes is None else np.asarray(modes), title="samples per generation")
    write_report(out, markdown(summary, figs), figs)
    return figs
