"""What one generation's samples look like, compared with the real data: the numbers the
recursive experiment plots over generations.

Every dataset with an oracle: the hallucination rate (and the oracle's summary: reasons and shape
counts for Simple Shapes, per-mode counts for the toys). Toy mixtures add mode coverage, the mass
per mode, and two distances to the real data — a histogram KL divergence and a sliced
Wasserstein-1 distance. Digits add the Fréchet distance in the bundled classifier's feature space.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.protocol import has

__all__ = ["generation_metrics", "histogram_kl", "sliced_wasserstein"]

# A mode is "covered" when it holds at least this share of what a uniform split would give it.
COVERAGE_SHARE = 0.1


def histogram_kl(real: np.ndarray, generated: np.ndarray, bins: int | None = None,
                 eps: float = 1e-6) -> float:
    """KL(real ‖ generated) between histograms of (n, d ≤ 2) points on the real data's range
    (padded by 10 %; ``bins`` per axis, default 100 in 1-D and 30 in 2-D); ``eps`` smooths empty
    bins so that a missing mode costs a finite, large amount instead of infinity."""
    real, generated = np.atleast_2d(real.T).T, np.atleast_2d(generated.T).T
    bins = bins or (100 if real.shape[1] == 1 else 30)
    lo, hi = real.min(axis=0), real.max(axis=0)
    pad = 0.1 * (hi - lo) + 1e-9
    edges = [np.linspace(a - p, b + p, bins + 1) for a, b, p in zip(lo, hi, pad)]
    p = np.histogramdd(real, bins=edges)[0].ravel() + eps
    q = np.histogramdd(np.clip(generated, lo - pad, hi + pad), bins=edges)[0].ravel() + eps
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def sliced_wasserstein(real: np.ndarray, generated: np.ndarray, projections: int = 64,
                       seed: int = 0) -> float:
    """Mean Wasserstein-1 distance between 1-D projections of two point clouds on ``projections``
    random unit directions (exact W1 when d = 1). Generated points are clipped to the real data's
    range padded by 10 %, as in :func:`histogram_kl`: one diverged sample at 1e13 would otherwise
    be the whole distance; it counts as a point on the border instead."""
    from scipy.stats import wasserstein_distance

    a, b = np.atleast_2d(real.T).T, np.atleast_2d(generated.T).T
    lo, hi = a.min(axis=0), a.max(axis=0)
    pad = 0.1 * (hi - lo) + 1e-9
    b = np.clip(b, lo - pad, hi + pad)
    if a.shape[1] == 1:
        return float(wasserstein_distance(a[:, 0], b[:, 0]))
    dirs = np.random.default_rng(seed).standard_normal((projections, a.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return float(np.mean([wasserstein_distance(a @ d, b @ d) for d in dirs]))


def _mixture_metrics(data, samples: np.ndarray, real: np.ndarray, summary: dict) -> dict:
    per_mode = np.asarray(summary["per_mode"], dtype=np.float64)
    n = max(int(summary["n"]), 1)
    covered = per_mode >= COVERAGE_SHARE * n / len(per_mode)
    return {"mode_coverage": float(covered.mean()), "modes_covered": int(covered.sum()),
            "per_mode_mass": (per_mode / n).tolist(),
            "histogram_kl": histogram_kl(real, samples),
            "sliced_wasserstein": sliced_wasserstein(real, samples)}


def generation_metrics(data, samples, real) -> dict:
    """JSON-friendly metrics of one generation's samples (n, …) against ``real`` training data.

    ``rate`` is the oracle's hallucination rate (a proxy for digits: see ``label``)."""
    samples = samples.float().cpu() if isinstance(samples, torch.Tensor) else torch.as_tensor(samples)
    real = real.float().cpu() if isinstance(real, torch.Tensor) else torch.as_tensor(real)
    finite = torch.isfinite(samples.flatten(1)).all(dim=1)
    samples = samples[finite]
    out = {"n": int(len(finite)), "n_non_finite": int((~finite).sum())}
    if not len(samples):
        return {**out, "rate": float("nan")}
    summary = data.summary(samples)
    summary.pop("pairs", None)
    out.update(rate=float(summary["rate"]), oracle=summary)
    if "per_mode" in summary:  # a toy mixture
        out.update(_mixture_metrics(data, samples.numpy(), real.numpy(), summary))
    if has(data, "frechet_distance"):
        out["frechet"] = data.frechet_distance(samples)
    if "shape_counts" in summary:
        counts = {int(k): v for k, v in summary["shape_counts"].items()}
        out["mean_shapes"] = sum(k * v for k, v in counts.items()) / max(1, sum(counts.values()))
    return out
