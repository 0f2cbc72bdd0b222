"""Which of the Simple Shapes a blob of an image is, for the oracle of :mod:`.shapes`.

Two questions, two measures:

* **Is it a shape at all?** Its binarised mask overlaps one of the shapes' binarised looks with
  an intersection-over-union ≥ ``MATCH_IOU`` (best over shifts of ±1 px). A fragment, two merged
  shapes or a half-faded one overlap none that well: malformed. A blob is shape X only if it
  overlaps one of X's looks that well (binarised at > 0 or, for a slightly soft shape, at ≥ 0)
  *and* its nearest grey look (below) is X's; otherwise malformed.
* **Which shape?** The grey look nearest to the blob's grey pixels (least squares, best over every
  placement near the blob). Binarising cannot answer this at 32 px: there a square and a pentagon
  differ by a few pixels that the box average leaves at exactly 0 (grey), so a model's 0.1
  instead of 0 on one edge pixel turned its pentagon's mask into a square's. The grey values keep
  what tells them apart (a pentagon's half-grey apex pixels, a square's straight grey rims).

On the generator's own images both agree with the drawing: the nearest look is the drawn one, at
error 0.
"""

from __future__ import annotations

import numpy as np

MATCH_IOU = 0.7  # a blob is a shape when it overlaps one of that shape's looks this well
MARGIN = 2  # grey pixels considered around a blob's binarised box: the looks' grey rims, ±1 px
_SHIFTS = (-1, 0, 1)


def best_iou(blob: np.ndarray, stamp: np.ndarray) -> float:
    """The best intersection-over-union of two cropped masks over shifts of ±1 px."""
    h, w = max(blob.shape[0], stamp.shape[0]) + 2, max(blob.shape[1], stamp.shape[1]) + 2
    canvas = np.zeros((h, w), dtype=bool)
    canvas[1:1 + blob.shape[0], 1:1 + blob.shape[1]] = blob
    best = 0.0
    for dr in _SHIFTS:
        for dc in _SHIFTS:
            r0, c0 = 1 + dr, 1 + dc
            if r0 < 0 or c0 < 0 or r0 + stamp.shape[0] > h or c0 + stamp.shape[1] > w:
                continue
            placed = np.zeros_like(canvas)
            placed[r0:r0 + stamp.shape[0], c0:c0 + stamp.shape[1]] = stamp
            best = max(best, (canvas & placed).sum() / (canvas | placed).sum())
    return best


def grey_error(window: np.ndarray, look: np.ndarray) -> float:
    """The smallest sum of squared differences between ``window`` (grey pixels around one blob,
    background −1) and an image of background holding ``look`` anywhere inside the window."""
    (height, width), (h, w) = window.shape, look.shape
    if h > height or w > width:
        return float("inf")
    against_background = (window + 1.0) ** 2
    total = float(against_background.sum())
    best = float("inf")
    for r in range(height - h + 1):
        for c in range(width - w + 1):
            under = window[r:r + h, c:c + w]
            # The look replaces background on its box only: swap those pixels' error.
            error = (total - float(against_background[r:r + h, c:c + w].sum())
                     + float(((under - look) ** 2).sum()))
            best = min(best, error)
    return best


def blob_window(grey: np.ndarray, labels: np.ndarray, k: int, box: tuple) -> np.ndarray:
    """The grey pixels of blob ``k`` (``labels == k``, bounding box ``box``) and ``MARGIN`` pixels
    around it, other blobs' pixels and whatever lies beyond ``grey`` set to background (−1)."""
    rows, cols = box
    height, width = rows.stop - rows.start + 2 * MARGIN, cols.stop - cols.start + 2 * MARGIN
    window = np.full((height, width), -1.0, dtype=np.float32)
    r0, c0 = rows.start - MARGIN, cols.start - MARGIN
    src_r = slice(max(r0, 0), min(r0 + height, grey.shape[0]))
    src_c = slice(max(c0, 0), min(c0 + width, grey.shape[1]))
    dst = (slice(src_r.start - r0, src_r.stop - r0), slice(src_c.start - c0, src_c.stop - c0))
    others = (labels[src_r, src_c] != 0) & (labels[src_r, src_c] != k)
    window[dst] = np.where(others, -1.0, grey[src_r, src_c])
    return window


def match_blob(mask: np.ndarray, window: np.ndarray, stamps: dict, looks: dict) -> str | None:
    """The shape a blob is (module docstring), or None when it overlaps no shape's look well
    enough. mask: its binarised pixels cropped to their box; window: :func:`blob_window`;
    stamps / looks: ``shape_stamps`` / ``shape_templates`` of the image size."""
    if max(best_iou(mask, stamp) for masks in stamps.values() for stamp in masks) < MATCH_IOU:
        return None
    errors = {name: min(grey_error(window, look) for look in grey_looks)
              for name, grey_looks in looks.items()}
    name = min(errors, key=errors.get)
    # The two answers must agree: at 32 px half a square (a 4×2 block) overlaps a triangle's
    # look at IoU 0.73 while its nearest grey look is the square's, which it overlaps at 0.67.
    own = [*stamps[name], *(_crop_mask(grey >= 0) for grey in looks[name])]
    return name if max(best_iou(mask, m) for m in own) >= MATCH_IOU else None


def _crop_mask(mask: np.ndarray) -> np.ndarray:
    """A look's pixels at ≥ 0, cropped: the pixels a box average leaves at exactly 0 sit on the
    binarisation threshold, and a model's slightly soft shape (0.1 there) has them in its mask."""
    return mask[np.ix_(mask.any(1), mask.any(0))]
