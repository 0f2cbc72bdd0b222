"""Configurations of the toy reproductions: the paper's sizes (full) and a CPU-friendly --quick."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


@dataclass
class ReproduceConfig:
    """Every knob of ``modeinterp reproduce``; defaults are the paper's toy setup.

    Training: DDPM ε-prediction, T = 1000, linear β 1e-3…0.2, Adam 1e-3, batch 10k.
    Sampling: DDPM fixed-large variance over all T steps, score = x̂0 variance over the last
    ``window`` reverse steps (the paper's choice, 10).
    """

    dataset: str = "gaussian2d"
    n_train: int = 100_000
    train_steps: int = 3000
    batch_size: int = 10_000
    lr: float = 1e-3
    lr_schedule: str = "constant"
    ema: float | None = None
    share_blocks: bool = False
    T: int = 1000
    beta_start: float = 1e-3
    beta_end: float = 0.2
    n_samples: int = 100_000
    sample_batch: int = 20_000
    method: str = "ddpm"
    steps: int | None = None  # None: all T steps (DDPM); else DDIM with this many steps
    window: int = 10
    early_exit: tuple = (1, 2, 3, 5, 7)
    trajectory: int = 64
    seed: int = 0
    score_ts: tuple = field(default=(0, 10, 50, 200))
    means: tuple | None = None  # gaussian1d only: the mode means (default (1, 2, 3))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Measured on 2 CPU cores: ~2 min of training, ~20 s of sampling. Smaller batches and more steps
# than the paper, plus EMA, give sharper modes per CPU-second than 3000 steps of 10k.
QUICK = dict(n_train=20_000, train_steps=6000, batch_size=1_000, ema=0.995, n_samples=4_000,
             sample_batch=4_000, trajectory=32)


def config_for(dataset: str, quick: bool = False, toml_path=None, **overrides) -> ReproduceConfig:
    """The config of ``dataset``: full size, or ``quick`` (≤ 5 minutes on 2 CPU cores), then the
    values of a TOML file's top-level keys, then ``overrides`` (None values are ignored)."""
    values = dict(dataset=dataset, **(QUICK if quick else {}))
    if toml_path is not None:
        if tomllib is None:
            raise RuntimeError("reading a TOML config needs Python >= 3.11 (tomllib)")
        with open(toml_path, "rb") as f:
            values.update(tomllib.load(f))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(ReproduceConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known: {sorted(known)}")
    for key in ("early_exit", "score_ts", "means"):
        if values.get(key) is None and key == "means":
            continue
        values[key] = tuple(values.get(key, getattr(ReproduceConfig, key, ())) or ())
    return ReproduceConfig(**values)
