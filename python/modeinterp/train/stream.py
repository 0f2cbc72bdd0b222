"""The order the training samples are visited in: the concatenation of independent random
permutations of the N samples ("epoch permutation", without replacement within an epoch); step k
takes rows ``k·B … k·B+B-1`` of that stream, so a batch may straddle two epochs and ``B > N`` is
allowed. (The paper's code walks the data in its fixed order; a fresh permutation per epoch is
the usual choice.) The state is small and exact, so a resumed run draws the same batches."""

from __future__ import annotations

import torch

__all__ = ["BatchStream"]


class BatchStream:
    """Indices of the next batches of N samples, from a CPU ``generator``."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        self.n, self.batch_size, self.generator = int(n), int(batch_size), generator
        self._perm: torch.Tensor | None = None
        self._perm_state: torch.Tensor | None = None  # generator state before drawing _perm
        self._pos = 0

    def next_indices(self) -> torch.Tensor:
        need, chunks = self.batch_size, []
        while need:
            if self._perm is None or self._pos == self.n:
                self._perm_state = self.generator.get_state()
                self._perm = torch.randperm(self.n, generator=self.generator)
                self._pos = 0
            take = min(need, self.n - self._pos)
            chunks.append(self._perm[self._pos:self._pos + take])
            self._pos += take
            need -= take
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def state(self) -> dict:
        """The checkpoint's ``rng`` entries for the data order."""
        return {"data": self.generator.get_state(), "data_epoch": self._perm_state,
                "data_pos": self._pos}

    def load_state(self, rng: dict) -> None:
        self._perm, self._perm_state, self._pos = None, rng["data_epoch"], int(rng["data_pos"])
        if self._perm_state is not None:  # regenerate the current epoch's permutation
            self.generator.set_state(self._perm_state)
            self._perm = torch.randperm(self.n, generator=self.generator)
        self.generator.set_state(rng["data"])
