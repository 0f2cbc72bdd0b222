"""Any local folder of images as a training set (for example the Hands dataset, for users who
have it): every image file under the folder, centre-cropped to a square, resized to ``size`` and
scaled to [−1, 1]. There is no oracle for arbitrary images, so this dataset only samples; reports
built on it rank samples by score and say that no labels exist.

Needs Pillow (the ``modeinterp[diffusers]`` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..validation import check_int, check_path

__all__ = ["ImageFolder", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_MODES = {1: "L", 3: "RGB"}
_GREY = {"1", "L", "LA", "I", "I;16", "F", "P"}  # palette images are read as their colours below


def _pil():
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("ImageFolder needs Pillow: pip install 'modeinterp[diffusers]'") from exc
    return Image


class ImageFolder:
    """The images under ``path`` as (n, channels, size, size) float32 tensors in [−1, 1].

    size: side of the square images (≥ 4); channels: 1 (grayscale) or 3 (RGB), or None to take
    it from the files — which must then agree (all grayscale or all colour).
    """

    oracle = "none"  # data.protocol: scores can be ranked, not evaluated

    def __init__(self, path, size: int = 64, channels: int | None = None):
        self.path = Path(check_path("path", path))
        self.size = check_int("size", size, 4)
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
        if not self.path.is_dir():
            raise ValueError(f"path {str(self.path)!r} is not a directory")
        self.files = sorted(p for p in self.path.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise ValueError(f"path {str(self.path)!r} holds no image files "
                             f"({', '.join(IMAGE_SUFFIXES)})")
        self.channels = channels
        self._data: torch.Tensor | None = None

    def __repr__(self) -> str:
        return (f"ImageFolder({str(self.path)!r}, size={self.size}, channels={self.channels}, "
                f"{len(self.files)} files)")

    @property
    def sample_shape(self) -> tuple:
        return (self.data.shape[1], self.size, self.size)

    @property
    def data(self) -> torch.Tensor:
        """Every image, loaded once."""
        if self._data is None:
            self._data = self._load()
        return self._data

    def _load(self) -> torch.Tensor:
        Image = _pil()
        images, modes = [], {}
        for f in self.files:
            try:
                with Image.open(f) as im:
                    im.load()
                    mode = "grey" if im.mode in _GREY and not _palette_is_colour(im) else "colour"
                    modes.setdefault(mode, f)
                    images.append(im.convert("RGB" if mode == "colour" else "L"))
            except Exception as exc:  # noqa: BLE001 - any decoder failure names the file
                raise ValueError(f"cannot read image file {str(f)!r}: {exc}") from exc
        channels = self.channels
        if channels is None:
            if len(modes) > 1:
                raise ValueError(f"path {str(self.path)!r} mixes grayscale images (e.g. "
                                 f"{modes['grey'].name}) and colour images (e.g. "
                                 f"{modes['colour'].name}); pass channels=1 or channels=3")
            channels = 1 if "grey" in modes else 3
            self.channels = channels
        arrays = [np.asarray(self._square(im.convert(_MODES[channels]), Image), np.float32)
                  for im in images]
        data = np.stack(arrays).reshape(len(arrays), self.size, self.size, channels)
        return torch.from_numpy(data.transpose(0, 3, 1, 2) / 127.5 - 1.0).float().contiguous()

    def _square(self, im, Image):
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        return im.crop((left, top, left + side, top + side)).resize(
            (self.size, self.size), Image.Resampling.LANCZOS)

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` images, a seeded permutation of the folder (repeated when n exceeds it)."""
        n, seed = check_int("n", n, 0), check_int("seed", seed, 0)
        rng = np.random.default_rng(seed)
        count = len(self.files)
        perms = [rng.permutation(count) for _ in range(-(-n // count))]
        idx = np.concatenate(perms)[:n] if perms else np.zeros(0, np.int64)
        return self.data[torch.from_numpy(idx.astype(np.int64))]


def _palette_is_colour(im) -> bool:
    if im.mode != "P":
        return False
    rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    return bool((rgb[..., 0] != rgb[..., 1]).any() or (rgb[..., 1] != rgb[..., 2]).any())
