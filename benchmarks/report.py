"""Side-by-side timing report of the fused step vs eager PyTorch (vs torch.compile on CUDA).

    python benchmarks/report.py --device cpu            # docs/benchmarks.md's CPU table
    python benchmarks/report.py --device cuda           # docs/benchmarks.md's GPU table (names the card)
    python benchmarks/report.py --diffusers             # + scored vs stock diffusers scheduler
    python benchmarks/report.py --windows               # + cost of 1 vs 6 score windows
    python benchmarks/report.py --e2e                   # + whole sampling runs (e2e_report.py)

Each variant is timed in the same run with torch.utils.benchmark (which synchronises CUDA),
median of repeated blocks. Effective bandwidth counts the fused step's minimal traffic in float32:
x, out read; x_prev written; mean, m2 read and written = 28 bytes/element. On CUDA it is compared
with a measured device-to-device copy (bytes read + written) of the same card.

Every row is printed as soon as it is measured and --json is rewritten after every table, so a
run cut short by a timeout keeps what it measured.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.utils.benchmark as tb

sys.path.insert(0, str(Path(__file__).parent))
from baselines import eager_randn_step  # noqa: E402
from e2e_report import add_arguments as add_e2e_arguments  # noqa: E402
from e2e_report import e2e_tables  # noqa: E402

import modeinterp  # noqa: E402
from modeinterp import artifacts, ops, reference  # noqa: E402
from modeinterp.reports import markdown_table, table_header, table_row  # noqa: E402

COEF = (1.02, -0.2, 0.9, 0.05, 0.0, 0.1, 1.0)
BYTES_PER_ELEMENT = 28


def median_seconds(fn, min_run_time: float) -> float:
    # torch.utils.benchmark runs with one thread unless told otherwise.
    return tb.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads()
                    ).blocked_autorange(min_run_time=min_run_time).median


def copy_bandwidth(device: str) -> float:
    src = torch.randn(1 << 28, device=device)  # 1 GiB
    dst = torch.empty_like(src)
    t = median_seconds(lambda: dst.copy_(src), 0.5)
    return 2 * src.numel() * 4 / t


def variants(x, out, mean, m2, device):
    gen = torch.Generator(device=device).manual_seed(0)
    fused = lambda: ops.fused_step(x, out, COEF, seed=1, step=5, mean=mean, m2=m2, count=3)
    ref = lambda: reference.fused_step(x, out, COEF, seed=1, step=5, mean=mean, m2=m2, count=3)
    randn = lambda: eager_randn_step(x, out, COEF, mean, m2, 3, gen)
    found = {"fused (modeinterp)": fused, "eager reference (Philox in torch)": ref,
             "eager torch.randn": randn}
    if device == "cuda":
        # Not the reference under torch.compile: its Philox in torch ops and .item() graph breaks
        # compiled for over 3 minutes on the H200 without finishing (gpu_session, 2026-11-29).
        # dynamic=False: one graph per size (a symbolic size broke torch.randn, H200 2026-12-04).
        compiled_randn = torch.compile(eager_randn_step, dynamic=False)
        found["torch.compile torch.randn"] = lambda: compiled_randn(x, out, COEF, mean, m2, 3,
                                                                     None)
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", default=None,
                   help="comma-separated element counts (default: cpu 2M,3.1M; cuda 2M,32M)")
    p.add_argument("--min-run-time", type=float, default=1.0)
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    p.add_argument("--diffusers", action="store_true",
                   help="also time a 10-step run of the scored diffusers scheduler vs the stock "
                        "one, with and without an eager Welford update (needs diffusers)")
    p.add_argument("--windows", action="store_true",
                   help="also time one step with 1 vs 6 active score windows, and a whole "
                        "1000-step toy run with 1 vs 6 windows")
    add_e2e_arguments(p)
    args = p.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # each row shows up as soon as it is measured
    cuda = args.device.startswith("cuda")
    default = "2000000,32000000" if cuda else "2000000,3145728"
    sizes = [int(float(s)) for s in (args.sizes or default).split(",")]
    card = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    report = {"device": card, "rows": []}

    def save():  # atomically: a run killed mid-write keeps the previous JSON
        if args.json:
            artifacts.save_json(report, args.json, indent=1)

    print(f"device: {card}; torch {torch.__version__}; modeinterp {modeinterp.__version__}")
    step_table(args.device, sizes, args.min_run_time, report["rows"])
    save()
    if args.diffusers:
        report["diffusers"] = diffusers_table(args.device, args.min_run_time)
        save()
    if args.windows:
        report["windows"] = windows_table(args.device, args.min_run_time)
        save()
    if args.e2e:
        e2e_tables(args, report.setdefault("e2e", {}), save)
    return 0


def step_table(device: str, sizes: list, min_run_time: float, rows: list) -> None:
    """One fused step vs its eager / compiled twins; rows appended (and printed) as measured."""
    copy_bw = copy_bandwidth(device) if device.startswith("cuda") else None
    if copy_bw:
        print(f"device-to-device copy bandwidth (read+write): {copy_bw / 1e9:.0f} GB/s")
    headers = ["elements", "variant", "time (ms)", "eff. GB/s", "fused is x faster"]
    formats = [",", None, ".3f", ".1f", ".2f"]
    if copy_bw:
        headers, formats = headers + ["% of copy BW"], formats + ["{:.0f}%"]
    print("\n".join(table_header(headers, align="rlrrr" + "r" * bool(copy_bw))))
    for n in sizes:
        x, out = torch.randn(n, device=device), torch.randn(n, device=device)
        mean, m2 = torch.zeros(n, device=device), torch.zeros(n, device=device)
        fused = None
        for name, fn in variants(x, out, mean, m2, device).items():  # the fused step first
            fn()  # warm-up (and compilation)
            t = median_seconds(fn, min_run_time)
            fused = fused or t
            gbs = BYTES_PER_ELEMENT * n / t / 1e9
            r = {"elements": n, "variant": name, "ms": t * 1e3, "GB/s": gbs,
                 "speedup_of_fused": t / fused,
                 "pct_copy_bw": 100 * gbs * 1e9 / copy_bw if copy_bw else None}
            rows.append(r)
            print(table_row([n, name, r["ms"], gbs, r["speedup_of_fused"], r["pct_copy_bw"]]
                            [:len(headers)], formats))


def diffusers_table(device: str, min_run_time: float) -> list:
    """Scored vs stock diffusers scheduler steps, same run (see benchmarks/diffusers_runs.py)."""
    from diffusers_runs import SHAPES, STEPS, make_runs

    rows = []
    print(f"\n{STEPS}-step scheduler run, time per step (model excluded):")
    formats = [None, None, ".3f", ".2f"]
    print("\n".join(table_header(["batch", "variant", "ms / step", "scored is x faster"],
                                 align="llrr")))
    for label, shape in SHAPES.items():
        scored = None
        for name, fn in make_runs(shape, device).items():  # the scored scheduler first
            fn()  # warm-up
            t = median_seconds(fn, min_run_time) / STEPS
            scored = scored or t
            ratio = t / scored
            rows.append({"batch": label, "variant": name, "ms_per_step": t * 1e3,
                         "speedup_of_scored": ratio})
            print(table_row([label, name, t * 1e3, ratio], formats))
    return rows


SIX_WINDOWS = [10, 2, 3, 5, 20, (900, 950)]


def windows_table(device: str, min_run_time: float) -> dict:
    """What scoring 6 windows instead of 1 costs (modeinterp.sampling.WindowScores): one step at
    2M elements with every window active, and a whole 1000-step DDPM run of the toy 2-D denoiser
    (the windows only cost on the steps they cover)."""
    from modeinterp import Sampler, Schedule
    from modeinterp.models import MLPDenoiser
    from modeinterp.sampling import WindowScores

    n = 2_000_000
    x, out = torch.randn(n, device=device), torch.randn(n, device=device)
    step = {}
    for k in (1, 6):
        scores = WindowScores([(0, 10**9)] * k)  # every window active at every step timed

        def one_step(scores=scores):
            for w in scores.windows:
                w.last = -1  # time the same step again
            scores.fused_step(0, x, out, COEF, seed=1, step=5)
        one_step()
        step[k] = median_seconds(one_step, min_run_time)
    torch.manual_seed(0)
    model = MLPDenoiser(2).to(device).eval()
    table = Schedule.linear(1000, 1e-3, 0.2).table()
    n_samples = 4000 if device == "cpu" else 100_000
    samplers = {1: Sampler(model, table, window=SIX_WINDOWS[0]),
                6: Sampler(model, table, window=SIX_WINDOWS)}
    samplers[1].sample(256, (2,), device=device, progress=False)  # warm-up
    run = {1: float("inf"), 6: float("inf")}
    for k in (1, 6, 1, 6):  # alternated, best of two: the shared VM drifts
        start = time.perf_counter()
        samplers[k].sample(n_samples, (2,), seed=0, batch_size=n_samples, device=device,
                           progress=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        run[k] = min(run[k], time.perf_counter() - start)
    print(f"\nscore windows: 1 vs 6 ({SIX_WINDOWS})")
    print("\n".join(markdown_table(
        ["what", "1 window", "6 windows", "ratio"],
        [["one step, 2M elements, all windows active", f"{step[1] * 1e3:.2f} ms",
          f"{step[6] * 1e3:.2f} ms", f"{step[6] / step[1]:.2f}"],
         [f"1000-step DDPM run, toy MLP, {n_samples:,} samples", f"{run[1]:.2f} s",
          f"{run[6]:.2f} s", f"{run[6] / run[1]:.3f}"]])))
    return {"step_ms": {k: v * 1e3 for k, v in step.items()}, "run_s": run,
            "windows": [str(w) for w in SIX_WINDOWS], "n_samples": n_samples}


if __name__ == "__main__":
    sys.exit(main())
