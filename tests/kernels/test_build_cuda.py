"""A CUDA build of modeinterp, checked where it was built or installed — no GPU needed: every op
has its CUDA kernel registered with torch's dispatcher, and the fat binary holds the requested
code (SASS for sm_80 and sm_90, PTX for newer cards). CI runs this against the CUDA wheel."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import modeinterp
from modeinterp import ops
from modeinterp.diagnose import OPS

pytestmark = pytest.mark.skipif(not modeinterp.build_info()["cuda"],
                                reason="this modeinterp is a CPU build")


def test_every_op_has_a_cuda_kernel():
    ops.load()
    for op in OPS:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"modeinterp::{op}", "CUDA"), op


def test_build_info_reports_the_code_nvcc_was_given():
    info = modeinterp.build_info()
    assert info["cuda_version"].split(".")[0] == torch.version.cuda.split(".")[0]
    assert info["cuda_archs"], info
    if not os.environ.get("MODEINTERP_CUDA_ARCHS") and not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        assert info["cuda_archs"] == ["sm_80", "sm_90", "compute_90"]  # the default 8.0;9.0+PTX


@pytest.mark.skipif(shutil.which("cuobjdump") is None, reason="no cuobjdump on PATH")
def test_fat_binary_holds_the_reported_code():
    ops.load()  # an editable install keeps _C beside the build, not in the package folder
    so = Path(importlib.import_module("modeinterp._C").__file__)
    listing = subprocess.run(["cuobjdump", "--list-elf", "--list-ptx", str(so)],
                             capture_output=True, text=True, check=True).stdout
    for code in modeinterp.build_info()["cuda_archs"]:
        kind, arch = code.split("_")
        suffix = f".sm_{arch}.cubin" if kind == "sm" else f".sm_{arch}.ptx"
        assert suffix in listing, (code, listing)
