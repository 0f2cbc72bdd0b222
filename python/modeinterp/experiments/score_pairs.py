"""The (window × aggregation) part of a reproduction: every pair's detection numbers on a held-out
half, overall, per oracle reason and per shape count; the pair (and threshold) calibrated on the
other half, over 20 splits too; the paper's pixel mean beside it; where the score maps peak
against where the oracle blames the hallucination; the score-map figure.

Held-out numbers: "removed at ≥ 96 % kept" for a group (a reason, a shape count) is the share of
that group's hallucinations above the threshold that keeps 96 % of the held-out in-support
samples; "at the calibrated threshold" uses the threshold chosen on the calibration half instead.
"""

from __future__ import annotations

import numpy as np

from .. import analysis, detect
from ..data.protocol import has
from ..reports import INTERVAL_NOTE, markdown_table, with_interval
from ..sampling.aggregations import pool_size
from ..sampling.score_key import ScoreKey

__all__ = ["hallucination_groups", "pair_markdown", "pair_scores", "pair_section"]

TWO_OF_A_KIND = ("two-squares", "two-triangles", "two-pentagons")


def pair_scores(result) -> dict:
    """``{"10/pool4": (n,) numpy}`` of every (window, aggregation) pair of a SampleResult (every
    window's mean at least)."""
    return {k.key: s.cpu().numpy() for k, s in result.aggregate_scores.items()}


def hallucination_groups(labels, reasons, data, samples) -> dict:
    """``{group name: (n,) bool}`` of hallucinations: all, per oracle reason (``reasons``:
    ``data.classify(samples)``), two-of-a-kind, and per shape count where ``data`` counts shapes
    (``samples``)."""
    groups = detect.reason_groups(labels, reasons, unions={"two-of-a-kind": TWO_OF_A_KIND})
    if has(data, "shape_counts"):
        counts = data.shape_counts(samples)
        for k in sorted(set(counts[labels].tolist())):
            groups[f"{k} shapes"] = (counts == k) & labels
    return groups


def _operating_point(s, labels, groups, calib, held) -> dict:
    """A pair used as a filter: threshold from the calibration half (≥ 96 % kept there), every
    number from the held-out half."""
    thr = detect.threshold_at_retained(s[calib], labels[calib], 0.96)
    removed, kept = detect.rates(s[held], labels[held], thr)
    return {"threshold": thr, "removed": removed, "kept": kept,
            "groups": detect.heldout_by_reason(s, labels, groups, held, thr)}


def pair_section(result, labels, reasons, data, seed: int, paper_window, out=None) -> dict:
    """The metrics.json section (see the module doc); ``reasons``: ``data.classify`` of the
    samples; figures into ``out`` when given."""
    pairs = pair_scores(result)
    samples = result.samples.float().cpu()
    groups = hallucination_groups(labels, reasons, data, samples)
    calib, held = detect.calibration_split(labels, 0.5, seed)
    chosen = detect.calibrate_window(pairs, labels, seed=seed)
    paper = ScoreKey(paper_window, "mean").key
    section = {
        "pairs": list(pairs), "n_heldout": int(held.size), "n_calibration": int(calib.size),
        "heldout": [{"pair": k, **detect.heldout_metrics(s, labels, groups, held)}
                    for k, s in pairs.items()],
        "calibrated": chosen.to_dict(),
        "calibrated_splits": detect.calibrate_over_splits(pairs, labels),
        "operating": {name: {"pair": key, **_operating_point(pairs[key], labels, groups, calib,
                                                              held)}
                      for name, key in (("calibrated", chosen.window), ("paper_mean", paper))}}
    best = ScoreKey.parse(chosen.window)
    maps = result.score_maps.get(best.window)
    if maps is not None and has(data, "blame"):
        k = pool_size(best.name)
        section["localisation"] = {
            "pair": chosen.window, "pool": k,
            "rates": analysis.localisation_rates(maps.cpu(), data.blame(samples), k)}
    if out is not None and maps is not None:
        scores = pairs[chosen.window]
        section["figures"] = {"score_maps": str(analysis.plot_score_map_overlays(
            samples, maps.cpu(), scores, out / "score_maps.png", labels=labels, reasons=reasons,
            peaks=analysis.map_peaks(maps.cpu(), pool_size(best.name)),
            title=f"score {chosen.window} (calibrated): highest and lowest, x̂0 variance as heat"))}
        section["figures"]["pair_sweep"] = str(analysis.plot_pair_sweep(
            section["heldout"], out / "pair_sweep.png", chosen=chosen.window, paper=paper))
    if out is not None:
        missed = _missed(pairs[chosen.window], labels, held, chosen.threshold)
        if missed.size:
            section.setdefault("figures", {})["missed"] = str(analysis.plot_image_grid(
                samples[missed], out / "missed.png", labels=np.ones(missed.size, bool),
                reasons=[reasons[i] for i in missed], scores=pairs[chosen.window][missed],
                title=f"held-out hallucinations the calibrated filter ({chosen.window}) keeps: "
                      f"{missed.size}, highest scores first"))
    return section


