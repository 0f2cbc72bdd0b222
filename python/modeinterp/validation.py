"""The package's argument checks, in one place: functions and constructors validate their arguments
with these, so the same mistake gets the same exception and message everywhere (the compiled
ops' wrappers in modeinterp.ops and their plain-PyTorch twins in modeinterp.reference included).

Each check takes the argument's name first (as the message must say it) and returns the value
converted (an int, a float, a canonical name, a numpy array). A bad value raises ValueError; a bad
type raises :class:`ArgumentTypeError`, which is a TypeError and also a ValueError, so that
``except ValueError`` catches every bad argument. The compiled ops' tensor checks (the last
section) differ: they return nothing and raise what the C++ op raises. This module imports nothing
from modeinterp: it is the lowest layer.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from typing import Optional

import numpy as np
import torch

U64 = 1 << 64
COEF_FIELDS = ("a", "b", "c0", "c1", "c2", "sigma", "clip")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a TypeError, and a ValueError like any other bad argument."""


# ----------------------------------------------------------------------------- scalars
def is_int(value) -> bool:
    """True for an integral number that is not a bool (a Python or numpy int)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _interval(lo, hi, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo}"
    return f"{'<' if hi_open else '<='} {hi}"


def check_int(name: str, value, lo: Optional[int] = None, hi: Optional[int] = None, *,
              note: str = "") -> int:
    """An int (not a bool) in [lo, hi] (either end may be None); ``note`` says what the bound
    means, in the message (e.g. "the samples drawn")."""
    if not is_int(value):
        raise ArgumentTypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        why = f" ({note})" if note else ""
        raise ValueError(f"{name} must be {_interval(lo, hi)}{why}, got {value}")
    return value


def check_real(name: str, value, lo: Optional[float] = None, hi: Optional[float] = None, *,
               lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number (not a bool) in the interval lo..hi (either end may be None), each
    end closed unless ``lo_open`` / ``hi_open``; returned as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    ok = math.isfinite(value)
    ok = ok and (lo is None or (value > lo if lo_open else value >= lo))
    ok = ok and (hi is None or (value < hi if hi_open else value <= hi))
    if not ok:
        if lo is None and hi is None:
            rule = "finite"
        elif lo is None or hi is None:
            rule = f"finite and {_interval(lo, hi, lo_open, hi_open)}"
        else:
            rule = _interval(lo, hi, lo_open, hi_open)
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return value


def check_positive(name: str, value) -> float:
    """A finite real number > 0."""
    return check_real(name, value, 0, lo_open=True)


def check_fraction(name: str, value, *, open_hi: bool = False) -> float:
    """A real number in (0, 1], or in (0, 1) with ``open_hi``."""
    return check_real(name, value, 0, 1, lo_open=True, hi_open=open_hi)


def check_bool(name: str, value) -> bool:
    """A bool (Python or numpy); ints and strings are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def check_choice(name: str, value, choices):
    """One of ``choices`` (names), returned as is; when ``choices`` maps accepted spellings to
    canonical names, the canonical name."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str, one of {list(choices)}, got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return choices[value] if isinstance(choices, dict) else value


def check_type(name: str, value, types, what: str):
    """``value`` itself if it is an instance of ``types``; ``what`` names them in the message
    (e.g. "a torch.nn.Module")."""
    if not isinstance(value, types):
        raise ArgumentTypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


def check_path(name: str, value) -> str:
    """A file path (str or os.PathLike) as a str; None is refused."""
    if value is None:
        raise ValueError(f"{name} must be a file path (e.g. 'out/plot.png'), got None")
    if not isinstance(value, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a file path (str or os.PathLike), got "
                                f"{type(value).__name__}")
    return os.fspath(value)


def check_u64(name: str, value) -> int:
    """A Python int in [0, 2^64); bools and floats are refused (a float seed is a bug). Anything
    with ``__index__`` counts as an int (a 0-d integer tensor, say)."""
    if isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be an integer, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise ArgumentTypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not 0 <= value < U64:
        raise ValueError(f"{name} must be in [0, 2^64), got {value}")
    return value


def check_noise_key(seed, step, offset, numel: int = 0) -> tuple:
    """(seed, step, offset) of the Philox noise stream, each in [0, 2^64); the ``numel`` elements
    drawn from ``offset`` on must not run past 2^64 either."""
    seed, step, offset = (check_u64(name, v)
                          for name, v in (("seed", seed), ("step", step), ("offset", offset)))
    if offset + numel > U64:
        raise ValueError(f"offset + numel must be <= 2^64, got {offset} + {numel}")
    return seed, step, offset


# ----------------------------------------------------------------------------- arrays
def as_array(name: str, x, dtype=None) -> np.ndarray:
    """A tensor (any device) or array-like as a numpy array, cast to ``dtype`` when given."""
    try:
        if hasattr(x, "detach"):  # a torch tensor
            x = x.detach().cpu()
            x = (x.double() if dtype is not None else x).numpy()
        arr = np.asarray(x)
        return arr.astype(dtype) if dtype is not None else arr
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{name} must be a real array or tensor: {exc}") from None


def check_vector(name: str, x) -> np.ndarray:
    """A 1-D array of finite real numbers (a tensor or array-like) as a new float64 array."""
    arr = as_array(name, x)
    if arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN ({int(np.isnan(arr).sum())} of {arr.size})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (contains ±inf)")
    return arr


def check_labels(name: str, x, n: int) -> np.ndarray:
    """``n`` hallucination labels, bool or 0/1 (True = hallucination), as a 1-D bool array."""
    arr = as_array(name, x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has length {arr.shape[0]} but {n} were expected: one per "
                         "sample")
    if arr.dtype != bool and (arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all()):
        raise ValueError(f"{name} must be bool or 0/1 (True = hallucination)")
    return arr.astype(bool)


def check_tensor(name: str, t, optional: bool = False):
    """A torch.Tensor (or None when ``optional``), returned as is."""
    if t is None and optional:
        return None
    return check_type(name, t, torch.Tensor, "a torch.Tensor")


# ----------------------------------------------------------------------------- the kernels' own
def check_shape(dims) -> tuple:
    """A tuple of non-negative ints from an int or a sequence of ints."""
    if is_int(dims):
        dims = (dims,)
    try:
        dims = tuple(operator.index(s) for s in dims)
    except TypeError:
        raise ArgumentTypeError(f"shape must be a sequence of ints, got {dims!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape entries must be >= 0, got {dims}")
    return dims


def check_coefficients(coef) -> tuple:
    """The 7 floats (a, b, c0, c1, c2, sigma, clip) of a StepCoef-like object or a 7-sequence;
    ``clip=None`` means no clipping (0.0). Bools, non-reals and non-finite values are refused."""
    if all(hasattr(coef, f) for f in COEF_FIELDS):
        values = tuple(getattr(coef, f) for f in COEF_FIELDS)
    elif isinstance(coef, (str, bytes)) or not hasattr(coef, "__len__"):
        raise ArgumentTypeError("coef must be a StepCoef (a, b, c0, c1, c2, sigma, clip) or a "
                                f"sequence of 7 floats, got {type(coef).__name__}")
    else:
        values = tuple(coef)
        if len(values) != len(COEF_FIELDS):
            raise ValueError(f"coef must hold 7 values (a, b, c0, c1, c2, sigma, clip), "
                             f"got {len(values)}")
    out = []
    for field, v in zip(COEF_FIELDS, values):
        v = 0.0 if (field == "clip" and v is None) else v
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ArgumentTypeError(f"coef.{field} must be a float, got {type(v).__name__}")
        if not math.isfinite(v):
            raise ValueError(f"coef.{field} must be finite, got {v}")
        out.append(float(v))
    return tuple(out)


def check_count(count) -> int:
    """How many x̂0 values the Welford accumulators mean/m2 already hold: an int >= 0."""
    return check_int("count", count, 0, note="x̂0 values already in mean/m2")


def check_fused_step_scalars(coef, count, seed, step, offset, numel: int) -> tuple:
    """fused_step's scalar arguments as ``(coefficients, count, seed, step, offset)``. The noise
    key is checked even where no noise is drawn (noise given, sigma 0, a counter replacing seed
    and offset), so that a bad seed never passes silently."""
    return (check_coefficients(coef), check_count(count),
            *check_noise_key(seed, step, offset, numel))


# ----------------------------------------------------------------------------- the kernels' tensors
# One copy of the compiled ops' tensor checks, written with torch._check_type (a plain TypeError,
# not ArgumentTypeError) and torch._check_value (ValueError) to raise what the C++ op raises. The
# fake kernels (modeinterp._fakes) call them, so that torch.compile, opcheck and meta tensors are
# refused what the op refuses, and so do the plain-PyTorch twins (modeinterp.reference).
# Conditions are on dtypes, shapes, devices and layout only, never on values: a traced graph stays
# whole. The op also refuses mean and m2 sharing memory, which a fake tensor cannot tell (it has
# no data pointer), so that check stays in C++ alone.
_KERNEL_FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def check_fused_step_types(x, out, noise, mean, m2, counter) -> None:
    """Each tensor argument of fused_step a torch.Tensor (noise, mean, m2, counter may be None):
    the op's schema refuses anything else, but with a message that does not say which argument."""
    for name, t in (("x", x), ("out", out)):
        check_tensor(name, t)
    for name, t in (("noise", noise), ("mean", mean), ("m2", m2), ("counter", counter)):
        check_tensor(name, t, optional=True)


