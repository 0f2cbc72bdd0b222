"""report.py --e2e: whole sampling runs of e2e_runs.py's variants, one Markdown table per size.

Each variant is warmed up once on min(n, 1000) samples (on the full batch for what is specialised
to the batch shape: torch.compile, the CUDA graph), then timed ``--e2e-repeats`` times in rounds
that run every variant once each, so that a slow spell of a shared machine hits all of them alike;
the table gives the median wall time (synchronised on CUDA) and the spread. Memory peaks are the
largest over the repeats. Peak GPU: torch.cuda.max_memory_allocated after
reset_peak_memory_stats, minus what was allocated before the run (the model). Peak host: this process's RSS sampled every 10 ms by a
thread, minus the RSS before the run — ru_maxrss is the process's lifetime peak, so it tells
nothing once a large variant has run; the sampling can miss peaks shorter than 10 ms, and freed
memory that the allocator keeps still counts.
"""

from __future__ import annotations

import os
import statistics
import threading
import time

import torch
from e2e_runs import (BARE, BARE_SCORED, EAGER, EAGER_WELFORD, GRAPH, PAPER, PURE_TORCH, WINDOW,
                      shapes_workload, toy_workload, variants)

from modeinterp.reports import markdown_table

WARMUP_N = 1000
SHAPES_BATCH = 256
SHAPES_VARIANTS = (GRAPH, EAGER, EAGER_WELFORD, PAPER)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("end to end (--e2e)")
    g.add_argument("--e2e", action="store_true",
                   help="also time whole DDPM runs with scores: paper-style, eager + Welford, "
                        "torch.compile, diffusers + Welford, modeinterp")
    g.add_argument("--e2e-sizes", default=None,
                   help="samples per toy run (= the batch), comma-separated (default: cuda "
                        "100000,1000000; cpu 2000)")
    g.add_argument("--e2e-steps", type=int, default=None,
                   help="reverse steps of the toy runs, a DDPM table respaced from T = 1000 "
                        "(default: cuda 1000, cpu 100)")
    g.add_argument("--host-limit-gb", type=float, default=16.0,
                   help="skip the paper-style run when its stored x̂0 would need more host "
                        "memory (default 16)")
    g.add_argument("--e2e-repeats", type=int, default=3,
                   help="timed runs of every variant, in interleaved rounds; the table gives "
                        "the median (default 3)")
    g.add_argument("--e2e-shapes", action="store_true",
                   help=f"with --e2e: also the 64×64 shapes U-Net, B = {SHAPES_BATCH} (needs "
                        "diffusers)")
    g.add_argument("--e2e-shapes-steps", type=int, default=100,
                   help="reverse steps of the U-Net runs (T = 1000 respaced; default 100)")


def e2e_tables(args, out: dict, save) -> None:
    """Measure, print every row as it is measured, and append rows and goals to ``out`` (JSON
    "e2e"), calling ``save()`` after each row so that a killed run keeps what it measured."""
    cuda = args.device.startswith("cuda")
    sizes = [int(float(s)) for s in (args.e2e_sizes or ("100000,1000000" if cuda else "2000"))
             .split(",")]
    steps = args.e2e_steps or (1000 if cuda else 100)
    out.setdefault("rows", [])
    out.setdefault("goals", [])
    if args.e2e_repeats < 1:
        raise SystemExit(f"--e2e-repeats must be >= 1, got {args.e2e_repeats}")
    workload = toy_workload(args.device, steps)
    for n in sizes:
        _table(workload, n, args.host_limit_gb, args.e2e_repeats, out, save, toy=True)
    if not args.e2e_shapes:
        return
    try:
        import diffusers  # noqa: F401  (the U-Net is diffusers' UNet2DModel)
    except ImportError:
        print("\nshapes U-Net rows skipped: diffusers not installed")
        return
    workload = shapes_workload(args.device, args.e2e_shapes_steps)
    _table(workload, SHAPES_BATCH, args.host_limit_gb, args.e2e_repeats, out, save,
           names=SHAPES_VARIANTS)


def _table(w, n, host_limit_gb, repeats, out, save, names=None, toy=False) -> None:
    steps, T = len(w.table), w.table.num_train_timesteps
    title = (f"{w.label}, {n:,} samples in one batch, DDPM {steps} steps"
             f"{f' (respaced from T = {T})' if steps < T else ''}, score window {WINDOW}, "
             f"{w.device.type}, median of {repeats}")
    print(f"\nEnd to end: {title}", flush=True)
    rows, runnable = [], {}
    for name, variant in variants(w, names).items():
        row = {"workload": w.label, "steps": steps, "samples": n, "variant": name}
        reason = variant if isinstance(variant, str) else _too_big(name, n, w, host_limit_gb)
        if reason:
            row["skipped"] = reason
        else:
            row["runs_s"], runnable[name] = [], variant
        rows.append(row)
    out["rows"].extend(rows)
    # Each run is printed and saved as it ends, so that a report killed by a time bound (a slow
    # torch.compile warm-up, say) keeps every run done so far; warm-ups happen in the first round.
    for r in range(repeats):
        for row in rows:
            variant = runnable.get(row["variant"])
            if variant is None:
                continue
            if r == 0:
                _warm_up(variant, n)
            _record(row, _measure(variant, n, w.device))
            save()
            print(f"  run {r + 1} of {repeats}, {row['variant']}: {row['runs_s'][-1]:.2f} s",
                  flush=True)
    measured = {row["variant"]: row for row in rows if "runs_s" in row}
    ref = next((measured[k] for k in (GRAPH, EAGER) if k in measured), None)
    for row in measured.values():
        row["modeinterp_x"] = row["seconds"] / ref["seconds"] if ref else None
    _print_table(rows)
    if any(not r["finite"] for r in measured.values()):
        print("\n(samples not finite: random weights, see e2e_runs.toy_workload; the same "
              "operations run either way)")
    if ref:
        out["goals"].append(_goals(w.label, n, ref, measured, toy))
        save()


