"""modeinterp: hallucination scores for diffusion models, computed while sampling.

Importing the package imports torch, checks that the compiled extension was built against the
same torch major.minor, then loads ``modeinterp._C``, which registers ``torch.ops.modeinterp``.
"""

from __future__ import annotations

import torch

from ._version_check import check_torch_version

check_torch_version(torch.__version__)

from . import _C  # noqa: E402  (must follow the version check)
from . import ops, reference, schedules  # noqa: E402
from .schedules import Schedule, StepCoef, StepTable  # noqa: E402


def build_info() -> dict:
    """How the extension was built: version, torch it was built against, CUDA on/off, arches."""
    return dict(_C.build_info())


def __getattr__(name: str):
    # The sampler pulls in tqdm and the model glue; load it on first use, not at import.
    if name in ("Sampler", "SampleResult"):
        from . import sampler

        return getattr(sampler, name)
    raise AttributeError(f"module 'modeinterp' has no attribute {name!r}")


__version__ = _C.build_info()["version"]
__all__ = ["Sampler", "SampleResult", "Schedule", "StepCoef", "StepTable", "build_info", "ops",
           "reference", "schedules"]
