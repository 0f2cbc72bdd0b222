"""Models move both ways between modeinterp and diffusers: ``modeinterp export RUN --diffusers
DIR`` writes a DDPMPipeline folder that ``from_pretrained`` samples with the training scheduler,
and ``sample``/``reproduce --model DIR`` take any diffusers UNet2DModel folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from diffusers import DDPMPipeline, UNet2DModel  # noqa: E402

from modeinterp.cli import main  # noqa: E402
from modeinterp.sampling.store import load_samples  # noqa: E402
from modeinterp.train.checkpoint import load_model, read_checkpoint  # noqa: E402

QUICK = ["--quick", "--no-progress"]
SAMPLE = [*QUICK, "--n-samples", "8", "--steps", "6"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A digits model trained for two steps, and its export."""
    run = tmp_path_factory.mktemp("run")
    assert main(["train", "digits", "--out", str(run), *QUICK, "--n-train", "16",
                 "--train-steps", "2"]) == 0
    pipe = run.parent / f"{run.name}-pipe"
    assert main(["export", str(run), "--diffusers", str(pipe)]) == 0
    return run, pipe


def test_export_is_a_ddpm_pipeline_with_the_training_scheduler(trained):
    run, folder = trained
    pipe = DDPMPipeline.from_pretrained(folder, local_files_only=True)
    ckpt = read_checkpoint(run / "model.pt")
    assert pipe.scheduler.config.prediction_type == "epsilon"
    assert pipe.scheduler.config.num_train_timesteps == len(ckpt["schedule"]["alphas_cumprod"])
    np.testing.assert_allclose(pipe.scheduler.alphas_cumprod.double().numpy(),
                               ckpt["schedule"]["alphas_cumprod"].numpy(), rtol=1e-5, atol=1e-7)
    model = load_model(run / "model.pt")  # the EMA weights sampling uses
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([0, 500, 999])
    with torch.no_grad():
        assert torch.equal(pipe.unet(x, t).sample, model(x, t))
    images = pipe(batch_size=2, num_inference_steps=4, output_type="np",
                  generator=torch.Generator().manual_seed(0)).images
    assert images.shape == (2, 8, 8, 1) and np.isfinite(images).all()


def test_sampling_the_export_equals_sampling_the_checkpoint(trained, tmp_path):
    run, folder = trained
    for name, model in (("file", run / "model.pt"), ("folder", folder)):
        assert main(["sample", "digits", "--model", str(model), "--out", str(tmp_path / name),
                     *SAMPLE]) == 0
    a, b = load_samples(tmp_path / "file"), load_samples(tmp_path / "folder")
    assert torch.equal(a.samples, b.samples)
    assert all(torch.equal(a.window_scores[k], b.window_scores[k]) for k in a.window_scores)


def _foreign_unet(folder, prediction_type=None, sample_size=8):
    unet = UNet2DModel(sample_size=sample_size, in_channels=1, out_channels=1,
                       block_out_channels=(16, 32), norm_num_groups=8,
                       down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"))
    unet.save_pretrained(folder)
    if prediction_type is not None:  # make it a pipeline folder with a scheduler config
        from diffusers import DDPMScheduler

        unet.save_pretrained(folder / "unet")
        DDPMPipeline(unet=unet, scheduler=DDPMScheduler(prediction_type=prediction_type)
                     ).save_pretrained(folder)
    return unet


def test_a_foreign_unet_folder_samples_with_scores(tmp_path, capsys):
    _foreign_unet(tmp_path / "unet")
    assert main(["sample", "digits", "--model", str(tmp_path / "unet"), "--out",
                 str(tmp_path / "s"), *SAMPLE]) == 0
    got = load_samples(tmp_path / "s")
    assert got.samples.shape == (8, 1, 8, 8)
    for scores in got.window_scores.values():
        assert scores.shape == (8,) and torch.isfinite(scores).all() and (scores > 0).all()
    assert main(["reproduce", "digits", "--model", str(tmp_path / "unet"), "--out",
                 str(tmp_path / "r"), *SAMPLE]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["model"]["path"] == str(tmp_path / "unet")
    assert "not trained here" in (tmp_path / "r" / "report.md").read_text()
    assert not (tmp_path / "r" / "model.pt").exists()


@pytest.mark.parametrize("case,pattern", [
    ("v-scheduler", "its scheduler predicts 'v_prediction' but sampling is set to "
                    "prediction='eps'"),
    ("size", r"the U-Net takes 1×16×16 images but the dataset's are 1×8×8"),
])
def test_a_folder_that_cannot_sample_the_config_is_refused(tmp_path, refused, case, pattern):
    folder = tmp_path / "m"
    if case == "v-scheduler":
        _foreign_unet(folder, prediction_type="v_prediction")
    else:
        _foreign_unet(folder, sample_size=16)
    refused(["sample", "digits", "--model", folder, "--out", tmp_path / "s", *SAMPLE], pattern)
    assert not (tmp_path / "s").exists()