def _check_kernel_float(x) -> None:
    torch._check_type(x.dtype in _KERNEL_FLOATS,
                      lambda: f"x must be float32, float16 or bfloat16, got {x.dtype}")


def _check_like_x(name: str, t, x) -> None:
    torch._check_value(t.device == x.device,
                       lambda: f"{name} is on {t.device} but x is on {x.device}")
    torch._check_value(t.shape == x.shape,
                       lambda: f"{name} has shape {tuple(t.shape)} but x has shape "
                       f"{tuple(x.shape)}")


def _check_accumulator(name: str, t, x) -> None:
    _check_like_x(name, t, x)
    torch._check_type(t.dtype == torch.float32, lambda: f"{name} must be float32, got {t.dtype}")
    # Updated in place: a hidden contiguous copy would silently drop the update.
    torch._check_value(t.is_contiguous(), lambda: f"{name} must be contiguous")


def check_fused_step_tensors(x, out, noise, mean, m2, counter) -> None:
    """The tensor arguments of fused_step as its C++ checks them: x float32/float16/bfloat16, out
    of x's dtype, noise floating; out, noise, mean, m2 shaped like x; mean and m2 float32,
    contiguous and given together; counter int64 of shape (2,); all on x's device."""
    check_fused_step_types(x, out, noise, mean, m2, counter)
    _check_kernel_float(x)
    torch._check_type(out.dtype == x.dtype,
                      lambda: f"out has dtype {out.dtype} but x has dtype {x.dtype}")
    _check_like_x("out", out, x)
    torch._check_value((mean is None) == (m2 is None),
                       lambda: "mean and m2 must be given together")
    if noise is not None:
        _check_like_x("noise", noise, x)
        torch._check_type(noise.dtype.is_floating_point,
                          lambda: f"noise must be a floating tensor, got {noise.dtype}")
    if mean is not None:
        _check_accumulator("mean", mean, x)
        _check_accumulator("m2", m2, x)
    if counter is not None:
        torch._check_value(counter.device == x.device,
                           lambda: f"counter is on {counter.device} but x is on {x.device}")
        torch._check_type(counter.dtype == torch.int64,
                          lambda: f"counter must be int64 [seed, offset], got {counter.dtype}")
        torch._check_value(counter.shape == (2,), lambda: "counter must have shape (2,) "
                           f"([seed, offset]), got {tuple(counter.shape)}")


