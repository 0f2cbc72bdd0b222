"""report.md and a self-contained report.html (figures inlined as base64 PNG) of a reproduction.
This module says which sections and which numbers; :mod:`modeinterp.reports` draws the tables,
lists the figures, makes the HTML page and writes the files."""

from __future__ import annotations

from pathlib import Path

from ..reports import INTERVAL_NOTE, Report, markdown_table, with_interval, write_report
from .detectors import detector_markdown
from .score_pairs import pair_markdown

PCT = "{:.1f}%"  # a percentage already in percent
AUROC_CI, PCT_CI = with_interval(".4f"), with_interval(".1f", "%")  # (value, 95 % interval)
PAPER_ROW = ["paper (Aithal et al. 2024)", "", "> 95%", "~96%"]


def _table(headers, rows, align=None, formats=None) -> list:
    """A table and the blank line after it; missing numbers read "n/a"."""
    return markdown_table(headers, rows, align=align, formats=formats, missing="n/a") + [""]


def markdown(metrics: dict, figs: dict) -> str:
    cfg, oracle, det = metrics["config"], metrics["oracle"], metrics["detection"]
    ran = metrics["sampling"]
    doc = Report(f"modeinterp reproduce {cfg['dataset']}", figs)
    trained = (f"Trained {cfg['train_steps']} steps ({cfg.get('prediction', 'eps')}-prediction) "
               f"on {cfg['n_train']:,} samples ({metrics['timings']['train_s']:.1f} s of "
               "training in this call; a resumed run counts only its new steps)")
    if metrics.get("model"):
        trained = (f"Model {metrics['model']['path']} (digest {metrics['model']['digest']}, "
                   f"{cfg.get('prediction', 'eps')}-prediction), not trained here")
    doc.paragraph(
        f"Device: {metrics['device_name']}. {trained}; sampled "
        f"{cfg['n_samples']:,} ({ran['method']}, {ran['steps']} steps) in "
        f"{metrics['timings']['sample_s']:.1f} s ({metrics['samples_per_s']:,.0f} samples/s), "
        f"score window {ran['window']} steps.")
    doc.extend(_oracle_section(oracle, metrics["n_non_finite"]))
    if det:
        doc.heading("Detection by x̂0 variance")
        doc.extend(_table(
            ["", "AUROC", "hallucinations removed", "in-support retained"],
            [["this run, threshold keeping ≥ 96% in-support", _ci(det, "auroc", "auroc_ci"),
              _ci(det, "removed_at_retained", "removed_ci"), det["retained_pct"]],
             ["this run, threshold removing ≥ 95%", "", det["removed_pct"],
              det["retained_at_removed"]], PAPER_ROW],
            formats=[None, AUROC_CI, PCT_CI, PCT]))
        counts = (f" {det['n_hallucinated']:,} hallucinations, {det['n_in_support']:,} "
                  "in-support samples." if "n_hallucinated" in det else "")
        doc.paragraph(INTERVAL_NOTE + counts)
    elif oracle.get("labelled") is not False:
        doc.paragraph("Detection not evaluated: the oracle found only one class of samples.")
    lf = metrics.get("label_free_filter")
    if lf:
        doc.heading("Label-free filtering (the paper's rule: draw N + 2.5%, keep the N lowest)")
        doc.paragraph(f"Kept {lf['n_kept']:,} of {lf['n_drawn']:,}: hallucination rate "
                      f"{lf['rate_before']:.2%} → {lf['rate_after']:.2%}.")
    doc.extend(_by_reason_section(metrics.get("detection_by_reason")))
    doc.extend(_window_section(metrics))
    doc.extend(pair_markdown(metrics.get("score_pairs")))
    doc.extend(detector_markdown(metrics.get("detectors")))
    if metrics["early_exit"]:
        doc.heading("Pre-emptive detection: deciding after the first k window steps")
        doc.extend(_table(["k", "AUROC"], [[r["window_steps"], _ci(r, "auroc", "auroc_ci")]
                                           for r in metrics["early_exit"]],
                          align="rr", formats=[None, AUROC_CI]))
    return doc.markdown()


def _oracle_section(oracle: dict, n_bad: int) -> list:
    """The oracle's verdict: toy mixtures by region, images by reason."""
    head = ["## Mode interpolation (oracle)", ""]
    if oracle.get("labelled") is False:
        return head + [f"No oracle for this dataset: the {oracle['n']:,} samples are ranked by "
                       "their hallucination score only (figures), nothing is labelled or "
                       "counted as a hallucination.", ""]
    counts = [oracle["n"], oracle["n_hallucinated"], oracle["rate"]]
    if "n_between_neighbours" in oracle:  # a toy mixture
        return head + _table(
            ["samples", "hallucinated", "rate", "between nearest-neighbour modes", "elsewhere",
             "of which between second-nearest modes", "non-finite"],
            [counts + [oracle["n_between_neighbours"], oracle["n_elsewhere"],
                       oracle["n_between_second_neighbours"], n_bad]],
            align="rrrrrrr", formats=[",", ",", ".2%", ",", ",", ",", None]) + [
            "Second-nearest modes are the square grid's diagonals and the diamond's long (axis-"
            "aligned) directions; the paper finds interpolation between nearest neighbours only.",
            ""]
    lines = head + _table(["samples", "hallucinated", "rate", "non-finite"], [counts + [n_bad]],
                          align="rrrr", formats=[",", ",", ".2%", None])
    if oracle.get("label"):
        lines += [f"Label: {oracle['label']}.", ""]
    for key, title in (("reasons", "reason"), ("shape_counts", "well-formed shapes"),
                       ("digit_counts", "digit read")):
        if oracle.get(key):
            lines += _table([title, "images"], list(map(list, oracle[key].items())),
                            formats=[None, ","])
    if "well_formed_fraction" in oracle:
        lines += [f"Images whose every blob is a well-formed shape: "
                  f"{oracle['well_formed_fraction']:.1%}.", ""]
    return lines


