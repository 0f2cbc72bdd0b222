"""Recursive training: the filter rules on hand-made scores, a micro run end to end, and resume
after a kill between and within generations ending with the numbers of an uninterrupted run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from modeinterp.data.gaussian import GaussianGrid
from modeinterp.recursive import (FILTERS, histogram_kl, recursive_config, run_recursive, select,
                                  sliced_wasserstein)
from modeinterp.sampling.window_spec import Window
from modeinterp.recursive import run as run_module

# Slow (whole recursive runs end to end): outside the `-m "not slow"` inner loop, in CI.
pytestmark = pytest.mark.slow

MICRO = dict(n_train=300, train_steps=20, batch_size=100, steps=20, window=5, sample_batch=400,
             window_sweep=(2, 3, 10, (5, 10)), clip=6.0)  # clip: a 20-step model stays finite


def test_filter_rules_on_hand_made_scores():
    scores = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 0.5])
    assert select("none", 4, scores).tolist() == [0, 1, 2, 3]
    assert select("variance", 3, scores).tolist() == [1, 3, 5]  # the 3 lowest, in sample order
    assert select("variance-calibrated", 3, scores).tolist() == [1, 3, 5]
    rand = select("random", 4, scores, seed=1)
    assert len(set(rand.tolist())) == 4 and np.all(np.diff(rand) > 0)
    assert np.array_equal(rand, select("random", 4, scores, seed=1))
    # a uniformly random subset: every index about equally often over many seeds
    counts = np.bincount(np.concatenate([select("random", 3, scores, seed=s) for s in range(600)]),
                         minlength=6)
    assert np.all(np.abs(counts - 300) < 60)
    with pytest.raises(ValueError, match="filter must be one of"):
        select("lowest", 2, scores)
    with pytest.raises(ValueError, match="n_keep"):
        select("none", 7, scores)
    with pytest.raises(ValueError, match="finite"):
        select("variance", 2, np.array([1.0, np.nan, 2.0]))
    assert FILTERS == ("none", "random", "variance", "variance-calibrated", "detector",
                       "detector-supervised")
    assert select("detector", 3, scores).tolist() == [1, 3, 5]


def test_window_keys_round_trip():
    assert [Window.parse(w).key for w in (10, (40, 60), [5, 10])] == ["10", "40-60", "5-10"]
    assert [Window.parse(k) for k in ("10", "40-60")] == [10, (40, 60)]


def test_distances_see_a_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2))
    assert histogram_kl(a, b) < histogram_kl(a, b + 1.0)
    assert sliced_wasserstein(a, b) < 0.1 < 0.8 < sliced_wasserstein(a, b + 1.0)
    b[0] = 1e13  # one diverged sample counts as a point on the border, not as the distance
    assert sliced_wasserstein(a, b) < 0.1


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="no oracle"):
        recursive_config("folder", quick=True)
    with pytest.raises(ValueError, match="generations"):
        recursive_config("gaussian2d", quick=True, generations=1)
    cfg = recursive_config("gaussian2d", quick=True, filters="variance")
    assert cfg.filters == ("variance", "variance-calibrated")


def _final(out):
    summary = json.loads((out / "recursive.json").read_text())
    return {rule: [{k: v for k, v in row.items()} for row in rows]
            for rule, rows in summary["lineages"].items()}


def test_micro_run_end_to_end_and_resume_gives_the_same_numbers(tmp_path, monkeypatch):
    # A 20-step model hallucinates everything; an "oracle" flagging every other sample gives
    # generation 0 both classes, so the calibrated lineage's plumbing runs too.
    monkeypatch.setattr(GaussianGrid, "is_hallucination",
                        lambda self, x: torch.arange(len(x)) % 2 == 0)
    cfg = recursive_config("gaussian2d", quick=True, generations=3, **MICRO, n_keep=200)
    straight = tmp_path / "straight"
    summary = run_recursive(cfg, straight, progress=False)
    assert set(summary["lineages"]) <= set(FILTERS) and len(summary["lineages"]) >= 3
    for rows in summary["lineages"].values():
        assert [r["generation"] for r in rows] == [0, 1, 2]
        assert rows[1]["train_size"] == 200 and 0.0 <= rows[1]["train_rate"] <= 1.0
        assert "mode_coverage" in rows[2] and "histogram_kl" in rows[2]
    for name in ("report.md", "report.html", "recursive.json", "manifest.json",
                 "over_generations.png", "generations.png", "gen-0/model.pt",
                 "variance/gen-2/samples.pt", "random/gen-1/train.pt"):
        assert (straight / name).stat().st_size > 0, name
    assert "variance-calibrated" in summary["lineages"], summary["calibration_note"]
    assert summary["calibrated_window"] in (5, 2, 3, 10, (5, 10))
    manifest = json.loads((straight / "manifest.json").read_text())
    assert manifest["stages"]["gen-0"]["n_drawn"] == 205  # N + 2.5 %

    # Kill within a generation (trained, not yet sampled) and between generations (its training
    # set chosen, not yet trained); each rerun of the same call continues.
    killed = tmp_path / "killed"
    original_sample, original_fit = run_module._Run._samples, run_module.fit
    calls = {"sample": 0, "fit": 0}

    def dying_sample(self, *a, **k):
        calls["sample"] += 1
        if calls["sample"] == 2:
            raise KeyboardInterrupt("killed while sampling")
        return original_sample(self, *a, **k)

    def dying_fit(*a, **k):
        calls["fit"] += 1
        if calls["fit"] == 5:
            raise KeyboardInterrupt("killed before training")
        return original_fit(*a, **k)

    monkeypatch.setattr(run_module._Run, "_samples", dying_sample)
    monkeypatch.setattr(run_module, "fit", dying_fit)
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            run_recursive(cfg, killed, progress=False)
    run_recursive(cfg, killed, progress=False)
    assert _final(killed) == _final(straight)

    with pytest.raises(ValueError, match="another config"):
        run_recursive(recursive_config("gaussian2d", quick=True, generations=4, **MICRO,
                                       n_keep=200), killed, progress=False)
