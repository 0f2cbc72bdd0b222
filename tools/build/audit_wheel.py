"""What a repaired modeinterp wheel may link to, and the check that it links to nothing else.

A torch extension wheel must not carry copies of torch's libraries or of the CUDA runtime: the
user's torch has already loaded them when ``modeinterp._C`` is imported, and the dynamic loader
matches our NEEDED entries to them by soname. So ``auditwheel repair`` gets ``--exclude`` for each
pattern below (``--exclude-args`` prints them), and the repaired wheel is checked:

- its symbol versions fit a manylinux policy (``sym_tag``), and its file name carries that tag;
- every external library it needs is one of torch's (``auditwheel show`` still calls the overall
  tag ``linux_x86_64`` because of them: it has no notion of a library another wheel provides).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
from pathlib import Path

# Sonames the user's torch (CPU or CUDA wheel, with its nvidia-* dependencies) provides.
TORCH_PROVIDED = (
    "libtorch*.so*", "libc10*.so*", "libshm*.so*", "libgomp.so*", "libcuda.so*", "libcudart.so*",
    "libnvrtc*.so*", "libnvToolsExt*.so*", "libnvtx*.so*", "libcublas*.so*", "libcudnn*.so*",
    "libcufft*.so*", "libcurand*.so*", "libcusparse*.so*", "libcusolver*.so*", "libnccl*.so*",
    "libnvJitLink*.so*", "libcupti*.so*",
)


def torch_provided(soname: str) -> bool:
    return any(fnmatch.fnmatch(soname, pattern) for pattern in TORCH_PROVIDED)


def platform_tag(wheel: Path) -> str:
    """The platform tag of a wheel file name (the last dash-separated field)."""
    return wheel.name[: -len(".whl")].rsplit("-", 1)[1]


def audit(wheel: Path, show: dict | None = None) -> str:
    """Check a repaired wheel (``show``: ``auditwheel show --json`` output, run if not given);
    returns a one-line summary, raises ValueError naming what is wrong."""
    if show is None:
        done = subprocess.run(["auditwheel", "show", "--json", str(wheel)], capture_output=True,
                              text=True, check=True)
        show = json.loads(done.stdout)
    sym_tag = show["sym_tag"]
    if not sym_tag.startswith("manylinux"):
        raise ValueError(f"{wheel.name}: symbol versions fit no manylinux policy ({sym_tag})")
    if platform_tag(wheel) != sym_tag:
        raise ValueError(f"{wheel.name}: file tag {platform_tag(wheel)} != auditwheel's {sym_tag}")
    foreign = sorted(lib for lib in show["external_libs"] if not torch_provided(lib))
    if foreign:
        raise ValueError(f"{wheel.name} needs libraries neither the system policy nor torch "
                         f"provides: {', '.join(foreign)}")
    return (f"{wheel.name}: {sym_tag} (auditwheel sym_tag); external libraries, all from torch: "
            f"{', '.join(sorted(show['external_libs']))}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", nargs="?", type=Path)
    parser.add_argument("--exclude-args", action="store_true",
                        help="print auditwheel repair's --exclude arguments, one per line")
    args = parser.parse_args(argv)
    if args.exclude_args:
        for pattern in TORCH_PROVIDED:
            print(f"--exclude\n{pattern}")
        return 0
    if args.wheel is None:
        parser.error("give a wheel, or --exclude-args")
    try:
        print(audit(args.wheel))
    except ValueError as exc:
        print(f"audit_wheel: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
