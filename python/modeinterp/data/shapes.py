"""Simple Shapes: the paper's image dataset, with an exact hallucination oracle.

The images are the paper's generator's (``shapes_drawing``: the same PIL shapes, sizes,
orientations and position ranges): three vertical strips, 21 px wide and 63 px tall —
triangle | square | pentagon — side by side and zero-padded to 64×64. Each strip holds its shape
with probability 1/2 (``p``) at a uniformly random position of the generator's ranges; images with
no shape at all are drawn again (the generator drops them; so each shape is present in 4/7 of the
images). A square of 8×8 = 64 px, a downward triangle of ~65 px and a pentagon of ~70 px pointing
right. Pixels are −1 (background) or +1. ``size=32`` is the 64-px image 2×2 box-averaged (CPU
quick runs use it, said so): the same shapes at half resolution, with grey edges.

The training images never hold more than one shape per strip, nor a shape outside its strip.
Mode interpolation makes a diffusion model produce exactly that (two squares, a square in the
triangle strip), and the oracle finds it: binarise at 0, find the connected blobs of each strip
(``scipy.ndimage.label``, 8-connected), match each blob against every look of the three shapes
(:mod:`.shapes_matching`: a shape at all when its mask overlaps a look with an
intersection-over-union ≥ 0.7; which shape by the nearest grey look, since at 32 px binarising
alone turns soft pentagons into squares) and check every strip. A sample's reasons:

* ``ok``: every blob is a well-formed shape of its strip's type, at most one per strip, ≥ 1 shape;
* ``two-squares`` (``two-triangles``, ``two-pentagons``): a strip holds several of its own shape;
* ``square-in-triangle-strip`` (…): a well-formed shape in another shape's strip;
* ``malformed``: a blob that matches no shape (a fragment, a merged or half-faded shape; a shape
  straddling two strips is cut at the border into fragments);
* ``empty``: no shape at all (the training set has none).

``classify`` gives each image's reasons as a frozenset (:mod:`.protocol`; empty = ``ok``);
``summary`` counts each reason and the number of well-formed shapes per image.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from ..artifacts import cache_folder, save_npy
from ..validation import check_fraction, check_int
from .shapes_drawing import (POSITIONS, SHAPES, SIZE, SIZES, downsample, render_64, shape_stamps,
                             shape_templates, strip_bounds)
from .shapes_matching import blob_window, match_blob

__all__ = ["SimpleShapes", "SHAPES", "shape_stamps"]

_DATA_VERSION = 2  # 2: the paper's PIL shapes (1 drew other triangles and pentagons)


class SimpleShapes:
    """The Simple Shapes training set (see the module docstring) and its oracle.

    n: training-set size (``sample`` draws any n); p: presence probability of each shape before
    blank images are redrawn; size: 64 (the paper's images) or 32 (those images 2×2
    box-averaged); cache_dir: where generated sets are kept (default ``$MODEINTERP_CACHE`` or
    ``~/.cache/modeinterp``; None disables the cache).
    """

    oracle = "exact"  # data.protocol: the strips say exactly what is wrong
    capabilities = frozenset({"shape_counts", "blame"})

    def __init__(self, n: int = 5000, p: float = 0.5, size: int = SIZE, cache_dir="default"):
        self.n = check_int("n", n, 1)
        self.p = check_fraction("p", p)
        self.size = check_int("size", size, 1)
        if self.size not in SIZES:
            raise ValueError(f"size must be 64 (the paper's images) or 32 (those images 2×2 "
                             f"box-averaged), got {size}")
        self.strip_bounds = strip_bounds(self.size)
        self.sample_shape = (1, self.size, self.size)
        self.cache_dir = cache_folder(cache_dir)
        self.stamps = shape_stamps(self.size)
        self.looks = shape_templates(self.size)
        self._last_reasons = (None, None)  # (digest of a batch's pixels, its per-image results)

    def __repr__(self) -> str:
        return f"SimpleShapes(n={self.n}, p={self.p}, size={self.size})"

    # -- data ---------------------------------------------------------------------------
    def generate(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, 1, size, size) float32 images in [−1, 1], deterministic per (n, seed, p, size)."""
        n = check_int("n", n, 0)
        rng = np.random.default_rng(check_int("seed", seed, 0))
        presence = np.zeros((0, 3), dtype=bool)
        while len(presence) < n:  # redraw blank images: keep the non-empty draws, in order
            draw = rng.random((n, 3)) < self.p
            presence = np.concatenate([presence, draw[draw.any(axis=1)]])[:n]
        x1 = np.stack([rng.integers(lo, hi + 1, size=n)
                       for (lo, hi), _ in (POSITIONS[s] for s in SHAPES)], axis=1)
        y1 = np.stack([rng.integers(lo, hi + 1, size=n)
                       for _, (lo, hi) in (POSITIONS[s] for s in SHAPES)], axis=1)
        images = render_64(presence, x1, y1)
        return images if self.size == SIZE else downsample(images, self.size)

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` training images (n, 1, size, size) in [−1, 1], deterministic per seed; cached on
        disk after the first build."""
        n = check_int("n", n, 0)
        seed = check_int("seed", seed, 0)
        if self.cache_dir is None:
            return torch.from_numpy(self.generate(n, seed))
        fields = [n, seed, self.p, _DATA_VERSION, self.size]
        key = hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]
        path = self.cache_dir / f"simple-shapes-{key}.npy"
        if path.exists():
            return torch.from_numpy(np.load(path))
        images = self.generate(n, seed)
        save_npy(images, path)  # atomic: a concurrent or killed build never leaves half a file
        return torch.from_numpy(images)

    # -- oracle -------------------------------------------------------------------------
    def _images(self, x) -> np.ndarray:
        arr = np.asarray(x.detach().float().cpu() if isinstance(x, torch.Tensor) else x,
                         dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[:, None]
        if arr.ndim != 4 or arr.shape[1:] != self.sample_shape:
            raise ValueError(f"x must be images of shape (n, {', '.join(map(str, self.sample_shape))})"
                             f", got {arr.shape}")
        return arr

    def _image_reasons(self, image: np.ndarray) -> tuple:
        """(reasons, number of well-formed shapes, {reason: strips blamed}) of one (size, size)
        grey image."""
        from scipy import ndimage

        reasons, shapes, blobs, blame = [], 0, 0, {}
        for s, own in enumerate(SHAPES):
            # Each strip on its own: shapes of neighbouring strips may touch across the border in
            # training images; a blob straddling the border is cut in two and matches nothing.
            start, stop = self.strip_bounds[s]
            grey = image[:, start:stop]
            labels, count = ndimage.label(grey > 0, structure=np.ones((3, 3), dtype=bool))
            blobs += count
            names = []
            for k, box in enumerate(ndimage.find_objects(labels), start=1):
                name = match_blob(labels[box] == k, blob_window(grey, labels, k, box),
                                  self.stamps, self.looks)
                if name is None:
                    reasons.append("malformed")
                    blame.setdefault("malformed", set()).add(s)
                else:
                    names.append(name)
            shapes += len(names)
            for name in set(names) - {own}:
                reasons.append(f"{name}-in-{own}-strip")
                blame.setdefault(reasons[-1], set()).add(s)
            if names.count(own) > 1:
                reasons.append(f"two-{own}s")
                blame[reasons[-1]] = {s}
        if blobs == 0:
            reasons.append("empty")  # nothing to point at: not blamed on any strip
        return sorted(set(reasons)), shapes, blame

    def _reasons(self, x) -> list:
        """``_image_reasons`` of every image. The last batch's results are kept, keyed by a digest
        of its pixels: a report asks for the labels, reasons, counts and summary of the same
        samples, and the blob matching is the slow part."""
        images = np.ascontiguousarray(self._images(x)[:, 0])
        digest = hashlib.blake2b(repr(images.shape).encode() + images.tobytes(),
                                 digest_size=16).digest()
        if self._last_reasons[0] != digest:
            self._last_reasons = (digest, [self._image_reasons(m) for m in images])
        return self._last_reasons[1]

    def classify(self, x) -> list:
        """One frozenset of reasons per image, empty for ``ok`` (module docstring)."""
        return [frozenset(r) for r, _, _ in self._reasons(x)]

    def shape_counts(self, x) -> np.ndarray:
        """(n,) int: the number of well-formed shapes in each image (whatever their strips)."""
        return np.array([k for _, k, _ in self._reasons(x)], dtype=np.int64)

    def strip_masks(self) -> np.ndarray:
        """(3, size, size) bool: the pixels of each strip (the last one reaches the right edge)."""
        masks = np.zeros((3, self.size, self.size), dtype=bool)
        for s, (start, stop) in enumerate(self.strip_bounds):
            masks[s, :, start:stop] = True
        return masks

    def blame(self, x) -> list:
        """Where the oracle locates each image's hallucinations: one ``{reason: (size, size) bool
        mask}`` per image, the mask covering the strip(s) it blames (a second square: the square
        strip; a square in the triangle strip: the triangle strip; a malformed blob: its strip).
        In-support and empty images get ``{}``: there is nothing to point at."""
        strips = self.strip_masks()
        return [{reason: strips[sorted(where)].any(axis=0) for reason, where in blame.items()}
                for _, _, blame in self._reasons(x)]

    def is_hallucination(self, x) -> torch.Tensor:
        """(n,) bool: the image is outside the training support (any reason but ``ok``)."""
        return torch.tensor([bool(r) for r, _, _ in self._reasons(x)], dtype=torch.bool)

    def summary(self, x) -> dict:
        """Counts per reason, per number of well-formed shapes, and the hallucination rate."""
        results = self._reasons(x)
        reasons: dict = {}
        for r, _, _ in results:
            for reason in r or ["ok"]:
                reasons[reason] = reasons.get(reason, 0) + 1
        counts: dict = {}
        for _, k, _ in results:
            counts[str(k)] = counts.get(str(k), 0) + 1
        n_bad = sum(1 for r, _, _ in results if r)
        n_malformed = sum(1 for r, _, _ in results if "malformed" in r)
        return {"n": len(results), "n_hallucinated": n_bad,
                "rate": n_bad / len(results) if results else 0.0,
                "well_formed_fraction": 1 - n_malformed / len(results) if results else 1.0,
                "reasons": dict(sorted(reasons.items())),
                "shape_counts": dict(sorted(counts.items()))}
