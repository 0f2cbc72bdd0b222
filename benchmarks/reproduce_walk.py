"""How often a reproduction walks back and forth between the experiment layer's modules: run
``reproduce`` under ``sys.settrace`` (Python calls only, no per-line tracing) and count function
calls (property getters and generated dataclass methods are reads, not calls) by call site — file
and line, so loops do not inflate the numbers:

* entries: for each of ``experiments/plan.py``, ``experiments/recipe.py`` and
  ``pipeline/stages.py``, the distinct places outside the module that call into it;
* climbs: the distinct places where a module calls a function of a higher layer
  (tests/structure/test_layers.py's LAYERS: a callback, the denoiser included);
* descents: the distinct places in the ``reproduce`` function itself that call another module;
* plans: how many times a config was turned into a plan (``plan(cfg)`` calls) and from where.

    python benchmarks/reproduce_walk.py [--dataset gaussian2d] [--tiny]

``--tiny``: 20 training steps and 256 samples instead of the dataset's ``--quick`` config (some
stages then do not run: fewer than 10 samples of a class skip the detectors).

Prints one JSON line. Architecture review numbers, not a benchmark of speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

WATCHED = ("experiments/plan.py", "experiments/recipe.py", "pipeline/stages.py")
TOP = "experiments/reproduce.py"
LAYERS_FILE = Path(__file__).resolve().parents[1] / "tests" / "structure" / "test_layers.py"


def _ranks() -> dict:
    """{top-level module or subpackage: layer rank}, from the structure test that fixes them."""
    spec = importlib.util.spec_from_file_location("_layers", LAYERS_FILE)
    layers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layers)
    return layers.RANK


def _rank(module: str, ranks: dict):
    return ranks.get(Path(module).parts[0].removesuffix(".py"))


def _module(path: str, root: str):
    return path[len(root) + 1:] if path.startswith(root) else None


def _getters(package) -> set:
    """The code objects of every property getter in the package's loaded modules."""
    found = set()
    for name, module in list(sys.modules.items()):
        if name.startswith(package.__name__):
            for value in vars(module).values():
                if isinstance(value, type):
                    found |= {v.fget.__code__ for v in vars(value).values()
                              if isinstance(v, property) and hasattr(v.fget, "__code__")}
    return found


def walk(dataset: str, tiny: bool = False) -> dict:
    import modeinterp
    from modeinterp.experiments import config_for, reproduce

    root = str(Path(modeinterp.__file__).parent)
    entries = {m: set() for m in WATCHED}
    climbs, descents, plans = set(), set(), []
    getters, ranks = _getters(modeinterp), _ranks()

    def trace(frame, event, arg):  # called on "call" events only; None: no line tracing
        if frame.f_back is None or frame.f_code in getters:
            return
        callee = _module(frame.f_code.co_filename, root)
        caller = _module(frame.f_back.f_code.co_filename, root)
        if callee is None or caller is None or callee == caller:
            return
        site = (caller, frame.f_back.f_lineno)
        if callee in entries:
            entries[callee].add(site)
        if callee == WATCHED[0] and frame.f_code.co_name == "plan":
            plans.append(f"{caller}:{frame.f_back.f_lineno}")
        if caller == TOP and frame.f_back.f_code.co_name == "reproduce":
            descents.add(site)
        low, high = _rank(caller, ranks), _rank(callee, ranks)
        if low is not None and high is not None and low < high:
            climbs.add((*site, callee))

    cfg = config_for(dataset, quick=True)
    if tiny:
        cfg = dataclasses.replace(cfg, train_steps=20, n_samples=256, sample_batch=256)
    with tempfile.TemporaryDirectory() as out:
        sys.settrace(trace)
        try:
            reproduce(cfg, out, progress=False)
        finally:
            sys.settrace(None)
    return {"dataset": dataset, "tiny": tiny, "climbs": len(climbs), "descents": len(descents),
            "plans": len(plans), "plan_sites": sorted(set(plans)),
            "entries": {m: len(sites) for m, sites in entries.items()},
            "climb_sites": sorted(f"{f}:{n} -> {c}" for f, n, c in climbs),
            "entry_sites": {m: sorted(f"{f}:{n}" for f, n in sites)
                            for m, sites in entries.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="gaussian2d")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(walk(args.dataset, args.tiny)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
