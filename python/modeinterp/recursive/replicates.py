"""Replicates of a recursive study: R lone runs, each with its own seed (``Seeds.replicate``),
and what they say together — per filter and generation the mean and the min–max over the
replicates, and each filter's difference from ``random``, paired within a replicate (the
lineages of one replicate share its generation 0, so the pairing removes its luck)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from .. import artifacts
from ..pipeline import distributed
from .config import RecursiveConfig
from .manifest import Manifest

__all__ = ["combine", "run_replicates", "spread"]

# The per-generation metrics whose spread is reported (the lone run's report has the rest).
METRICS = ("rate", "train_rate", "mode_coverage", "histogram_kl", "sliced_wasserstein",
           "frechet", "mean_shapes", "auroc")


def spread(values) -> dict | None:
    """{"mean", "min", "max", "n"} of the finite ``values`` (None when there are none)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return {"mean": sum(finite) / len(finite), "min": min(finite), "max": max(finite),
            "n": len(finite)}


def _minutes(summary: dict) -> float:
    return sum(s.get("train_s", 0) + s.get("sample_s", 0)
               for s in summary["stages"].values()) / 60


def _versus_random(filters: list, runs: list, generations: int) -> dict:
    """{filter: [None, spread of (rate − random's rate) at generation 1, …]}."""
    if "random" not in filters:
        return {}
    return {f: [None] + [spread(s["lineages"][f][g]["rate"] - s["lineages"]["random"][g]["rate"]
                                for s in runs) for g in range(1, generations)]
            for f in filters if f != "random"}


def _apart(rows: list, random: list) -> bool:
    """Every later generation's highest rate over replicates is below random's lowest."""
    return all(r["rate"] is not None and q["rate"] is not None
               and r["rate"]["max"] < q["rate"]["min"] for r, q in zip(rows[1:], random[1:]))


def _verdicts(lineages: dict, versus: dict) -> dict:
    """Per filter: below random at every later generation in every replicate (the largest
    paired difference < 0), its whole min–max band below random's (unpaired), and collapse:
    the mean rate of the last generation over the first's."""
    out = {}
    for f, rows in lineages.items():
        first, last = rows[0]["rate"], rows[-1]["rate"]
        diffs = versus.get(f, [])[1:]
        out[f] = {"below_random_always": (all(d is not None and d["max"] < 0 for d in diffs)
                                          if diffs else None),
                  "band_below_random": (_apart(rows, lineages["random"]) if diffs else None),
                  "rate_first": first and first["mean"], "rate_last": last and last["mean"],
                  "growth": (last["mean"] / first["mean"]) if first and last and first["mean"]
                  else None}
    return out


def combine(cfg: RecursiveConfig, runs: list) -> dict:
    """The study's summary from its replicates' summaries (same config but the seed): every
    filter that ran in all of them, each metric's spread per generation, the paired
    differences from random, the verdicts, and the compute."""
    filters = [f for f in cfg.filters if all(f in s["lineages"] for s in runs)]
    lineages = {f: [{"generation": g,
                     **{m: spread(s["lineages"][f][g].get(m) for s in runs) for m in METRICS}}
                    for g in range(cfg.generations)] for f in filters}
    versus = _versus_random(filters, runs, cfg.generations)
    n_stages = sum(len(s["stages"]) for s in runs)
    minutes = sum(_minutes(s) for s in runs)
    return {"config": cfg.to_dict(), "replicates": len(runs), "filters": filters,
            "seeds": [s["config"]["base"]["seed"] for s in runs],
            "left_out": {f: [s["left_out"].get(f) for s in runs] for f in cfg.filters
                         if f not in filters},
            "calibrated_windows": [s["calibrated_window"] for s in runs],
            "detectors": runs[0].get("detectors", {}), "paper_window": runs[0]["paper_window"],
            "n_keep": runs[0]["n_keep"], "n_drawn": runs[0]["n_drawn"],
            "device": runs[0]["device"], "lineages": lineages, "versus_random": versus,
            "verdicts": _verdicts(lineages, versus),
            "compute": {"minutes": minutes, "stages": n_stages,
                        "minutes_per_stage": minutes / max(n_stages, 1)}}


def run_replicates(cfg: RecursiveConfig, out: Path, run_one) -> dict:
    """Run (or resume) every replicate with ``run_one(config, folder)`` into ``out/rep-<r>``,
    then write the study's recursive.json, report and figures. ``out/manifest.json`` guards
    the folder against another study; each replicate's folder guards itself."""
    from .replicates_report import write_replicates_report

    main = distributed.process_rank()[0] == 0
    manifest = Manifest(out / "manifest.json", cfg.to_dict(), write=main)
    runs = []
    for r in range(cfg.replicates):
        one = cfg.replicate(r)
        runs.append(run_one(one, out / f"rep-{r}"))
        manifest.record(f"rep-{r}", seed=one.base.seed, minutes=round(_minutes(runs[-1]), 2),
                        done=time.strftime("%Y-%m-%d %H:%M:%S"))
    summary = combine(cfg, runs)
    if main:
        artifacts.save_json(summary, out / "recursive.json", default=float)
        write_replicates_report(summary, out)
    return summary
