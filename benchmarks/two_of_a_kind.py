"""Does the x̂0 variance find mode interpolation on images? The two-of-a-kind study of a Simple
Shapes ``reproduce`` run (two squares, two triangles or two pentagons where every training image
holds at most one of each: the paper's image hallucination), read from what the run wrote.

``report`` — per oracle reason against the in-support images, on the run's held-out half:
  * hallucination rate per reason, exact binomial 95 % intervals;
  * AUROC and % removed at ≥ 96 % kept, each with its bootstrap 95 % interval (metrics.json), of
    the paper's score (pixel mean over the last 10 steps), of the (window × aggregation) pair that
    separates two-of-a-kind best on the *calibration* half (so its held-out numbers are not
    chosen on themselves), of the pair reproduce calibrated on all hallucinations, and of the
    fitted detectors on trajectory features only and on image features only;
  * localisation: how often the peak of the score map lies in the strip the oracle blames
    (Clopper–Pearson 95 % intervals), against chance;
  * figures: every two-of-a-kind image ranked by the paper's score, score histograms per reason.

``steps`` — where two-of-a-kind trajectories part from good ones: the first N rows of the run
drawn again (the same noise, checked to give the same samples), the x̂0 variance over the 10
steps ending at each reverse step, and its AUROC per reason at every step.

    modeinterp reproduce shapes --quick --config configs/shapes32-two-of-a-kind.toml \\
        --shard-size 512 --compile --out runs/two-of-a-kind
    python benchmarks/two_of_a_kind.py report runs/two-of-a-kind --out docs/results/two_of_a_kind
    python benchmarks/two_of_a_kind.py steps runs/two-of-a-kind --n 1024 --compile \\
        --out docs/results/two_of_a_kind
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from modeinterp.detect import rate_interval
from modeinterp.experiments.score_pairs import TWO_OF_A_KIND

GROUPS = ("two-of-a-kind", *TWO_OF_A_KIND, "empty", "malformed", "all")
PAPER = "10/mean"
WINDOW = 10  # the paper's: the x̂0 variance over the last 10 reverse steps


def _run(run: Path):
    """The run's config, model path, dataset, samples and oracle verdicts."""
    from modeinterp.experiments.config import config_for
    from modeinterp.experiments.recipe import dataset_of
    from modeinterp.sampling import load_samples

    metrics = json.loads((run / "metrics.json").read_text())
    values = dict(metrics["config"])
    cfg = config_for(values.pop("dataset"), **values)
    data = dataset_of(cfg)
    saved = load_samples(run)
    samples = saved.samples.float()
    reasons = data.classify(samples)
    model = Path(metrics["model"]["path"]) if "model" in metrics else run / "model.pt"
    return metrics, cfg, model, data, saved, samples, reasons


def _group_masks(reasons) -> dict:
    """{group: (n,) bool} for every group of ``GROUPS`` (all False where none occurs), as
    reproduce groups hallucinations (``detect.reason_groups``)."""
    from modeinterp import detect

    labels = np.array([bool(rs) for rs in reasons])
    groups = detect.reason_groups(labels, reasons, unions={"two-of-a-kind": TWO_OF_A_KIND})
    return {g: groups.get(g, np.zeros(len(reasons), bool)) for g in GROUPS}


def _cell(value, ci, fmt) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    lo, hi = ci if ci is not None else (float("nan"), float("nan"))
    if np.isnan(lo):
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def _best_pair_on_calibration(pairs: dict, labels, two: np.ndarray, seed: int) -> tuple:
    """The pair with the highest two-of-a-kind-vs-in-support AUROC on the calibration half of
    reproduce's split (the held-out half is never looked at); returns (pair, that AUROC)."""
    from modeinterp import detect

    calib, _ = detect.calibration_split(labels, 0.5, seed)
    keep = calib[two[calib] | ~labels[calib]]
    aurocs = {k: detect.auroc(s[keep], two[keep]) for k, s in pairs.items()}
    best = max(aurocs, key=aurocs.get)
    return best, aurocs[best]


