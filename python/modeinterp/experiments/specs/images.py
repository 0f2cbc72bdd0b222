"""The image experiments: Simple Shapes (exact oracle) and handwritten digits (classifier proxy),
each trained as a diffusers U-Net (``UNetDenoiser``) and sampled through our Sampler with x̂0
clipped to [−1, 1] and a respaced DDIM run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import analysis
from ...data import Digits, ImageFolder, SimpleShapes
from .base import ExperimentSpec

# Shared by both: the DDPM image schedule (β 1e-4…0.02 over 1000 steps), Adam 2e-4 with a cosine
# decay, EMA, gradient clipping, DDIM sampling in 100 steps with x̂0 clipped, and a wider window
# sweep than the toys (the paper does not state its image window).
_IMAGES = dict(T=1000, beta_start=1e-4, beta_end=0.02, lr=2e-4, lr_schedule="cosine", ema=0.999,
               grad_clip=1.0, method="ddim", steps=100, clip=1.0, trajectory=8,
               window_sweep=(2, 3, 5, 20, 50), early_exit=(2, 3, 5, 7))


def figures(cfg, data, model, result, labels, regions, report, out: Path) -> dict:
    """Samples (hallucinations framed in red with their reason), the highest- and lowest-scored
    samples, score histograms and ROC when both classes occur."""
    samples, scores = result.samples.float().cpu(), result.scores.cpu().numpy()
    if len(samples) == 0:
        return {}
    flagged = ("no oracle: ranked by score only" if labels is None else
               f"{labels.mean():.1%} flagged by the "
               f"{'proxy' if cfg.dataset == 'digits' else 'oracle'} (red)")
    figs = {"samples": analysis.plot_image_grid(
        samples, out / "samples.png", labels=labels, reasons=regions, scores=scores,
        title=f"{cfg.dataset}: {flagged}")}
    figs["ranked"] = analysis.plot_ranked(samples, scores, out / "ranked.png", labels=labels,
                                          reasons=regions, title="by hallucination score")
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


def _unet(default: str):
    def build(cfg, data):
        from ...models.unet import UNetDenoiser  # needs the [diffusers] extra: only when used

        return UNetDenoiser.preset(cfg.unet or default, channels=data.sample_shape[0], T=cfg.T)
    return build


def _folder(cfg):
    if not cfg.path:
        raise ValueError("reproduce folder needs the image folder: --path DIR")
    return ImageFolder(cfg.path, size=cfg.size)


def _folder_unet(cfg, data):
    from ...models.unet import PRESETS, UNetDenoiser

    if cfg.unet:
        return UNetDenoiser.preset(cfg.unet, channels=data.sample_shape[0], T=cfg.T)
    fits = [name for name, p in PRESETS.items() if p["sample_size"] == cfg.size]
    if not fits:
        raise ValueError(f"no UNet preset for --size {cfg.size}: pass --size 8, 16, 32 or 64 "
                         "(or a preset with --config: unet = \"...\")")
    return UNetDenoiser.preset(fits[0], channels=data.sample_shape[0], T=cfg.T)


SPECS = [
    ExperimentSpec(
        name="shapes", description="Simple Shapes, 64×64 (the paper's image experiment)",
        dataset=lambda cfg: SimpleShapes(n=cfg.n_train), model=_unet("shapes-64"),
        sample_shape=lambda data: data.sample_shape, figures=figures,
        quick=dict(_IMAGES, unet="shapes-64-small", n_train=5000, batch_size=32,
                   train_steps=800, n_samples=128, sample_batch=128),
        full=dict(_IMAGES, n_train=5000, batch_size=64, train_steps=100_000, n_samples=10_000,
                  sample_batch=256)),
    ExperimentSpec(
        name="digits", description="scikit-learn's handwritten digits, 8×8 (classifier proxy)",
        dataset=lambda cfg: Digits(size=8), model=_unet("digits-8"),
        sample_shape=lambda data: data.sample_shape, figures=figures,
        quick=dict(_IMAGES, n_train=1797, batch_size=64, train_steps=2400, n_samples=1024,
                   sample_batch=512),
        full=dict(_IMAGES, n_train=1797, batch_size=128, train_steps=50_000, n_samples=10_000,
                  sample_batch=1000)),
    ExperimentSpec(
        name="folder", description="any folder of images (--path DIR --size 64; no oracle)",
        dataset=_folder, model=_folder_unet, sample_shape=lambda data: data.sample_shape,
        figures=figures,
        quick=dict(_IMAGES, n_train=1000, batch_size=16, train_steps=500, n_samples=64,
                   sample_batch=64),
        full=dict(_IMAGES, n_train=10_000, batch_size=64, train_steps=100_000, n_samples=5000,
                  sample_batch=256)),
]
