"""Argument checks shared by the compiled ops' wrappers (modeinterp.ops) and their plain-PyTorch
twins (modeinterp.reference), so both accept and refuse exactly the same input with the same
exception and message (bad type: TypeError; bad value: ValueError; the argument always named)."""

from __future__ import annotations

import math
import numbers
import operator

import torch

U64 = 1 << 64
COEF_FIELDS = ("a", "b", "c0", "c1", "c2", "sigma", "clip")


def u64(value, name: str) -> int:
    """A Python int in [0, 2^64); bools and floats are refused (a float seed is a bug)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not 0 <= value < U64:
        raise ValueError(f"{name} must be in [0, 2^64), got {value}")
    return value


def shape(dims) -> tuple:
    """A tuple of non-negative ints from an int or a sequence of ints."""
    if isinstance(dims, int) and not isinstance(dims, bool):
        dims = (dims,)
    try:
        dims = tuple(operator.index(s) for s in dims)
    except TypeError:
        raise TypeError(f"shape must be a sequence of ints, got {dims!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape entries must be >= 0, got {dims}")
    return dims


def count(value, lo: int, what: str) -> int:
    """An int >= lo (not a bool); ``what`` says what it counts, for the message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"count must be an int, got {type(value).__name__}")
    if value < lo:
        raise ValueError(f"count must be >= {lo} ({what}), got {value}")
    return int(value)


def coefficients(coef) -> tuple:
    """The 7 floats (a, b, c0, c1, c2, sigma, clip) of a StepCoef-like object or a 7-sequence;
    ``clip=None`` means no clipping (0.0). Bools, non-reals and non-finite values are refused."""
    if all(hasattr(coef, f) for f in COEF_FIELDS):
        values = tuple(getattr(coef, f) for f in COEF_FIELDS)
    elif isinstance(coef, (str, bytes)) or not hasattr(coef, "__len__"):
        raise TypeError("coef must be a StepCoef (a, b, c0, c1, c2, sigma, clip) or a sequence of "
                        f"7 floats, got {type(coef).__name__}")
    else:
        values = tuple(coef)
        if len(values) != len(COEF_FIELDS):
            raise ValueError(f"coef must hold 7 values (a, b, c0, c1, c2, sigma, clip), "
                             f"got {len(values)}")
    out = []
    for field, v in zip(COEF_FIELDS, values):
        v = 0.0 if (field == "clip" and v is None) else v
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"coef.{field} must be a float, got {type(v).__name__}")
        if not math.isfinite(v):
            raise ValueError(f"coef.{field} must be finite, got {v}")
        out.append(float(v))
    return tuple(out)


def require_tensor(t, name: str, optional: bool = False) -> None:
    if t is None and optional:
        return
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
