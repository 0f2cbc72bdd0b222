"""``modeinterp reproduce``, ``train``, ``ablate`` and ``recursive``: check the whole request,
claim the run folder (resume the same run, refuse another), then run."""

from __future__ import annotations

from . import request
from . import types
from .types import COUNT, FRACTION

REPRODUCE = ("train (or resume) the dataset's denoiser, sample it with every score, label the "
             "samples with the oracle, evaluate detection, choose the window, and write "
             "report.md, report.html, metrics.json and figures to --out")
TRAIN = "train (or resume) the dataset's denoiser into OUT/model.pt"
ABLATE = ("sweep training-set size, mode separation (1-D), sampling steps (DDPM vs DDIM) or "
          "samplers on one model; writes a table and a plot")
# What a recursive run writes: its summary, generation 0 and one folder per filter.
RECURSIVE_OUTPUTS = ("recursive.json", "manifest.json", "gen-0", "none", "random", "variance",
                     "variance-calibrated", "detector", "detector-supervised", "detector.json",
                     "detector-supervised.json")
RECURSIVE = ("train generation after generation on the previous one's samples, filtered by "
             "none / random / variance / a detector, in independent replicates; resumable")


def add_commands(sub, add_run_args) -> None:
    p = sub.add_parser("reproduce", help=REPRODUCE, description=REPRODUCE)
    add_run_args(p, training=True, sampling=True,
                 model="evaluate this model instead of training one: a modeinterp model.pt or "
                       "a diffusers UNet2DModel folder (local; default: train into OUT)",
                 shards="one sampling batch")
    p.set_defaults(func=reproduce)
    p = sub.add_parser("train", help=TRAIN, description=TRAIN)
    add_run_args(p, training=True, sampling=False)
    p.set_defaults(func=train)
    _add_ablate(sub, add_run_args)
    _add_recursive(sub, add_run_args)


def reproduce(args) -> int:
    from ..experiments import reproduce as run
    from ..experiments.report import markdown
    from ..pipeline import distributed
    from ..pipeline.run_folder import claim

    cfg, out = request.config(args), request.out_dir(args)
    request.check_shard_size(args.shard_size, cfg)
    model, asked = None, cfg.to_dict()
    if args.model is not None:
        from ..errors import UsageError

        if args.n_train is not None or args.train_steps is not None:
            raise UsageError("--n-train and --train-steps train a model: with --model "
                             "nothing is trained, drop them")
        model = request.model_file(args, out, cfg)
        asked = request.sample_request(cfg, model)
    if args.shard_size is not None:  # how the samples are laid out: resuming needs the same
        asked = {**asked, "shard_size": args.shard_size}
    with request.output_folder(out):
        rank, world, device = distributed.init_from_env(args.device)  # torchrun: DDP + shards
        try:
            claim(out, "reproduce", asked, overwrite=args.overwrite,
                  outputs=request.REPORT_OUTPUTS, guarded=("model.pt",), write=rank == 0)
            metrics = run(cfg, out, device=device, progress=not args.no_progress, model=model,
                          shard_size=args.shard_size)
        finally:
            distributed.finish()
    if rank != 0:
        return 0
    print(markdown(metrics, {}).split("## Figures")[0])
    print(f"artefacts in {out}/ (report.md, report.html, metrics.json, *.png)")
    return 0


def train(args) -> int:
    from ..experiments.plan import plan
    from ..experiments.recipe import train_model
    from ..pipeline import distributed
    from ..pipeline.run_folder import claim

    cfg, out = request.config(args), request.out_dir(args)
    with request.output_folder(out):
        rank, world, device = distributed.init_from_env(args.device)  # DDP under torchrun
        try:
            claim(out, "train", request.train_request(cfg), overwrite=args.overwrite,
                  guarded=("model.pt",), write=rank == 0)
            trained = train_model(plan(cfg), out, device, not args.no_progress)
        finally:
            distributed.finish()
    if rank == 0:
        print(f"trained{f' with {world} processes (DDP)' if world > 1 else ''}: "
              f"{len(trained.history)} steps, final loss {trained.final_loss:.4f}; "
              f"checkpoint {trained.checkpoint}")
    return 0


def _add_ablate(sub, add_run_args) -> None:
    p = sub.add_parser("ablate", help=ABLATE, description=ABLATE)
    p.add_argument("sweep", choices=["train-size", "separation", "steps", "sampler"],
                   help="what to sweep")
    add_run_args(p, training=True, sampling=True)
    p.add_argument("--values", default=None,
                   help="comma-separated values to sweep (default: the sweep's own; steps: "
                        "'none' = all T, DDPM; sampler: METHOD[:STEPS[:ETA]], default ddpm,"
                        "ddpm:250,ddim:100:0,ddim:100:0.5,ddim:100:1)")
    p.add_argument("--budget", choices=["epochs", "steps"], default="epochs",
                   help="train-size sweep: keep the config's epochs (default, the paper's "
                        "protocol: more data, more steps) or its optimizer steps fixed")
    p.set_defaults(func=ablate)