def _columns(metrics: dict, best: str) -> dict:
    """{column title: {group: held-out numbers}}: the paper's pair, the best for two-of-a-kind,
    reproduce's calibrated pair, and the fitted detectors (trajectory / image only, label-free)."""
    heldout = {row["pair"]: row for row in metrics["score_pairs"]["heldout"]}
    calibrated = metrics["score_pairs"]["calibrated"]["window"]
    columns = {f"paper ({PAPER})": heldout[PAPER]["groups"],
               f"best for two-of-a-kind ({best})": heldout[best]["groups"],
               f"calibrated on all ({calibrated})": heldout[calibrated]["groups"]}
    for row in metrics["detectors"]["rows"]:
        if row["family"] == "supervised" and row["features"] in ("trajectory", "image only"):
            columns[f"detector: {row['features']} ({row['kind']})"] = row["groups"]
        if row["family"] == "label-free":
            columns[f"label-free detector: {row['kind']}"] = row["groups"]
    return columns


def _detection_tables(columns: dict) -> list:
    lines = []
    for metric, value, ci, fmt in (("AUROC", "auroc", "auroc_ci", "{:.2f}"),
                                   ("% removed at ≥ 96 % kept", "removed", "removed_ci",
                                    "{:.0f}")):
        lines += ["", f"**{metric}**, held out, each reason against the in-support images "
                      "(n: held-out images of the reason)", "",
                  "| reason | n | " + " | ".join(columns) + " |",
                  "|---|---:|" + "---:|" * len(columns)]
        for g in GROUPS:
            first = next((c[g] for c in columns.values() if g in c), None)
            if first is None:
                continue
            cells = [_cell(c[g][value], c[g].get(ci), fmt) if g in c else "–"
                     for c in columns.values()]
            lines.append(f"| {g} | {first['n']} | " + " | ".join(cells) + " |")
    return lines


def _localisation_table(loc: dict) -> list:
    lines = ["", "**Localisation**: the peak of the k×k-pooled score map inside the strip the "
                 "oracle blames (every image of the reason, an image with two reasons once for "
                 "each; chance: a random peak, and the peaks of all images)", "",
             "| score map | reason | n | peak in the blamed strip % [95 %] | chance: uniform % "
             "| chance: all peaks % |", "|---|---|---:|---:|---:|---:|"]
    for pair, rows in loc.items():
        for reason, r in rows.items():
            lo, hi = rate_interval(r["hits"], r["n"])
            lines.append(f"| {pair} | {reason} | {r['n']} | {100 * r['hit_rate']:.0f} "
                         f"[{lo:.0f}, {hi:.0f}] | {100 * r['uniform']:.0f} | "
                         f"{100 * r['shuffled']:.0f} |")
    return lines


def _ranked_figure(samples, reasons, masks, paper, path: Path) -> None:
    from modeinterp import analysis

    two = np.flatnonzero(masks["two-of-a-kind"])
    order = two[np.argsort(-paper[two], kind="stable")]
    shown = order[np.unique(np.linspace(0, len(order) - 1, min(96, len(order))).round()
                            .astype(int))]  # evenly spaced ranks: the whole range, top to bottom
    good = paper[~masks["all"]]
    below = [float((good < paper[i]).mean()) for i in shown]
    analysis.plot_image_grid(samples[shown], path, labels=np.ones(len(shown), bool),
                             reasons=[reasons[i] for i in shown], scores=below, n=96, cols=12,
                             title=f"the {len(order)} two-of-a-kind images ranked by the paper's "
                                   f"score ({PAPER}), {len(shown)} evenly spaced ranks from the "
                                   "highest; caption: share of in-support images scoring lower")


def report(args) -> int:
    from modeinterp.experiments.score_pairs import pair_scores

    metrics, cfg, _, data, saved, samples, reasons = _run(args.run)
    args.out.mkdir(parents=True, exist_ok=True)
    masks = _group_masks(reasons)
    n = len(reasons)
    pairs = pair_scores(saved)
    best, best_calib = _best_pair_on_calibration(pairs, masks["all"], masks["two-of-a-kind"],
                                                 cfg.seed)
    columns = _columns(metrics, best)
    rates = {g: (int(masks[g].sum()), *rate_interval(int(masks[g].sum()), n)) for g in GROUPS}
    lines = [f"Run `{args.run}`: {n:,} samples, {metrics['sampling']['method'].upper()} "
             f"{metrics['sampling']['steps']} steps (η = {cfg.eta}), held-out half "
             f"{metrics['score_pairs']['n_heldout']:,} samples. Intervals: 95 % (rates: exact "
             "binomial; AUROC and removed: bootstrap, hallucinations and in-support images "
             "resampled apart, 1000 resamples).", "",
             "| reason | images | % of samples [95 %] |", "|---|---:|---:|"]
    lines += [f"| {g} | {k:,} | {100 * k / n:.2f} [{lo:.2f}, {hi:.2f}] |"
              for g, (k, lo, hi) in rates.items()]
    lines += _detection_tables(columns)
    lines += ["", f"The best pair for two-of-a-kind was chosen on the calibration half "
                  f"(AUROC {best_calib:.3f} there) among {len(pairs)} pairs."]
    loc = _localisation(args.run, data, samples, reasons, (PAPER, best))
    lines += _localisation_table(loc)
    _ranked_figure(samples, reasons, masks, pairs[PAPER], args.out / "two_of_a_kind_ranked.png")
    calibrated = metrics["score_pairs"]["calibrated"]["window"]
    _histograms(pairs, masks, list(dict.fromkeys((PAPER, best, calibrated))),
                args.out / "score_histograms_by_reason.png")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    summary = {"run": str(args.run), "n": n, "rates": rates, "best_pair": best,
               "best_pair_calibration_auroc": best_calib, "columns": columns,
               "localisation": loc}
    (args.out / "report.json").write_text(json.dumps(summary, indent=1, default=float))
    print("\n".join(lines))
    return 0


