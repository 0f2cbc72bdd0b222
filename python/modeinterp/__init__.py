"""modeinterp: hallucination scores for diffusion models, computed while sampling.

Importing the package does not load the compiled extension: schedules, the plain-torch reference,
data, detection and analysis work without it. The first op call (``modeinterp.ops``, or a
``Sampler``) loads ``modeinterp._C``, which registers ``torch.ops.modeinterp``, after checking that
it was built against this torch's major.minor (``modeinterp._extension``).
"""

from __future__ import annotations

from . import ops, reference, schedules
from ._extension import build_info
from .schedules import Schedule, StepCoef, StepTable


# Subpackages load on first attribute access (``modeinterp.detect.calibrate_window`` works after
# ``import modeinterp``) so that importing the package stays cheap: no tqdm, matplotlib, sklearn.
_SUBPACKAGES = ("analysis", "data", "detect", "diffusers", "experiments", "models", "pipeline",
                "recursive", "sampling", "train")
_LAZY = {"Sampler": "sampling", "SampleResult": "sampling", "load_samples": "sampling.store"}


def __getattr__(name: str):
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name == "__version__":
        try:
            return build_info()["version"]
        except ImportError:
            return "0+unbuilt"
    raise AttributeError(f"module 'modeinterp' has no attribute {name!r}")


__all__ = ["Sampler", "SampleResult", "Schedule", "StepCoef", "StepTable", "build_info",
           "load_samples", "ops", "reference", "schedules", *_SUBPACKAGES]
