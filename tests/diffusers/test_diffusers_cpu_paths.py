"""The comparisons with stock (and the Philox-noise runs) under each CPU arithmetic path a process
can select: torch's own kernels (the stock step's arithmetic and randn: ``ATEN_CPU_CAPABILITY``)
and modeinterp's Philox noise (``MODEINTERP_CPU_NOISE``). Both are chosen once per process, so
each path reruns the scheduler suites in a fresh interpreter; the path this process runs (the
CPU's best) is the plain suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")

HERE = Path(__file__).resolve().parent
SUITES = [HERE / "test_diffusers_dropin.py", HERE / "test_diffusers_config_sweep.py",
          HERE / "test_diffusers_schedulers.py"]
PROBE = ("import torch; from modeinterp._extension import load; load(); "
         "print(torch.backends.cpu.get_cpu_capability(), torch.ops.modeinterp.cpu_noise_path())")


def _env(aten: str, noise: str) -> dict:
    return {**os.environ, "ATEN_CPU_CAPABILITY": aten, "MODEINTERP_CPU_NOISE": noise}


@pytest.mark.slow
@pytest.mark.parametrize("aten,noise", [("default", "scalar"), ("avx2", "avx2")])
def test_dropin_suites_hold_on_each_cpu_path(aten, noise):
    if aten == "avx2" and torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("this CPU has no AVX2 path")
    probe = subprocess.run([sys.executable, "-c", PROBE], env=_env(aten, noise),
                           capture_output=True, text=True, check=True)
    assert probe.stdout.split() == [aten.upper(), noise]  # the path asked for is the one taken
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-p", "no:warnings", *map(str, SUITES)],
                         env=_env(aten, noise), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
