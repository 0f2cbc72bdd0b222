"""ImageFolder: any folder of images, resized to squares in [−1, 1]; clear errors for an empty
folder, an unreadable file (named) and mixed grayscale/colour images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

Image = pytest.importorskip("PIL.Image")
from modeinterp.data.folder import ImageFolder  # noqa: E402


def _write(path, array, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode=mode).save(path)


@pytest.fixture
def grey_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(5):
        _write(tmp_path / "hands" / f"sub{i % 2}" / f"{i}.png", rng.integers(0, 256, (12, 10)), "L")
    return tmp_path / "hands"


def test_loads_resizes_and_scales(grey_folder):
    ds = ImageFolder(grey_folder, size=8)
    x = ds.sample(7, seed=1)  # more than the 5 files: the permutation repeats
    assert x.shape == (7, 1, 8, 8) and x.dtype == torch.float32 and ds.channels == 1
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, ds.sample(7, seed=1)) and len(ds.files) == 5
    white = grey_folder / "white.png"
    _write(white, np.full((20, 30), 255), "L")
    assert torch.allclose(ImageFolder(grey_folder, size=4).data[-1], torch.ones(1, 4, 4))


def test_colour_folder_and_forced_channels(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        _write(tmp_path / f"{i}.jpg", rng.integers(0, 256, (16, 16, 3)), "RGB")
    assert ImageFolder(tmp_path, size=16).sample(2).shape == (2, 3, 16, 16)
    assert ImageFolder(tmp_path, size=16, channels=1).sample(2).shape == (2, 1, 16, 16)


def test_errors_name_the_problem(tmp_path, grey_folder):
    with pytest.raises(ValueError, match="not a directory"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="holds no image files"):
        ImageFolder(tmp_path / "empty")
    _write(grey_folder / "colour.png", np.zeros((8, 8, 3)) + [255, 0, 0], "RGB")
    with pytest.raises(ValueError, match="mixes grayscale images .* colour.png"):
        ImageFolder(grey_folder).data
    assert ImageFolder(grey_folder, channels=3).data.shape[1] == 3
    (grey_folder / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="cannot read image file .*broken.png"):
        ImageFolder(grey_folder, channels=1).data
    with pytest.raises(ValueError, match="channels"):
        ImageFolder(grey_folder, channels=2)
