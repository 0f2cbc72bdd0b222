"""Shared fixtures: the devices this build supports, fresh random inputs, output poisoning."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

import modeinterp

# Generated datasets and the digit classifier are cached on disk: keep the tests' copies out of
# the user's ~/.cache.
os.environ["MODEINTERP_CACHE"] = tempfile.mkdtemp(prefix="modeinterp-test-cache-")

if os.environ.get("MODEINTERP_TEST_INSTALLED"):
    # scripts/ci_wheels.sh: the suite must exercise the installed wheel, not this source tree.
    _source = Path(__file__).resolve().parents[1] / "python"
    if _source in Path(modeinterp.__file__).resolve().parents:
        raise RuntimeError(f"MODEINTERP_TEST_INSTALLED is set but modeinterp was imported from the "
                           f"source tree ({modeinterp.__file__}), not from an installed wheel")


def pytest_report_header(config):
    info = modeinterp.build_info()
    return f"modeinterp {info['version']} from {Path(modeinterp.__file__).parent}"


def _devices():
    devs = ["cpu"]
    if modeinterp.build_info()["cuda"] and torch.cuda.is_available():
        devs.append("cuda")
    return devs


DEVICES = _devices()
DTYPES = [torch.float32, torch.float16, torch.bfloat16]

# Tolerances for a kernel output against the reference (same float32 maths, same op order):
# float32 differs only by libm rounding in the noise (a few ulp) and, on CUDA, FMA contraction;
# float16/bfloat16 outputs may round a float32 value that differs by an ulp to the neighbouring
# half-precision value: one ulp of the output type (eps 2^-10 and 2^-7).
TOL = {
    torch.float32: dict(rtol=2e-5, atol=2e-5),
    torch.float16: dict(rtol=2e-3, atol=2e-3),
    torch.bfloat16: dict(rtol=1.6e-2, atol=1.6e-2),
}


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


# Inputs are random, not golden: every test runs under a fresh seed — torch's, numpy's and
# random's global generators are seeded with it, and ``gen`` is a torch.Generator seeded with it —
# and a failure prints the seed with the command that replays it (MODEINTERP_TEST_SEED=<seed>).
SEED_ENV = "MODEINTERP_TEST_SEED"


@pytest.fixture(autouse=True)
def test_seed(request) -> int:
    seed = int(os.environ.get(SEED_ENV) or torch.seed() % (1 << 63))
    request.node.user_properties.append(("seed", seed))
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)
    return seed


@pytest.fixture
def gen(test_seed):
    """A torch.Generator seeded with this test's seed."""
    return torch.Generator().manual_seed(test_seed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    seeds = [value for key, value in item.user_properties if key == "seed"]
    if report.failed and seeds:
        report.sections.append(("random seed", f"seed {seeds[0]}: replay with "
                                               f"{SEED_ENV}={seeds[0]} pytest '{item.nodeid}'"))


@pytest.fixture
def one_thread():
    """Tiny matmuls (the toy MLP): one thread is much faster on a small shared machine than
    several, and immune to oversubscription."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def poison_allocator(numel: int, device: str) -> None:
    """Fill and free a block of the size the op will allocate: the allocator tends to hand the
    same NaN-filled memory back, so an element the kernel fails to write shows up as NaN."""
    for _ in range(2):
        t = torch.full((max(numel, 1),), float("nan"), device=device)
        del t


@pytest.fixture
def refused(capsys):
    """``refused(argv, pattern)``: the command line refuses ``argv`` as a user's mistake — exit
    status 2, one line ``modeinterp COMMAND: error: …`` matching ``pattern`` on stderr, no
    traceback. Returns that line."""
    import re

    from modeinterp.cli import main

    def check(argv, pattern):
        capsys.readouterr()
        try:
            status = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's own errors
            status = exc.code
        err = capsys.readouterr().err
        assert status == 2, (status, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"modeinterp {argv[0]}: error: "), err
        assert "Traceback" not in err and re.search(pattern, lines[0]), lines[0]
        return lines[0]
    return check
