"""Where a batch's noise lies in the Philox stream, as one value, :class:`NoiseKey`: the ``seed``
and the global flat index of the batch's first element (``offset``), or a ``counter`` tensor
holding both in device memory (what a CUDA graph reads, refilled before each replay). The
reverse loop, the Sampler's call and the graph replay pass it whole, as k-diffusion's samplers
keep their noise behind one argument."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import torch

from .. import ops

__all__ = ["NoiseKey"]


@dataclass(frozen=True)
class NoiseKey:
    """``(seed, offset)``, or ``counter`` (int64 ``[seed, offset]`` on the device) in their
    place. The noise of element i of reverse step t is Philox keyed by (seed, t, offset + i)."""

    seed: int = 0
    offset: int = 0
    counter: Optional[torch.Tensor] = None

    @classmethod
    def rows(cls, seed: int, first: int, shape) -> "NoiseKey":
        """The stream of ``seed`` from global sample ``first`` on, for samples of ``shape``."""
        return cls(int(seed), int(first) * math.prod(shape))

    def skip(self, elements: int) -> "NoiseKey":
        """The stream ``elements`` further on (a later batch of the same run)."""
        return replace(self, offset=self.offset + int(elements))

    def fused_args(self) -> dict:
        """The keyword arguments of ``ops.fused_step`` that place its noise."""
        return {"seed": self.seed, "offset": self.offset, "counter": self.counter}

    def fill(self, counter: torch.Tensor) -> None:
        """Write (seed, offset) into a device ``counter`` (before a graph replay)."""
        counter.copy_(torch.tensor(ops.counter_words(self.seed, self.offset), dtype=torch.int64))
