"""Figures of the image experiments: they draw, and they refuse inputs they cannot draw."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeinterp.analysis import (plot_image_grid, plot_image_trajectories, plot_ranked,
                                 plot_window_sweep)


def _images(n, size=8):
    return torch.rand(n, 1, size, size) * 2 - 1


def test_grid_and_ranked_draw(tmp_path):
    labels = np.array([True, False] * 5)
    reasons = [frozenset({"malformed", "two-squares"})] * 10  # two reasons: two caption lines
    assert plot_image_grid(_images(10), tmp_path / "g.png", labels=labels, reasons=reasons,
                           scores=np.arange(10)).stat().st_size
    assert plot_ranked(_images(10), np.arange(10.0), tmp_path / "r.png",
                       labels=labels).stat().st_size
    with pytest.raises(ValueError, match="scores has 3 values"):
        plot_ranked(_images(10), np.arange(3.0), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        plot_image_grid(torch.zeros(3, 8, 8), tmp_path / "x.png")


def test_trajectories_show_hallucinations_first_and_the_window_spread(tmp_path):
    traj = torch.rand(6, 12, 1, 8, 8)
    labels = np.array([False, False, True, False, True, False])
    path = plot_image_trajectories(traj, tmp_path / "t.png", window=(8, 12), labels=labels,
                                   reasons=[frozenset({"two-squares"})] * 6,
                                   scores=np.arange(6.0), rows=4)
    assert path.stat().st_size > 0
    with pytest.raises(ValueError, match="window"):
        plot_image_trajectories(traj, tmp_path / "x.png", window=(8, 13))
    with pytest.raises(ValueError, match="trajectory"):
        plot_image_trajectories(torch.rand(6, 12, 8, 8), tmp_path / "x.png", window=(8, 12))


def test_window_sweep_draws_last_k_and_mid_trajectory_windows(tmp_path):
    rows = [{"window": k, "auroc": 0.6, "removed_at_96": 10.0} for k in (2, 5, 100)]
    spans = [{"window": [40, 60], "auroc": 0.7, "removed_at_96": 20.0},
             {"window": [80, 90], "auroc": 0.8, "removed_at_96": 30.0}]
    assert plot_window_sweep(rows + spans, tmp_path / "both.png", chosen=[80, 90]).exists()
    assert plot_window_sweep(spans, tmp_path / "spans.png").exists()
    assert plot_window_sweep(rows, tmp_path / "k.png", chosen=5).exists()
    with pytest.raises(ValueError, match="no window"):
        plot_window_sweep([], tmp_path / "none.png")
