"""Where in an image the model hesitated: the peak of a pooled score map, and how often it falls
where an oracle locates the hallucination (Simple Shapes: the strip it blames).

The chance rates a hit rate is read against: ``uniform`` — the blamed area's share of the image
(a peak placed at random); ``shuffled`` — the share of all samples' peaks that fall in the blamed
area (a peak that ignores this image but follows where peaks usually sit).
"""

from __future__ import annotations

import numpy as np
import torch

from ..sampling.aggregations import pooled_map
from ..validation import check_int

__all__ = ["localisation_rates", "map_peaks"]


def map_peaks(maps, k: int = 4) -> np.ndarray:
    """(n, 2) int (row, column) of the centre pixel of each map's most uncertain k×k window (the
    maximum of :func:`~modeinterp.sampling.aggregations.pooled_map`, the ``poolK`` score)."""
    k = check_int("k", k, 1, note="the pool size")
    pooled = pooled_map(torch.as_tensor(maps), k)
    flat = pooled.flatten(1).argmax(dim=1).cpu().numpy()
    return np.stack(np.unravel_index(flat, pooled.shape[1:]), axis=1) + (k - 1) // 2


def localisation_rates(maps, blame: list, k: int = 4) -> dict:
    """Per reason: ``{"n", "hit_rate", "uniform", "shuffled"}`` (fractions) — how often the peak
    of the k×k-pooled score map (:func:`map_peaks`) lies inside the area the oracle blames for
    that reason.

    blame: one ``{reason: (H, W) bool mask}`` per sample (``SimpleShapes.blame``; ``{}`` for a
    sample with nothing to locate, which still adds its peak to the ``shuffled`` rate); samples
    with several reasons count once for each. ``"all"`` pools every (sample, reason) pair."""
    if len(blame) != len(maps):
        raise ValueError(f"blame has {len(blame)} entries but maps has {len(maps)}: one per sample")
    peaks = map_peaks(maps, k)
    rows: dict = {}
    for i, reasons in enumerate(blame):
        for reason, mask in reasons.items():
            mask = np.asarray(mask, dtype=bool)
            rec = rows.setdefault(reason, {"hit": [], "uniform": [], "shuffled": []})
            rec["hit"].append(bool(mask[peaks[i, 0], peaks[i, 1]]))
            rec["uniform"].append(float(mask.mean()))
            rec["shuffled"].append(float(mask[peaks[:, 0], peaks[:, 1]].mean()))
    rows["all"] = {key: [v for r in list(rows.values()) for v in r[key]]
                   for key in ("hit", "uniform", "shuffled")} if rows else None
    return {reason: {"n": len(r["hit"]), "hit_rate": float(np.mean(r["hit"])),
                     "uniform": float(np.mean(r["uniform"])),
                     "shuffled": float(np.mean(r["shuffled"]))}
            for reason, r in rows.items() if r is not None}
