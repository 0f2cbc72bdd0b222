"""Every CLI command driven through bad inputs: a user's mistake is one line
``modeinterp COMMAND: error: …`` naming the flag, key or file, exit status 2, no traceback, no
output folder left behind and no earlier output changed. A run folder resumes only the same run;
another one is refused (``--overwrite`` replaces it). A bug keeps its traceback."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from modeinterp.cli import main
from modeinterp.detect import Detector
from modeinterp.sampling import load_samples

TRAIN = ["--quick", "--n-train", "256", "--train-steps", "20", "--no-progress"]
SAMPLE = ["--quick", "--n-samples", "40", "--steps", "20", "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A micro gaussian2d run: model.pt and samples.pt, plus files the cases feed in."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "gaussian2d", "--out", out, *TRAIN]) == 0
    assert main(["sample", "gaussian2d", "--out", out, *SAMPLE]) == 0
    files = out.parent / f"{out.name}-files"
    files.mkdir()
    for name, text in {"unknown.toml": "n_trian = 100\n", "type.toml": 'train_steps = "a"\n',
                       "syntax.toml": "train_steps = \n", "range.toml": "lr = -1.0\n",
                       "junk.pt": "not a checkpoint\n", "junk.json": "{not json",
                       "window.toml": "window = [50, 60]\nsteps = 20\n",
                       "precision.toml": 'precision = "fp8"\n', "compile.toml": "compile = 1\n",
                       "decay.toml": "lr_decay_steps = 0\n"
                       }.items():
        (files / name).write_text(text)
    torch.save({"format": "somebody.else/1"}, files / "foreign.pt")
    (files / "schema").mkdir()
    torch.save({"schema": "modeinterp.samples/99", "samples": torch.zeros(2, 2),
                "scores": torch.zeros(2)}, files / "schema" / "samples.pt")
    (files / "empty").mkdir()
    Detector.fit_label_free({"10/mean": np.linspace(1, 2, 20)}, dataset="shapes").save(
        files / "shapes-detector.json")
    return out, files


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


G = "gaussian2d"
# (argv with {run}, {files} and {new} (a folder that must not appear), the error's pattern)
CASES = [
    (["reproduce", G, "--config", "{files}/unknown.toml"], r"unknown\.toml: unknown config key "
                                                           r"'n_trian' \(did you mean 'n_train'"),
    (["reproduce", G, "--config", "{files}/type.toml"], r"type\.toml: config key train_steps "
                                                        "must be an int, got str"),
    (["reproduce", G, "--config", "{files}/syntax.toml"], r"syntax\.toml: not valid TOML"),
    (["reproduce", G, "--config", "{files}/range.toml"], r"range\.toml: config key lr must be"),
    (["reproduce", G, "--config", "{files}/missing.toml"], "missing.toml: cannot read it"),
    (["reproduce", G, "--config", "{files}/window.toml"], r"window \(50, 60\) does not fit a "
                                                          "run of 20 steps"),
    (["reproduce", G, "--n-samples", "0"], "--n-samples: must be an int >= 1, got '0'"),
    (["reproduce", G, "--n-samples", "-5"], "--n-samples: must be an int >= 1"),
    (["reproduce", G, "--n-samples", "ten"], "--n-samples: must be an int >= 1, got 'ten'"),
    (["reproduce", G, "--n-samples", "1" + "0" * 30], "--n-samples: must be an int"),
    (["reproduce", G, "--seed", "-1"], "--seed: must be an int >= 0"),
    (["reproduce", G, "--window", "5-2"], "--window: must be START-STOP with 0 <= START < STOP"),
    (["reproduce", G, "--window", ""], "--window: must look like 10 or 40-60"),
    (["reproduce", G, "--window", "0"], "--window: must be K >= 1"),
    (["reproduce", G, "--steps", "2000"], "steps=2000 respaces a schedule of T=1000"),
    (["reproduce", G, "--eta", "-1"], "--eta: must be a number >= 0"),
    (["reproduce", G, "--eta", "0.5", "--method", "ddpm"], "η; the ddpm sampler takes none"),
    (["reproduce", G, "--method", "euler"], "--method: invalid choice"),
    (["reproduce", G, "--precision", "fp8"], "--precision: invalid choice: 'fp8'"),
    (["train", G, "--train-precision", "fp16"], "--train-precision: invalid choice"),
    (["train", G, "--compile"], "train does not take --compile"),
    (["reproduce", G, "--config", "{files}/precision.toml"],
     r"precision\.toml: config key precision must be one of \['fp32', 'bf16'\]"),
    (["reproduce", G, "--config", "{files}/compile.toml"],
     r"compile\.toml: config key compile must be a bool"),
    (["reproduce", ""], "invalid choice"),
    (["reproduce", G, "--out", "{files}/junk.pt"], "junk.pt: exists and is not a folder"),
    (["reproduce", G, "--out", " "], "--out: must name a folder"),
    (["sample", G, "--model", "", "--out", "{new}"], "no such file"),
    (["train", G, "--n-samples", "5"], "train does not take --n-samples 5"),
    (["train", G, "--train-steps", "0"], "--train-steps: must be an int >= 1"),
    (["train", G, "--size", "-3"], "--size: must be an int >= 1"),
    (["sample", G], r"--model .*model\.pt: no such file \(train one first"),
    (["sample", G, "--model", "{files}/junk.pt"], "junk.pt is not a modeinterp Trainer "
                                                  "checkpoint: torch.load cannot read it"),
    (["sample", G, "--model", "{files}/foreign.pt"], "not a modeinterp Trainer checkpoint "
                                                     r"\(expected format"),
    (["sample", G, "--model", "{run}/samples.pt"], "not a modeinterp Trainer checkpoint"),
    (["sample", G, "--model", "{run}/model.pt", "--clean", "0"], "--clean: must be an int >= 1"),
    (["sample", G, "--model", "{run}/model.pt", "--clean", "5"], "--clean N needs --detector"),
    (["sample", G, "--model", "{run}/model.pt", "--budget", "5"], "--budget B goes with --clean"),
    (["sample", G, "--model", "{run}/model.pt", "--detector", "{files}/missing.json"],
     "--detector .*missing.json: No such file"),
    (["sample", G, "--model", "{run}/model.pt", "--detector", "{files}/junk.json"],
     "not a detector file"),
    (["sample", G, "--model", "{run}/model.pt", "--n-train", "5"], "does not take --n-train"),
    (["detect", G, "--out", "{files}/empty"], "empty holds no samples"),
    (["detect", G, "--out", "{files}/schema"], "samples/99"),
    (["detect", G, "--out", "{run}", "--label-free"], "--label-free and --kind go with --fit"),
    (["detect", G, "--out", "{run}", "--fit", "{new}/d.json", "--kind", "bogus"],
     "--kind 'bogus': one of logistic, boosting"),
    (["ablate", "sampler", G, "--values", "ddx"], "sampler must look like"),
    (["ablate", "separation", G, "--values", "1.0"], "separation sweep moves the modes"),
    (["ablate", "steps", G, "--values", "x"], "--values 'x'"),
    (["recursive", "folder"], "folder has no oracle"),
    (["recursive", G, "--margin", "2"], r"--margin: must be a number in \[0, 1\]"),
    (["recursive", G, "--generations", "0"], "--generations: must be an int >= 1"),
    (["recursive", G, "--replicates", "0"], "--replicates: must be an int >= 1, got '0'"),
    (["recursive", G, "--filter", "random,lowest"], "--filter: unknown filter 'lowest'"),
    (["recursive", G, "--detector", "{files}/shapes-detector.json"],
     "detector: .*shapes-detector.json: it was fitted on shapes samples, not gaussian2d"),
    (["recursive", G, "--detector", "{files}/junk.json"], "junk.json is not a detector file"),
    (["sample", G, "--model", "{files}/empty"], "empty is not a diffusers model folder"),
    (["reproduce", G, "--model", "{run}/model.pt", "--train-steps", "3"],
     "with --model nothing is trained"),
    (["export", "{files}/empty", "--diffusers", "{new}"], r"RUN .*empty: no such model\.pt"),
    (["export", "{run}", "--diffusers", "{files}/empty"], "empty: exists"),
    (["export", "{run}", "--diffusers", "{new}"], "holds a MLPDenoiser, not an image model"),
    (["export", "{files}/junk.pt", "--diffusers", "{new}"], "not a modeinterp Trainer"),
    (["reproduce", G, "--quick", "--sample-batch", "30", "--shard-size", "50"],
     r"--shard-size 50 must be a multiple of the sampling batch \(30"),
    (["sample", G, "--model", "{run}/model.pt", "--sample-batch", "30", "--shard-size", "50"],
     r"--shard-size 50 must be a multiple of the sampling batch \(30"),
    (["reproduce", G, "--config", "{files}/decay.toml"], "config key lr_decay_steps must be >= 1, got 0"),
    (["demo", "--n", "0"], "--n: must be an int >= 1"),
    (["info", "--bogus"], "info does not take --bogus"),
]


@pytest.mark.parametrize("argv,pattern", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_a_mistake_is_one_line_and_exit_status_2(run, tmp_path, refused, argv, pattern):
    out, files = run
    new = tmp_path / "new"
    argv = [a.format(run=out, files=files, new=new) for a in argv]
    if argv[0] not in ("demo", "info", "export") and "--out" not in argv:
        argv += ["--out", str(new)]
    before = _snapshot(out.parent)
    refused(argv, pattern)
    assert not new.exists()  # no folder made for a run that never started
    assert _snapshot(out.parent) == before  # and nothing written anywhere else


def test_a_run_folder_resumes_the_same_run_and_refuses_another(run, tmp_path, refused, capsys):
    out, _ = run
    folder = tmp_path / "s"
    argv = ["sample", G, "--model", str(out / "model.pt"), "--out", str(folder), *SAMPLE]
    assert main(argv) == 0
    before = _snapshot(folder)
    assert main(argv) == 0  # the same run: resumed (rewritten identically)
    assert _snapshot(folder) == before
    refused([*argv, "--seed", "7"], r"holds another sample run: config.seed: recorded 0, now 7; "
                                    "use another --out, or --overwrite")
    refused([*argv[:-6], "--quick", "--n-samples", "41", "--no-progress", "--shard-size", "10"],
            "holds another sample run")
    assert _snapshot(folder) == before
    assert main([*argv, "--seed", "7", "--overwrite"]) == 0
    assert _snapshot(folder)[Path("samples.pt")] != before[Path("samples.pt")]
    # Training: another config refuses; more steps continue the same run.
    refused(["train", G, "--out", str(out), *TRAIN, "--seed", "3"], "holds another train run: "
                                                                    "seed: recorded 0, now 3")
    # A folder written without a record (an older modeinterp) is not silently mixed into.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "samples.pt").write_bytes((out / "samples.pt").read_bytes())
    refused(["sample", G, "--model", str(out / "model.pt"), "--out", str(legacy), *SAMPLE],
            "already holds samples.pt from a run it has no record of")


@pytest.mark.slow  # compiles the toy MLP: ~20 s
def test_bf16_is_another_sample_run_and_compiling_is_not(run, tmp_path, refused):
    out, _ = run
    folder = tmp_path / "s"
    argv = ["sample", G, "--model", str(out / "model.pt"), "--out", str(folder), *SAMPLE]
    assert main([*argv, "--precision", "bf16"]) == 0
    bf16 = load_samples(folder / "samples.pt")
    assert bf16.samples.dtype == torch.float32 and torch.isfinite(bf16.samples).all()
    refused(argv, "holds another sample run: config.precision: recorded 'bf16', now the default")
    # compile is how the run is computed, like the device: the same run, resumed (its bf16
    # rounding differs from eager's, so the samples move within bf16's own noise)
    record = (folder / "run.json").read_text()
    assert main([*argv, "--precision", "bf16", "--compile"]) == 0
    assert (folder / "run.json").read_text() == record
    assert torch.isfinite(load_samples(folder / "samples.pt").samples).all()


def test_train_continues_to_more_steps_and_overwrite_starts_afresh(tmp_path, capsys):
    out = str(tmp_path)
    argv = ["train", G, "--out", out, "--quick", "--n-train", "256", "--no-progress"]
    assert main([*argv, "--train-steps", "5"]) == 0
    assert main([*argv, "--train-steps", "8"]) == 0
    assert "8 steps" in capsys.readouterr().out
    assert main([*argv, "--train-steps", "5", "--seed", "2", "--overwrite"]) == 0
    assert torch.load(tmp_path / "model.pt", weights_only=True)["step"] == 5


def test_debug_shows_the_traceback_and_a_bug_keeps_it(run, monkeypatch):
    from modeinterp.errors import UsageError

    with pytest.raises(UsageError, match="no such file"):
        main(["sample", G, "--out", str(run[1] / "nowhere"), "--debug"])
    import modeinterp.cli.tools as tools

    monkeypatch.setattr(tools, "_info", lambda args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["info"])


def test_files_get_the_users_umask(tmp_path):
    from modeinterp import artifacts

    old = os.umask(0o022)
    try:
        artifacts.save_json({"a": 1}, tmp_path / "a.json")
        os.umask(0o077)
        artifacts.save_text("x", tmp_path / "b.txt")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o600


def test_every_flag_has_help_and_every_command_a_description():
    from modeinterp.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        assert command.description, name
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}"


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`modeinterp info | head -1`: the closed pipe ends the command quietly (status 141)."""
    import subprocess
    import sys

    done = subprocess.run(f"'{sys.executable}' -m modeinterp info | head -c 1", shell=True,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert done.stdout == "m" and done.stderr == "", done.stderr[-2000:]
