"""The command line's grammar: every command, every flag with its meaning and default. A command
takes only the flags it uses (``train --n-samples`` is an error, not ignored), and every number
is checked as it is parsed, so a mistake ends in one line before any work starts."""

from __future__ import annotations

import argparse
from typing import Optional

from . import experiments, export, sampling, tools
from .types import COUNT, NATURAL, NONNEGATIVE, window
from ..sampling.forward import PRECISIONS

CONFIG_DEFAULT = "default: the config's — the dataset's full or --quick size, then --config"


class Parser(argparse.ArgumentParser):
    """argparse, with its error on one line (``modeinterp sample: error: …``) and exit status 2,
    without the usage block before it: ``--help`` shows that."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="modeinterp", description="Hallucination scores for diffusion models, "
                    "computed while sampling. `modeinterp COMMAND --help` describes a command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    experiments.add_commands(sub, _add_run_args)
    sampling.add_commands(sub, _add_run_args)
    export.add_commands(sub)
    tools.add_commands(sub)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true",
                             help="show the full traceback of any error (default: one line for "
                                  "a mistake in the request)")
    return parser


def _add_run_args(p, *, training: bool, sampling: bool, n_samples: bool = True,
                  overwrite: bool = True, model: Optional[str] = None,
                  shards: Optional[str] = None,
                  config_keys: str = "ReproduceConfig keys") -> None:
    """The flags of the commands that run an experiment config: the dataset and its config, then
    the training and sampling overrides the command uses; ``model``: the help of its --model;
    ``shards``: the default of its --shard-size (none without); ``config_keys``: what its
    --config file may hold."""
    from ..experiments.specs import SPECS

    p.add_argument("dataset", choices=sorted(SPECS),
                   help="; ".join(f"{name}: {s.description}" for name, s in SPECS.items()))
    p.add_argument("--quick", action="store_true",
                   help="the dataset's small config (minutes on 2 CPU cores; default: full size)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help=f"TOML file of {config_keys} over the dataset's config (configs/)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder (default runs/DATASET, runs/DATASET-quick with --quick)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--seed", type=NATURAL, default=None,
                   help=f"seed of the training set, the weights and the noise ({CONFIG_DEFAULT})")
    p.add_argument("--path", default=None, metavar="DIR",
                   help="folder dataset: the folder of training images")
    p.add_argument("--size", type=COUNT, default=None,
                   help="shapes, folder: image side (default 64; shapes --quick: 32)")
    if training:
        p.add_argument("--n-train", type=COUNT, default=None,
                       help=f"training samples ({CONFIG_DEFAULT})")
        p.add_argument("--train-steps", type=COUNT, default=None,
                       help=f"optimizer steps ({CONFIG_DEFAULT})")
        _add_forward_args(p, "--train-", "training", "weights, optimizer and loss")
    if sampling:
        if n_samples:
            p.add_argument("--n-samples", type=COUNT, default=None,
                           help=f"samples to draw ({CONFIG_DEFAULT})")
        p.add_argument("--method", choices=["ddpm", "ddim"], default=None,
                       help="sampler (default: DDPM over all T steps, DDIM with --steps)")
        p.add_argument("--steps", type=COUNT, default=None,
                       help="respace sampling to this many steps (default: all T steps)")
        p.add_argument("--eta", type=NONNEGATIVE, default=None,
                       help="DDIM's η: 0 deterministic (default), 1 as noisy as DDPM")
        p.add_argument("--sample-batch", type=COUNT, default=None,
                       help=f"samples per batch, the main lever of CPU speed ({CONFIG_DEFAULT})")
        _add_forward_args(p, "--", "sampling", "the fused step and the scores")
        p.add_argument("--window", type=window, default=None,
                       help="score window: K (the last K steps) or START-STOP (step indices; "
                            "default: the last 10 steps, the paper's)")
    if shards is not None:
        p.add_argument("--shard-size", type=COUNT, default=None,
                       help="sample into OUT/shards/ in shards of this many (memory bounded by "
                            "one shard, resumable after a kill shard by shard; default: one "
                            f"samples.pt, or under torchrun {shards})")
    if model is not None:
        p.add_argument("--model", default=None, metavar="PATH", help=model)
    if overwrite:
        p.add_argument("--overwrite", action="store_true",
                       help="replace what --out holds from another run (default: resume the "
                            "same run, refuse another)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (default: shown)")


def _add_forward_args(p, prefix: str, purpose: str, float32: str) -> None:
    """``{prefix}precision`` and ``{prefix}compile``: how the denoiser runs while ``purpose``
    (:class:`~modeinterp.sampling.forward.Forward`); ``float32``: what stays float32."""
    p.add_argument(f"{prefix}precision", choices=PRECISIONS, default=None,
                   help=f"the denoiser's forward while {purpose}: fp32, or bf16 autocast "
                        f"({float32} stay float32; default fp32)")
    p.add_argument(f"{prefix}compile", action="store_true", default=None,
                   help=f"torch.compile the denoiser for {purpose}, once per batch shape "
                        "(default: eager)")
