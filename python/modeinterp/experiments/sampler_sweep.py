"""The sampler as an experiment axis: one trained model, the same seeds, several samplers.

A sampler is spelled ``METHOD[:STEPS[:ETA]]``: ``ddpm`` (ancestral DDPM over all T steps,
fixed-large variance: the paper's), ``ddpm:250`` (respaced), ``ddim:100:0.5`` (DDIM, 100 steps,
η = 0.5). Each sampler samples into its own folder in shards (resumable: a killed sweep continues
where it stopped) and gets the same evaluation: hallucination rate and per-reason counts, the
paper's pixel mean and every (window × aggregation) pair held out, the calibrated filter over 20
random splits, the fitted detectors, and (given the model) the repair of flagged samples
(:mod:`.mitigation`)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ..pipeline import stages
from .config import ReproduceConfig
from .recipe import dataset_of, sample_run
from .detectors import detector_section
from .mitigation import repair_markdown, repair_section
from .plan import plan
from .score_pairs import pair_section

SAMPLERS = ("ddpm", "ddpm:250", "ddim:100:0", "ddim:100:0.5", "ddim:100:1")


def parse_sampler(text: str) -> dict:
    """``"ddim:100:0.5"`` -> {"method": "ddim", "steps": 100, "eta": 0.5} (steps None: all T)."""
    parts = str(text).strip().split(":")
    if parts[0] not in ("ddpm", "ddim") or len(parts) > 3:
        raise ValueError(f"sampler must look like ddpm, ddpm:250 or ddim:100:0.5, got {text!r}")
    try:
        steps = int(parts[1]) if len(parts) > 1 else None
        eta = float(parts[2]) if len(parts) > 2 else 0.0
    except ValueError:
        raise ValueError(f"sampler must look like ddpm, ddpm:250 or ddim:100:0.5, got {text!r}") \
            from None
    if parts[0] == "ddpm" and eta != 0:
        raise ValueError(f"sampler {text!r}: η is DDIM's; DDPM takes none")
    return {"method": parts[0], "steps": steps, "eta": eta}


def sampler_config(cfg: ReproduceConfig, sampler: str) -> ReproduceConfig:
    return dataclasses.replace(cfg, **parse_sampler(sampler))


def sampler_row(sampler: str, run: ReproduceConfig, data, result, seconds: float,
                out: Path, model=None, device="cpu", progress: bool = False) -> dict:
    """One sweep row: the oracle's counts and the detection numbers, held out; with ``model``,
    the repair of flagged samples too (:mod:`.mitigation`)."""
    ev = stages.evaluate(data, result)
    row = {"sampler": sampler, "steps": len(result.timesteps), "n": ev.summary.n,
           "n_non_finite": ev.n_non_finite, "rate": ev.summary.rate,
           "reasons": {r: n for r, n in ev.summary.reasons.items() if r != "ok"},
           "wall_s": seconds}
    if ev.labels is None or ev.labels.all() or not ev.labels.any():
        return row
    window = result.step_range[1] - result.step_range[0]
    section = pair_section(ev.result, ev.labels, ev.reasons, data, run.seed, window, out)
    best = max(section["heldout"], key=lambda r: (r["removed_at_96"], r["auroc"]))
    paper = next(r for r in section["heldout"]
                 if r["pair"] == section["operating"]["paper_mean"]["pair"])
    row.update({
        "paper_auroc": paper["auroc"], "paper_removed": paper["removed_at_96"],
        "best_pair": best["pair"], "best_removed": best["removed_at_96"],
        "best_two_of_a_kind": best["groups"].get("two-of-a-kind", {}).get("removed"),
        "calibrated_pair": section["operating"]["calibrated"]["pair"],
        "calibrated_removed": section["operating"]["calibrated"]["removed"],
        "calibrated_kept": section["operating"]["calibrated"]["kept"],
        "splits_removed": section["calibrated_splits"]["heldout_removed_at_96"]["mean"]})
    detectors = detector_section(ev.result, ev.labels, ev.reasons, data, plan(run).seeds,
                                 run_steps=(len(result.timesteps), result.step_range[0]))
    if not detectors:
        return row
    fitted = max((r for r in detectors["rows"] if r["family"] == "supervised"),
                 key=lambda r: (r["removed_at_96"], r["auroc"]))
    row.update({"detector": f"{fitted['kind']} · {fitted['features']}",
                "detector_removed": fitted["removed_at_96"],
                "detector_two_of_a_kind": fitted["groups"].get("two-of-a-kind", {}).get("removed"),
                "detector_groups": fitted["groups"],
                "detector_splits_removed": detectors["splits"]["removed"]["mean"]})
    early = next((r for r in detectors["rows"] if r["family"] == "early exit"), None)
    if early is not None:  # decided k steps into the window: the compute a flagged sample skips
        row.update({"early_exit": early["features"], "early_exit_removed": early["removed_at_96"],
                    "early_exit_compute_saved": early["compute_saved"]})
    if model is not None:
        row["repair"] = repair_section(model, run, data, ev, device=device, progress=progress)
    return row


def sweep_markdown(rows: list, cfg: ReproduceConfig) -> list:
    """ablation.md lines: one row per sampler (percentages held out, ≥ 96 % kept)."""
    from ..reports import markdown_table

    def pct(v):
        return "—" if v is None else f"{v:.1f} %"

    table = markdown_table(
        ["sampler", "steps", "n", "hallucinated", "reasons", "paper mean: AUROC",
         "paper mean: removed", "best pair", "best: removed", "best: two-of-a-kind",
         "calibrated, 20 splits", "detector", "detector: removed", "detector: two-of-a-kind",
         "detector, 20 splits", "wall s"],
        [[r["sampler"], r["steps"], r["n"], pct(100 * r["rate"]),
          ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items(), key=lambda kv: -kv[1])),
          r.get("paper_auroc"), pct(r.get("paper_removed")), r.get("best_pair", "—"),
          pct(r.get("best_removed")), pct(r.get("best_two_of_a_kind")),
          pct(r.get("splits_removed")), r.get("detector", "—"), pct(r.get("detector_removed")),
          pct(r.get("detector_two_of_a_kind")), pct(r.get("detector_splits_removed")),
          f"{r['wall_s']:.0f}"] for r in rows],
        formats=[None, None, None, None, None, ".3f", *[None] * 10],
        missing="—")
    repairs = [line for r in rows if r.get("repair")
               for line in (f"## Repair: {r['sampler']}", "", *repair_markdown(r["repair"]))]
    return [f"# Sampler sweep ({cfg.dataset}, {cfg.n_samples} samples each, seed "
            f"{plan(cfg).seeds.sampling()})",
            "", "Removed: held-out hallucinations removed at ≥ 96 % of held-out good samples "
            "kept; wall s: this invocation's sampling and scoring (a resumed sampler shows only "
            "the rest).", "", *table, "", *repairs]


def run_sampler_sweep(cfg: ReproduceConfig, model, out, samplers=SAMPLERS, *, device="cpu",
                      progress: bool = True, shard_size: int | None = None) -> list:
    """Every sampler of ``samplers`` on ``model`` with ``cfg``'s seeds and sample count, each in
    ``out/sampler=<name>/`` (shards of ``shard_size``, default one sampling batch)."""
    runs = [(s, sampler_config(cfg, s)) for s in samplers]  # every spelling checked up front
    data = dataset_of(cfg)
    rows = []
    for sampler, run in runs:
        folder = Path(out) / f"sampler={sampler}"
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        result = sample_run(model, plan(run), device, progress, data, out=folder,
                            shard_size=shard_size or run.sample_batch)
        if result is not None:
            rows.append(sampler_row(sampler, run, data, result, time.perf_counter() - t0,
                                    folder, model, device, progress))
    return rows


__all__ = ["SAMPLERS", "parse_sampler", "run_sampler_sweep", "sampler_config", "sampler_row",
           "sweep_markdown"]