def _sweep_values(args) -> list | None:
    from ..experiments.sampler_sweep import parse_sampler
    from ..errors import UsageError

    if not args.values:
        return None
    values = [v.strip() for v in args.values.split(",")]
    try:
        if args.sweep == "sampler":
            for v in values:
                parse_sampler(v)
            return values
        return [None if v == "none" else (float(v) if "." in v else int(v)) for v in values]
    except ValueError as exc:
        raise UsageError(f"--values {args.values!r}: {exc}") from None


def ablate(args) -> int:
    from ..experiments.ablations import check_ablation, run_ablation
    from ..pipeline.run_folder import claim

    cfg, values = request.config(args), _sweep_values(args)
    out = request.out_dir(args, default=f"runs/ablate-{args.sweep}-{args.dataset}")
    with request.checking():
        check_ablation(args.sweep, cfg, args.budget)
    with request.output_folder(out):
        claim(out, "ablate", {"sweep": args.sweep, "values": values, "budget": args.budget,
                              "config": cfg.to_dict()}, overwrite=args.overwrite,
              outputs=("ablation.json", "ablation.md"))
        rows = run_ablation(args.sweep, cfg, out, values, device=args.device,
                            progress=not args.no_progress, budget=args.budget)
    print(open(out / "ablation.md").read())
    print(f"table and plot in {out}/ (ablation.md, ablation.json, ablation.png); {len(rows)} rows")
    return 0


def _add_recursive(sub, add_run_args) -> None:
    p = sub.add_parser("recursive", help=RECURSIVE, description=RECURSIVE)
    add_run_args(p, training=True, sampling=True,
                 config_keys="ReproduceConfig keys and the study's (generations, n_keep, margin, "
                             "replicates, filters)")
    p.add_argument("--generations", type=COUNT, default=None,
                   help="generations, generation 0 (real data) included (default 5)")
    p.add_argument("--filter", type=types.filters, default=None,
                   help="all (the default), or a comma-separated list of none, random, "
                        "variance, variance-calibrated (the window calibrated on generation 0), "
                        "detector (label-free, fitted on generation 0's training data), "
                        "detector-supervised (oracle labels of generation 0: an upper bound); "
                        "every filter's lineage starts from one shared generation 0. variance "
                        "alone also runs variance-calibrated")
    p.add_argument("--replicates", type=COUNT, default=None,
                   help="independent studies, each with its own seed, in OUT/rep-<r> "
                        "(default 1: the study in OUT)")
    p.add_argument("--detector", default=None, metavar="FILE",
                   help="the detector filter uses this saved detector (modeinterp detect --fit) "
                        "instead of fitting a label-free one on generation 0")
    p.add_argument("--n-keep", type=COUNT, default=None,
                   help="N kept per generation (default: the config's n_train)")
    p.add_argument("--margin", type=FRACTION, default=None,
                   help="draw N + margin·N and keep N (default 0.025, the paper's)")
    p.set_defaults(func=recursive)


def recursive(args) -> int:
    from ..experiments.recipe import check_runnable
    from ..pipeline import distributed
    from ..pipeline.run_folder import claim
    from ..recursive import recursive_config, run_recursive
    from ..recursive import report, replicates_report

    with request.checking():
        cfg = recursive_config(args.dataset, quick=args.quick, generations=args.generations,
                               filters=args.filter, toml_path=args.config, n_keep=args.n_keep,
                               margin=args.margin, replicates=args.replicates,
                               detector=args.detector, **{k: getattr(args, k, None)
                                                          for k in request.OVERRIDES})
    check_runnable(cfg.base)
    out = request.out_dir(args, default=f"runs/recursive-{args.dataset}"
                                        f"{'-quick' if args.quick else ''}")
    with request.output_folder(out):
        rank, _, device = distributed.init_from_env(args.device)  # torchrun: DDP + shards
        try:
            # A replicate's folder guards itself (its manifest), so replicates run alone
            # (the lone run of the replicate's seed into OUT/rep-<r>) are collected, not refused.
            claim(out, "recursive", cfg.to_dict(), overwrite=args.overwrite,
                  outputs=RECURSIVE_OUTPUTS, write=rank == 0,
                  guarded=[f"rep-{r}" for r in range(cfg.replicates)])
            summary = run_recursive(cfg, out, device=device, progress=not args.no_progress)
        finally:
            distributed.finish()
    if rank != 0:
        return 0
    print((report if cfg.replicates == 1 else replicates_report).markdown(summary, {}))
    print(f"artefacts in {out}/ (report.md, report.html, recursive.json, manifest.json, *.png; "
          "one folder per generation)")
    return 0
