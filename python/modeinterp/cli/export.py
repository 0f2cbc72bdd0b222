"""``modeinterp export``: a trained image model as a standard diffusers pipeline folder."""

from __future__ import annotations

from pathlib import Path

from . import request

EXPORT = ("write a run's trained image model as a diffusers DDPMPipeline folder "
          "(DDPMPipeline.from_pretrained(DIR) samples it with its training's scheduler)")


def add_commands(sub) -> None:
    p = sub.add_parser("export", help=EXPORT, description=EXPORT)
    p.add_argument("run", metavar="RUN",
                   help="a run folder holding model.pt (train/reproduce --out), or a model.pt")
    p.add_argument("--diffusers", required=True, metavar="DIR",
                   help="the pipeline folder to write (model_index.json, unet/, scheduler/)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace DIR when it exists (default: refuse)")
    p.set_defaults(func=export)


def export(args) -> int:
    from ..errors import UsageError
    from ..train.export import export_diffusers

    run = Path(args.run)
    checkpoint = run / "model.pt" if run.is_dir() else run
    if not checkpoint.is_file():
        raise UsageError(f"RUN {run}: no such {'model.pt in it' if run.is_dir() else 'file'}")
    target = Path(args.diffusers)
    if target.exists() and not (args.overwrite and target.is_dir()):
        raise UsageError(f"--diffusers {target}: exists (choose a new folder, or --overwrite "
                         "a folder)")
    request.check_writable(target.absolute().parent, "--diffusers")
    with request.reading("RUN", checkpoint):
        export_diffusers(checkpoint, target, overwrite=args.overwrite)
    print(f"wrote {target}/ (DDPMPipeline: unet/, scheduler/); sample it with "
          f"DDPMPipeline.from_pretrained({str(target)!r}) or modeinterp sample DATASET "
          f"--model {target}")
    return 0