def _missed(scores, labels, held, threshold) -> np.ndarray:
    """Held-out hallucinations at or below the threshold (kept by the filter), highest first."""
    idx = held[labels[held] & (scores[held] <= threshold)]
    return idx[np.argsort(-scores[idx], kind="stable")]


_PCT1, _PCT0 = "{:.1f} %", "{:.0f} %"  # percentages already in percent


def pair_markdown(section: dict, top: int = 12) -> list:
    """report.md lines: the best pairs held out (and the paper's), the calibrated filter per
    group, the 20-split spread and the localisation table."""
    if not section:
        return []
    rows = sorted(section["heldout"], key=lambda r: (-r["removed_at_96"], -r["auroc"]))
    lines = [f"## Score maps: window × aggregation ({len(rows)} pairs, held out: "
             f"{section['n_heldout']} samples)", ""]
    lines += _pair_table(section, rows, top) + [""]
    lines += _filter_table(section["operating"])
    splits = section["calibrated_splits"]
    spread = splits["heldout_removed_at_96"]
    chosen = ", ".join(f"{k} ×{v}" for k, v in sorted(splits["windows_chosen"].items(),
                                                      key=lambda kv: -kv[1]))
    lines += ["", f"Over {splits['splits']} random splits: held-out removed at ≥ 96 % kept "
              f"{spread['mean']:.1f} % (min {spread['min']:.1f}, max {spread['max']:.1f}); "
              f"pairs chosen: {chosen}.", ""]
    loc = section.get("localisation")
    if loc:
        lines += [f"Where the {loc['pool']}×{loc['pool']}-pooled map of {loc['pair']} peaks, "
                  "hallucinations only: inside the strip the oracle blames?", ""]
        lines += markdown_table(
            ["reason", "n", "peak in a blamed strip", "chance (area)",
             "chance (peaks of all samples)"],
            [[reason, r["n"], 100 * r["hit_rate"], 100 * r["uniform"], 100 * r["shuffled"]]
             for reason, r in loc["rates"].items()],
            formats=[None, None, _PCT1, _PCT1, _PCT1])
        lines.append("")
    return lines


def _pair_table(section: dict, rows: list, top: int) -> list:
    """The best ``top`` pairs held out (and the paper's), marked calibrated / paper."""
    calibrated, paper = section["calibrated"]["window"], section["operating"]["paper_mean"]["pair"]
    shown = rows[:top] + [r for r in rows[top:] if r["pair"] == paper]
    groups = [g for g in ("two-of-a-kind", "two-squares", "malformed", "empty")
              if any(g in r["groups"] for r in shown)]

    def mark(pair):
        return " (calibrated)" if pair == calibrated else " (paper)" if pair == paper else ""

    return markdown_table(
        ["pair", "AUROC", "removed at ≥ 96 % kept", "kept at ≥ 95 % removed",
         *(f"{g}: removed" for g in groups)],
        [[f"{r['pair']}{mark(r['pair'])}", (r["auroc"], r.get("auroc_ci")),
          (r["removed_at_96"], r.get("removed_at_96_ci")), r["kept_at_95"],
          *(group_removed(r["groups"].get(g)) for g in groups)]
         for r in shown],
        formats=[None, with_interval(".3f"), with_interval(".1f", " %"), _PCT1,
                 *[with_interval(".0f", " %")] * len(groups)],
        missing="—") + ["", INTERVAL_NOTE]


def group_removed(row: dict | None):
    """A group's % removed with its interval (a table cell), None where the group is absent."""
    return None if row is None else (row["removed"], row.get("removed_ci"))


def _filter_table(operating: dict) -> list:
    """The calibrated and the paper's filter, per group of hallucinations (held out)."""
    groups = list(operating["calibrated"]["groups"])

    def group(o, g):
        return f"{o['groups'][g]['removed']:.0f} % ({o['groups'][g]['n']})" \
            if g in o["groups"] else None

    return ["Filters with the threshold chosen on the calibration half (≥ 96 % kept there), "
            "numbers on the held-out half:", ""] + markdown_table(
        ["filter", "pair", "kept", "removed", *groups],
        [[name, o["pair"], o["kept"], o["removed"], *(group(o, g) for g in groups)]
         for name, o in operating.items()],
        align="llrr" + "r" * len(groups), formats=[None, None, _PCT1, _PCT1, *[None] * len(groups)],
        missing="—")
