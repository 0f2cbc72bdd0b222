"""The detector on the command line, on a micro toy run: detect --fit (supervised and
label-free) writes a detector tied to model.pt; sample --detector writes the same flags the
detector gives on the stored samples; sample --clean N keeps N unflagged samples."""

from __future__ import annotations

import pytest
import torch

from modeinterp.cli import main
from modeinterp.detect import Detector
from modeinterp.sampling.store import load_samples

pytestmark = pytest.mark.slow

# Enough training that about a third of the samples are hallucinations (both classes to fit on).
COMMON = ["gaussian2d", "--quick", "--no-progress"]
TRAIN = [*COMMON, "--train-steps", "1500"]
SAMPLE = [*COMMON, "--n-samples", "600"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TRAIN, "--out", str(out)]) == 0
    assert main(["sample", *SAMPLE, "--out", str(out)]) == 0
    return out


def test_fit_then_flag_then_clean(run, tmp_path, capsys):
    path = tmp_path / "det.json"
    assert main(["detect", *COMMON, "--out", str(run), "--fit", str(path)]) == 0
    detector = Detector.load(path)
    assert detector.kind == "logistic" and "image/std" in detector.names
    model = str(run / "model.pt")
    flagged = tmp_path / "flagged"
    assert main(["sample", *SAMPLE, "--out", str(flagged), "--model", model,
                 "--detector", str(path)]) == 0
    flags = torch.load(flagged / "flags.pt")
    stored = load_samples(flagged)
    assert torch.equal(stored.samples, load_samples(run).samples)  # the same run, flagged
    assert torch.equal(flags["flags"], torch.as_tensor(detector.flags(stored)))
    assert "samples flagged" in capsys.readouterr().out
    clean = tmp_path / "clean"
    assert main(["sample", *SAMPLE, "--out", str(clean), "--model", model, "--detector",
                 str(path), "--clean", "50"]) == 0
    kept = load_samples(clean)
    assert len(kept.samples) == 50 and not detector.flags(kept).any()
    assert "acceptance" in capsys.readouterr().out


def test_label_free_fit_uses_no_labels(run, tmp_path):
    path = tmp_path / "free.json"
    assert main(["detect", *COMMON, "--out", str(run), "--fit", str(path), "--label-free",
                 "--kind", "gmm"]) == 0
    assert Detector.load(path).kind == "gmm"


def test_a_detector_for_another_model_is_refused(run, tmp_path, refused):
    path = tmp_path / "det.json"
    assert main(["detect", *COMMON, "--out", str(run), "--fit", str(path)]) == 0
    other = tmp_path / "other"
    assert main(["train", *COMMON, "--out", str(other), "--seed", "5", "--train-steps", "5"]) == 0
    refused(["sample", *SAMPLE, "--out", other, "--seed", "5", "--detector", path],
            "fitted for the model with config digest")
    refused(["sample", *SAMPLE, "--out", other, "--clean", "5"], "--clean N needs --detector")
    refused(["sample", *SAMPLE, "--out", run, "--detector", path, "--clean", "5",
             "--shard-size", "10"], "drop --shard-size")
    refused(["sample", *SAMPLE, "--out", run, "--budget", "5"], "--budget B goes with --clean")
    refused(["sample", *SAMPLE, "--out", run, "--detector", path, "--clean", "0"],
            "--clean: must be an int >= 1")
    refused(["detect", *COMMON, "--out", run, "--fit", path, "--kind", "gmm"],
            "--kind 'gmm': one of logistic, boosting")
    assert not (other / "samples.pt").exists()