def _record(row, run) -> None:
    """Fold one timed run into the row: median seconds, spread, the largest memory peaks."""
    row["runs_s"].append(run["seconds"])
    row["seconds"] = statistics.median(row["runs_s"])
    row["samples_per_s"] = row["samples"] / row["seconds"]
    for key in ("gpu_peak_mib", "host_peak_mib"):  # None: not measurable here
        row[key] = run[key] if row.get(key) is None else max(row[key], run[key])
    row["finite"] = row.get("finite", True) and run["finite"]


_HEADERS = ["variant", "samples/s", "wall (s)", "spread (s)", "peak GPU (MiB)", "peak host (MiB)",
            "modeinterp is × faster"]
_FORMATS = [None, ",.0f", ".2f", None, ",.0f", ",.0f", ".2f"]


def _print_table(rows) -> None:
    print("\n".join(markdown_table(_HEADERS, [_table_cells(row) for row in rows],
                                   align="l" + "r" * 6, formats=_FORMATS)))


def _table_cells(row) -> list:
    """A row of the table: the measured numbers ("–" where not measurable), or why skipped."""
    if "skipped" in row:
        return [row["variant"], f"skipped ({row['skipped']})", "", "", "", "", ""]
    return [row["variant"], row["samples_per_s"], row["seconds"],
            f"{min(row['runs_s']):.2f}–{max(row['runs_s']):.2f}", row["gpu_peak_mib"],
            row["host_peak_mib"], row["modeinterp_x"]]


def _too_big(name, n, w, host_limit_gb):
    """Why the paper-style run is skipped: its stored trajectory exceeds the host limit."""
    need = n * len(w.table) * int(torch.Size(w.shape).numel()) * 4 / 1e9
    return f"needs {need:.1f} GB host" if name == PAPER and need > host_limit_gb else None


def _warm_up(variant, n) -> None:
    warm = n if variant.full_warmup else min(n, WARMUP_N)
    variant.run(warm, warm)


def _measure(variant, n, device) -> dict:
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    with HostPeak() as host:
        start = time.perf_counter()
        samples, scores = variant.run(n, n)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    finite = bool(torch.isfinite(samples).all()) and (
        scores is None or bool(torch.isfinite(scores).all()))
    return {"seconds": seconds,
            "gpu_peak_mib": (torch.cuda.max_memory_allocated() - base) / 2**20 if cuda else None,
            "host_peak_mib": host.mib, "finite": finite}


def _goals(label, n, ref, m, toy: bool) -> dict:
    """The issue's goals (the speed-ups are set for the toy workload), from the rows just
    measured; printed under the table."""
    goals = {"workload": label, "samples": n, "modeinterp": ref["variant"]}
    lines = []
    if PAPER in m:
        goals["x_paper_style"] = x = m[PAPER]["seconds"] / ref["seconds"]
        lines.append(f"{x:.1f}× the paper-style loop" + (" (goal ≥ 20×)" if toy else ""))
    pure = [m[k] for k in PURE_TORCH if k in m]
    if pure:
        best = min(pure, key=lambda r: r["seconds"])
        goals["best_pure_pytorch"] = best["variant"]
        goals["x_best_pure_pytorch"] = x = best["seconds"] / ref["seconds"]
        lines.append(f"{x:.2f}× the best pure-PyTorch loop, {best['variant']}"
                     + (" (goal ≥ 2×)" if toy else ""))
    if BARE in m and BARE_SCORED in m:
        goals["scores_cost_pct"] = pct = 100 * (m[BARE_SCORED]["seconds"] / m[BARE]["seconds"]
                                                - 1)
        lines.append(f"scores cost {pct:+.1f} % (the bare fused-op loop with vs without "
                     "mean/m2; goal ≤ 5 %)")
    print(f"\n{ref['variant']}: " + "; ".join(lines))
    return goals


class HostPeak:
    """Peak growth of this process's RSS while the block runs (``mib``; None without /proc)."""

    PERIOD_S = 0.01

    def __enter__(self):
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(self.PERIOD_S):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def mib(self):
        return None if self.start < 0 else (self.peak - self.start) / 2**20


def _rss() -> int:
    """Resident bytes of this process (Linux /proc), -1 where that cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return -1
