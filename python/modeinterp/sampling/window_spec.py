"""A score window as one value: ``K`` (an int, the last K reverse steps) or ``(start, stop)`` (a
tuple of step indices [start, stop)). Every other spelling — ``"10"`` and ``"40-60"`` (CLI, file
names), ``[40, 60]`` (TOML, JSON) — goes through :func:`parse_window` once, where it enters."""

from __future__ import annotations

import numbers
from typing import Tuple, Union

WindowSpec = Union[int, Tuple[int, int]]


def parse_window(value, name: str = "window") -> WindowSpec:
    """``value`` as a WindowSpec: 10, "10" -> 10; (40, 60), [40, 60], "40-60" -> (40, 60).
    Only the form is checked here (K >= 1, 0 <= start < stop); whether it fits a run is
    ``resolve_window``'s job."""
    if isinstance(value, str):
        start, sep, stop = value.strip().partition("-")
        try:
            window = (int(start), int(stop)) if sep else int(start)
        except ValueError:
            raise ValueError(f"{name} must look like 10 or 40-60, got {value!r}") from None
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        window = int(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 \
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        window = int(value[0]), int(value[1])
    else:
        raise TypeError(f"{name} must be an int K or a (start, stop) pair of ints, "
                        f"got {value!r}")
    if isinstance(window, int) and window < 1:
        raise ValueError(f"{name} must be K >= 1 (the last K steps), got {value!r}")
    if isinstance(window, tuple) and not 0 <= window[0] < window[1]:
        raise ValueError(f"{name} must be START-STOP with 0 <= START < STOP, got {value!r}")
    return window


def window_key(window) -> str:
    """A window as a file-name-safe string: ``"10"`` for the last 10 steps, ``"40-60"`` for
    steps [40, 60) (the names of saved scores: samples.pt, shards, recursive runs)."""
    window = parse_window(window)
    return f"{window[0]}-{window[1]}" if isinstance(window, tuple) else str(window)


def fit_window(window, steps: int):
    """A configured window for a run of ``steps`` steps: last-K clamped to the run, a
    mid-trajectory (start, stop) pair kept as is, or None when the run is too short to hold it
    (a config's window sweep is written once for runs of any length)."""
    window = parse_window(window)
    if isinstance(window, tuple):
        return window if window[1] <= steps else None
    return min(window, steps)
