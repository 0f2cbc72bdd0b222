"""The sampler as an experiment axis: spellings, the config keys and flags, and a micro sweep on
one model (the same seeds for every sampler, resumable, a table per sampler)."""

from __future__ import annotations

import json

import pytest
import torch

from modeinterp.cli import main
from modeinterp.experiments import config_for
from modeinterp.experiments.sampler_sweep import parse_sampler
from modeinterp.sampling.store import load_samples

MICRO = ["--quick", "--n-train", "64", "--train-steps", "3", "--n-samples", "40", "--no-progress"]


@pytest.mark.parametrize("text,expected", [
    ("ddpm", {"method": "ddpm", "steps": None, "eta": 0.0}),
    ("ddpm:250", {"method": "ddpm", "steps": 250, "eta": 0.0}),
    ("ddim:100:0.5", {"method": "ddim", "steps": 100, "eta": 0.5}),
    ("ddim:50", {"method": "ddim", "steps": 50, "eta": 0.0}),
])
def test_sampler_spellings(text, expected):
    assert parse_sampler(text) == expected


@pytest.mark.parametrize("text", ["euler", "ddim:x", "ddpm:250:1", "ddim:1:2:3", ""])
def test_bad_sampler_spellings_are_refused(text):
    with pytest.raises(ValueError, match="sampler"):
        parse_sampler(text)


def test_method_and_eta_are_config_keys_checked_up_front():
    cfg = config_for("shapes", quick=True, method="ddim", steps=100, eta=0.5)
    assert (cfg.sampling_method, cfg.eta) == ("ddim", 0.5)
    table = cfg.schedule().table(method="ddim", steps=100, eta=0.5)
    assert table.coef(10).sigma > 0
    with pytest.raises(ValueError, match="eta=0.5 is DDIM"):
        config_for("shapes", quick=True, method="ddpm", eta=0.5)
    with pytest.raises(ValueError, match="eta must be"):
        config_for("shapes", quick=True, eta=-0.1)


def test_sampler_sweep_on_one_model(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["ablate", "sampler", "gaussian2d", *MICRO, "--out", str(out),
            "--values", "ddim:8:0,ddim:8:1,ddpm:8"]
    assert main(argv) == 0
    rows = json.loads((out / "ablation.json").read_text())["rows"]
    assert [r["sampler"] for r in rows] == ["ddim:8:0", "ddim:8:1", "ddpm:8"]
    assert all(r["n"] + r["n_non_finite"] == 40 and r["steps"] == 8 for r in rows)
    assert (out / "ablation.md").read_text().startswith("# Sampler sweep")
    # The same model and seeds: the deterministic DDIM row is `sample --steps 8` of that model.
    sampled = load_samples(out / "sampler=ddim:8:0")
    assert main(["sample", "gaussian2d", "--quick", "--n-samples", "40", "--no-progress",
                 "--steps", "8", "--out", str(out / "model")]) == 0
    direct = load_samples(out / "model")
    assert torch.allclose(sampled.samples, direct.samples)
    noisy = load_samples(out / "sampler=ddim:8:1")
    assert not torch.allclose(sampled.samples, noisy.samples)
    # Resumable: a second run finds every shard and samples nothing again.
    assert main(argv) == 0
    assert json.loads((out / "ablation.json").read_text())["rows"][0]["n"] == rows[0]["n"]


def test_sampler_sweep_refuses_a_bad_spelling_before_training(tmp_path, refused):
    refused(["ablate", "sampler", "gaussian2d", *MICRO, "--out", tmp_path / "sweep",
             "--values", "ddim:8,euler"], "sampler must look like")
    assert not (tmp_path / "sweep").exists()
