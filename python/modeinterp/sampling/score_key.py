"""The key of one per-sample score, :class:`ScoreKey` ``(window, name)``, and the one place it
becomes text and back.

``window`` is a :class:`~modeinterp.sampling.window_spec.Window` for a per-window score (its
``"mean"``, the paper's score, or an aggregation: ``"pool4"``, ``"q99"``, …) and None for a
per-run one: the main window's early scores (``"early/k"``), the detector's score
(``"detector"``), or any score a run adds (``Sampler(run_scores=)``).

As text (file names, samples.pt, JSON, detector feature names) a key is ``"10/pool4"``,
``"40-60/mean"`` or, per run, its name alone: ``"early/3"``, ``"detector"``. :attr:`ScoreKey.key`
writes it and :meth:`ScoreKey.parse` reads it; nothing else in the package joins or splits keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .window_spec import Window

__all__ = ["DETECTOR", "ScoreKey", "early_key"]

_EARLY = "early/"
# A per-run name becomes a file name (shards/…run-<name>.npy): a plain word, or early/<k>.
_RUN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*|early/[1-9][0-9]*")


@dataclass(frozen=True, eq=False, repr=False)
class ScoreKey:
    """``(window, name)``, frozen. Compares and hashes as the tuple ``(window, name)``, so
    ``scores[(10, "mean")]`` finds ``ScoreKey(Window(10), "mean")``; unpacks as ``w, name``."""

    window: Optional[Window]
    name: str

    def __post_init__(self):
        if self.window is not None:
            object.__setattr__(self, "window", Window.parse(self.window))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a score name must be a non-empty string, got {self.name!r}")
        if self.window is not None and "/" in self.name:
            raise ValueError(f"a per-window score name has no '/', got {self.name!r}")
        if self.window is None and not _RUN_NAME.fullmatch(self.name):
            raise ValueError(f"a per-run score name must be a word of letters, digits, '_', "
                             f"'.' or '-' starting with a letter, got {self.name!r}")

    # ------------------------------------------------------------------ in
    @classmethod
    def of(cls, value) -> "ScoreKey":
        """``value`` as a key: a ScoreKey, a ``(window, name)`` pair or its text (:meth:`parse`)."""
        if isinstance(value, ScoreKey):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, tuple) and len(value) == 2:
            return cls(*value)
        raise TypeError(f"a score key is (window, name) or its text, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> "ScoreKey":
        """The inverse of :attr:`key`: ``"10/pool4"`` → (10, "pool4"), ``"early/3"`` →
        (None, "early/3"), ``"detector"`` → (None, "detector")."""
        head, sep, rest = str(text).partition("/")
        if sep and head != _EARLY[:-1]:
            return cls(Window.parse(head, "the window of score key " + repr(text)), rest)
        return cls(None, str(text))

    # ------------------------------------------------------------------ out
    @property
    def key(self) -> str:
        """The key as text: ``"10/pool4"``, ``"40-60/mean"``, ``"early/3"``."""
        return self.name if self.window is None else f"{self.window.key}/{self.name}"

    @property
    def file_stem(self) -> str:
        """The key in a file name (shards): ``"10.pool4"``, ``"early-3"``, ``"detector"``."""
        return self.name.replace("/", "-") if self.window is None else \
            f"{self.window.key}.{self.name}"

    @property
    def early(self) -> Optional[int]:
        """k for the main window's score after its first k steps, else None."""
        if self.window is None and self.name.startswith(_EARLY):
            return int(self.name[len(_EARLY):])
        return None

    # ------------------------------------------------------------------ value semantics
    def __iter__(self):
        return iter((self.window, self.name))

    def __eq__(self, other) -> bool:
        if isinstance(other, ScoreKey):
            return (self.window, self.name) == (other.window, other.name)
        return isinstance(other, tuple) and (self.window, self.name) == other

    def __hash__(self) -> int:
        return hash((self.window, self.name))

    def __repr__(self) -> str:
        return repr((self.window, self.name))


def early_key(k: int) -> ScoreKey:
    """The key of the main window's score after its first k steps."""
    return ScoreKey(None, f"{_EARLY}{int(k)}")


DETECTOR = ScoreKey(None, "detector")
