"""A replicated recursive study's figures and report: each filter's mean over replicates per
generation with its min–max band, the paired difference from random, and the verdicts."""

from __future__ import annotations

from pathlib import Path

from ..analysis._common import new_figure
from ..reports import Report, markdown_table, write_report
from .report import METRICS, STYLE, finish_panels

__all__ = ["plot_spread", "write_replicates_report"]

_PERCENT = ("rate", "train_rate", "mode_coverage")


def _band(ax, rows: list, key: str, rule: str, scale: float = 1.0) -> None:
    colour, marker = STYLE.get(rule, ("black", "x"))
    cells = [(g, r[key]) for g, r in enumerate(rows) if r is not None and r.get(key) is not None]
    if not cells:
        return
    gens = [g for g, _ in cells]
    ax.fill_between(gens, [c["min"] * scale for _, c in cells],
                    [c["max"] * scale for _, c in cells], color=colour, alpha=0.15, lw=0)
    ax.plot(gens, [c["mean"] * scale for _, c in cells], marker=marker, color=colour, label=rule)


def plot_spread(summary: dict, path, *, title=None):
    """One panel per metric (and one for the difference from random): a line per filter at
    the replicates' mean, its band from their min to their max. Returns the Path."""
    lineages, versus = summary["lineages"], summary["versus_random"]
    first = next(iter(lineages.values()))
    keys = [k for k in METRICS if any(r.get(k) for rows in lineages.values() for r in rows)]
    panels = keys + (["versus"] if versus else [])
    cols = min(3, len(panels))
    fig, axes = new_figure(-(-len(panels) // cols), cols, size=(4.2, 3.2))
    for ax, key in zip(axes.flat, panels):
        if key == "versus":
            for rule, rows in versus.items():
                _band(ax, [None if r is None else {"d": r} for r in rows], "d", rule, 100)
            ax.axhline(0, color="tab:orange", lw=1)
            ax.set_title("hallucination rate − random's (points)", fontsize=9)
        else:
            for rule, rows in lineages.items():
                _band(ax, rows, key, rule, 100 if key in _PERCENT else 1)
            ax.set_title(METRICS[key] + (" (%)" if key in _PERCENT else ""), fontsize=9)
        ax.set_xlabel("generation")
        ax.set_xticks(range(len(first)))
    return finish_panels(fig, axes, len(panels), path, title)


def _cell(c, scale: float):
    return None if c is None else (c["mean"] * scale, (c["min"] * scale, c["max"] * scale))


def _table(rows_by_filter: dict, key: str | None, scale: float, fmt: str) -> list:
    from ..reports import with_interval

    n_gen = max(len(r) for r in rows_by_filter.values())
    rows = [[str(g), *(_cell(rows[g] if key is None else rows[g].get(key), scale)
                       if g < len(rows) and rows[g] is not None else None
                       for rows in rows_by_filter.values())] for g in range(n_gen)]
    return markdown_table(["generation", *rows_by_filter], rows,
                          align="r" * (len(rows_by_filter) + 1),
                          formats=[None] + [with_interval(fmt)] * len(rows_by_filter)) + [""]


def _verdict_lines(summary: dict) -> list:
    word = {True: "yes", False: "no", None: "–"}
    rows = [[rule, word[v["below_random_always"]], word[v["band_below_random"]],
             v["rate_first"] and 100 * v["rate_first"], v["rate_last"] and 100 * v["rate_last"],
             v["growth"]] for rule, v in summary["verdicts"].items()]
    return markdown_table(["filter", "below random in every replicate, every generation",
                           "min–max band below random's", "rate, gen 0 (%)",
                           "rate, last gen (%)", "last / first"], rows,
                          formats=[None, None, None, ".2f", ".2f", ".2f"]) + [""]


def markdown(summary: dict, figs: dict) -> str:
    cfg, base = summary["config"], summary["config"]["base"]
    doc = Report(f"Recursive training, {summary['replicates']} replicates: {base['dataset']}", figs)
    doc.paragraph(
        f"{cfg['generations']} generations (generation 0 trains on {base['n_train']:,} real "
        f"samples); each later one trains from scratch on N = {summary['n_keep']:,} samples kept "
        f"out of {summary['n_drawn']:,} drawn from the one before. {summary['replicates']} "
        f"independent replicates (seeds {summary['seeds']}: each its own real data, weights "
        f"and noise; `rep-<r>/` holds each one's full report). Cells: mean over replicates "
        f"[min, max]. Device: {summary['device']}.")
    for rule, det in summary["detectors"].items():
        how = ("label-free: fitted on generation 0's real training data, noised and denoised "
               "by generation 0's model — no oracle label" if rule == "detector" else
               "fitted on generation 0's samples with the oracle's labels — an upper bound, "
               "not available to a real loop")
        doc.paragraph(f"`{rule}`: {det['kind']} on {len(det['names'])} features, {how}.")
    if any(w is not None for w in summary["calibrated_windows"]):
        doc.paragraph(f"`variance-calibrated` windows, calibrated on each replicate's "
                      f"generation 0: {summary['calibrated_windows']}.")
    for rule, why in summary["left_out"].items():
        doc.paragraph(f"`{rule}` left out: {why}.")
    doc.heading("Verdicts").extend(_verdict_lines(summary))
    doc.heading("Hallucination rate (%)").extend(_table(summary["lineages"], "rate", 100, ".2f"))
    if summary["versus_random"]:
        doc.heading("Rate minus random's, paired within a replicate (points)").extend(
            _table(summary["versus_random"], None, 100, "+.2f"))
    for key in ("mode_coverage", "sliced_wasserstein", "histogram_kl", "frechet"):
        if any(r.get(key) for rows in summary["lineages"].values() for r in rows):
            scale = 100 if key in _PERCENT else 1
            doc.heading(METRICS[key]).extend(
                _table(summary["lineages"], key, scale, ".1f" if scale == 100 else ".4f"))
    c = summary["compute"]
    doc.paragraph(f"Compute: {c['minutes']:.1f} min of training and sampling over {c['stages']} "
                  f"stages ({60 * c['minutes_per_stage']:.0f} s a stage; each replicate's "
                  "manifest.json has every stage).")
    return doc.markdown()


def write_replicates_report(summary: dict, out: Path) -> dict:
    figs = {"spread": plot_spread(summary, Path(out) / "over_generations.png",
                                  title=f"{summary['config']['base']['dataset']}: recursive "
                                        f"training, {summary['replicates']} replicates")}
    write_report(out, markdown(summary, figs), figs)
    return figs