def check_welford_types(mean, m2, x) -> None:
    """Each tensor argument of welford_update_ a torch.Tensor (see check_fused_step_types)."""
    for name, t in (("mean", mean), ("m2", m2), ("x", x)):
        check_tensor(name, t)


def check_welford_tensors(mean, m2, x) -> None:
    """The tensor arguments of welford_update_ as its C++ checks them: x float32/float16/bfloat16;
    mean and m2 float32, contiguous, shaped like x and on its device."""
    check_welford_types(mean, m2, x)
    _check_kernel_float(x)
    _check_accumulator("mean", mean, x)
    _check_accumulator("m2", m2, x)


def check_trajectory_score_tensors(m2) -> None:
    """The tensor argument of trajectory_score as its C++ checks it: float32, with a batch
    dimension and, unless the batch is empty, elements beyond it."""
    check_tensor("m2", m2)
    torch._check_type(m2.dtype == torch.float32, lambda: f"m2 must be float32, got {m2.dtype}")
    torch._check_value(m2.dim() >= 1, lambda: "m2 must have a batch dimension, got a 0-dim tensor")
    torch._check_value(m2.shape[0] == 0 or m2.numel() > 0, lambda: "m2 has no elements beyond the "
                       f"batch dimension: shape {tuple(m2.shape)}")
