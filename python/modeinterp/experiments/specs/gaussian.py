"""The toy experiments of the paper: 1-D and 2-D Gaussian mixtures with the paper's MLP denoiser."""

from __future__ import annotations

from pathlib import Path

from ... import analysis
from ...data import Gaussian1D, GaussianGrid
from ...models import MLPDenoiser
from .base import ExperimentSpec

# --quick: <= 5 minutes on 2 CPU cores (measured: ~2 min of training, ~30 s of sampling).
# 1-D keeps the paper's recipe (uniform t, constant lr), scaled down: it already learns the three
# modes well enough to leave ~1% of samples between them. The 25-mode grid does not: with uniform
# t its quick model left 79% of samples off the modes (AUROC 0.72). Drawing 90% of the timesteps
# below t = 30, where the modes are still resolved, plus a cosine lr decay brings it to ~0.6% and
# AUROC ~0.95 in the same time (measured on gaussian2d; see TimestepSampler). Applied to 1-D the
# same recipe leaves ~1 hallucination in 8000 samples: nothing left to detect.
_QUICK_COMMON = dict(n_train=20_000, batch_size=1_000, ema=0.995, n_samples=8_000,
                     sample_batch=4_000)
_QUICK_GRID = dict(train_steps=8000, lr_schedule="cosine", focus_below=30, focus_prob=0.9)
# x̂0 is clamped to ±clip while sampling, quick and full. Without it an ε-model's x̂0 =
# (x − √(1−ᾱ)·ε̂)/√ᾱ multiplies the model's error by 1/√ᾱ ≈ 1e23 at the first of the paper's
# steps (β up to 0.2: ᾱ_T ≈ 1e-47); the reverse process then drifts after that x̂0, and a few
# samples in a thousand of a briefly trained model run off to ±inf (measured: 0.04 % with DDPM,
# 2 % with DDIM 100 on the README's 1-D model). Any clip bounds them; these sit far outside the
# data (twice the farthest mode: the 1-D sweeps put modes up to 5, the grid spans ±1.41), so
# no in-support x̂0 is ever clamped. The paper's code has the 2-D clamp, commented out.
_CLIP_1D, _CLIP_GRID = 10.0, 3.0


def _mixture(name):
    def build(cfg):
        if cfg.means is not None and name != "gaussian1d":
            raise ValueError(f"means only applies to gaussian1d, not {name!r}")
        if name == "gaussian1d":
            data = Gaussian1D(**({} if cfg.means is None else {"means": tuple(cfg.means)}))
        else:
            data = GaussianGrid(layout="diamond" if name.endswith("diamond") else "square")
        farthest = float(abs(data.modes).max())
        if cfg.clip is not None and cfg.clip <= farthest:
            raise ValueError(f"clip={cfg.clip} would clamp x̂0 inside the data: {name}'s "
                             f"farthest mode is at {farthest:g}")
        return data
    return build


def _mlp(cfg, data):
    return MLPDenoiser(data.dim, share_blocks=cfg.share_blocks, T=cfg.T)


def figures(cfg, data, model, ev, out: Path) -> dict:
    """The toy figures: samples by region, score histograms, ROC, x̂0 paths, 1-D score."""
    result, labels, report = ev.result, ev.labels, ev.report
    if len(labels) == 0:  # every sample diverged: nothing to draw
        return {}
    samples = result.samples.float().cpu().numpy()
    scores = result.scores.cpu().numpy()
    figs = {"samples": analysis.plot_samples(
        samples, data.regions(result.samples.float().cpu()), data.modes, out / "samples.png",
        title=f"{cfg.dataset}: {labels.mean():.2%} hallucinated",
        train=data.sample(min(cfg.n_train, 5000), seed=cfg.seed).numpy())}
    if labels.any() and not labels.all():
        figs["score_histograms"] = analysis.plot_score_histograms(
            scores, labels, out / "score_histograms.png", threshold=report.threshold,
            density=True)
        start, stop = result.step_range
        curves = {f"full window ({stop - start} steps)": (scores, labels)}
        curves.update({f"first {k} steps": (s.cpu().numpy(), labels)
                       for k, s in sorted(result.early_scores.items())})
        figs["roc"] = analysis.plot_roc(curves, path=out / "roc.png")
    if result.trajectory is not None and len(result.trajectory):  # none left if all diverged
        # Early x̂0 are huge (1/√ᾱ_T ~ 1e22 with the paper's schedule): show the last 100 steps.
        m, last = result.trajectory.shape[0], min(100, result.trajectory.shape[1])
        figs["trajectories"] = analysis.plot_trajectories(
            result.trajectory[:, -last:].cpu().numpy(), labels[:m],
            result.timesteps[-last:].numpy(), out / "trajectories.png",
            window=min(result.step_range[1] - result.step_range[0], last))
    if data.dim == 1:
        analysis.learned_vs_true_score(model, data, cfg.schedule(), ts=cfg.score_ts,
                                       prediction=cfg.prediction,
                                       path=out / "learned_vs_true_score.png")
        figs["learned_vs_true_score"] = out / "learned_vs_true_score.png"
    return figs


# modeinterp recursive: every generation trains from scratch, so a quick generation gets a
# fraction of the quick training compute (3000 steps of 250; measured on gaussian2d: 1.2 %
# hallucinations after 6000 such steps, 5 % after 3000 of 500, 28 % after 1500 of 1000) and draws
# N = 2000 with the paper's DDPM (100 DDIM steps leave ~1 % of samples non-finite with this
# schedule): 17 stages of ~25 s on 2 cores. The full run keeps the paper's training recipe.
_RECURSIVE_QUICK = dict(n_train=2000, train_steps=3000, batch_size=250, sample_batch=2050,
                        generations=5)
_RECURSIVE_FULL = dict(n_train=10_000, n_samples=10_000, generations=5)


def _spec(name, description, quick, clip):
    return ExperimentSpec(name=name, description=description, dataset=_mixture(name),
                          model=_mlp, figures=figures, quick=dict(quick, clip=clip),
                          full=dict(clip=clip), recursive_quick=_RECURSIVE_QUICK,
                          recursive_full=_RECURSIVE_FULL)


SPECS = [
    _spec("gaussian1d", "three 1-D Gaussians (means 1, 2, 3, std 0.05)",
          dict(_QUICK_COMMON, train_steps=6000), _CLIP_1D),
    _spec("gaussian2d", "the paper's 25-mode square grid", dict(_QUICK_COMMON, **_QUICK_GRID),
          _CLIP_GRID),
    _spec("gaussian2d-diamond", "the paper's rotated (diamond) grid",
          dict(_QUICK_COMMON, **_QUICK_GRID), _CLIP_GRID),
]
