"""Plots and diagnostics for hallucination experiments (matplotlib, Agg canvas; no pyplot state).

Every plotting function takes an output path, saves a PNG (or whatever the suffix says), releases
the figure and returns the path as a :class:`pathlib.Path`.
"""
from .metrics import (ablation_plot, plot_early_exit, plot_roc, plot_score_histograms,
                      plot_window_sweep)
from .images import plot_image_grid, plot_image_trajectories, plot_ranked, plot_score_map_overlays
from .localisation import localisation_rates, map_peaks
from .pair_sweep import plot_pair_sweep
from .samples import plot_samples, plot_trajectories
from .scores import ScoreComparison, default_score_timesteps, learned_vs_true_score

__all__ = ["plot_image_grid", "plot_image_trajectories", "plot_ranked", "plot_score_map_overlays",
           "localisation_rates", "map_peaks", "plot_pair_sweep", "plot_samples", "plot_trajectories",
           "plot_score_histograms", "plot_roc", "plot_early_exit", "plot_window_sweep",
           "ablation_plot", "learned_vs_true_score", "ScoreComparison", "default_score_timesteps"]
