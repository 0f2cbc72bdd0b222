"""Does a faster forward keep the science? Two ``reproduce`` runs of one model with the same seeds
— float32 eager against a fast path (``--compile``, ``--precision bf16``) — compared: how far the
samples moved, how many images the oracle judges differently, the hallucination rate per reason
(exact binomial 95 % intervals) and the detection numbers (bootstrap 95 % intervals, from each
run's metrics.json). A row "agrees" when each run's value lies inside the other's interval.

    modeinterp reproduce shapes --quick --config configs/shapes32-best.toml --sample-batch 32 \\
        --model runs/shapes32-best/model.pt --out runs/fp32
    modeinterp reproduce ... --compile --out runs/compiled
    python benchmarks/fast_path_agreement.py runs/fp32 runs/compiled [--out table.md]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch


def _load(run: Path):
    from modeinterp.experiments.config import config_for
    from modeinterp.experiments.recipe import dataset_of
    from modeinterp.sampling import load_samples

    metrics = json.loads((run / "metrics.json").read_text())
    values = dict(metrics["config"])
    cfg = config_for(values.pop("dataset"), **values)
    return metrics, load_samples(run / "samples.pt"), dataset_of(cfg)


def _agree(a: float, a_ci, b: float, b_ci) -> str:
    def inside(v, ci):
        return ci is not None and not any(math.isnan(c) for c in ci) and ci[0] <= v <= ci[1]
    return "yes" if inside(a, b_ci) and inside(b, a_ci) else "**no**"


def _cell(v, ci, fmt) -> str:
    if ci is None or any(math.isnan(c) for c in ci):
        return format(v, fmt)
    return f"{format(v, fmt)} [{format(ci[0], fmt)}, {format(ci[1], fmt)}]"


def compare(run_a: Path, run_b: Path) -> str:
    from modeinterp.detect import rate_interval

    (ma, sa, data), (mb, sb, _) = _load(run_a), _load(run_b)
    if sa.samples.shape != sb.samples.shape:
        raise SystemExit(f"the runs hold different samples: {tuple(sa.samples.shape)} vs "
                         f"{tuple(sb.samples.shape)}")
    xa, xb = sa.samples.float(), sb.samples.float()
    ra, rb = data.classify(xa), data.classify(xb)
    n = len(ra)
    delta = (xa - xb).abs().flatten(1).amax(1)
    lines = [f"`{run_a}` (A) against `{run_b}` (B), {n:,} samples, the same seeds.", "",
             f"- largest |Δx| per image: median {float(delta.median()):.3g}, max "
             f"{float(delta.max()):.3g}; images judged differently by the oracle: "
             f"{sum(a != b for a, b in zip(ra, rb))} of {n:,}", ""]
    reasons = sorted(frozenset().union(*ra, *rb))
    rows = [("any (hallucinated)", [bool(r) for r in ra], [bool(r) for r in rb])] + \
        [(reason, [reason in r for r in ra], [reason in r for r in rb]) for reason in reasons]
    lines += ["| reason | A: images, rate [95 %] | B: images, rate [95 %] | agree |",
              "|---|---:|---:|:---:|"]
    for name, a, b in rows:
        ka, kb = int(np.sum(a)), int(np.sum(b))
        ca, cb = rate_interval(ka, n), rate_interval(kb, n)  # percent
        lines.append(f"| {name} | {ka} · {_cell(100 * ka / n, ca, '.2f')} % "
                     f"| {kb} · {_cell(100 * kb / n, cb, '.2f')} % | "
                     f"{_agree(100 * ka / n, ca, 100 * kb / n, cb)} |")
    lines += ["", "| detection | A [95 %] | B [95 %] | agree |", "|---|---:|---:|:---:|"]
    for name, a, b in _detection_rows(ma, mb):
        lines.append(f"| {name} | {_cell(a[0], a[1], '.3f')} | {_cell(b[0], b[1], '.3f')} | "
                     f"{_agree(a[0], a[1], b[0], b[1])} |")
    return "\n".join(lines)


def _detection_rows(ma: dict, mb: dict):
    """(name, (value, ci) of A, of B) for the headline numbers both runs report."""
    for key, ci, name in (("auroc", "auroc_ci", "paper's window: AUROC"),
                          ("removed_at_retained", "removed_ci",
                           "paper's window: % removed at ≥ 96 % kept")):
        da, db = ma.get("detection") or {}, mb.get("detection") or {}
        if key in da and key in db:
            yield name, (da[key], da.get(ci)), (db[key], db.get(ci))
    rows_a = {(r["kind"], r["features"]): r for r in (ma.get("detectors") or {}).get("rows", [])}
    rows_b = {(r["kind"], r["features"]): r for r in (mb.get("detectors") or {}).get("rows", [])}
    for key in sorted(rows_a.keys() & rows_b.keys()):
        a, b = rows_a[key], rows_b[key]
        yield (f"detector {key[0]} ({key[1]}), held out: AUROC",
               (a["auroc"], a.get("auroc_ci")), (b["auroc"], b.get("auroc_ci")))
        yield (f"detector {key[0]} ({key[1]}), held out: % removed at ≥ 96 % kept",
               (a["removed_at_96"], a.get("removed_at_96_ci")),
               (b["removed_at_96"], b.get("removed_at_96_ci")))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--out", type=Path, default=None, help="write the markdown here too")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    text = compare(args.run_a, args.run_b)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
