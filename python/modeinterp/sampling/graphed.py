"""The whole reverse loop of one batch (every denoiser call and fused step) captured once as a CUDA
graph and replayed for every batch of the same size: one launch per batch instead of thousands,
which is what small, launch-bound workloads (the toy denoisers, T = 1000) spend their time on.

What changes between batches lives in device memory that the graph reads: the initial noise x_T
(copied into a static buffer) and the noise counter ``[seed, offset]`` that the fused kernel reads
itself (``ops.fused_step(counter=...)``). So replays draw exactly the eager sampler's Philox stream.
"""

from __future__ import annotations

from typing import Callable

import torch

from .. import ops
from .window import WindowScores

__all__ = ["GraphedLoop", "model_signature"]


def model_signature(model, model_kwargs: dict) -> tuple:
    """What a captured graph holds by address: the model's tensors and the extra model arguments.
    A graph is reused only while this is unchanged (``model.to(...)`` or new kwargs: capture anew)."""
    tensors = []
    if isinstance(model, torch.nn.Module):
        tensors = [t.data_ptr() for t in (*model.parameters(), *model.buffers())]
    return tuple(tensors), tuple((k, id(v)) for k, v in sorted(model_kwargs.items()))


class GraphedLoop:
    """The reverse loop ``steps(x_T, windows, seed=, offset=, counter=) -> x_0`` over a batch of
    ``size`` samples of ``shape``, captured on the current CUDA device.

    :meth:`replay` returns static tensors (the final samples, each window's scores, the early
    scores) that the next replay overwrites: copy them out first. ``states`` holds each window's
    Welford (m2, count) after a replay, as static as the rest.
    """

    def __init__(self, steps: Callable, make_windows: Callable[[], WindowScores], size: int,
                 shape: tuple, dtype: torch.dtype, device: torch.device,
                 warm_up: Callable[[torch.Tensor], None]):
        self.x_T = torch.zeros((size, *shape), dtype=dtype, device=device)
        self.counter = torch.zeros(2, dtype=torch.int64, device=device)
        # Library handles (cuBLAS, cuDNN) are created on first use, which capture forbids: run one
        # denoiser call on a side stream first, as the CUDA graphs documentation advises.
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            warm_up(self.x_T)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            windows = make_windows()
            self.x = steps(self.x_T, windows, seed=0, offset=0, counter=self.counter)
            self.scores = [w.scores for w in windows.windows]
            self.states = [(w.m2, w.count) for w in windows.windows]  # for score maps
            self.early_scores = dict(windows.main.early_scores)

    def replay(self, x_T: torch.Tensor, seed: int, offset: int):
        """Run the captured loop from ``x_T`` with the noise stream of (seed, offset)."""
        self.x_T.copy_(x_T)
        self.counter.copy_(torch.tensor(ops.counter_words(seed, offset), dtype=torch.int64))
        self.graph.replay()
        return self.x, self.scores, self.early_scores
