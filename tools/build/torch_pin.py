"""scikit-build-core metadata provider: pin torch to the major.minor this wheel is built against.

A compiled torch extension only loads under the torch ABI it was compiled with, so the wheel's
``Requires-Dist`` says ``torch>=X.Y,<X.(Y+1)`` for the torch found at build time (no build
isolation: the environment's torch). Extra requirements come from the ``requires`` setting.
"""

from __future__ import annotations


def dynamic_metadata(field, settings, project=None):
    if field != "dependencies":
        raise RuntimeError(f"torch_pin only provides 'dependencies', not {field!r}")
    import torch

    major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    pin = f"torch>={major}.{minor},<{major}.{minor + 1}"
    return [pin, *settings.get("requires", [])]
