"""How a denoiser's forward pass runs: its precision and whether it is compiled. The sampler and
the trainer call the model through a :class:`Forward`; everything around the model (the fused
step, x̂0, the Welford accumulators, the loss) stays float32 whatever is chosen here.

* ``precision="fp32"`` (default): the model as it is, called as it always was — bit for bit the
  samples of a sampler without this option.
* ``precision="bf16"``: the forward under bf16 autocast (``cache_enabled=False``, so that a
  CUDA graph may capture it); 4-D image inputs are passed channels_last, the layout oneDNN and
  cuDNN run bf16 convolutions in. Its output differs from float32 by about 1e-2 relative.
* ``compile=True``: ``torch.compile(model, fullgraph=True, dynamic=False)``, made once per
  :class:`Forward` and compiled once per input shape (torch's own cache: a run whose last batch is
  shorter compiles twice). ``fullgraph`` makes a model torch.compile cannot take whole (one that
  reads tensors on the host, say) an error at its first call (a UsageError naming the option, a
  one-line error on the command line) instead of a silent partial compile.
  4-D inputs are passed channels_last here too (measured faster on CPU: docs/benchmarks.md).

What is fastest depends on the processor: on a 2-core AVX-512 CPU without AMX, bf16 gives nothing
and compile 1.4–1.6× the best float32 eager batch (docs/benchmarks.md, "Image sampling and
training per forward mode").
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

from ..errors import UsageError
from ..validation import check_bool, check_choice

__all__ = ["PRECISIONS", "Forward"]

PRECISIONS = ("fp32", "bf16")
RECOMPILE_LIMIT = 256  # compiles of one model class (shapes × instances) before dynamo refuses


class Forward:
    """``model(x_t, t, **kwargs)`` run at ``precision`` (``"fp32"`` or ``"bf16"``), compiled or
    not; returns the prediction contiguous, in x_t's dtype."""

    def __init__(self, model: Callable, precision: str = "fp32", compile: bool = False):
        if not callable(model):
            raise TypeError(f"model must be callable as model(x_t, t), got {type(model).__name__}")
        self.model = model
        self.precision = check_choice("precision", precision, PRECISIONS)
        self.compile = check_bool("compile", compile)
        self.plain = self.precision == "fp32" and not self.compile
        self._compiled = None

    def __call__(self, x: torch.Tensor, t: torch.Tensor, **kwargs) -> torch.Tensor:
        if self.plain:
            return self.model(x, t, **kwargs)
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16,
                            enabled=self.precision == "bf16", cache_enabled=False):
            out = self._callable()(x, t, **kwargs)
        return out.to(x.dtype).contiguous()

    def _callable(self) -> Callable:
        if not self.compile:
            return self.model
        if self._compiled is None:
            self._compiled = _compiled(self.model)
        return self._compiled


def _compiled(model: Callable) -> Callable:
    """torch.compile of ``model``, with a failure to compile said as such (the error names the
    option to turn off) rather than as one of dynamo's internal exceptions."""
    compiled = torch.compile(model, fullgraph=True, dynamic=False)
    # Dynamo counts compiles per code object, across every model of one class in the process
    # (8 by default): a recursive run's new model per generation, or a benchmark's per batch
    # size, would hit it. Raised for our calls only.
    import torch._dynamo.config as dynamo_config

    limit = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"

    def call(x, t, **kwargs):
        try:
            with warnings.catch_warnings(), dynamo_config.patch(**{limit: RECOMPILE_LIMIT}):
                # diffusers' is_torch_version is lru_cached; dynamo traces through it, harmlessly
                # here (a pure function of the installed version), and would say so per shape.
                warnings.filterwarnings("ignore", message=".*functools.lru_cache",
                                        category=UserWarning)
                return compiled(x, t, **kwargs)
        except Exception as exc:
            if not _is_compile_error(exc):
                raise
            raise UsageError(
                f"compile=True: torch.compile cannot compile {type(model).__name__} as one graph "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "sample it with compile=False") from exc
    return call


def _is_compile_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from torch.compile itself (dynamo or a backend), not from the model."""
    import torch._dynamo.exc as dynamo_exc

    return isinstance(exc, (dynamo_exc.Unsupported, dynamo_exc.BackendCompilerFailed,
                            dynamo_exc.TorchRuntimeError, dynamo_exc.UserError))
