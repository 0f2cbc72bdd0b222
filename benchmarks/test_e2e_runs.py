"""The end-to-end variants (e2e_runs.py) on CPU, small: they run, they compute the same score, and
report.py --e2e writes its JSON. Run: ``python -m pytest -q benchmarks/test_e2e_runs.py``."""

from __future__ import annotations

import json
import mmap

import numpy as np
import pytest
import torch
from e2e_report import HostPeak, _too_big
from e2e_runs import (BARE, BARE_SCORED, COMPILED, DIFFUSERS, EAGER, EAGER_WELFORD, GRAPH,
                      IMAGE_SCHEDULE, PAPER, bare_fused_run, diffusers_run, eager_welford_run,
                      paper_style_run, sampler_run, toy_workload, variants)
from report import main

N, STEPS, BATCH = 64, 20, 32  # two batches


@pytest.fixture(scope="module")
def workload():
    # The image schedule: with the paper's, a random MLP's samples overflow (toy_workload).
    return toy_workload("cpu", STEPS, schedule=IMAGE_SCHEDULE)


def _gen():
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("name", [GRAPH, EAGER, BARE, BARE_SCORED, EAGER_WELFORD, COMPILED,
                                  DIFFUSERS, PAPER])
def test_variant_runs(workload, name):
    variant = variants(workload, names=[name])[name]
    if isinstance(variant, str):
        pytest.skip(variant)
    samples, scores = variant.run(N, BATCH)
    assert samples.shape == (N, 2) and torch.isfinite(samples).all()
    if name == BARE:
        assert scores is None
    else:
        assert scores.shape == (N,) and torch.isfinite(scores).all() and (scores > 0).all()


def test_welford_equals_paper_np_var(workload):
    """Same torch.randn noise: the same trajectory, and Welford's score is np.var of the x̂0 the
    paper-style loop stored."""
    paper_samples, paper_scores = paper_style_run(workload, _gen())(N, BATCH)
    samples, scores = eager_welford_run(workload, _gen())(N, BATCH)
    torch.testing.assert_close(samples, paper_samples, rtol=0, atol=0)
    # Welford in float32 loses ~eps·|mean|/std of the variance; x̂0 here has |mean|/std up to
    # ~1200, so it sits 3e-5 from the float64 variance, where np.var's two passes sit 2e-7 away.
    torch.testing.assert_close(scores, paper_scores, rtol=1e-4, atol=0)


def test_diffusers_scheduler_follows_the_table(workload):
    """diffusers with the table's betas takes the eager loop's steps (one batch: diffusers draws
    no noise at t = 0, the eager step draws and drops it)."""
    variant = diffusers_run(workload, _gen())
    if isinstance(variant, str):
        pytest.skip(variant)
    samples, scores = variant.run(N, N)
    eager_samples, eager_scores = eager_welford_run(workload, _gen())(N, N)
    torch.testing.assert_close(samples, eager_samples, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(scores, eager_scores, rtol=1e-3, atol=0)


def test_bare_fused_loop_is_the_sampler_loop(workload):
    """The scores-cost pair measures the Sampler's own steps: same samples and scores, and the
    loop without mean/m2 draws the same samples."""
    samples, scores = sampler_run(workload, graph=False)(N, BATCH)
    bare_samples, bare_scores = bare_fused_run(workload, scores=True)(N, BATCH)
    torch.testing.assert_close(bare_samples, samples, rtol=0, atol=0)
    torch.testing.assert_close(bare_scores, scores, rtol=0, atol=0)
    torch.testing.assert_close(bare_fused_run(workload, scores=False)(N, BATCH)[0], samples,
                               rtol=0, atol=0)


def test_paper_style_host_limit():
    w = toy_workload("cpu", 1000)
    assert _too_big(PAPER, 1_000_000, w, 16.0) is None  # 8 GB of x̂0
    assert _too_big(PAPER, 1_000_000, w, 4.0) == "needs 8.0 GB host"
    assert _too_big(EAGER_WELFORD, 1_000_000, w, 4.0) is None


def test_host_peak_sees_new_pages():
    # Fresh pages from mmap: malloc may hand back memory that earlier tests left resident.
    with mmap.mmap(-1, 64 * 2**20) as block, HostPeak() as host:  # HostPeak ends first
        np.frombuffer(block, dtype=np.uint8)[:] = 1  # touch all 64 MiB
    assert host.mib is None or host.mib > 48


def test_report_e2e_writes_json(tmp_path):
    path = tmp_path / "report.json"
    assert main(["--device", "cpu", "--sizes", "1000", "--min-run-time", "0.01", "--e2e",
                 "--e2e-sizes", "64", "--e2e-steps", "20", "--e2e-repeats", "3",
                 "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    rows = {r["variant"]: r for r in report["e2e"]["rows"]}
    assert rows[GRAPH]["skipped"] == "needs CUDA" and "runs_s" not in rows[GRAPH]
    assert rows[EAGER]["modeinterp_x"] == 1.0 and rows[PAPER]["samples_per_s"] > 0
    for row in rows.values():
        if "runs_s" in row:  # the median of three interleaved runs
            assert len(row["runs_s"]) == 3 and row["seconds"] == sorted(row["runs_s"])[1]
            assert row["samples_per_s"] == 64 / row["seconds"]
    with pytest.raises(SystemExit, match="e2e-repeats"):
        main(["--device", "cpu", "--sizes", "1000", "--e2e", "--e2e-repeats", "0"])
    assert report["e2e"]["goals"][0]["modeinterp"] == EAGER
