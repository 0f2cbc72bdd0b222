"""Wheel variants and the package index: the local version label, the torch pin, the PEP 503
pages scripts/build_wheels.sh writes, and the audit of a repaired wheel (tools/build/)."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest
import torch

from modeinterp._variant import BASE_VERSION, running_variant, variant_label

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "build"))
import audit_wheel  # noqa: E402
import make_index  # noqa: E402
import torch_variant  # noqa: E402


@pytest.mark.parametrize("torch_version,cuda,hip,label", [
    ("2.13.0+cpu", None, None, "pt213cpu"),
    ("2.14.1+cu130", "13.0", None, "pt214cu130"),
    ("2.11.0", "12.8", None, "pt211cu128"),
    ("2.9.1+rocm6.4", None, "6.4.43483", "pt29rocm64"),
])
def test_variant_label(torch_version, cuda, hip, label):
    assert variant_label(torch_version, cuda, hip) == label


def test_provider_names_and_pins_the_running_torch():
    major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    assert torch_variant.dynamic_metadata("version", {}) == f"{BASE_VERSION}+{running_variant()}"
    assert torch_variant.dynamic_metadata("version", {"label": False}) == BASE_VERSION  # the sdist
    deps = torch_variant.dynamic_metadata("dependencies", {"requires": ["numpy>=1.24"]})
    assert deps == [f"torch>={major}.{minor},<{major}.{minor + 1}", "numpy>=1.24"]
    with pytest.raises(RuntimeError, match="not 'readme'"):
        torch_variant.dynamic_metadata("readme", {})


def test_installed_build_carries_its_variant():
    import modeinterp

    info = modeinterp.build_info()
    assert info["version"] == f"{BASE_VERSION}+{info['variant']}"
    assert info["variant"] == running_variant()


def _fake_wheel(folder: Path, variant: str, payload: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"modeinterp-0.1.0+{variant}-cp310-abi3-manylinux_2_34_x86_64.whl"
    path.write_bytes(payload)
    return path


def _links(page: Path) -> list[str]:
    return re.findall(r'href="([^"]+)"', page.read_text())


def test_index_has_every_variant_and_one_per_variant(tmp_path):
    cpu = _fake_wheel(tmp_path / "wheels", "pt213cpu", b"cpu wheel")
    cuda = _fake_wheel(tmp_path / "wheels", "pt214cu130", b"cuda wheel")
    assert make_index.make_index(tmp_path) == {"pt213cpu": [cpu.name], "pt214cu130": [cuda.name]}
    simple = tmp_path / "simple"
    assert _links(simple / "index.html") == ["modeinterp/"]
    assert len(_links(simple / "modeinterp" / "index.html")) == 2
    (link,) = _links(simple / "pt213cpu" / "modeinterp" / "index.html")
    target, digest = link.split("#sha256=")
    assert (simple / "pt213cpu" / "modeinterp" / target).resolve() == cpu.resolve()
    assert digest == hashlib.sha256(b"cpu wheel").hexdigest()
    assert _links(simple / "pt214cu130" / "index.html") == ["modeinterp/"]


def test_index_refuses_a_wheel_without_variant(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "modeinterp-0.1.0-cp310-abi3-linux_x86_64.whl").write_bytes(b"")
    with pytest.raises(ValueError, match="no variant label"):
        make_index.make_index(tmp_path)


SHOW = {"sym_tag": "manylinux_2_34_x86_64", "overall_tag": "linux_x86_64",
        "external_libs": {"libc10.so": None, "libtorch_cpu.so": None, "libgomp.so.1": None,
                          "libcudart.so.13": None}}
WHEEL = Path("modeinterp-0.1.0+pt213cpu-cp310-abi3-manylinux_2_34_x86_64.whl")


def test_audit_accepts_manylinux_with_torch_libraries_only():
    line = audit_wheel.audit(WHEEL, SHOW)
    assert "manylinux_2_34_x86_64" in line and "libtorch_cpu.so" in line


@pytest.mark.parametrize("change,message", [
    ({"sym_tag": "linux_x86_64"}, "no manylinux policy"),
    ({"sym_tag": "manylinux_2_28_x86_64"}, "file tag"),
    ({"external_libs": {"libc10.so": None, "libfoo.so.2": "/usr/lib/libfoo.so.2"}}, "libfoo.so.2"),
])
def test_audit_rejects(change, message):
    with pytest.raises(ValueError, match=message):
        audit_wheel.audit(WHEEL, {**SHOW, **change})


def test_exclude_args_cover_torch_and_the_cuda_runtime(capsys):
    audit_wheel.main(["--exclude-args"])
    args = capsys.readouterr().out.split()
    assert args[0] == "--exclude" and args.count("--exclude") == len(audit_wheel.TORCH_PROVIDED)
    for soname in ("libtorch_cuda.so", "libc10.so", "libcudart.so.13", "libgomp.so.1"):
        assert audit_wheel.torch_provided(soname)
    assert not audit_wheel.torch_provided("libstdc++.so.6")
