"""The whole reverse loop of one batch (every denoiser call and fused step) captured once as a CUDA
graph and replayed for every batch of the same size: one launch per batch instead of thousands,
which is what small, launch-bound workloads (the toy denoisers, T = 1000) spend their time on.

What changes between batches lives in device memory that the graph reads: the initial noise x_T
(copied into a static buffer) and the noise counter ``[seed, offset]`` that the fused kernel reads
itself (``ops.fused_step(counter=...)``). So replays draw exactly the eager sampler's Philox stream.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Optional

import torch

from .noise_key import NoiseKey
from .window import WindowScores

__all__ = ["GraphCache", "GraphedLoop", "model_signature"]


def model_signature(model, model_kwargs: dict) -> tuple:
    """What a captured graph holds by address: the model's tensors and the extra model arguments.
    A graph is reused only while this is unchanged (``model.to(...)`` or new kwargs: capture anew)."""
    tensors = []
    if isinstance(model, torch.nn.Module):
        tensors = [t.data_ptr() for t in (*model.parameters(), *model.buffers())]
    return tuple(tensors), tuple((k, id(v)) for k, v in sorted(model_kwargs.items()))


@contextlib.contextmanager
def _rng_restored_on_failure(device: torch.device):
    """Put torch's default CUDA generator of ``device`` back as it was if the capture fails.

    A capture that raises midway never reaches the generator's capture epilogue, so torch keeps
    it marked as capturing and the caller's next ``torch.randn(device="cuda")`` raises "Offset
    increment outside graph capture encountered unexpectedly". The sampler falls back to eager
    sampling after a failed capture; the rest of the caller's program must keep working too."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    generator = torch.cuda.default_generators[index]
    before = generator.clone_state()
    try:
        yield
    except BaseException:
        generator.graphsafe_set_state(before)
        raise


class GraphedLoop:
    """The reverse loop ``run(x_T, windows, noise) -> x_0`` (:func:`.reverse_loop.reverse_loop`
    with a :class:`NoiseKey` whose counter lives in device memory) over a batch of ``size``
    samples of ``shape``, captured on the current CUDA device.

    :meth:`replay` returns static tensors (the final samples, each window's scores, the early
    scores) that the next replay overwrites: copy them out first. ``states`` holds each window's
    Welford (m2, count) after a replay, as static as the rest.
    """

    def __init__(self, run: Callable, make_windows: Callable[[], WindowScores], size: int,
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
        with _rng_restored_on_failure(device):
            with torch.cuda.graph(self.graph):
                windows = make_windows()
                self.x = run(self.x_T, windows, NoiseKey(counter=self.counter))
                self.scores = [w.scores for w in windows.windows]
                self.states = [(w.m2, w.count) for w in windows.windows]  # for score maps
                self.early_scores = dict(windows.main.early_scores)

    def replay(self, x_T: torch.Tensor, noise: NoiseKey):
        """Run the captured loop from ``x_T`` with the noise stream ``noise`` (seed, offset)."""
        self.x_T.copy_(x_T)
        noise.fill(self.counter)
        self.graph.replay()
        return self.x, self.scores, self.early_scores


class GraphCache:
    """The captured loops of one sampler, by key (batch size, shape, device, early scores), each
    with its own memory pool: at most ``limit`` (a run whose n is not a multiple of batch_size
    needs two), the oldest dropped first. All are dropped when the model's signature changes
    (new weights or arguments: their addresses are baked into the graphs). After one failed
    capture (a denoiser that synchronises with the host, say) it warns once and captures no more.
    """

    def __init__(self, limit: int = 4):
        self.limit = limit
        self._loops: dict = {}
        self._signature = None
        self.failed = False

    def __len__(self) -> int:
        return len(self._loops)

    def get(self, key: tuple, signature: tuple,
            capture: Callable[[], GraphedLoop]) -> Optional[GraphedLoop]:
        """The loop for ``key``, captured by ``capture()`` on first use; None once capture
        failed (sample eagerly)."""
        if self.failed:
            return None
        if signature != self._signature:
            self._loops, self._signature = {}, signature
        if key not in self._loops:
            if len(self._loops) >= self.limit:
                del self._loops[next(iter(self._loops))]
            try:
                self._loops[key] = capture()
            except Exception as exc:  # noqa: BLE001 — any capture failure falls back to eager
                self.failed = True
                first_line = str(exc).splitlines()[0] if str(exc) else ""
                warnings.warn(f"Sampler: CUDA graph capture failed ({type(exc).__name__}: "
                              f"{first_line}); sampling eagerly", RuntimeWarning, stacklevel=5)
                return None
        return self._loops[key]
