"""Loading the compiled ops, once, on first use.

``import modeinterp`` and its pure-Python parts (schedules, reference, data, detect, analysis) do not
need the compiled extension. The first op call (modeinterp.ops) loads it: check that it was built
against this torch's major.minor, import ``modeinterp._C`` (which registers torch.ops.modeinterp)
and register the fake kernels. A failure names what was built, what is running, and which wheel
variant to install instead.
"""

from __future__ import annotations

import torch

_loaded = False

_BUILD_FIELDS = {"version": "VERSION", "variant": "VARIANT", "torch_version": "TORCH_VERSION",
                 "cuda": "WITH_CUDA", "cuda_version": "CUDA_VERSION", "cuda_archs": "CUDA_ARCHS",
                 "compiler": "COMPILER", "build_type": "BUILD_TYPE"}


def build_config():
    """The generated ``_build_config`` module, or an ImportError saying how to build."""
    try:
        from . import _build_config
    except ImportError as exc:  # a source checkout that was never built
        raise ImportError(
            "modeinterp's compiled extension is not built. Install a wheel (README, Install) or "
            "build from source with `pip install --no-build-isolation .` (or scripts/setup.sh)."
        ) from exc
    return _build_config


def build_info() -> dict:
    """How the extension was built: version and wheel variant, the torch it was built against,
    CUDA kernels on/off with the CUDA version and the code compiled (``sm_90``, ``compute_90``),
    compiler and build type. Reads the build's record; does not load the extension
    (``modeinterp.build_info``)."""
    cfg = build_config()
    info = {key: getattr(cfg, attr) for key, attr in _BUILD_FIELDS.items()}
    info["cuda_archs"] = list(info["cuda_archs"])
    return info


# A torch extension links against torch's C++ ABI, which changes between minor releases: loading it
# under another torch fails with an undefined-symbol trace (or loads and misbehaves), so major.minor
# is compared before importing _C, with what to do instead.
def _major_minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def check_torch_version(running: str) -> None:
    from ._variant import install_command, variant_label

    cfg = build_config()
    built = cfg.TORCH_VERSION
    if _major_minor(built) != _major_minor(running):
        import torch

        need = variant_label(running, torch.version.cuda, getattr(torch.version, "hip", None))
        raise ImportError(
            f"modeinterp was built against torch {built} but torch {running} is installed; "
            f"the extension only loads under torch {_major_minor(built)}.x. Install the {need} "
            f"variant: {install_command(cfg.VERSION.split('+')[0], need)}; or rebuild it with "
            "`pip install --no-build-isolation --force-reinstall --no-deps .` under this torch, "
            f"or install torch {_major_minor(built)}.*."
        )


def _load_failure(exc: ImportError) -> ImportError:
    from ._variant import install_command, running_variant

    cfg = build_config()
    base = cfg.VERSION.split("+")[0]
    need = running_variant()
    return ImportError(
        f"modeinterp {cfg.VERSION} (variant {cfg.VARIANT}, built against torch "
        f"{cfg.TORCH_VERSION}) cannot load its compiled ops under torch {torch.__version__} "
        f"(CUDA {torch.version.cuda}): {exc}. This torch needs the {need} variant: "
        f"{install_command(base, need)}")


def load() -> None:
    """Load the compiled ops (idempotent; cheap after the first call)."""
    global _loaded
    if _loaded:
        return
    check_torch_version(torch.__version__)
    try:
        from . import _C  # noqa: F401  (registers torch.ops.modeinterp)
    except ImportError as exc:
        raise _load_failure(exc) from exc
    from . import _fakes  # noqa: F401  (fake kernels need the schemas _C registers)

    _loaded = True
