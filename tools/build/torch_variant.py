"""scikit-build-core metadata provider: one wheel per torch variant, named and pinned.

A compiled torch extension only loads under the torch ABI it was compiled with (the same
major.minor, and the same CUDA runtime for a CUDA build), so, for the torch found at build time
(no build isolation: the environment's torch):

- ``version``: BASE_VERSION (python/modeinterp/_variant.py) plus a local label naming the
  variant, ``0.1.0+pt213cpu`` or ``0.1.0+pt214cu130``, so wheels of several variants can sit side
  by side in one package index; BASE_VERSION alone with ``label = false`` (the sdist);
- ``dependencies``: ``torch>=X.Y,<X.(Y+1)`` plus the ``requires`` setting.

The label names the torch the wheel runs under, not whether our CUDA kernels were compiled: a
CUDA torch always links its CUDA libraries, so a wheel built against it needs a CUDA torch.
Run as a script, it prints the label for the installed torch (CMakeLists.txt does that).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_VARIANT_PY = Path(__file__).resolve().parents[2] / "python" / "modeinterp" / "_variant.py"


def _variants():
    # By path, not `import modeinterp`: an installed modeinterp must not answer for this tree.
    spec = importlib.util.spec_from_file_location("_modeinterp_variant", _VARIANT_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dynamic_metadata(field, settings, project=None):
    import torch

    variants = _variants()
    if field == "version":
        if not settings.get("label", True):  # the sdist (pyproject overrides)
            return variants.BASE_VERSION
        return f"{variants.BASE_VERSION}+{variants.running_variant()}"
    if field == "dependencies":
        major, minor = variants.torch_major_minor(torch.__version__)
        return [f"torch>={major}.{minor},<{major}.{minor + 1}", *settings.get("requires", [])]
    raise RuntimeError(f"torch_variant provides 'version' and 'dependencies', not {field!r}")


if __name__ == "__main__":
    print(_variants().running_variant())
