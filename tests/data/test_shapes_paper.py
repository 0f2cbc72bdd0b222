"""Simple Shapes against the paper's generator, transcribed here from its public
``shapes/gen_simple_shapes_dataset.py`` (python ``random`` + PIL, one 21×63 strip per shape) and
independent of ``modeinterp.data``'s drawing code: the oracle accepts every image that generator
draws, at 64 px and box-averaged to 32 px, and the dataset draws the same shapes at the same
positions."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

pytest.importorskip("scipy")
PIL = pytest.importorskip("PIL")
from PIL import Image, ImageDraw  # noqa: E402

from modeinterp.data import SimpleShapes  # noqa: E402


def paper_strip(shape: str, rng: random.Random, p: float = 0.5):
    """One strip as the paper's loop body draws it: (uint8 (63, 21), (x1, y1) or None)."""
    image = Image.new("L", (21, 63), color=0)
    draw = ImageDraw.Draw(image)
    area, where = 60, None
    if shape == "square" and rng.random() <= p:
        side = int(area ** 0.5)
        x1, y1 = rng.randint(1, 21 - side * 2), rng.randint(1, 63 - side * 2)
        draw.rectangle([x1, y1, x1 + side, y1 + side], fill=255, outline=255)
        where = (x1, y1)
    elif shape == "triangle" and rng.random() <= p:
        side = int(math.sqrt((4 * area) / math.sqrt(3)))
        x1, y1 = rng.randint(0, 21 - side), rng.randint(0, 63 - side)
        draw.polygon([(x1, y1), (x1 + side, y1),
                      (x1 + side // 2, y1 + int(side * math.sqrt(3) / 2))], fill=255, outline=255)
        where = (x1, y1)
    elif shape == "pentagon" and rng.random() <= p:
        side = int(math.sqrt((4 * area) / math.sqrt(5 * (5 + 2 * math.sqrt(5)))))
        x1, y1 = rng.randint(side, 21 - side), rng.randint(side, 63 - side)
        angle, vertices = 72, []
        for _ in range(5):
            vertices.append((x1 + side * math.cos(math.radians(angle)),
                             y1 - side * math.sin(math.radians(angle))))
            angle += 72
        draw.polygon(vertices, fill=255, outline=255)
        where = (x1, y1)
    return np.array(image), where


def paper_images(n: int, seed: int) -> tuple:
    """n non-blank 64×64 images in [−1, 1] and each image's shapes [(name, x1, y1)]."""
    rng, images, metas = random.Random(seed), [], []
    while len(images) < n:
        strips, meta = [], []
        for shape in ("triangle", "square", "pentagon"):
            strip, where = paper_strip(shape, rng)
            target = {"square": 64, "triangle": 65, "pentagon": 70}[shape]
            assert where is None or abs(int((strip == 255).sum()) - target) <= 2  # the paper's
            strips.append(strip)
            meta += [] if where is None else [(shape, *where)]
        if meta:  # the paper drops black images
            padded = np.zeros((64, 64), dtype=np.uint8)
            padded[:63, :63] = np.concatenate(strips, axis=1)
            images.append(padded.astype(np.float32) / 127.5 - 1)
            metas.append(meta)
    return torch.from_numpy(np.stack(images)[:, None]), metas


def box_average(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(x, 2)


@pytest.fixture(scope="module")
def paper_set():
    return paper_images(400, seed=2024)


def test_the_oracle_accepts_every_image_of_the_papers_generator(paper_set):
    x, metas = paper_set
    summary = SimpleShapes(cache_dir=None).summary(x)
    assert summary["reasons"] == {"ok": 400}
    counts = SimpleShapes(cache_dir=None).shape_counts(x)
    assert counts.tolist() == [len(m) for m in metas]


def test_the_oracle_accepts_them_box_averaged_to_32_px(paper_set):
    x, metas = paper_set
    small = SimpleShapes(size=32, cache_dir=None)
    assert small.summary(box_average(x))["reasons"] == {"ok": 400}
    assert small.shape_counts(box_average(x)).tolist() == [len(m) for m in metas]


def test_dataset_draws_what_the_paper_draws_at_every_position():
    """Every position of every shape: the dataset's image equals the paper's, pixel for pixel."""
    from modeinterp.data.shapes_drawing import POSITIONS, render_64

    ranges = {"square": ((1, 7), (1, 49)), "triangle": ((0, 10), (0, 52)),
              "pentagon": ((5, 16), (5, 58))}  # the paper's randint ranges, derived above
    assert POSITIONS == ranges
    for s, shape in enumerate(("triangle", "square", "pentagon")):
        (x_lo, x_hi), (y_lo, y_hi) = ranges[shape]
        for x1 in range(x_lo, x_hi + 1):
            for y1 in range(y_lo, y_hi + 1):
                rng = _FixedRandom(x1, y1)
                strip, _ = paper_strip(shape, rng)
                expected = -np.ones((64, 64), dtype=np.float32)
                expected[:63, 21 * s:21 * s + 21] = strip.astype(np.float32) / 127.5 - 1
                presence = np.eye(3, dtype=bool)[[s]]
                xs, ys = np.full((1, 3), x1), np.full((1, 3), y1)
                assert np.array_equal(render_64(presence, xs, ys)[0, 0], expected), (shape, x1, y1)


class _FixedRandom:
    """random.Random's two calls the generator makes, answered: present, then at (x1, y1)."""

    def __init__(self, x1, y1):
        self._ints = [x1, y1]

    def random(self):
        return 0.0

    def randint(self, lo, hi):
        value = self._ints.pop(0)
        assert lo <= value <= hi
        return value


def test_dataset_positions_fill_the_papers_ranges():
    """The bounding boxes of the dataset's shapes span exactly what the paper's do."""
    x = SimpleShapes(cache_dir=None).generate(3000, seed=0)
    paper, _ = paper_images(3000, seed=1)

    def extents(images):
        from scipy import ndimage
        boxes = {s: [] for s in range(3)}
        for img in np.asarray(images)[:, 0] > 0:
            for s in range(3):
                labels, _ = ndimage.label(img[:, 21 * s:21 * s + 21])
                boxes[s] += [(b[0].start, b[1].start, b[0].stop, b[1].stop)
                             for b in ndimage.find_objects(labels)]
        return {s: (np.min(b, axis=0)[:2].tolist(), np.max(b, axis=0)[2:].tolist())
                for s, b in boxes.items()}

    assert extents(x) == extents(paper)


def _halves(mask: np.ndarray) -> list:
    """Four fragments of a drawn shape, each at most half its pixels: the rows above (below) and
    the columns left (right) of a cut through it."""
    rows, cols = np.nonzero(mask)
    half, out = len(rows) // 2, []
    for coord in (rows, cols):
        for sign in (1, -1):  # from the top / left, then from the bottom / right
            order = np.argsort(sign * coord, kind="stable")
            keep = order[:half]
            # whole rows or columns only: drop the line the cut would split
            keep = keep[sign * coord[keep] < sign * coord[order[half]]]
            fragment = np.zeros_like(mask)
            fragment[rows[keep], cols[keep]] = True
            out.append(fragment)
    return out


def test_no_fragment_of_a_shape_passes_as_a_shape():
    """Half shapes — every shape, at every x1 and at y1 of both parities (so every placement
    phase of the 2×2 box average), cut four ways — are malformed at 64 and at 32 px, never a
    well-formed shape of any kind."""
    images = []
    for s, shape in enumerate(("triangle", "square", "pentagon")):
        (x_lo, x_hi), (y_lo, y_hi) = {"square": ((1, 7), (1, 49)), "triangle": ((0, 10), (0, 52)),
                                      "pentagon": ((5, 16), (5, 58))}[shape]
        for x1 in range(x_lo, x_hi + 1):
            for y1 in range(y_lo, y_hi + 1, 7):
                strip, _ = paper_strip(shape, _FixedRandom(x1, y1))
                for fragment in _halves(strip == 255):
                    image = -np.ones((64, 64), dtype=np.float32)
                    image[:63, 21 * s:21 * s + 21][fragment] = 1.0
                    images.append(image)
    x = torch.from_numpy(np.stack(images))[:, None]
    for size, xs in ((64, x), (32, box_average(x))):
        oracle = SimpleShapes(size=size, cache_dir=None)
        reasons = oracle.classify(xs)
        assert all("malformed" in r for r in reasons), size
        assert (oracle.shape_counts(xs) == 0).all(), size
