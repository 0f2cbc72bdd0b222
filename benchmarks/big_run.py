"""One call, many toy samples: ``Sampler.sample`` of N samples × T steps of the paper's 2-D MLP
(random weights: the cost does not depend on them) with hallucination scores, in batches, and the
wall time, samples/s and peak memory it took. The issue's goal: 10M samples × 1000 steps on a GPU.

    python benchmarks/big_run.py --device cuda --n 10000000 --batch 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

from modeinterp import Sampler, Schedule
from modeinterp.models import MLPDenoiser


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--batch", type=int, default=1_000_000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--clip", type=float, default=10.0, help="bound on x̂0 (default 10)")
    p.add_argument("--graph", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    model = MLPDenoiser(2).to(args.device).eval()
    # x̂0 clipped as the toy configs do: the random-weight MLP diverges without it (2M of 2M
    # samples non-finite on the H200, 2026-12-04), and NaN rows are not the work being timed.
    table = Schedule.linear(args.steps, 1e-3, 0.2).table(clip=args.clip)
    graph = {"auto": None, "on": True, "off": False}[args.graph]
    sampler = Sampler(model, table, window=10, graph=graph)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = sampler.sample(args.n, (2,), batch_size=args.batch, device=args.device,
                            progress=True)  # one bar update per batch
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    row = {"device": torch.cuda.get_device_name() if cuda else "cpu", "n": args.n,
           "batch": args.batch, "steps": args.steps, "graph": args.graph, "seconds": wall,
           "samples_per_s": args.n / wall,
           "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
           "peak_host_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
           "finite": bool(torch.isfinite(result.samples).all() and
                          torch.isfinite(result.scores).all())}
    print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return 0 if row["finite"] else 1


if __name__ == "__main__":
    sys.exit(main())