def _by_reason_section(by: dict | None) -> list:
    """AUROC per kind of hallucination, and among images with the same number of shapes."""
    if not by or not (by.get("by_reason") or by.get("by_count")):
        return []
    lines = ["## Which hallucinations does the score find?", ""]
    if by.get("by_reason"):
        lines += ["Each reason against the in-support samples (paper's window):", ""]
        lines += _table(["reason", "samples", "AUROC"],
                        [[r, v["n"], _ci(v, "auroc", "auroc_ci")]
                         for r, v in by["by_reason"].items()],
                        formats=[None, ",", AUROC_CI])
    if by.get("by_count"):
        lines += ["Among images with the same number of well-formed shapes (the score averages "
                  "x̂0's variance over pixels, so more foreground alone raises it):", ""]
        lines += _table(["shapes", "images", "hallucinated", "AUROC"],
                        [[k, v["n"], v["n_hallucinated"], _ci(v, "auroc", "auroc_ci")]
                         for k, v in by["by_count"].items()],
                        align="rrrr", formats=[None, ",", ",", AUROC_CI])
    lines += [INTERVAL_NOTE, ""]
    return lines


def _ci(row: dict, key: str, interval: str) -> tuple:
    """``row[key]`` with its interval (None where the row has none) for AUROC_CI / PCT_CI."""
    return row[key], row.get(interval)


def _window_name(window) -> str:
    """``last 10`` for a last-K window, ``steps [40, 60)`` for a mid-trajectory one."""
    if isinstance(window, (list, tuple)):
        return f"steps [{window[0]}, {window[1]})"
    return f"last {window}"


def _window_order(row) -> tuple:
    w = row["window"]
    return (1, *w) if isinstance(w, (list, tuple)) else (0, w, 0)


def _window_section(metrics: dict) -> list:
    """The window sweep, the held-out calibrated window beside the paper's last-K numbers, and
    whether the label-free choice agrees."""
    sweep, free = metrics.get("window_sweep"), metrics.get("label_free")
    if not sweep:
        return []
    lines = ["## Which window? (sweep, calibrated, label-free)", "",
             "All samples, each window scored in the same sampling pass:", ""]
    lines += _table(["window", "AUROC", "removed at ≥ 96% kept"],
                    [[_window_name(r["window"]), _ci(r, "auroc", "auroc_ci"),
                      _ci(r, "removed_at_96", "removed_at_96_ci")]
                     for r in sorted(sweep, key=_window_order)],
                    align="rrr", formats=[None, AUROC_CI, PCT_CI])
    lines += _calibrated_lines(metrics)
    if free:
        agree = "the same window" if free["same_as_calibrated"] else "a different window"
        lines += [f"Label-free choice (the window whose highest log-scores stand farthest out "
                  f"of the bulk, no labels): window **{_window_name(free['window'])}**, {agree} "
                  "than the calibrated one.", ""]
    return lines


def _pct(v) -> str:
    return "n/a" if v is None else PCT.format(v)


def _calibrated_lines(metrics: dict) -> list:
    """The calibrated window on the held-out half beside the paper's, and over random splits."""
    cal, det, lines = metrics.get("calibrated"), metrics["detection"], []
    if cal:
        paper = metrics["sampling"]["window"]
        lines += [
            f"Calibrated: window **{_window_name(cal['window'])}** chosen on a calibration half "
            f"({cal['n_calibration']:,} samples); every number below is on the other half "
            f"({cal['n_heldout']:,}), which the choice never saw.", ""]
        lines += _table(
            ["", "AUROC", "removed at ≥ 96% kept", "kept at ≥ 95% removed"],
            [[f"calibrated window {_window_name(cal['window'])}, held out", cal["heldout_auroc"],
              cal["heldout_removed_at_96"], cal["heldout_kept_at_95"]],
             [f"paper's window (last {paper}), all samples", det["auroc"],
              det["removed_at_retained"], det["retained_at_removed"]], PAPER_ROW],
            formats=[None, ".4f", PCT, PCT])
        lines += [f"With the calibration threshold ({cal['threshold']:.3g}) the held-out half "
                  f"loses {_pct(cal['heldout_removed'])} of its hallucinations and keeps "
                  f"{_pct(cal['heldout_kept'])} of its in-support samples.", ""]
    splits = metrics.get("calibrated_splits")
    if splits:
        r = splits["heldout_removed_at_96"]
        chosen = ", ".join(f"{w} ({n}×)" for w, n in splits["windows_chosen"].items())
        lines += [f"Over {splits['splits']} random calibration/held-out splits: windows chosen "
                  f"{chosen}; held-out removed at ≥ 96% kept {_pct(r['mean'])} on average "
                  f"({_pct(r['min'])}–{_pct(r['max'])}), held-out AUROC "
                  f"{splits['heldout_auroc_mean']:.4f}; with each split's calibration threshold "
                  f"{_pct(splits['heldout_removed_mean'])} removed, "
                  f"{_pct(splits['heldout_kept_mean'])} kept.", ""]
    return lines


def write_reports(metrics: dict, figs: dict, out: Path) -> None:
    """report.md and report.html (figures inlined) into ``out``, atomically."""
    write_report(out, markdown(metrics, figs), figs)
