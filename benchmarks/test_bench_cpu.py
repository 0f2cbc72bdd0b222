"""CPU benchmarks (pytest-benchmark): the fused step with Welford and in-kernel noise against the
same step in eager PyTorch. Run: ``python -m pytest benchmarks -q --benchmark-group-by=param:size``.
Goal (issue 2): >= 3x faster than the eager reference on 2 cores."""

from __future__ import annotations

import pytest
import torch
from baselines import eager_randn_step

from modeinterp import ops, reference

SIZES = {"toy-2M": (1_000_000, 2), "images-256x3x64x64": (256, 3, 64, 64)}
COEF = (1.02, -0.2, 0.9, 0.05, 0.0, 0.1, 1.0)


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request):
    shape = SIZES[request.param]
    return [torch.randn(shape), torch.randn(shape), torch.zeros(shape), torch.zeros(shape)]


def test_fused_step(benchmark, size):
    x, out, mean, m2 = size
    benchmark(lambda: ops.fused_step(x, out, COEF, seed=1, step=5, mean=mean, m2=m2, count=3))


def test_reference_eager_philox(benchmark, size):
    x, out, mean, m2 = size
    benchmark.pedantic(lambda: reference.fused_step(x, out, COEF, seed=1, step=5, mean=mean,
                                                    m2=m2, count=3), rounds=5, iterations=1)


def test_eager_randn(benchmark, size):
    x, out, mean, m2 = size
    gen = torch.Generator().manual_seed(0)
    benchmark(lambda: eager_randn_step(x, out, COEF, mean, m2, 3, gen))
