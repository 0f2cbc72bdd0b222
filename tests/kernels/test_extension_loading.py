"""The compiled extension loads on the first op call, not at import; the pure-Python parts work
without it; a load failure names the variant to install; ``modeinterp info`` and its verdicts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import modeinterp
from modeinterp.cli import main
from modeinterp.diagnose import diagnose, format_report, verdict

# Slow (fresh interpreters): outside the `-m "not slow"` inner loop, in CI.
pytestmark = pytest.mark.slow


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_does_not_load_the_extension_and_the_first_op_does():
    out = _run("import sys, torch, modeinterp\n"
               "from modeinterp import ops, schedules, reference, detect, data, analysis\n"
               "print('modeinterp._C' in sys.modules)\n"
               "ops.trajectory_score(torch.ones(2, 3), 2)\n"
               "print('modeinterp._C' in sys.modules)\n")
    assert out.split() == ["False", "True"]


def test_pure_python_parts_work_without_the_compiled_module():
    """``_C`` made unimportable: schedules, reference, data and detection still work; the first op
    call raises an ImportError that says which variant this torch needs."""
    out = _run(
        "import sys, torch\n"
        "sys.modules['modeinterp._C'] = None  # importing it now raises ImportError\n"
        "import modeinterp\n"
        "from modeinterp import Schedule, reference, ops\n"
        "from modeinterp.data import GaussianGrid\n"
        "from modeinterp.detect import auroc\n"
        "table = Schedule.linear(1000, 1e-3, 0.2).table(steps=10)\n"
        "x = GaussianGrid().sample(64, seed=0)\n"
        "x_prev = reference.fused_step(x, torch.zeros_like(x), table.coef(0), seed=1, step=9)\n"
        "print(x_prev.shape[0], round(auroc(torch.tensor([0., 1.]), torch.tensor([0, 1])), 3))\n"
        "try:\n"
        "    ops.fused_step(x, x, table.coef(0))\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n")
    first, error = out.strip().split("\n", 1)
    assert first == "64 1.0"
    assert error.startswith("ImportError:") and modeinterp.build_info()["variant"] in error
    assert "pip install 'modeinterp==" in error


def test_first_op_call_inside_torch_compile_loads_the_extension():
    out = _run("import sys, torch\nfrom modeinterp import ops\n"
               "f = torch.compile(lambda m2: ops.trajectory_score(m2, 2) * 2, fullgraph=True)\n"
               "print(f(torch.ones(2, 3)).tolist(), 'modeinterp._C' in sys.modules)\n")
    assert out.split("]")[1].strip() == "True" and out.startswith("[1.0, 1.0")


def test_info_command(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert modeinterp.build_info()["version"] in text and text.strip().splitlines()[-1].startswith("OK")
    assert "fused_step" in text and "capability" in text
    assert main(["info", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["load_error"] is None and all(k["cpu"] for k in facts["kernels"].values())


def _facts(**change):
    facts = diagnose()
    facts.update(change)
    return facts


def test_verdict_names_the_variant_to_install():
    build = {**modeinterp.build_info(), "variant": "pt211cu128", "torch_version": "2.11.0+cu128"}
    broken = _facts(build=build, load_error="modeinterp was built against torch 2.11.0+cu128 ...",
                    needed_variant="pt213cpu")
    ok, line = verdict(broken)
    assert not ok and line.startswith("BROKEN") and "modeinterp==0.1.0+pt213cpu" in line
    assert "BROKEN" in format_report(broken)


def test_verdict_cpu_build_with_a_gpu_visible_points_at_the_cuda_variant():
    facts = _facts(gpu_available=True, gpu="NVIDIA H200", needed_variant="pt214cu130",
                   kernels={op: {"cpu": True, "cuda": False} for op in ("fused_step",)})
    ok, line = verdict(facts)
    assert ok and line.startswith("CPU ONLY") and "pt214cu130" in line


@pytest.mark.parametrize("check,usable", [("ok on NVIDIA H200 (max |CUDA - CPU| = 0.0e+00)", True),
                                          ("FAILED: RuntimeError: no kernel image", False)])
def test_verdict_on_a_gpu_reports_the_cuda_run(check, usable):
    facts = _facts(gpu_available=True, gpu="NVIDIA H200", cuda_check=check,
                   kernels={"fused_step": {"cpu": True, "cuda": True}})
    ok, line = verdict(facts)
    assert ok is usable and (line.startswith("OK") if usable else "no kernel image" in line)


def test_verdict_when_never_built():
    ok, line = verdict(_facts(build=None, load_error="modeinterp's compiled extension is not built"))
    assert not ok and line.startswith("NOT BUILT")


def test_python_dash_m_modeinterp_is_the_command():
    done = subprocess.run([sys.executable, "-m", "modeinterp", "info", "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["build"]["version"] == modeinterp.build_info()["version"]
