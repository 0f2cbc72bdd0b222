"""Wheel variants: one modeinterp wheel per torch major.minor x (CPU | CUDA x.y), named by a local
version label the way PyTorch names its own builds (``0.1.0+pt213cpu``, ``0.1.0+pt214cu130``).

Used at build time (tools/build/torch_variant.py loads this file by path to name the wheel) and at
run time (``modeinterp info`` says which variant the running torch needs). Imports nothing heavy.
"""

from __future__ import annotations

BASE_VERSION = "0.1.0"  # the project's version; a wheel's adds its variant: 0.1.0+pt213cpu


def torch_major_minor(version: str) -> tuple[int, int]:
    """(2, 13) for '2.13.0+cpu'."""
    major, minor = (int(p) for p in version.split("+")[0].split(".")[:2])
    return major, minor


def variant_label(torch_version: str, cuda_version: str | None,
                  hip_version: str | None = None) -> str:
    """``pt213cpu``, ``pt214cu130`` or ``pt29rocm64`` for that build of torch."""
    major, minor = torch_major_minor(torch_version)
    if cuda_version:
        flavour = "cu" + "".join(cuda_version.split(".")[:2])
    elif hip_version:
        flavour = "rocm" + "".join(hip_version.split(".")[:2])
    else:
        flavour = "cpu"
    return f"pt{major}{minor}{flavour}"


def running_variant() -> str:
    """The variant the torch of this process needs."""
    import torch

    return variant_label(torch.__version__, torch.version.cuda,
                         getattr(torch.version, "hip", None))


def install_command(base_version: str, variant: str) -> str:
    """How to install one variant from a wheel index laid out by scripts/build_wheels.sh."""
    return (f"pip install 'modeinterp=={base_version}+{variant}' "
            f"--extra-index-url <index>/{variant}   (<index>: the wheel index you install "
            "modeinterp from, e.g. file://…/dist/simple written by scripts/build_wheels.sh; or "
            "build from source: pip install --no-build-isolation .)")
