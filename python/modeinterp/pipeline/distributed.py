"""torch.distributed glue for commands run under ``torchrun`` (PyTorch's own launcher and
rendezvous; nothing home-made): which process this is, on which device, and a barrier.

A command started by plain ``python -m modeinterp`` (WORLD_SIZE unset or 1) runs as rank 0 of 1
and never touches torch.distributed.
"""

from __future__ import annotations

import os

__all__ = ["all_gather", "barrier", "finish", "init_from_env", "process_rank"]


def init_from_env(device: str = "cpu") -> tuple:
    """(rank, world_size, device) of this process. Under torchrun (WORLD_SIZE > 1) joins the
    process group — gloo on CPU, NCCL on CUDA with this process on ``cuda:LOCAL_RANK``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    import torch
    import torch.distributed as dist

    cuda = str(device).startswith("cuda")
    if cuda:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def process_rank() -> tuple:
    """(rank, world_size) of the process group this process has joined, (0, 1) outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    """Wait for every process (no-op outside torchrun)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_gather(obj) -> list:
    """Every process's ``obj`` (picklable; CPU tensors), in rank order ([obj] outside torchrun)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def finish() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
