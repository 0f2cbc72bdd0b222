"""The ``modeinterp`` command line."""

from __future__ import annotations

import argparse
import json
import sys


def _demo(args) -> int:
    from .demo import format_demo, run_demo

    result = run_demo(n=args.n, steps=args.steps, device=args.device, seed=args.seed,
                      progress=not args.no_progress)
    print(json.dumps(result) if args.json else format_demo(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeinterp",
        description="Hallucination scores for diffusion models, computed while sampling.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="sample a toy mixture with the fused sampler; print "
                                       "samples/s and a score summary")
    demo.add_argument("--n", type=int, default=20_000, help="number of samples (default 20000)")
    demo.add_argument("--steps", type=int, default=None,
                      help="DDIM with this many steps (default: DDPM, all 1000 steps)")
    demo.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", action="store_true", help="print the result as JSON")
    demo.add_argument("--no-progress", action="store_true")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
