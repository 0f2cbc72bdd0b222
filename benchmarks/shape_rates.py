"""Simple Shapes hallucination rates of sampled runs, side by side: two-of-a-kind (the paper's mode
interpolation), empty, malformed, a shape in another shape's strip, and any hallucination, each
with its exact binomial 95 % interval — the table for choosing a recipe or checkpoint by how many
two-of-a-kind images it makes per image sampled.

    modeinterp sample shapes --quick --config configs/shapes32-best.toml --model CKPT \\
        --n-samples 512 --compile --sample-batch 64 --out runs/ckpt-N
    python benchmarks/shape_rates.py runs/ckpt-3000 runs/ckpt-6000 ... [--size 32]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modeinterp.detect import rate_interval
from modeinterp.experiments.score_pairs import TWO_OF_A_KIND

COLUMNS = {"two-of-a-kind": lambda r: bool(r & set(TWO_OF_A_KIND)),
           "empty": lambda r: "empty" in r, "malformed": lambda r: "malformed" in r,
           "wrong strip": lambda r: any(x.endswith("-strip") for x in r),  # e.g. square-in-…
           "any": bool}


def rates(run: Path, size: int) -> dict:
    from modeinterp.data import SimpleShapes
    from modeinterp.sampling import load_samples

    samples = load_samples(run / "samples.pt").samples.float()
    reasons = SimpleShapes(size=size).classify(samples)
    out = {"n": len(reasons)}
    for name, test in COLUMNS.items():
        k = sum(test(r) for r in reasons)
        out[name] = (k, 100 * k / len(reasons), *rate_interval(k, len(reasons)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="folders holding samples.pt")
    p.add_argument("--size", type=int, default=32, help="image side (default 32)")
    args = p.parse_args()
    print("| run | samples | " + " | ".join(f"{c} (images, % [95 %])" for c in COLUMNS) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    for run in args.runs:
        r = rates(run, args.size)
        cells = [f"{k} · {v:.2f} [{lo:.2f}, {hi:.2f}]" for k, v, lo, hi in
                 (r[c] for c in COLUMNS)]
        print(f"| `{run}` | {r['n']:,} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
