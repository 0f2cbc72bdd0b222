"""What the hallucination scores cost on CPU, counted in instructions (callgrind), not seconds: the
2-core VMs are too noisy for a few-percent difference in wall time.

Three runs of this file under ``valgrind --tool=callgrind``, one thread each: one that only imports
and warms up, the bare fused-op loop of e2e_runs.py without mean/m2, and the same loop with the
window's mean/m2 (the scored run). Both loops minus the first are the loops alone; the ratio is the
cost of the scores. valgrind has no AVX-512, so the noise takes the AVX2 path (as torch does).

    python benchmarks/scores_cost.py [--n 2000] [--steps 100]     # ≈ 40 min on the 2-core VM
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

MODES = ("none", "bare", "scored")


def child(mode: str, n: int, steps: int) -> None:
    import torch
    from e2e_runs import IMAGE_SCHEDULE, bare_fused_run, toy_workload

    torch.set_num_threads(1)
    w = toy_workload("cpu", steps, schedule=IMAGE_SCHEDULE)  # finite samples throughout
    runs = {"bare": bare_fused_run(w, scores=False), "scored": bare_fused_run(w, scores=True)}
    runs["bare"](8, 8)  # every mode warms up alike: first-call costs cancel in the difference
    if mode != "none":
        runs[mode](n, n)


def instructions(mode: str, n: int, steps: int, folder: Path) -> int:
    out = folder / f"callgrind.{mode}"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                    sys.executable, __file__, "--child", mode, "--n", str(n), "--steps", str(steps)],
                   check=True, capture_output=True, env=dict(os.environ, MODEINTERP_CPU_NOISE="avx2",
                                                             OMP_NUM_THREADS="1"))
    return int(re.search(r"^totals: (\d+)", out.read_text(), re.M).group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="samples, one batch (default 2000)")
    p.add_argument("--steps", type=int, default=100, help="DDPM steps (default 100, window 10)")
    p.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    if args.child:
        child(args.child, args.n, args.steps)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        counts = {}
        for mode in MODES:
            counts[mode] = instructions(mode, args.n, args.steps, Path(folder))
            print(f"{mode}: {counts[mode]:,} instructions", flush=True)
    bare, scored = (counts[m] - counts["none"] for m in ("bare", "scored"))
    print(f"loop without scores {bare / 1e9:.3f} G, with scores {scored / 1e9:.3f} G: "
          f"the scores cost {100 * (scored / bare - 1):+.2f} % ({args.n} samples × "
          f"{args.steps} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
