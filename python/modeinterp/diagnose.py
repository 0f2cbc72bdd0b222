"""``modeinterp info``: what is installed, whether it works here, and what to install instead.

Collects the build record (:func:`modeinterp.build_info`, readable without the compiled module),
the running torch and CUDA, whether the compiled ops load and which devices have kernels (asked of
torch's dispatcher), whether the CUDA kernels really run (one fused step on the GPU against the
CPU), and turns that into a one-line verdict that names the wheel variant to install on a mismatch.
"""

from __future__ import annotations

import platform

import torch

OPS = ("fused_step", "philox_fill_", "trajectory_score", "welford_update_")


def _kernels() -> dict[str, dict[str, bool]]:
    """For every op, whether torch's dispatcher has a CPU and a CUDA kernel registered."""
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    return {op: {key.lower(): bool(has(f"modeinterp::{op}", key)) for key in ("CPU", "CUDA")}
            for op in OPS}


def _cuda_check() -> str:
    """Run one fused step (in-kernel noise, Welford) on the GPU and compare it with the CPU."""
    from . import ops

    gen = torch.Generator().manual_seed(0)
    x, out = torch.randn(2, 3, 5, generator=gen), torch.randn(2, 3, 5, generator=gen)
    coef = (1.1, -0.3, 0.8, 0.15, 0.05, 0.4, 1.0)
    results = []
    for device in ("cpu", "cuda"):
        mean, m2 = torch.zeros_like(x, device=device), torch.zeros_like(x, device=device)
        x_prev = ops.fused_step(x.to(device), out.to(device), coef, seed=3, step=7, mean=mean,
                                m2=m2, count=0)
        results.append(torch.cat([x_prev.cpu(), mean.cpu()]))
    diff = float((results[0] - results[1]).abs().max())
    if not diff <= 1e-4:
        raise RuntimeError(f"CUDA result differs from CPU by {diff:.3g}")
    return f"ok on {torch.cuda.get_device_name()} (max |CUDA - CPU| = {diff:.1e})"


def diagnose() -> dict:
    """Everything ``modeinterp info`` prints, as a JSON-friendly dict."""
    from ._extension import build_info, load
    from ._variant import running_variant

    facts: dict = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "gpu_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "needed_variant": running_variant(),
    }
    try:
        facts["build"] = build_info()
    except ImportError as exc:
        facts["build"], facts["load_error"] = None, str(exc)
        return facts
    try:
        load()
    except ImportError as exc:
        facts["load_error"] = str(exc)
        return facts
    facts["load_error"] = None
    facts["kernels"] = _kernels()
    facts["cpu_noise"] = torch.ops.modeinterp.cpu_noise_path()
    if facts["gpu_available"] and all(k["cuda"] for k in facts["kernels"].values()):
        try:
            facts["cuda_check"] = _cuda_check()
        except Exception as exc:  # any failure here is the finding, reported in the verdict
            facts["cuda_check"] = f"FAILED: {type(exc).__name__}: {exc}"
    return facts


def verdict(facts: dict) -> tuple[bool, str]:
    """(usable, one line saying what works and what to do)."""
    from ._variant import BASE_VERSION, install_command

    need = facts["needed_variant"]
    build = facts["build"]
    if build is None:
        return False, "NOT BUILT: " + facts["load_error"]
    have = build["variant"]
    switch = f"install the {need} variant: {install_command(BASE_VERSION, need)}"
    if facts["load_error"]:
        return False, (f"BROKEN: the {have} build does not load under torch {facts['torch']}; "
                       f"{switch}")
    missing = [op for op, k in facts["kernels"].items() if not k["cpu"]]
    if missing:
        return False, (f"BROKEN: no CPU kernel registered for {', '.join(missing)}; "
                       "reinstall modeinterp")
    has_cuda = all(k["cuda"] for k in facts["kernels"].values())
    if facts["gpu_available"]:
        if not has_cuda:
            return True, (f"CPU ONLY: a GPU is visible but this {have} build has no CUDA kernels; "
                          f"{switch}")
        check = facts.get("cuda_check", "")
        if check.startswith("FAILED"):
            return False, f"BROKEN: the CUDA kernels are registered but {check}"
        return True, f"OK: CPU and CUDA kernels work ({have}; CUDA {check})"
    if has_cuda:
        return True, f"OK: CPU kernels work; CUDA kernels present ({have}) but no GPU is visible"
    return True, f"OK: CPU kernels work ({have}; this torch has no GPU to use)"


def format_report(facts: dict) -> str:
    build = facts["build"] or {}
    lines = [
        f"modeinterp  {build.get('version', 'not built')}  (variant {build.get('variant', '-')})",
        f"  built against torch {build.get('torch_version', '-')}, CUDA kernels "
        f"{'on' if build.get('cuda') else 'off'}"
        + (f" (CUDA {build['cuda_version']}: {', '.join(build['cuda_archs'])})"
           if build.get("cuda") else "")
        + (f", {build['compiler']}, {build['build_type']}" if build else ""),
        f"running     python {facts['python']}, torch {facts['torch']} (CUDA "
        f"{facts['torch_cuda'] or 'none'}), needs variant {facts['needed_variant']}",
        f"  GPU       {facts['gpu'] or 'none visible'}",
        f"  CPU       capability {facts['cpu_capability']}"
        + (f", noise path {facts['cpu_noise']} (MODEINTERP_CPU_NOISE=scalar|avx2 to force)"
           if facts.get("cpu_noise") else ""),
    ]
    if facts.get("kernels"):
        for op, k in facts["kernels"].items():
            lines.append(f"  kernel    {op:<17} CPU {'yes' if k['cpu'] else 'NO'}   "
                         f"CUDA {'yes' if k['cuda'] else 'no'}")
    if facts.get("cuda_check"):
        lines.append(f"  CUDA run  {facts['cuda_check']}")
    ok, line = verdict(facts)
    lines.append(line)
    return "\n".join(lines)
