"""Every command the CLI offers, on every dataset it offers, on a micro config: it runs, or it
refuses with a message that says why. Outputs of `sample`, `reproduce` and `recursive` load
through `modeinterp.load_samples` to the same type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeinterp.cli import build_parser, main
from modeinterp.sampling.store import SampleSet, load_samples

pytestmark = pytest.mark.slow

DATASETS = sorted(build_parser()._subparsers._group_actions[0].choices["reproduce"]
                  ._positionals._group_actions[0].choices)
# Tiny everything: a few training steps, a handful of samples, a short DDIM run.
TRAINING = ["--n-train", "16", "--train-steps", "2"]
SAMPLING = ["--n-samples", "12", "--steps", "6"]
# Each command takes only the flags it uses.
FLAGS = {"train": TRAINING, "sample": SAMPLING, "detect": ["--steps", "6"],
         "reproduce": TRAINING + SAMPLING, "ablate": TRAINING + SAMPLING,
         "recursive": TRAINING + SAMPLING}
SIZES = {"shapes": ["--size", "32"], "folder": ["--size", "8"]}
NO_ORACLE = {"folder"}


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _args(dataset, out, image_folder, command):
    extra = SIZES.get(dataset, [])
    if dataset == "folder":
        extra = extra + ["--path", str(image_folder)]
    return [dataset, "--out", str(out), "--quick", "--no-progress", *FLAGS[command], *extra]


def test_the_matrix_covers_every_offered_dataset():
    assert set(DATASETS) == {"gaussian1d", "gaussian2d", "gaussian2d-diamond", "shapes", "digits",
                             "folder"}


@pytest.mark.parametrize("dataset", DATASETS)
def test_train_sample_detect_reproduce(dataset, tmp_path, image_folder, capsys):
    if dataset in ("shapes", "digits", "folder"):
        pytest.importorskip("diffusers")
    for command in ("train", "sample", "detect"):
        assert main([command, *_args(dataset, tmp_path / "run", image_folder, command)]) == 0
    out = capsys.readouterr().out
    assert ("no oracle" in out) == (dataset in NO_ORACLE), out
    sampled = load_samples(tmp_path / "run")
    assert isinstance(sampled, SampleSet) and len(sampled.samples) == 12
    assert main(["reproduce", *_args(dataset, tmp_path / "reproduced", image_folder, "reproduce")]) == 0
    reproduced = load_samples(tmp_path / "reproduced")
    assert type(reproduced) is SampleSet and reproduced.windows[0] == sampled.windows[0]
    # The same config, seed and model recipe: the same samples from `sample` and `reproduce`.
    assert torch.equal(reproduced.samples, sampled.samples[: len(reproduced.samples)]) \
        or len(reproduced.samples) < 12  # reproduce drops non-finite samples


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("sweep,values", [("steps", "3"), ("train-size", "8,16"),
                                          ("separation", "1.0")])
def test_ablate_runs_or_refuses_clearly(dataset, sweep, values, tmp_path, image_folder, refused):
    if dataset in ("shapes", "digits", "folder"):
        pytest.importorskip("diffusers")
    argv = ["ablate", sweep, *_args(dataset, tmp_path, image_folder, "ablate"), "--values", values]
    if sweep == "separation" and dataset != "gaussian1d":
        refused(argv, "separation sweep moves the modes of gaussian1d")
        assert not any(tmp_path.iterdir())
    elif dataset in NO_ORACLE:
        refused(argv, "no oracle")
    else:
        assert main(argv) == 0
        assert (tmp_path / "ablation.md").read_text().startswith("# Ablation")


@pytest.mark.parametrize("dataset", DATASETS)
def test_recursive_runs_or_refuses_clearly(dataset, tmp_path, image_folder, refused):
    if dataset in ("shapes", "digits", "folder"):
        pytest.importorskip("diffusers")
    argv = ["recursive", *_args(dataset, tmp_path, image_folder, "recursive"), "--generations",
            "2", "--n-keep", "8", "--filter", "variance"]
    if dataset in NO_ORACLE:
        refused(argv, "no oracle")
        return
    assert main(argv) == 0
    gen1 = load_samples(tmp_path / "variance" / "gen-1")
    assert type(gen1) is SampleSet and len(gen1.samples) == 9  # N + 2.5 %, rounded up
