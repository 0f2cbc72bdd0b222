"""A score window as one value, :class:`Window`: the last K reverse steps, or the steps
[start, stop). Every spelling of a window enters through :meth:`Window.parse` — ``10`` and
``(40, 60)`` (Python), ``"10"`` and ``"40-60"`` (CLI, file names, samples.pt keys), ``[40, 60]``
(TOML, JSON), ``"(40, 60)"`` (older samples.pt markers) — and leaves through :attr:`Window.key`
or :meth:`Window.to_json`; :meth:`Window.fit` and :meth:`Window.resolve` place it in a run.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Optional, Tuple, Union

from .. import validation

WindowSpec = Union[int, Tuple[int, int]]

__all__ = ["Window", "WindowSpec"]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True, eq=False, repr=False)
class Window:
    """A score window: ``spec`` is K (an int: the last K reverse steps) or ``(start, stop)``.

    Frozen; compares, hashes and prints as its spec, so ``result.window_scores[10]`` and
    ``result.window_scores[(40, 60)]`` find ``Window(10)`` and ``Window((40, 60))`` keys, and
    messages read as before (``window 10``, ``window (40, 60)``).
    """

    spec: WindowSpec

    # ------------------------------------------------------------------ in
    @classmethod
    def parse(cls, value, name: str = "window") -> "Window":
        """``value`` as a Window: 10, "10" -> last 10; (40, 60), [40, 60], "40-60", "(40, 60)"
        -> steps [40, 60). Only the form is checked here (K >= 1, 0 <= start < stop); whether it
        fits a run is :meth:`resolve`'s (or :meth:`fit`'s) job."""
        if isinstance(value, Window):
            return value
        if isinstance(value, str):
            text = value.strip().strip("()[]").replace(" ", "")
            start, sep, stop = text.replace(",", "-").partition("-")
            try:
                spec = (int(start), int(stop)) if sep else int(start)
            except ValueError:
                raise ValueError(f"{name} must look like 10 or 40-60, got {value!r}") from None
        elif _is_int(value):
            spec = int(value)
        elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value)):
            spec = int(value[0]), int(value[1])
        else:
            raise TypeError(f"{name} must be an int K or a (start, stop) pair of ints, "
                            f"got {value!r}")
        if isinstance(spec, int) and spec < 1:
            raise ValueError(f"{name} must be K >= 1 (the last K steps), got {value!r}")
        if isinstance(spec, tuple) and not 0 <= spec[0] < spec[1]:
            raise ValueError(f"{name} must be START-STOP with 0 <= START < STOP, got {value!r}")
        return cls(spec)

    @classmethod
    def from_json(cls, value, name: str = "window") -> "Window":
        """The inverse of :meth:`to_json` (an int or a two-int list; a key string too)."""
        return cls.parse(value, name)

    # ------------------------------------------------------------------ out
    @property
    def last(self) -> Optional[int]:
        """K for a last-K window, else None."""
        return self.spec if isinstance(self.spec, int) else None

    @property
    def key(self) -> str:
        """File-name-safe: ``"10"`` for the last 10 steps, ``"40-60"`` for steps [40, 60) (the
        names of saved scores: samples.pt, shards, recursive runs, score keys)."""
        return str(self.spec) if self.last is not None else f"{self.spec[0]}-{self.spec[1]}"

    def to_json(self):
        """10 or [40, 60]: what TOML and JSON files hold."""
        return self.spec if self.last is not None else list(self.spec)

    # ------------------------------------------------------------------ in a run
    def resolve(self, steps: int) -> tuple:
        """The (start, stop) step indices of this window in a run of ``steps`` steps; a window
        the run cannot hold is refused."""
        if self.last is not None:
            k = validation.check_int("window", self.last, 1, steps, note="the number of steps")
            return steps - k, steps
        start, stop = self.spec
        if stop > steps:
            raise ValueError(f"window (start, stop) must satisfy 0 <= start < stop <= {steps}, "
                             f"got {self.spec}")
        return start, stop

    def fit(self, steps: int) -> Optional["Window"]:
        """This window for a run of ``steps`` steps: last-K clamped to the run, a (start, stop)
        pair kept as is, or None when the run is too short to hold it (a config's window sweep
        is written once for runs of any length)."""
        if self.last is not None:
            return Window(min(self.last, steps))
        return self if self.spec[1] <= steps else None

    # ------------------------------------------------------------------ value semantics
    def __eq__(self, other) -> bool:
        return self.spec == (other.spec if isinstance(other, Window) else other)

    def __hash__(self) -> int:
        return hash(self.spec)

    def __repr__(self) -> str:
        return repr(self.spec)

    __str__ = __repr__
