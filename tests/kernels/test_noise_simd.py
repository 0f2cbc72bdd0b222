"""The vectorised CPU noise (csrc/cpu/noise_simd.h: AVX-512 or AVX2, chosen at run time) against
the scalar stream (MODEINTERP_CPU_NOISE=scalar): the same normals up to the rounding of the
polynomial log/sin/cos, at every alignment, length and counter (the 2^32-block wrap included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# Slow (fresh interpreters per CPU noise path): outside the `-m "not slow"` inner loop, in CI.
pytestmark = pytest.mark.slow

SCRIPT = """
import sys, numpy as np, torch
from modeinterp import ops
seed = int(sys.argv[2])
rows = {}
for i, (n, offset) in enumerate([(1, 0), (37, 3), (200_003, 1), (4099, 2**34 - 70),
                                 (1 << 16, 2**64 - 2**16 - 5)]):
    rows[f"noise{i}"] = ops.philox_normal(n, seed=seed, step=9, offset=offset).numpy()
g = torch.Generator().manual_seed(seed)
x, out = torch.randn(10_001, generator=g), torch.randn(10_001, generator=g)
mean, m2 = torch.randn(10_001, generator=g), torch.rand(10_001, generator=g)
coef = (1.05, -0.2, 0.9, 0.07, 0.02, 0.6, 0.0)
rows["step"] = ops.fused_step(x, out, coef, seed=seed, step=4, offset=6, mean=mean, m2=m2,
                              count=2).numpy()
rows["mean"], rows["m2"] = mean.numpy(), m2.numpy()
np.savez(sys.argv[1], **rows)
"""


def cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}


def draw(tmp_path, path: str, seed: int) -> dict:
    out = tmp_path / f"{path}.npz"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    env.pop("MODEINTERP_CPU_NOISE", None)
    if path != "default":
        env["MODEINTERP_CPU_NOISE"] = path
    subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(seed)], check=True, env=env,
                   timeout=300)
    return dict(np.load(out))


@pytest.fixture
def seed(gen):
    return int(torch.randint(0, 2**62, (1,), generator=gen))


@pytest.mark.parametrize("path", ["default", "avx2"])
def test_vector_noise_matches_the_scalar_stream(tmp_path, seed, path):
    if path == "avx2" and not {"avx2", "fma"} <= cpu_flags():
        pytest.skip("this CPU has no AVX2 + FMA")
    scalar, vector = draw(tmp_path, "scalar", seed), draw(tmp_path, path, seed)
    for name, want in scalar.items():
        got = vector[name]
        assert got.shape == want.shape and np.isfinite(got).all(), name
        # Polynomial log/sin/cos vs libm: a few float32 ulp of the radius-scaled result.
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=name)
    if {"avx2", "fma"} <= cpu_flags():  # the vector path really ran: not the scalar bits
        assert any(not np.array_equal(scalar[k], vector[k]) for k in scalar)


def test_the_path_is_reported(tmp_path):
    from modeinterp import ops
    from modeinterp.diagnose import diagnose

    ops.load()
    path = torch.ops.modeinterp.cpu_noise_path()
    want = ("avx512" if {"avx512f", "avx512dq"} <= cpu_flags()
            else "avx2" if {"avx2", "fma"} <= cpu_flags() else "scalar")
    assert path == want and diagnose()["cpu_noise"] == path
    forced = subprocess.run(
        [sys.executable, "-c", "import torch; from modeinterp import ops; ops.load(); "
                               "print(torch.ops.modeinterp.cpu_noise_path())"],
        env=dict(os.environ, MODEINTERP_CPU_NOISE="scalar"), capture_output=True, text=True,
        check=True, timeout=120)
    assert forced.stdout.strip() == "scalar"


def test_vector_noise_is_standard_normal(tmp_path, seed):
    z = draw(tmp_path, "default", seed)["noise2"].astype(np.float64)
    assert abs(z.mean()) < 5 / np.sqrt(len(z)) and abs(z.std() - 1) < 5 / np.sqrt(2 * len(z))
