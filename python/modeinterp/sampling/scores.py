"""Every per-sample score of one run as one mapping, :class:`Scores`, held alike by a fresh
:class:`~modeinterp.sampling.SampleResult` and a stored :class:`~modeinterp.sampling.SampleSet`.

Keys are ``(window, name)``: ``window`` a :class:`~modeinterp.sampling.window_spec.Window` (it
compares equal to 10 or (40, 60)), ``name`` an aggregation (``"mean"``, the paper's score, is
there for every window; ``"pool4"``, ``"q99"``, … where the sampler has them) or ``"early/k"``
(the main window's score after its first k steps). The detector's score, when a detector ran,
has the key ``(None, "detector")``. ``windows[0]`` is the main window.

Adding a score output: give it a key here (a new name beside the aggregations, or a new
``(None, name)``), fill it where the run computes it, and :func:`score_key` names it on disk
and as a detector feature.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Optional

import torch

from .window_spec import Window

__all__ = ["DETECTOR", "Scores", "early_name"]

DETECTOR = (None, "detector")


def early_name(k: int) -> str:
    """The name of the main window's score after its first k steps."""
    return f"early/{int(k)}"


class Scores(Mapping):
    """``{(window, name): (n,) tensor}`` in insertion order (main window first, then every
    window's aggregations, then early scores, then the detector's), always filled with
    ``(window, "mean")`` for every window."""

    def __init__(self, windows: Iterable, values: Mapping):
        self.windows = [Window.parse(w) for w in windows]
        if not self.windows:
            raise ValueError("scores need at least one window")
        self._values = {(k if k == DETECTOR else (Window.parse(k[0]), str(k[1]))): v
                        for k, v in values.items()}
        missing = [w for w in self.windows if (w, "mean") not in self._values]
        if missing:
            raise ValueError(f"scores must hold the mean of every window; missing {missing}")

    # ------------------------------------------------------------------ mapping
    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self) -> Iterator:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Scores({list(self._values)})"

    # ------------------------------------------------------------------ views
    @property
    def main(self) -> torch.Tensor:
        """(n,) the paper's score: the mean over the main window."""
        return self._values[(self.windows[0], "mean")]

    def by_window(self, name: str = "mean") -> dict:
        """``{window: (n,)}`` of one aggregation over every window that has it."""
        return {w: self._values[(w, name)] for w in self.windows if (w, name) in self._values}

    @property
    def pairs(self) -> dict:
        """``{(window, aggregation): (n,)}``: every aggregated score, means included."""
        return {k: v for k, v in self._values.items()
                if k != DETECTOR and not k[1].startswith("early/")}

    @property
    def aggregations(self) -> list:
        """The aggregation names scored, in order ("mean" first)."""
        return list(dict.fromkeys(a for _, a in self.pairs))

    @property
    def early(self) -> dict:
        """``{k: (n,)}``: the main window's score after its first k steps."""
        main = self.windows[0]
        return {int(a.split("/", 1)[1]): v for (w, a), v in self._values.items()
                if (w, a) != DETECTOR and w == main and a.startswith("early/")}

    @property
    def detector(self) -> Optional[torch.Tensor]:
        return self._values.get(DETECTOR)

    # ------------------------------------------------------------------ new from old
    def with_values(self, values: Mapping) -> "Scores":
        """These scores with ``values`` added (or replaced)."""
        return Scores(self.windows, {**self._values, **values})

    def map(self, fn) -> "Scores":
        """Every tensor through ``fn`` (a selection, a move to the CPU, a cast)."""
        return Scores(self.windows, {k: fn(v) for k, v in self._values.items()})

    @classmethod
    def cat(cls, parts: list) -> "Scores":
        """The scores of runs drawn apart, one after the other (the keys of the first)."""
        first = parts[0]
        return cls(first.windows, {k: torch.cat([p[k] for p in parts]) for k in first})
