"""``modeinterp info`` and ``demo``: what is installed and whether it works here; the fused
sampler on a toy mixture."""

from __future__ import annotations

import json

from .types import COUNT, NATURAL

INFO = ("what is installed, whether its CPU/CUDA kernels work here, and which wheel variant to "
        "install on a mismatch")
DEMO = ("sample the paper's 25-mode grid with its exact denoiser and the fused sampler; print "
        "samples/s and a score summary")


def add_commands(sub) -> None:
    info = sub.add_parser("info", help=INFO, description=INFO)
    info.add_argument("--json", action="store_true", help="print the facts as JSON")
    info.set_defaults(func=_info)

    demo = sub.add_parser("demo", help=DEMO, description=DEMO)
    demo.add_argument("--n", type=COUNT, default=20_000,
                      help="number of samples (default 20000)")
    demo.add_argument("--steps", type=COUNT, default=None,
                      help="DDIM with this many steps (default: DDPM, all 1000 steps)")
    demo.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    demo.add_argument("--seed", type=NATURAL, default=0, help="noise seed (default 0)")
    demo.add_argument("--json", action="store_true", help="print the result as JSON")
    demo.add_argument("--no-progress", action="store_true",
                      help="no progress bar (default: shown)")
    demo.set_defaults(func=_demo)


def _info(args) -> int:
    from ..diagnose import diagnose, format_report, verdict

    facts = diagnose()
    print(json.dumps(facts, indent=2) if args.json else format_report(facts))
    return 0 if verdict(facts)[0] else 1


def _demo(args) -> int:
    from ..demo import format_demo, run_demo

    result = run_demo(n=args.n, steps=args.steps, device=args.device, seed=args.seed,
                      progress=not args.no_progress)
    print(json.dumps(result) if args.json else format_demo(result))
    return 0