def _localisation(run: Path, data, samples, reasons, pairs) -> dict:
    """Per pair (its window's score map, pooled like the pair or 4×4): per reason, the
    peak-in-blamed-strip rate with its hit count. Two pairs of one window and pool read the
    same map the same way: both rows are shown, with the same numbers."""
    from modeinterp.analysis import localisation_rates
    from modeinterp.sampling import ScoreKey
    from modeinterp.sampling.aggregations import pool_size

    maps = torch.load(run / "score_maps.pt")
    blame = data.blame(samples)
    out = {}
    for pair in pairs:
        window, aggregation = ScoreKey.parse(pair)
        k = pool_size(aggregation)
        rates = localisation_rates(maps[window.key], blame, k)
        rows = {r: {**v, "hits": round(v["hit_rate"] * v["n"])} for r, v in rates.items()}
        two = [rows[r] for r in TWO_OF_A_KIND if r in rows]
        if two:  # the union, pooled like localisation_rates' "all"
            n = sum(r["n"] for r in two)
            rows["two-of-a-kind"] = {
                "n": n, "hits": sum(r["hits"] for r in two),
                "hit_rate": sum(r["hits"] for r in two) / n,
                **{c: sum(r[c] * r["n"] for r in two) / n for c in ("uniform", "shuffled")}}
        out[f"{pair}: {window} map, peak of {k}×{k} pools"] = rows
    return out


