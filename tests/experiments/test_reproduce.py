"""The reproduce pipeline end to end on a micro config (CPU, seconds), and the CLI around it."""

from __future__ import annotations

import json

import pytest
import torch

from modeinterp.cli import main
from modeinterp.experiments import config_for, reproduce
from modeinterp.experiments.plan import plan

MICRO = dict(n_train=512, train_steps=30, batch_size=256, ema=0.5, n_samples=300, trajectory=8)


# Slow (whole experiments end to end): outside the `-m "not slow"` inner loop, in CI.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.mark.parametrize("dataset", ["gaussian1d", "gaussian2d-diamond"])
def test_reproduce_writes_every_artefact(tmp_path, dataset):
    cfg = config_for(dataset, quick=True, **MICRO)
    metrics = reproduce(cfg, tmp_path, progress=False)
    for name in ("report.md", "report.html", "metrics.json", "model.pt", "samples.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["oracle"]["n"] + saved["n_non_finite"] == MICRO["n_samples"]
    assert saved["config"]["dataset"] == dataset
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "src=\"samples.png\"" not in html
    if metrics["detection"] is not None:
        for name in ("roc.png", "score_histograms.png", "early_exit.png"):
            assert (tmp_path / name).stat().st_size > 0, name
    if dataset == "gaussian1d":
        assert (tmp_path / "learned_vs_true_score.png").stat().st_size > 0


def test_reproduce_resumes_training(tmp_path):
    cfg = config_for("gaussian1d", quick=True, **MICRO)
    reproduce(cfg, tmp_path, progress=False)
    before = torch.load(tmp_path / "model.pt", weights_only=True)
    reproduce(cfg, tmp_path, progress=False)  # finished checkpoint: no further training
    after = torch.load(tmp_path / "model.pt", weights_only=True)
    assert after["step"] == before["step"] == MICRO["train_steps"]
    for k, v in before["model"].items():
        assert torch.equal(v, after["model"][k]), k


def test_cli_train_sample_detect(tmp_path, capsys):
    common = ["gaussian1d", "--out", str(tmp_path), "--no-progress"]
    assert main(["train", *common, "--n-train", "512", "--train-steps", "20"]) == 0
    assert main(["sample", *common, "--n-samples", "200"]) == 0
    assert (tmp_path / "samples.pt").exists()
    assert main(["detect", *common]) == 0
    assert "hallucinat" in capsys.readouterr().out


def test_prediction_key_trains_and_samples_one_target_and_sample_refuses_another(tmp_path,
                                                                                  refused):
    """`prediction = "v"` in a config: the trainer learns v, the sampler's table reads v, the
    checkpoint records it; `sample` with another target or schedule than the checkpoint's is an
    error naming it, not noise-like samples."""
    (tmp_path / "v.toml").write_text('prediction = "v_prediction"\n')  # diffusers' name
    common = ["gaussian1d", "--out", str(tmp_path), "--no-progress"]
    assert main(["train", *common, "--n-train", "512", "--train-steps", "20",
                 "--config", str(tmp_path / "v.toml")]) == 0
    ckpt = torch.load(tmp_path / "model.pt", weights_only=True)
    assert ckpt["config"]["trainer"]["prediction"] == "v"
    common += ["--n-samples", "100"]
    assert main(["sample", *common, "--config", str(tmp_path / "v.toml")]) == 0
    cfg = config_for("gaussian1d", toml_path=tmp_path / "v.toml")
    assert cfg.prediction == "v"
    assert plan(cfg).sampler(torch.nn.Identity()).table.prediction == "v"
    refused(["sample", *common], "trained to predict 'v' but sampling is set to prediction='eps'")
    (tmp_path / "beta.toml").write_text('prediction = "v"\nbeta_end = 0.1\n')
    refused(["sample", *common, "--config", tmp_path / "beta.toml"], "another noise schedule")
    with pytest.raises(ValueError, match="prediction must be one of"):
        config_for("gaussian1d", prediction="score")


def test_quick_config_exists_for_every_dataset_and_names_unknown_ones():
    for name in ("gaussian1d", "gaussian2d", "gaussian2d-diamond"):
        assert config_for(name, quick=True).dataset == name
    with pytest.raises(ValueError, match="swissroll"):
        config_for("swissroll", quick=True)


def test_config_rejects_unknown_keys(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("n_train = 100\nbogus = 1\n")
    with pytest.raises(ValueError, match="bogus"):
        config_for("gaussian2d", toml_path=toml)


@pytest.mark.parametrize("sweep,values", [("train-size", "256,512"), ("separation", "0.5,2.0"),
                                          ("steps", "5,none")])
def test_ablation_cli_writes_table_and_plot(tmp_path, sweep, values):
    out = tmp_path / sweep
    toml = tmp_path / "micro.toml"
    toml.write_text("batch_size = 256\nema = 0.5\n")
    assert main(["ablate", sweep, "gaussian1d", "--quick", "--out", str(out), "--values", values,
                 "--train-steps", "20", "--n-samples", "200", "--config", str(toml),
                 "--no-progress"]) == 0
    rows = json.loads((out / "ablation.json").read_text())["rows"]
    assert len(rows) == (3 if sweep == "steps" else 2)
    assert (out / "ablation.png").stat().st_size > 0 and (out / "ablation.md").exists()


def test_train_size_sweep_keeps_epochs_or_steps_fixed(tmp_path):
    from modeinterp.experiments.ablations import _variant, run_ablation

    cfg = config_for("gaussian1d", quick=True, n_train=1000, train_steps=40)
    assert _variant(cfg, "train-size", 250, "epochs").train_steps == 10
    assert _variant(cfg, "train-size", 4000, "epochs").train_steps == 160
    assert _variant(cfg, "train-size", 4000, "steps").train_steps == 40
    assert _variant(cfg, "train-size", 4000, "steps").n_train == 4000
    with pytest.raises(ValueError, match="budget"):
        run_ablation("train-size", cfg, tmp_path, budget="compute")


def test_ablation_cli_fixed_steps_budget(tmp_path):
    out = tmp_path / "abl"
    assert main(["ablate", "train-size", "gaussian1d", "--quick", "--out", str(out), "--values",
                 "256,512", "--train-steps", "10", "--n-samples", "100", "--budget", "steps",
                 "--no-progress"]) == 0
    saved = json.loads((out / "ablation.json").read_text())
    assert saved["budget"] == "steps"
    assert [r["train_steps"] for r in saved["rows"]] == [10, 10]
    assert "fixed steps" in (out / "ablation.md").read_text()


def test_steps_means_ddim_and_the_report_names_the_window_that_ran(tmp_path):
    """`--steps S` samples with DDIM (as documented) unless a method is set; a run shorter than
    the configured window scores all its steps, and the report says so."""
    assert config_for("gaussian1d", steps=5).sampling_method == "ddim"
    assert config_for("gaussian1d", steps=5, method="ddpm").sampling_method == "ddpm"
    assert config_for("gaussian1d").sampling_method == "ddpm"
    cfg = config_for("gaussian1d", quick=True, **{**MICRO, "train_steps": 5}, steps=6, window=10)
    metrics = reproduce(cfg, tmp_path, progress=False)
    assert metrics["sampling"] == {"method": "ddim", "steps": 6, "window": 6}
    assert "(ddim, 6 steps)" in (tmp_path / "report.md").read_text()
    assert "score window 6 steps" in (tmp_path / "report.md").read_text()


def test_metrics_carry_the_window_sweep_and_the_calibrated_window(tmp_path):
    # Long enough to leave both classes (about 60 % hallucinated) for the calibration split.
    cfg = config_for("gaussian1d", quick=True, **{**MICRO, "n_train": 2048, "train_steps": 150,
                                                   "n_samples": 600})
    reproduce(cfg, tmp_path, progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["window"] for r in saved["window_sweep"]][0] == cfg.window
    assert {r["window"] for r in saved["window_sweep"]} == set(cfg.window_sweep)
    for row in saved["window_sweep"]:
        assert set(row) == {"window", "auroc", "removed_at_96", "auroc_ci", "removed_at_96_ci"}
        assert row["auroc_ci"][0] <= row["auroc"] <= row["auroc_ci"][1]
    cal = saved["calibrated"]
    assert {"window", "heldout_auroc", "heldout_removed_at_96", "heldout_kept_at_95"} <= set(cal)
    assert cal["n_calibration"] + cal["n_heldout"] == saved["oracle"]["n"]
    assert (tmp_path / "window_sweep.png").stat().st_size > 0
    assert "Which window?" in (tmp_path / "report.md").read_text()
    assert saved["label_free"]["window"] in cfg.window_sweep


def test_a_new_spec_is_a_new_dataset_everywhere(monkeypatch):
    """The CLI choices and config_for derive from the specs: registering one is all it takes."""
    import dataclasses

    from modeinterp.cli import build_parser
    from modeinterp.experiments import specs

    extra = dataclasses.replace(specs.SPECS["gaussian1d"], name="gaussian1d-wide",
                                quick={"n_train": 77})
    monkeypatch.setitem(specs.SPECS, "gaussian1d-wide", extra)
    assert build_parser().parse_args(["reproduce", "gaussian1d-wide"]).dataset == "gaussian1d-wide"
    assert config_for("gaussian1d-wide", quick=True).n_train == 77
    with pytest.raises(ValueError, match="dataset must be one of"):
        config_for("nope")
