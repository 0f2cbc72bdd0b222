"""The image experiments: Simple Shapes (exact oracle) and handwritten digits (classifier proxy),
each trained as a diffusers U-Net (``UNetDenoiser``) and sampled through our Sampler with x̂0
clipped to [−1, 1] and a respaced DDIM run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import analysis
from ...data import Digits, ImageFolder, SimpleShapes
from .base import ExperimentSpec

# Shared by all: the DDPM image schedule (β 1e-4…0.02 over 1000 steps), Adam 2e-4 with a cosine
# decay, EMA, gradient clipping, DDIM sampling in 100 steps with x̂0 clipped, and a wider window
# sweep than the toys, last K steps and mid-trajectory step ranges (the paper does not state its
# image window), and every window's score map kept and reduced in several ways besides the
# paper's pixel mean (modeinterp.sampling.aggregations).
_IMAGES = dict(T=1000, beta_start=1e-4, beta_end=0.02, lr=2e-4, lr_schedule="cosine", ema=0.999,
               grad_clip=1.0, method="ddim", steps=100, clip=1.0, trajectory=16,
               window_sweep=(2, 3, 5, 20, 50, 100, (40, 60), (60, 80), (80, 90), (90, 95)),
               early_exit=(2, 3, 5, 7), score_maps=True,
               aggregations=("mean", "max", "pool2", "pool4", "pool8", "q99", "q99.9",
                             "component", "rel-mean", "rel-pool4"))

# 8×8 digits: an 8×8 pool is the whole image (the mean), a 99.9th percentile the maximum.
_DIGIT_AGGREGATIONS = ("mean", "max", "pool2", "pool4", "q99", "component", "rel-mean",
                       "rel-pool2")


def figures(cfg, data, model, ev, out: Path) -> dict:
    """Samples (hallucinations framed in red with their reason), the highest- and lowest-scored
    samples, score histograms and ROC when both classes occur."""
    result, labels, reasons, report = ev.result, ev.labels, ev.reasons, ev.report
    samples, scores = result.samples.float().cpu(), result.scores.cpu().numpy()
    if len(samples) == 0:
        return {}
    flagged = ("no oracle: ranked by score only" if labels is None else
               f"{labels.mean():.1%} flagged by the "
               f"{'proxy' if data.oracle == 'proxy' else 'oracle'} (red)")
    figs = {"samples": analysis.plot_image_grid(
        samples, out / "samples.png", labels=labels, reasons=reasons, scores=scores,
        title=f"{cfg.dataset}: {flagged}")}
    figs["ranked"] = analysis.plot_ranked(samples, scores, out / "ranked.png", labels=labels,
                                          reasons=reasons, title="by hallucination score")
    if result.trajectory is not None and len(result.trajectory):
        m = len(result.trajectory)
        figs["trajectories"] = analysis.plot_image_trajectories(
            result.trajectory.cpu(), out / "trajectories.png", window=result.step_range,
            labels=None if labels is None else labels[:m],
            reasons=None if reasons is None else reasons[:m], scores=scores[:m])
    if labels is None:
        figs["score_histogram"] = analysis.plot_score_histograms(
            scores, np.zeros(len(scores), bool), out / "score_histogram.png",
            title="hallucination scores (no labels)")
    elif labels.any() and not labels.all():
        figs["score_histograms"] = analysis.plot_score_histograms(
            scores, labels, out / "score_histograms.png", threshold=report.threshold,
            density=True)
        figs["roc"] = analysis.plot_roc({"x̂0 variance": (scores, labels)}, path=out / "roc.png")
    return figs


def _unet(cfg, data):
    """The configured UNet preset, else the first preset for the data's image size (needs the
    [diffusers] extra: imported only when used)."""
    from ...models.unet import PRESETS, UNetDenoiser

    if cfg.unet:
        return UNetDenoiser.preset(cfg.unet, channels=data.sample_shape[0], T=cfg.T)
    size = data.sample_shape[-1]
    fits = [name for name, p in PRESETS.items() if p["sample_size"] == size]
    if not fits:
        sizes = ", ".join(str(s) for s in sorted({p["sample_size"] for p in PRESETS.values()}))
        raise ValueError(f"no UNet preset for {size}×{size} images: pass --size {sizes} "
                         "(or a preset with --config: unet = \"...\")")
    return UNetDenoiser.preset(fits[0], channels=data.sample_shape[0], T=cfg.T)


def _folder(cfg):
    if not cfg.path:
        raise ValueError("reproduce folder needs the image folder: --path DIR")
    return ImageFolder(cfg.path, size=cfg.size)


SPECS = [
    ExperimentSpec(
        name="shapes", description="Simple Shapes, 64×64 (the paper's image experiment; "
                                   "--quick: 32×32)",
        dataset=lambda cfg: SimpleShapes(n=cfg.n_train, size=cfg.size), model=_unet,
        figures=figures,
        # Quick: 32×32 (every length halved), a 760k-parameter U-Net, Adam 1e-3 and 50 DDIM
        # steps — at 64×64 a 2-core quick run draws noise, not shapes (docs/results.md, "Image reproductions"). Probed:
        # 84 % of samples well-formed after 1500 steps (65 % after 1000, 5 % after 500).
        quick=dict(_IMAGES, size=32, unet="shapes-32-small", n_train=5000, batch_size=32,
                   train_steps=1200, lr=1e-3, ema=0.995, n_samples=384, sample_batch=384,
                   steps=50, window_sweep=(2, 3, 5, 20, 50, (20, 30), (30, 40), (40, 45))),
        full=dict(_IMAGES, size=64, n_train=5000, batch_size=64, train_steps=100_000,
                  n_samples=10_000, sample_batch=256),
        # Recursive: every generation trains from scratch, ~0.5 s per training step here. Quick
        # is the 2-core floor (N = 64 images, 150 steps, 20 DDIM steps): it runs the mechanics
        # on images, its models draw no real shapes yet (docs/results.md, "Recursive training").
        recursive_quick=dict(train_steps=150, n_keep=64, steps=20, sample_batch=66,
                             generations=3, window_sweep=(2, 3, 5, 20, (5, 10), (10, 15))),
        recursive_full=dict(n_keep=5000, generations=5)),
    ExperimentSpec(
        name="digits", description="scikit-learn's handwritten digits, 8×8 (classifier proxy)",
        dataset=lambda cfg: Digits(size=8), model=_unet,
        figures=figures,
        quick=dict(_IMAGES, n_train=1797, batch_size=64, train_steps=2400, n_samples=1024,
                   sample_batch=512, aggregations=_DIGIT_AGGREGATIONS),
        full=dict(_IMAGES, n_train=1797, batch_size=128, train_steps=50_000, n_samples=10_000,
                  sample_batch=1000, aggregations=_DIGIT_AGGREGATIONS),
        recursive_quick=dict(train_steps=800, n_keep=1000, steps=50, sample_batch=1025,
                             generations=3, window_sweep=(2, 3, 5, 20, 50, (20, 30), (30, 40))),
        recursive_full=dict(n_keep=1797, generations=5)),
    ExperimentSpec(
        name="folder", description="any folder of images (--path DIR --size 64; no oracle)",
        dataset=_folder, model=_unet, figures=figures,
        quick=dict(_IMAGES, n_train=1000, batch_size=16, train_steps=500, n_samples=64,
                   sample_batch=64),
        full=dict(_IMAGES, n_train=10_000, batch_size=64, train_steps=100_000, n_samples=5000,
                  sample_batch=256)),
]
