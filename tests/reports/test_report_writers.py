"""The reproduction's and the recursive run's reports, drawn with modeinterp.reports: their
sections, tables and figures list from hand-made metrics (no training, no sampling)."""

from __future__ import annotations

from modeinterp.experiments.report import markdown as reproduce_markdown
from modeinterp.experiments.report import write_reports
from modeinterp.recursive.report import markdown as recursive_markdown


def _metrics():
    return {
        "config": {"dataset": "gaussian2d", "train_steps": 30, "prediction": "eps",
                   "n_train": 5000, "n_samples": 12000},
        "device_name": "cpu", "timings": {"train_s": 1.25, "sample_s": 2.5},
        "samples_per_s": 4800.0, "sampling": {"method": "ddpm", "steps": 100, "window": 10},
        "n_non_finite": 0,
        "oracle": {"n": 12000, "n_hallucinated": 120, "rate": 0.01, "reasons": {"ok": 11880,
                                                                               "between": 120}},
        "detection": {"auroc": 0.95, "removed_at_retained": 90.0, "retained_pct": 96.2,
                      "removed_pct": 95.1, "retained_at_removed": None,
                      "auroc_ci": [0.93, 0.97], "removed_ci": [float("nan"), float("nan")],
                      "n_hallucinated": 120, "n_in_support": 11880},
        "label_free_filter": None, "detection_by_reason": None, "score_pairs": None,
        "window_sweep": [{"window": [40, 60], "auroc": 0.9, "removed_at_96": 80.0},
                         {"window": 10, "auroc": 0.95, "removed_at_96": 90.0}],
        "calibrated": None, "calibrated_splits": None, "label_free": None,
        "early_exit": [{"window_steps": 2, "auroc": 0.875}]}


def test_reproduce_report_sections_and_tables(tmp_path):
    fig = tmp_path / "samples.png"
    fig.write_bytes(b"\x89PNG fake")
    md = reproduce_markdown(_metrics(), {"samples": fig})
    assert md.startswith("# modeinterp reproduce gaussian2d\n\nDevice: cpu. Trained 30 steps")
    assert "| 12,000 | 120 | 1.00% | 0 |" in md and "| between | 120 |" in md
    assert ("| this run, threshold keeping ≥ 96% in-support | 0.9500 [0.9300, 0.9700] | 90.0% | "
            "96.2% |") in md  # an interval where one was measured
    assert "Brackets: bootstrap 95 % intervals" in md and "120 hallucinations, 11,880" in md
    assert ("| this run, threshold removing ≥ 95% | | 95.1% | n/a |\n"
            "| paper (Aithal et al. 2024) | | > 95% | ~96% |") in md
    sweep = md.split("All samples, each window scored in the same sampling pass:")[1]
    assert sweep.index("| last 10 | 0.9500 | 90.0% |") < sweep.index("| steps [40, 60) |")
    assert "| k | AUROC |\n|---:|---:|\n| 2 | 0.8750 |" in md
    assert md.endswith("## Figures\n\n![samples](samples.png)\n")
    assert "## Figures" not in reproduce_markdown(_metrics(), {})  # the CLI prints this one
    write_reports(_metrics(), {"samples": fig}, tmp_path)
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == md
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "<td>last 10</td>" in html


def _summary():
    row = {"rate": 0.25, "train_rate": 0.0, "mode_coverage": 1.0, "histogram_kl": float("nan"),
           "sliced_wasserstein": 0.123456, "oracle": {"reasons": {"ok": 3, "between": 1}}}
    return {"config": {"base": {"dataset": "gaussian2d", "n_train": 300, "method": None,
                                "steps": 20, "T": 1000},
                       "generations": 3, "margin": 0.025},
            "device": "cpu", "n_keep": 200, "n_drawn": 205, "paper_window": 5,
            "calibrated_window": None, "calibration_note": "no hallucinations at generation 0",
            "stages": {"gen-0": {"train_s": 30.0, "sample_s": 30.0}},
            "lineages": {"none": [{**row, "generation": g} for g in range(3)],
                         "variance": [{**row, "generation": g, "rate": 0.1} for g in range(2)]}}


def test_recursive_report_tables():
    md = recursive_markdown(_summary(), {})
    assert md.startswith("# Recursive training: gaussian2d\n\n3 generations")
    assert "No variance-calibrated lineage: no hallucinations at generation 0." in md
    rate = md.split("## hallucination rate of the samples\n\n")[1].split("\n\n")[0]
    assert rate.splitlines() == ["| generation | none | variance |", "|---:|---:|---:|",
                                 "| 0 | 25.00% | 10.00% |", "| 1 | 25.00% | 10.00% |",
                                 "| 2 | 25.00% | – |"]
    assert "| 0 | – | – |" in md  # the histogram KL is NaN: missing
    assert "| 0 | 0.1235 | 0.1235 |" in md
    assert "| reason | generation 0 | none, gen 2 | variance, gen 1 |" in md
    assert "Compute: 1.0 min of training and sampling over 1 stages" in md
    assert "## Figures" not in md
