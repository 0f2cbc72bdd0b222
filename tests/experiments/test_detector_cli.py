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
MICRO = ["gaussian2d", "--quick", "--train-steps", "1500", "--n-samples", "600", "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *MICRO, "--out", str(out)]) == 0
    assert main(["sample", *MICRO, "--out", str(out)]) == 0
    return out


def test_fit_then_flag_then_clean(run, tmp_path, capsys):
    path = tmp_path / "det.json"
    assert main(["detect", *MICRO, "--out", str(run), "--fit", str(path)]) == 0
    detector = Detector.load(path)
    assert detector.kind == "logistic" and "image/std" in detector.names
    assert main(["sample", *MICRO, "--out", str(run), "--detector", str(path)]) == 0
    flags = torch.load(run / "flags.pt")
    stored = load_samples(run)
    assert torch.equal(flags["flags"], torch.as_tensor(detector.flags(stored)))
    assert "samples flagged" in capsys.readouterr().out
    assert main(["sample", *MICRO, "--out", str(run), "--detector", str(path), "--clean", "50"]) == 0
    kept = load_samples(run)
    assert len(kept.samples) == 50 and not detector.flags(kept).any()
    assert "acceptance" in capsys.readouterr().out


def test_label_free_fit_uses_no_labels(run, tmp_path):
    path = tmp_path / "free.json"
    assert main(["detect", *MICRO, "--out", str(run), "--fit", str(path), "--label-free",
                 "--kind", "gmm"]) == 0
    assert Detector.load(path).kind == "gmm"


def test_a_detector_for_another_model_is_refused(run, tmp_path):
    path = tmp_path / "det.json"
    assert main(["detect", *MICRO, "--out", str(run), "--fit", str(path)]) == 0
    other = tmp_path / "other"
    assert main(["train", *MICRO, "--out", str(other), "--seed", "5", "--train-steps", "5"]) == 0
    with pytest.raises(ValueError, match="fitted for the model with config digest"):
        main(["sample", *MICRO, "--out", str(other), "--seed", "5", "--train-steps", "5",
              "--detector", str(path)])
    with pytest.raises(ValueError, match="--clean N needs --detector"):
        main(["sample", *MICRO, "--out", str(other), "--clean", "5"])
    with pytest.raises(ValueError, match="drop --shard-size"):
        main(["sample", *MICRO, "--out", str(run), "--detector", str(path), "--clean", "5",
              "--shard-size", "10"])
    with pytest.raises(ValueError, match="--budget goes with --clean"):
        main(["sample", *MICRO, "--out", str(run), "--budget", "5"])
    with pytest.raises(ValueError, match="n must be"):
        main(["sample", *MICRO, "--out", str(run), "--detector", str(path), "--clean", "0"])
