"""What each ``ReproduceConfig`` key may hold, checked where a config is built — from the
dataset's defaults, a TOML file and the command line alike — so that a wrong value names its key
before any work starts, not as a TypeError deep in training."""

from __future__ import annotations

from ..errors import UsageError
from ..sampling.forward import PRECISIONS
from ..validation import check_bool, check_choice, check_int, check_real, check_type

__all__ = ["check_fields"]


def _int(lo, hi=None):
    return lambda key, v: check_int(key, v, lo, hi)


def _real(lo=None, hi=None, lo_open=False, hi_open=False):
    return lambda key, v: check_real(key, v, lo, hi, lo_open=lo_open, hi_open=hi_open)


def _optional(rule):
    return lambda key, v: None if v is None else rule(key, v)


def _each(rule):
    def check(key, values):
        check_type(key, values, (list, tuple), "a list")
        for i, v in enumerate(values):
            rule(f"{key}[{i}]", v)
    return check


def _text(key, v):
    check_type(key, v, str, "a string")
    if not v.strip():
        raise ValueError(f"{key} must not be empty")


def _choice(*choices):
    return lambda key, v: check_choice(key, v, choices)


_LR_SCHEDULES = ("constant", "cosine")  # modeinterp.train.Trainer's

RULES = {
    "dataset": _text, "n_train": _int(1), "train_steps": _int(1), "batch_size": _int(1),
    "lr": _real(0, lo_open=True), "lr_schedule": _choice(*_LR_SCHEDULES),
    "lr_decay_steps": _optional(_int(1)),
    "focus_below": _optional(_int(1)), "focus_prob": _real(0, 1),
    "ema": _optional(_real(0, 1, hi_open=True)), "share_blocks": check_bool,
    "T": _int(2), "beta_start": _real(0, 1, lo_open=True, hi_open=True),
    "beta_end": _real(0, 1, lo_open=True, hi_open=True), "n_samples": _int(1),
    "sample_batch": _int(1), "method": _optional(_choice("ddpm", "ddim")),
    "steps": _optional(_int(1)), "eta": _real(0), "early_exit": _each(_int(2)),
    "aggregations": _each(_text), "score_maps": check_bool, "trajectory": _int(0),
    "seed": _int(0, (1 << 63) - 1), "score_ts": _each(_int(0)),
    "means": _optional(_each(_real())), "clip": _optional(_real(0, lo_open=True)),
    "unet": _optional(_text), "grad_clip": _optional(_real(0, lo_open=True)),
    "path": _optional(_text), "size": _int(4), "train_precision": _choice(*PRECISIONS),
    "train_compile": check_bool, "precision": _choice(*PRECISIONS), "compile": check_bool,
}


def check_fields(values: dict) -> None:
    """Raise :class:`~modeinterp.errors.UsageError` naming the first key whose value has the
    wrong type or range (``prediction``, ``window`` and ``window_sweep`` are parsed apart)."""
    for key, rule in RULES.items():
        if key in values:
            try:
                rule(key, values[key])
            except (TypeError, ValueError) as exc:
                raise UsageError(f"config key {exc}") from None
