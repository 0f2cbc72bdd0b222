"""Data-parallel training under torchrun: each process takes its rows of every global batch and
DistributedDataParallel averages the gradients — PyTorch's engine, nothing home-made.

Every process draws the *whole* global batch's randomness (data indices, timesteps, noise) from
the same generators, then keeps its rows. So the training state — weights, optimizer, generators
— is the same on every process and does not depend on the number of processes: a checkpoint
written by rank 0 resumes under any world size, and a step of P processes is the one-process
step on the same global batch up to float rounding (the loss is scaled so that the averaged
gradient is the gradient of the global batch's mean loss, uneven splits included).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["DataParallelGroup"]


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


class DataParallelGroup:
    """The processes training one model: ``module`` to call (DDP-wrapped when there are several),
    ``rows(n)`` this process's rows of an n-row global batch, ``loss`` and ``global_loss``."""

    def __init__(self, model: torch.nn.Module):
        dist = _dist()
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if dist else (0, 1)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.module = DistributedDataParallel(model)
        else:
            self.module = model

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, n: int) -> slice:
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)

    def loss(self, pred: torch.Tensor, target: torch.Tensor, n_global: int) -> torch.Tensor:
        """MSE whose DDP-averaged gradient is the gradient of the global batch's mean MSE."""
        if self.world == 1:
            return F.mse_loss(pred.float(), target)
        per_row = target[0].numel()
        total = (pred.float() - target).pow(2).sum()
        return total * (self.world / (n_global * per_row))

    def global_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """The global batch's mean loss from each process's scaled share (one all-reduce)."""
        if self.world == 1:
            return loss
        total = loss.detach().clone()
        _dist().all_reduce(total)
        return total / self.world

    def barrier(self) -> None:
        if self.world > 1:
            _dist().barrier()
