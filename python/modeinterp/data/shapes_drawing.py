"""How the paper's Simple Shapes generator draws, rule for rule.

The paper's ``shapes/gen_simple_shapes_dataset.py`` draws each shape with PIL into its own black
21 × 63 strip (width × height), with ``area = 60``:

* triangle: side ``int(sqrt(4·60/√3)) = 11``, vertices (x1, y1), (x1 + 11, y1), (x1 + 5, y1 + 9):
  its base at the top, its apex pointing down (65 px; 64 where PIL clips the corner at x = 21);
  x1 ∈ [0, 10], y1 ∈ [0, 52];
* square: side ``int(sqrt(60)) = 7``, ``rectangle([x1, y1, x1 + 7, y1 + 7])`` (8 × 8 = 64 px, PIL's
  rectangle includes both corners); x1 ∈ [1, 7], y1 ∈ [1, 49];
* pentagon: circumradius ``int(sqrt(4·60/√(5(5+2√5)))) = 5`` about (x1, y1), vertices at 72°, 144°,
  …, 360° (one pointing right; 70 px, 69 where clipped at x = 21); x1 ∈ [5, 16], y1 ∈ [5, 58].

Every draw is ``polygon``/``rectangle`` with ``fill=255, outline=255``. The strips are concatenated
triangle | square | pentagon into 63 × 63 and zero-padded to 64 × 64; images with no shape are
dropped. Pixels map 0 → −1 and 255 → +1.

The 32 × 32 variant is derived from those 64 × 64 images, not redrawn: each is 2 × 2 box-averaged
(values in {−1, −½, 0, ½, 1}), so every shape is exactly the paper's, at half resolution.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SHAPES = ("triangle", "square", "pentagon")  # strip order, left to right
STRIP_W, STRIP_H, SIZE = 21, 63, 64
# (x1 range, y1 range), both inclusive, as the generator's random.randint calls draw them.
POSITIONS = {"triangle": ((0, 10), (0, 52)), "square": ((1, 7), (1, 49)),
             "pentagon": ((5, 16), (5, 58))}
SIZES = (64, 32)  # the paper's, and its 2×2 box-downsampled variant


def shape_outline(name: str, x1: int, y1: int) -> list:
    """The vertices the paper's generator passes to PIL for ``name`` at (x1, y1)."""
    if name == "triangle":
        return [(x1, y1), (x1 + 11, y1), (x1 + 5, y1 + 9)]
    if name == "square":
        return [(x1, y1), (x1 + 7, y1 + 7)]  # rectangle corners, both inclusive
    if name == "pentagon":
        return [(x1 + 5 * math.cos(math.radians(a)), y1 - 5 * math.sin(math.radians(a)))
                for a in range(72, 361, 72)]
    raise ValueError(f"name must be one of {SHAPES}, got {name!r}")


@lru_cache(maxsize=None)
def draw_in_strip(name: str, x1: int, y1: int) -> np.ndarray:
    """(63, 21) bool: the strip the generator draws for ``name`` at (x1, y1), clipped like it."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (STRIP_W, STRIP_H), color=0)
    draw = ImageDraw.Draw(image)
    outline = shape_outline(name, x1, y1)
    if name == "square":
        draw.rectangle(outline, fill=255, outline=255)
    else:
        draw.polygon(outline, fill=255, outline=255)
    mask = np.asarray(image) == 255
    mask.flags.writeable = False  # cached: shared by every caller
    return mask


def render_64(presence: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """(n, 1, 64, 64) float32 in {−1, +1}: shape s drawn in strip s where ``presence[i, s]``, at
    (x1[i, s], y1[i, s]) (each (n, 3))."""
    images = np.full((len(presence), 1, SIZE, SIZE), -1.0, dtype=np.float32)
    for s, name in enumerate(SHAPES):
        for i in np.flatnonzero(presence[:, s]):
            strip = draw_in_strip(name, int(x1[i, s]), int(y1[i, s]))
            images[i, 0, :STRIP_H, s * STRIP_W:(s + 1) * STRIP_W][strip] = 1.0
    return images


def downsample(images: np.ndarray, size: int) -> np.ndarray:
    """64-px images box-averaged to ``size`` (64 // size must be an integer factor)."""
    f = SIZE // size
    n, c = images.shape[:2]
    return images.reshape(n, c, size, f, size, f).mean(axis=(3, 5), dtype=np.float32)


def strip_bounds(size: int) -> tuple:
    """((start, stop) column range of each strip at ``size`` px). Downsampled, a pixel column that
    straddles two strips goes to the strip whose shapes can reach it (a square never touches its
    strip's first column, x1 ≥ 1): ceil(21k·size/64)."""
    cuts = [0] + [math.ceil(STRIP_W * k * size / SIZE) for k in (1, 2)] + [size]
    return tuple((cuts[s], cuts[s + 1]) for s in range(3))


def _crop(image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``image`` cut to the bounding box of ``keep``, read-only (the looks are cached)."""
    crop = np.ascontiguousarray(image[np.ix_(keep.any(1), keep.any(0))])
    crop.flags.writeable = False
    return crop


@lru_cache(maxsize=None)
def shape_templates(size: int = SIZE) -> dict:
    """{shape: tuple of float32 images}: every grey look a shape has in a ``size``-px image, cropped
    to its pixels above the background (64 px: one look in {−1, +1}; downsampled: one per
    placement parity of the 64-px position, since a box average at odd and even offsets gives
    other pixels, in {−1, −½, 0, ½, 1})."""
    f = SIZE // size
    templates = {}
    for name in SHAPES:
        (x_lo, _), (y_lo, _) = POSITIONS[name]
        looks = {}
        for dy in range(f):
            for dx in range(f):
                strip = draw_in_strip(name, x_lo + dx, y_lo + dy).astype(np.float32) * 2 - 1
                canvas = np.full((1, 1, SIZE, SIZE), -1.0, dtype=np.float32)
                canvas[0, 0, :STRIP_H, :STRIP_W] = strip  # offset 0: the parity is (dx, dy)
                grey = downsample(canvas, size)[0, 0]
                grey = _crop(grey, grey > -1)
                looks[grey.tobytes() + bytes(grey.shape)] = grey
        templates[name] = tuple(looks.values())
    return templates


def shape_stamps(size: int = SIZE) -> dict:
    """{shape: tuple of bool masks}: each of :func:`shape_templates`' looks binarised at 0 (as the
    oracle finds blobs) and cropped to its bounding box, without repeats."""
    stamps = {}
    for name, looks in shape_templates(size).items():
        masks = {}
        for grey in looks:
            mask = _crop(grey > 0, grey > 0).copy()  # writable, as callers may expect
            masks[mask.tobytes() + bytes(mask.shape)] = mask
        stamps[name] = tuple(masks.values())
    return stamps
