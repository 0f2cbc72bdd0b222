"""Ablation sweeps of the paper's toy findings, each a table (markdown + JSON) and a plot of the
hallucination rate: training-set size and mode separation (1-D: hallucinations fall as either
grows), and the number of sampling steps with DDPM vs DDIM (one trained model, many samplers).

Training-set size keeps either the number of **epochs** of the base config fixed (the paper's
protocol: its code trains a fixed number of epochs, so a larger set also means more optimizer
steps) or the number of optimizer **steps** (isolates the data from the compute)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import analysis, artifacts
from ..data.protocol import oracle_of
from ..pipeline import stages
from ..reports import markdown_table
from .config import ReproduceConfig
from .plan import plan
from .recipe import dataset_of, sample_run, train_model
from .sampler_sweep import SAMPLERS, run_sampler_sweep, sampler_config, sweep_markdown

BUDGETS = ("epochs", "steps")
SWEEPS = {
    "train-size": ("n_train", (500, 2_000, 10_000, 50_000)),
    "separation": ("separation", (0.5, 1.0, 1.5, 2.0)),
    "steps": ("steps", (10, 25, 50, 100, 250, None)),
    "sampler": ("sampler", SAMPLERS),  # one model, the samplers of sampler_sweep
}


def _row(data, result, **extra) -> dict:
    """One table row: the oracle's counts (every reason the dataset reports) and the AUROC."""
    ev = stages.evaluate(data, result)
    return {**extra, "n": ev.summary.n, "n_non_finite": ev.n_non_finite,
            "hallucinated": ev.summary.n_hallucinated, "rate": ev.summary.rate,
            **{reason.replace("-", "_"): n for reason, n in ev.summary.reasons.items()
               if reason != "ok"},
            "auroc": ev.report.auroc if ev.report else None}


def check_ablation(sweep: str, cfg: ReproduceConfig, budget: str = "epochs") -> None:
    """Refuse, before any training, a sweep this config's dataset cannot run."""
    if sweep not in SWEEPS:
        raise ValueError(f"sweep must be one of {sorted(SWEEPS)}, got {sweep!r}")
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    if sweep == "separation" and cfg.dataset != "gaussian1d":
        raise ValueError(f"the separation sweep moves the modes of gaussian1d; {cfg.dataset} has "
                         "no mode separation to sweep")
    oracle = oracle_of(dataset_of(cfg))
    if oracle == "none":
        raise ValueError(f"ablate measures hallucination rates, and {cfg.dataset} has no oracle "
                         "to measure them with (datasets with one: gaussian1d, gaussian2d, "
                         "gaussian2d-diamond, shapes; digits has a proxy)")


def _variant(cfg: ReproduceConfig, sweep: str, value, budget: str) -> ReproduceConfig:
    if sweep == "separation":
        return dataclasses.replace(cfg, means=(1.0, 1.0 + value, 1.0 + 2 * value))
    steps = cfg.train_steps
    if budget == "epochs":  # as many passes over the data as the base config makes
        steps = max(1, round(cfg.train_steps * value / cfg.n_train))
    return dataclasses.replace(cfg, n_train=value, train_steps=steps)


def run_ablation(sweep: str, cfg: ReproduceConfig, out, values=None, device: str = "cpu",
                 progress: bool = True, budget: str = "epochs") -> list:
    """Run one sweep into ``out/`` (each trained model under its own folder, so a killed sweep
    resumes where it stopped); returns the rows also written to ablation.json / ablation.md.

    budget: for the train-size sweep, keep the base config's "epochs" (default, the paper's
    protocol) or its optimizer "steps" fixed (module docstring)."""
    check_ablation(sweep, cfg, budget)
    key, default = SWEEPS[sweep]
    values = tuple(values) if values else default
    out = Path(out)
    rows = []
    if sweep == "sampler":
        for value in values:
            sampler_config(cfg, value)  # refuse a bad spelling before training
        model = train_model(plan(cfg), out / "model", device, progress).model
        rows = run_sampler_sweep(cfg, model, out, values, device=device, progress=progress)
        artifacts.save_json({"sweep": sweep, "config": cfg.to_dict(), "rows": rows},
                            out / "ablation.json")
        artifacts.save_text("\n".join(sweep_markdown(rows, cfg)), out / "ablation.md")
        analysis.ablation_plot(rows, "sampler", "rate", out / "ablation.png",
                               ylabel="hallucination rate", title=f"{cfg.dataset}: sampler")
        return rows
    if sweep == "steps":  # one model, every sampler
        model = train_model(plan(cfg), out / "model", device, progress).model
        for steps in values:
            for method in (("ddpm",) if steps is None else ("ddim", "ddpm")):
                run = dataclasses.replace(cfg, steps=steps, method=method)
                if steps is not None and method == "ddpm" and steps == cfg.T:
                    continue
                result = sample_run(model, plan(run), device, progress)
                rows.append(_row(dataset_of(run), result, steps=steps or cfg.T, method=method))
    else:
        for value in values:
            run = _variant(cfg, sweep, value, budget)
            folder = out / f"{key}={value}-{run.train_steps}steps"
            folder.mkdir(parents=True, exist_ok=True)
            model = train_model(plan(run), folder, device, progress).model
            result = sample_run(model, plan(run), device, progress)
            rows.append(_row(dataset_of(run), result, **{key: value},
                             train_steps=run.train_steps))
    _write(sweep, key, rows, cfg, out, budget if sweep == "train-size" else None)
    return rows


def _cell(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _write(sweep, key, rows, cfg, out: Path, budget) -> None:
    artifacts.save_json({"sweep": sweep, "config": cfg.to_dict(), "budget": budget,
                         "rows": rows}, out / "ablation.json")
    cols = list(dict.fromkeys(k for r in rows for k in r))  # rows differ in their reasons
    title = f"# Ablation: {sweep} ({cfg.dataset}{f', fixed {budget}' if budget else ''})"
    table = markdown_table(cols, [[r.get(c, 0) for c in cols] for r in rows],
                           align="r" * len(cols), formats=[_cell] * len(cols))
    artifacts.save_text("\n".join([title, "", *table]) + "\n", out / "ablation.md")
    x_key = "steps" if sweep == "steps" else key
    analysis.ablation_plot(rows, x_key, "rate", out / "ablation.png",
                           group_key="method" if sweep == "steps" else None,
                           logx=sweep in ("train-size", "steps"),
                           ylabel="hallucination rate",
                           title=f"{cfg.dataset}: {sweep}{f' (fixed {budget})' if budget else ''}")
