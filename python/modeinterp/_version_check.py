"""Refuse to load the compiled extension under a torch it was not built against.

A torch extension links against torch's C++ ABI, which changes between minor releases; loading it
under another torch fails with an undefined-symbol trace (or worse, loads and misbehaves). We
compare major.minor before importing ``_C`` and say what to do instead.
"""

from __future__ import annotations


def _major_minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def check_torch_version(running: str) -> None:
    try:
        from . import _build_config
    except ImportError as exc:  # a source checkout that was never built
        raise ImportError(
            "modeinterp's compiled extension is not built. Install with "
            "`pip install --no-build-isolation .` (or run scripts/setup.sh)."
        ) from exc
    built = _build_config.TORCH_VERSION
    if _major_minor(built) != _major_minor(running):
        raise ImportError(
            f"modeinterp was built against torch {built} but torch {running} is installed; "
            f"the extension only loads under torch {_major_minor(built)}.x. Rebuild it with "
            "`pip install --no-build-isolation --force-reinstall --no-deps .` under this torch, "
            f"or install torch {_major_minor(built)}.*."
        )
