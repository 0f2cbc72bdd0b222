"""Image sampling and training throughput of the U-Net presets per forward mode — float32 eager,
bf16 autocast, compiled, bf16 + compiled (``Sampler``/``Trainer`` ``precision=``, ``compile=``) —
each at the batch size that is best for it, side by side in one process.

Sampling: a whole ``Sampler.sample`` (denoiser, fused DDIM step, a 10-step score window) of
``--rounds`` batches after one warm-up batch (which pays the compile), as images × steps per
second. Training: ``Trainer`` steps per second after warm-up steps. Random weights: throughput
does not depend on them.

    python benchmarks/image_throughput.py --out docs/results/image_throughput_cpu.json
    python benchmarks/image_throughput.py --presets shapes-64 --device cuda --batches 64,256
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import torch

MODES = {"fp32": ("fp32", False), "bf16": ("bf16", False), "compiled": ("fp32", True),
         "bf16+compiled": ("bf16", True)}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def sampling_rate(preset: str, mode: str, batch: int, device: str, steps: int, rounds: int,
                  seconds: float) -> float:
    """Image-steps per second of a whole scored DDIM run at ``batch`` (after a warm-up batch)."""
    from modeinterp import Sampler, Schedule
    from modeinterp.models.unet import UNetDenoiser

    torch.manual_seed(0)
    model = UNetDenoiser.preset(preset).eval().to(device)
    side = model.sample_size
    table = Schedule.linear(1000, 1e-4, 0.02).table("ddim", steps=steps, clip=1.0,
                                                    prediction="v")
    precision, compile_ = MODES[mode]
    sampler = Sampler(model, table, window=10, precision=precision, compile=compile_)
    shape = (1, side, side)
    sampler.sample(batch, shape, batch_size=batch, device=device, progress=False)  # warm-up
    done, start = 0, time.perf_counter()
    while True:  # at least `rounds` batches, and at least `seconds`
        _sync(device)
        sampler.sample(batch, shape, seed=done + 1, batch_size=batch, device=device,
                       progress=False)
        _sync(device)
        done += 1
        elapsed = time.perf_counter() - start
        if done >= rounds and elapsed >= seconds:
            return done * batch * steps / elapsed


def training_rate(preset: str, mode: str, batch: int, device: str, seconds: float) -> float:
    """Trainer optimizer steps per second at ``batch`` (after warm-up steps)."""
    from modeinterp import Schedule
    from modeinterp.models.unet import UNetDenoiser
    from modeinterp.train import Trainer

    torch.manual_seed(0)
    model = UNetDenoiser.preset(preset)
    side = model.sample_size
    data = torch.rand(max(4 * batch, 256), 1, side, side) * 2 - 1
    precision, compile_ = MODES[mode]
    trainer = Trainer(model, data, Schedule.linear(1000, 1e-4, 0.02), batch_size=batch,
                      steps=10 ** 6, device=device, precision=precision, compile=compile_,
                      prediction="v")
    trainer.fit(progress=False, stop_after=3)  # warm-up (and compile)
    done, start = 0, time.perf_counter()
    while True:
        _sync(device)
        trainer.fit(progress=False, stop_after=trainer.step + 5)
        _sync(device)
        done += 5
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="shapes-32-small,shapes-32,shapes-64",
                   help="UNetDenoiser presets (default: shapes-32-small,shapes-32,shapes-64)")
    p.add_argument("--modes", default=",".join(MODES), help=f"of {list(MODES)}")
    p.add_argument("--batches", default="16,32,64,128,256",
                   help="sampling batch sizes tried per mode (default 16,32,64,128,256)")
    p.add_argument("--train-batches", default="32", help="training batch sizes (default 32)")
    p.add_argument("--steps", type=int, default=20, help="DDIM steps per sample (default 20)")
    p.add_argument("--rounds", type=int, default=2, help="timed batches, at least (default 2)")
    p.add_argument("--seconds", type=float, default=4.0, help="timed seconds, at least (4)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's; 1 shows what each of N one-thread "
                        "processes would do, e.g. shards under torchrun)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-train", action="store_true", help="sampling only")
    p.add_argument("--out", default=None, help="JSON file for the rows")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        p.error(f"--modes: unknown {unknown}; known: {list(MODES)}")
    rows = []
    for preset in [s for s in args.presets.split(",") if s]:
        for mode in modes:
            for batch in (int(b) for b in args.batches.split(",")):
                rate = sampling_rate(preset, mode, batch, args.device, args.steps, args.rounds,
                                     args.seconds)
                rows.append({"task": "sample", "preset": preset, "mode": mode, "batch": batch,
                             "rate": rate})
                print(f"sample {preset:16s} {mode:14s} batch {batch:4d}: "
                      f"{rate:8.1f} image-steps/s", flush=True)
            if args.no_train:
                continue
            for batch in (int(b) for b in args.train_batches.split(",")):
                rate = training_rate(preset, mode, batch, args.device, args.seconds)
                rows.append({"task": "train", "preset": preset, "mode": mode, "batch": batch,
                             "rate": rate})
                print(f"train  {preset:16s} {mode:14s} batch {batch:4d}: {rate:8.2f} steps/s",
                      flush=True)
    print(markdown(rows))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"date": date.today().isoformat(), "machine": platform.processor() or
                       platform.machine(), "device": args.device, "threads":
                       torch.get_num_threads(), "torch": torch.__version__, "steps": args.steps,
                       "rows": rows}, f, indent=1)
    return 0


def markdown(rows: list) -> str:
    """Per preset and task: each mode at its best batch, and its ratio to float32 eager at
    float32 eager's best batch."""
    lines = ["| task | preset | mode | best batch | rate | × fp32 eager (best batch) | "
             "× fp32 eager at batch 256 |", "|---|---|---|---:|---:|---:|---:|"]
    for task in ("sample", "train"):
        for preset in dict.fromkeys(r["preset"] for r in rows):
            mine = [r for r in rows if r["task"] == task and r["preset"] == preset]
            if not mine:
                continue
            best = {m: max((r for r in mine if r["mode"] == m), key=lambda r: r["rate"])
                    for m in dict.fromkeys(r["mode"] for r in mine)}
            base = best.get("fp32")
            at256 = next((r["rate"] for r in mine if r["mode"] == "fp32" and r["batch"] == 256),
                         None)
            unit = "image-steps/s" if task == "sample" else "steps/s"
            for mode, r in best.items():
                ratio = f"{r['rate'] / base['rate']:.2f}" if base else "–"
                ratio256 = f"{r['rate'] / at256:.2f}" if at256 else "–"
                lines.append(f"| {task} | `{preset}` | {mode} | {r['batch']} | "
                             f"{r['rate']:.1f} {unit} | {ratio} | {ratio256} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
