"""From parsed flags to a checked request: the config, the run folder and the input files. Every
mistake is a :class:`~modeinterp.errors.UsageError` naming the flag, key or file, raised before
any work starts and before any folder is made."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from ..errors import UsageError

OVERRIDES = ("n_train", "train_steps", "n_samples", "seed", "steps", "method", "eta", "window",
             "path", "size", "precision", "compile", "train_precision", "train_compile",
             "sample_batch")
# What only training reads: a sampling run is defined by its model file instead.
TRAIN_ONLY = ("n_train", "train_steps", "batch_size", "lr", "lr_schedule", "lr_decay_steps",
              "focus_below", "focus_prob", "ema", "share_blocks", "grad_clip", "train_precision")
SAMPLE_OUTPUTS = ("samples.pt", "shards", "shards.json", "flags.pt")
REPORT_OUTPUTS = ("samples.pt", "score_maps.pt", "shards", "shards.json", "metrics.json",
                  "report.md", "report.html")


def config(args):
    """The experiment config of the flags (dataset's, then --config, then the flags), checked
    whole: keys, types, and whether the windows and aggregations fit the run."""
    from ..experiments import config_for
    from ..experiments.recipe import check_runnable

    cfg = config_for(args.dataset, quick=args.quick, toml_path=args.config,
                     **{k: getattr(args, k, None) for k in OVERRIDES})
    check_runnable(cfg)
    return cfg


def out_dir(args, default: str | None = None) -> Path:
    """``--out`` (default runs/DATASET[-quick]), checked writable without creating it."""
    if args.out is not None and not args.out.strip():
        raise UsageError("--out: must name a folder, got an empty string")
    out = Path(args.out or default or
               f"runs/{args.dataset}{'-quick' if getattr(args, 'quick', False) else ''}")
    check_writable(out, "--out")
    return out


def check_writable(path: Path, flag: str) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a folder")
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot write in {existing} (permission denied)")


@contextmanager
def reading(flag: str, path):
    """Reading a file the user named: a missing, unreadable or foreign file is their mistake."""
    try:
        yield
    except OSError as exc:
        raise UsageError(_naming(flag, path, exc.strerror or str(exc))) from None
    except (TypeError, ValueError) as exc:  # UsageError included
        raise UsageError(_naming(flag, path, str(exc))) from None


def _naming(flag: str, path, message: str) -> str:
    return f"{flag}: {message}" if str(path) in message else f"{flag} {path}: {message}"


@contextmanager
def checking():
    """Checking the request with a library function: its ValueError names the bad argument."""
    try:
        yield
    except UsageError:
        raise
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def model_file(args, out: Path, cfg) -> Path:
    """The trained model to sample (``--model``, default OUT/model.pt), checked to be a
    checkpoint trained with this config's prediction target and noise schedule, or a diffusers
    ``UNet2DModel`` folder that fits the config's images (and schedule, when it has one)."""
    from ..train.checkpoint import check_trained_for

    if getattr(args, "model", None) == "":
        raise UsageError("--model '': no such file or folder")
    path = Path(args.model) if getattr(args, "model", None) else out / "model.pt"
    if not path.exists():
        raise UsageError(f"--model {path}: no such file (train one first: modeinterp train "
                         f"{args.dataset}{' --quick' if args.quick else ''} --out {out})")
    with reading("--model", path):
        shape = None
        if path.is_dir():
            from ..experiments.recipe import dataset_of

            shape = dataset_of(cfg).sample_shape
        check_trained_for(path, cfg.prediction, cfg.schedule().alphas_cumprod, shape)
    return path


def check_shard_size(shard_size, cfg) -> None:
    """--shard-size must cut the run into whole sampling batches (then every shard's rows get
    the noise of a one-process run, whatever the number of processes)."""
    if shard_size is not None and shard_size % min(cfg.sample_batch, shard_size):
        raise UsageError(f"--shard-size {shard_size} must be a multiple of the sampling batch "
                         f"({cfg.sample_batch}; --sample-batch sets it)")


def train_request(cfg) -> dict:
    """What a training run is: every key but the sampling ones, and but ``train_steps``: a
    rerun with more steps continues the same run (the checkpoint refuses any other change)."""
    keys = (set(TRAIN_ONLY) - {"train_steps"}) | {
        "dataset", "prediction", "T", "beta_start", "beta_end", "seed", "means", "unet", "path",
        "size"}
    return {k: v for k, v in cfg.to_dict().items() if k in keys}


def sample_request(cfg, model_path: Path, **extra) -> dict:
    """What a sampling run is: the model file's digest and every key but the training ones."""
    from ..train.checkpoint import model_digest

    return {"model": model_digest(model_path),
            "config": {k: v for k, v in cfg.to_dict().items() if k not in TRAIN_ONLY}, **extra}


@contextmanager
def output_folder(out: Path):
    """Run a command into ``out``: if it fails before writing more than its run record, the
    folders it made go again (a killed run that wrote a checkpoint keeps it, to resume)."""
    top = None
    for folder in [out.absolute(), *out.absolute().parents]:
        if folder.exists():
            break
        top = folder
    try:
        yield out
    except BaseException:
        if top is not None and top.exists() and all(
                p.is_dir() or p.name == "run.json" for p in top.rglob("*")):
            shutil.rmtree(top, ignore_errors=True)
        raise
