"""CPU benchmarks (pytest-benchmark) of the scored diffusers scheduler against the stock one.
Run: ``python -m pytest benchmarks/test_bench_diffusers.py -q --benchmark-group-by=param:shape``.
Goal (issue 8): with scores, no slower than the stock step without scores on CPU."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers")
from diffusers_runs import SHAPES, make_runs  # noqa: E402


@pytest.mark.parametrize("variant", ["scored (modeinterp)", "stock diffusers step",
                                     "stock step + eager Welford"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_scheduler_run(benchmark, shape, variant):
    run = make_runs(SHAPES[shape])[variant]
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