def _histograms(pairs: dict, masks: dict, keys, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(6 * len(keys), 4), squeeze=False)
    groups = {"in support": ~masks["all"], "two-of-a-kind": masks["two-of-a-kind"],
              "empty": masks["empty"], "malformed": masks["malformed"]}
    for ax, key in zip(axes[0], keys):
        s = np.log10(np.maximum(pairs[key], 1e-12))
        bins = np.linspace(s.min(), s.max(), 50)
        for name, m in groups.items():
            if m.any():
                ax.hist(s[m], bins=bins, density=True, histtype="step", lw=1.5,
                        label=f"{name} ({int(m.sum())})")
        ax.set_xlabel(f"log10 score {key}")
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
        ax.set_title(f"{key}: per reason", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _per_step_scores(model_path: Path, cfg, data, n: int) -> tuple:
    """The first n rows of the run drawn again: (samples, (n, steps) x̂0 variance over the
    ``WINDOW`` steps ending at each step), from the sampler's per-step callback."""
    from modeinterp.experiments.plan import plan
    from modeinterp.train.checkpoint import load_model

    run = plan(cfg)
    sampler = run.sampler(load_model(model_path), windows=[run.main_window],
                          aggregations=("mean",))
    per_step = np.zeros((n, len(run.table)), np.float32)
    ring: list = []

    def collect(info):
        if info["i"] == 0:
            ring.clear()
        ring.append(info["x0"].float())
        del ring[:-WINDOW]
        if len(ring) > 1:
            stack = torch.stack(ring)
            per_step[info["batch"], info["i"]] = stack.var(0).flatten(1).mean(1).cpu().numpy()

    again = sampler.sample(n, data.sample_shape, seed=run.seeds.sampling(),
                           batch_size=cfg.sample_batch, callback=collect, progress=True)
    return again.samples.float(), per_step


def _step_curves(per_step, masks: dict, marks: list) -> dict:
    """Per reason (≥ 2 images): AUROC against in-support at each step of ``marks``, with its
    bootstrap interval and both classes' medians."""
    from modeinterp import detect

    good, curves = ~masks["all"], {}
    for g in ("two-of-a-kind", "empty", "malformed"):
        if masks[g].sum() < 2:
            continue
        keep = masks[g] | good
        rows = []
        for i in marks:
            s, y = per_step[keep, i], masks[g][keep]
            rows.append({"step": i, "auroc": detect.auroc(s, y),
                         "auroc_ci": detect.auroc_interval(s, y),
                         "median_group": float(np.median(s[y])),
                         "median_in_support": float(np.median(s[~y]))})
        curves[g] = {"n": int(masks[g].sum()), "rows": rows}
    return curves


def steps(args) -> int:
    from scipy.stats import spearmanr

    metrics, cfg, model_path, data, saved, samples, reasons = _run(args.run)
    n = min(args.n, len(samples))
    cfg = dataclasses.replace(cfg, compile=args.compile)  # how it runs, not what (not recorded)
    again, per_step = _per_step_scores(model_path, cfg, data, n)
    n_steps = per_step.shape[1]
    moved = float((again - samples[:n]).abs().max())
    # The last step's score is the paper's (10/mean), up to Welford's n against torch's n − 1.
    agreement = float(spearmanr(per_step[:, -1], saved.scores[:n].numpy()).statistic)
    masks = {g: m[:n] for g, m in _group_masks(reasons).items()}
    marks = sorted(set(range(1, n_steps, max(1, n_steps // 25))) | {n_steps - 1})
    curves = _step_curves(per_step, masks, marks)
    if not curves:
        raise SystemExit(f"the first {n} rows hold fewer than 2 images of every reason: "
                         "raise --n")
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"run": str(args.run), "n": n, "n_in_support": int((~masks["all"]).sum()),
              "steps": n_steps, "window": WINDOW, "max_abs_sample_difference": moved,
              "last_step_vs_run_score_spearman": agreement, "curves": curves}
    (args.out / "steps.json").write_text(json.dumps(result, indent=1, default=float))
    _plot_steps(result, args.out / "score_per_step.png")
    lines = [f"First {n:,} rows of `{args.run}` drawn again ({n_steps} steps; samples differ "
             f"from the run's by at most {moved:.1e}); score at step i: the x̂0 variance over "
             f"the {WINDOW} steps ending at i (the paper's score is the last step's: Spearman "
             f"{agreement:.4f} with the run's).", "",
             "| step | " + " | ".join(f"{g} (n = {c['n']}) AUROC [95 %]" for g, c in
                                     curves.items()) + " |",
             "|---:|" + "---:|" * len(curves)]
    for k, i in enumerate(marks):
        cells = [_cell(c["rows"][k]["auroc"], c["rows"][k]["auroc_ci"], "{:.2f}")
                 for c in curves.values()]
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    (args.out / "steps.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _plot_steps(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    for g, c in result["curves"].items():
        x = [r["step"] for r in c["rows"]]
        a.plot(x, [r["auroc"] for r in c["rows"]], label=f"{g} ({c['n']})")
        a.fill_between(x, [r["auroc_ci"][0] for r in c["rows"]],
                       [r["auroc_ci"][1] for r in c["rows"]], alpha=0.2)
        b.semilogy(x, [r["median_group"] for r in c["rows"]], label=f"{g}: median")
    first = next(iter(result["curves"].values()))
    b.semilogy([r["step"] for r in first["rows"]],
               [r["median_in_support"] for r in first["rows"]], "k--", label="in support: median")
    a.axhline(0.5, color="grey", lw=0.8)
    a.set_xlabel("reverse step")
    a.set_ylabel("AUROC against in-support")
    a.set_title(f"x̂0 variance over the {result['window']} steps ending here", fontsize=10)
    b.set_xlabel("reverse step")
    b.set_ylabel("score")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="tables and figures from the run's files")
    s = sub.add_parser("steps", help="AUROC per reverse step (draws the first N rows again)")
    for q in (r, s):
        q.add_argument("run", type=Path, help="the reproduce run folder")
        q.add_argument("--out", type=Path, required=True, help="folder for tables and figures")
    s.add_argument("--n", type=int, default=2048, help="rows drawn again (default 2048)")
    s.add_argument("--compile", action="store_true", help="torch.compile the denoiser")
    args = p.parse_args()
    return report(args) if args.command == "report" else steps(args)


if __name__ == "__main__":
    raise SystemExit(main())
