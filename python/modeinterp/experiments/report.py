"""report.md and a self-contained report.html (figures inlined as base64 PNG)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from .score_pairs import pair_markdown


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.1f}%"


def markdown(metrics: dict, figs: dict) -> str:
    cfg, oracle, det = metrics["config"], metrics["oracle"], metrics["detection"]
    ran = metrics["sampling"]
    lines = [
        f"# modeinterp reproduce {cfg['dataset']}",
        "",
        f"Device: {metrics['device_name']}. Trained {cfg['train_steps']} steps "
        f"({cfg.get('prediction', 'eps')}-prediction) on "
        f"{cfg['n_train']:,} samples ({metrics['timings']['train_s']:.1f} s of training in this "
        f"call; a resumed run counts only its new steps); sampled "
        f"{cfg['n_samples']:,} ({ran['method']}, {ran['steps']} steps) in "
        f"{metrics['timings']['sample_s']:.1f} s ({metrics['samples_per_s']:,.0f} samples/s), "
        f"score window {ran['window']} steps.",
        "",
    ]
    lines += _oracle_section(oracle, metrics["n_non_finite"])
    if det:
        lines += [
            "## Detection by x̂0 variance",
            "",
            "| | AUROC | hallucinations removed | in-support retained |",
            "|---|---:|---:|---:|",
            f"| this run, threshold keeping ≥ 96% in-support | {det['auroc']:.4f} | "
            f"{_pct(det['removed_at_retained'])} | {_pct(det['retained_pct'])} |",
            f"| this run, threshold removing ≥ 95% | | {_pct(det['removed_pct'])} | "
            f"{_pct(det['retained_at_removed'])} |",
            f"| paper (Aithal et al. 2024) | | > 95% | ~96% |",
            "",
        ]
    elif oracle.get("labelled") is not False:
        lines += ["Detection not evaluated: the oracle found only one class of samples.", ""]
    lf = metrics.get("label_free_filter")
    if lf:
        lines += ["## Label-free filtering (the paper's rule: draw N + 2.5%, keep the N lowest)",
                  "", f"Kept {lf['n_kept']:,} of {lf['n_drawn']:,}: hallucination rate "
                  f"{lf['rate_before']:.2%} → {lf['rate_after']:.2%}.", ""]
    lines += _by_reason_section(metrics.get("detection_by_reason"))
    lines += _window_section(metrics)
    lines += pair_markdown(metrics.get("score_pairs"))
    if metrics["early_exit"]:
        lines += ["## Pre-emptive detection: deciding after the first k window steps", "",
                  "| k | AUROC |", "|---:|---:|"]
        lines += [f"| {r['window_steps']} | {r['auroc']:.4f} |" for r in metrics["early_exit"]]
        lines.append("")
    lines += ["## Figures", ""]
    lines += [f"![{name}]({Path(p).name})" for name, p in figs.items()]
    return "\n".join(lines) + "\n"


def _oracle_section(oracle: dict, n_bad: int) -> list:
    """The oracle's verdict: toy mixtures by region, images by reason."""
    head = ["## Mode interpolation (oracle)", ""]
    if oracle.get("labelled") is False:
        return head + [f"No oracle for this dataset: the {oracle['n']:,} samples are ranked by "
                       "their hallucination score only (figures), nothing is labelled or "
                       "counted as a hallucination.", ""]
    if "n_between_neighbours" in oracle:  # a toy mixture
        return head + [
            "| samples | hallucinated | rate | between nearest-neighbour modes | elsewhere "
            "| of which between second-nearest modes | non-finite |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {oracle['n']:,} | {oracle['n_hallucinated']:,} | {oracle['rate']:.2%} | "
            f"{oracle['n_between_neighbours']:,} | {oracle['n_elsewhere']:,} | "
            f"{oracle['n_between_second_neighbours']:,} | {n_bad} |", "",
            "Second-nearest modes are the square grid's diagonals and the diamond's long (axis-"
            "aligned) directions; the paper finds interpolation between nearest neighbours only.",
            ""]
    lines = head + ["| samples | hallucinated | rate | non-finite |", "|---:|---:|---:|---:|",
                    f"| {oracle['n']:,} | {oracle['n_hallucinated']:,} | {oracle['rate']:.2%} | "
                    f"{n_bad} |", ""]
    if oracle.get("label"):
        lines += [f"Label: {oracle['label']}.", ""]
    for key, title in (("reasons", "reason"), ("shape_counts", "well-formed shapes"),
                       ("digit_counts", "digit read")):
        if oracle.get(key):
            lines += [f"| {title} | images |", "|---|---:|"]
            lines += [f"| {k} | {v:,} |" for k, v in oracle[key].items()] + [""]
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
        lines += ["Each reason against the in-support samples (paper's window):", "",
                  "| reason | images | AUROC |", "|---|---:|---:|"]
        lines += [f"| {r} | {v['n']:,} | {v['auroc']:.4f} |" for r, v in by["by_reason"].items()]
        lines.append("")
    if by.get("by_count"):
        lines += ["Among images with the same number of well-formed shapes (the score averages "
                  "x̂0's variance over pixels, so more foreground alone raises it):", "",
                  "| shapes | images | hallucinated | AUROC |", "|---:|---:|---:|---:|"]
        lines += [f"| {k} | {v['n']:,} | {v['n_hallucinated']:,} | {v['auroc']:.4f} |"
                  for k, v in by["by_count"].items()]
        lines.append("")
    return lines


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
    sweep, cal, free = (metrics.get(k) for k in ("window_sweep", "calibrated", "label_free"))
    det = metrics["detection"]
    if not sweep:
        return []
    lines = ["## Which window? (sweep, calibrated, label-free)", "",
             "All samples, each window scored in the same sampling pass:", "",
             "| window | AUROC | removed at ≥ 96% kept |", "|---:|---:|---:|"]
    lines += [f"| {_window_name(r['window'])} | {r['auroc']:.4f} | {_pct(r['removed_at_96'])} |"
              for r in sorted(sweep, key=_window_order)]
    lines.append("")
    if cal:
        paper = metrics["sampling"]["window"]
        lines += [
            f"Calibrated: window **{_window_name(cal['window'])}** chosen on a calibration half "
            f"({cal['n_calibration']:,} samples); every number below is on the other half "
            f"({cal['n_heldout']:,}), which the choice never saw.", "",
            "| | AUROC | removed at ≥ 96% kept | kept at ≥ 95% removed |", "|---|---:|---:|---:|",
            f"| calibrated window {_window_name(cal['window'])}, held out | "
            f"{cal['heldout_auroc']:.4f} | "
            f"{_pct(cal['heldout_removed_at_96'])} | {_pct(cal['heldout_kept_at_95'])} |",
            f"| paper's window (last {paper}), all samples | {det['auroc']:.4f} | "
            f"{_pct(det['removed_at_retained'])} | {_pct(det['retained_at_removed'])} |",
            "| paper (Aithal et al. 2024) | | > 95% | ~96% |", "",
            f"With the calibration threshold ({cal['threshold']:.3g}) the held-out half loses "
            f"{_pct(cal['heldout_removed'])} of its hallucinations and keeps "
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
    if free:
        agree = "the same window" if free["same_as_calibrated"] else "a different window"
        lines += [f"Label-free choice (the window whose highest log-scores stand farthest out of "
                  f"the bulk, no labels): window **{_window_name(free['window'])}**, {agree} than the "
                  "calibrated one.", ""]
    return lines


def _inline_images(md_html: str, figs: dict) -> str:
    for name, p in figs.items():
        data = base64.b64encode(Path(p).read_bytes()).decode()
        md_html = md_html.replace(f'src="{Path(p).name}"', f'src="data:image/png;base64,{data}"')
    return md_html


def to_html(md: str, figs: dict) -> str:
    """A small Markdown subset (headings, tables, images, paragraphs) to standalone HTML."""
    body, table = [], []

    def flush_table():
        if table:
            rows = [r for r in table if not set(r.replace("|", "").strip()) <= set("-: ")]
            cells = [[html.escape(c.strip()) for c in r.strip("|").split("|")] for r in rows]
            head = "".join(f"<th>{c}</th>" for c in cells[0])
            rest = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>"
                           for r in cells[1:])
            body.append(f"<table><tr>{head}</tr>{rest}</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](")
            body.append(f'<figure><img src="{src.rstrip(")")}" alt="{html.escape(alt)}">'
                        f"<figcaption>{html.escape(alt)}</figcaption></figure>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:980px;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px}"
             "img{max-width:100%}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>modeinterp report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
    return _inline_images(page, figs)


def write_reports(metrics: dict, figs: dict, out: Path) -> None:
    md = markdown(metrics, figs)
    (out / "report.md").write_text(md)
    (out / "report.html").write_text(to_html(md, figs))
