"""Refuse to load the compiled extension under a torch it was not built against.

A torch extension links against torch's C++ ABI, which changes between minor releases; loading it
under another torch fails with an undefined-symbol trace (or worse, loads and misbehaves). We
compare major.minor before importing ``_C`` and say what to do instead.
"""

from __future__ import annotations


def _major_minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def check_torch_version(running: str) -> None:
    from ._extension import build_config
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
