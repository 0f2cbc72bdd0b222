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


def _info(args) -> int:
    from .diagnose import diagnose, format_report, verdict

    facts = diagnose()
    print(json.dumps(facts, indent=2) if args.json else format_report(facts))
    return 0 if verdict(facts)[0] else 1


def _config(args):
    from .experiments import config_for

    return config_for(args.dataset, quick=getattr(args, "quick", False), toml_path=args.config,
                      n_train=args.n_train, train_steps=args.train_steps,
                      n_samples=args.n_samples, seed=args.seed, steps=args.steps,
                      method=args.method, eta=args.eta, window=args.window, path=args.path,
                      size=args.size)


def _out_dir(args) -> str:
    return args.out or f"runs/{args.dataset}{'-quick' if getattr(args, 'quick', False) else ''}"


def _reproduce(args) -> int:
    from .experiments import reproduce
    from .experiments.report import markdown

    from .pipeline import distributed

    cfg = _config(args)
    rank, world, device = distributed.init_from_env(args.device)  # torchrun: DDP + shards
    try:
        metrics = reproduce(cfg, _out_dir(args), device=device, progress=not args.no_progress)
    finally:
        distributed.finish()
    if rank != 0:
        return 0
    print(markdown(metrics, {}).split("## Figures")[0])
    print(f"artefacts in {_out_dir(args)}/ (report.md, report.html, metrics.json, *.png)")
    return 0


def _train(args) -> int:
    from pathlib import Path

    from .experiments.recipe import train_model
    from .pipeline import distributed

    out = Path(_out_dir(args))
    out.mkdir(parents=True, exist_ok=True)
    rank, world, device = distributed.init_from_env(args.device)  # DDP under torchrun
    try:
        trained = train_model(_config(args), out, device, not args.no_progress)
    finally:
        distributed.finish()
    if rank == 0:
        print(f"trained{f' with {world} processes (DDP)' if world > 1 else ''}: final loss "
              f"{trained.final_loss:.4f}; checkpoint {trained.checkpoint}")
    return 0


def _sample(args) -> int:
    """One samples.pt, or (under torchrun, or with --shard-size) shards: both load with
    ``modeinterp.load_samples`` to the same SampleSet."""
    from pathlib import Path

    from .experiments.recipe import sample_run
    from .pipeline import distributed
    from .sampling.store import save_samples
    from .train.checkpoint import check_trained_for, load_model

    out = Path(_out_dir(args))
    cfg = _config(args)
    check_trained_for(out / "model.pt", cfg.prediction, cfg.schedule().alphas_cumprod)
    detector = _load_detector(args, out)
    if args.clean is not None:
        return _sample_clean(args, cfg, out, detector)
    rank, world, device = distributed.init_from_env(args.device)
    shard_size = args.shard_size or (10 * cfg.sample_batch if world > 1 else None)
    try:
        result = sample_run(load_model(out / "model.pt", map_location=device), cfg, device,
                            not args.no_progress, out=out, shard_size=shard_size)
    finally:
        distributed.finish()
    if rank != 0:
        return 0
    if shard_size is None:
        save_samples(out / "samples.pt", result, seed=cfg.seed + 1, config=cfg.to_dict())
    if detector is not None:  # the same flags as Sampler(detector=…) in the pass: same features
        flagged = _save_flags(detector, result, out)
        print(f"detector {args.detector}: {flagged} of {len(result.scores)} samples flagged "
              f"(flags in {out / 'flags.pt'})")
    where = out / ("shards" if shard_size else "samples.pt")
    print(f"wrote {len(result.scores)} samples and their scores to {where}"
          f"{f' ({world} processes)' if world > 1 else ''}; read them with "
          "modeinterp.load_samples")
    return 0


def _load_detector(args, out):
    """The --detector file, checked against this run's model and sampler before any work."""
    if args.clean is not None and args.detector is None:
        raise ValueError("--clean N needs --detector FILE (modeinterp detect --fit FILE)")
    if args.clean is not None and args.shard_size is not None:
        raise ValueError("--clean samples in one process and writes OUT/samples.pt: drop "
                         "--shard-size")
    if args.budget is not None and args.clean is None:
        raise ValueError("--budget goes with --clean N")
    if args.detector is None:
        return None
    from .detect import Detector
    from .train.checkpoint import model_digest

    detector = Detector.load(args.detector)
    detector.check_compatible(config_digest=model_digest(out / "model.pt"))
    return detector


def _save_flags(detector, result, out) -> int:
    import torch

    from . import artifacts

    scores = torch.as_tensor(detector.score(result))
    flags = scores > detector.threshold
    artifacts.save_pt({"detector_scores": scores, "flags": flags}, out / "flags.pt")
    return int(flags.sum())


def _sample_clean(args, cfg, out, detector) -> int:
    """``sample --clean N``: the first N samples of the stream the detector does not flag."""
    from .experiments.recipe import config_sampler, dataset_of, live_config
    from .pipeline import distributed, stages
    from .sampling.store import save_samples
    from .train.checkpoint import load_model

    data, (rank, world, device) = dataset_of(cfg), distributed.init_from_env(args.device)
    sampler = config_sampler(load_model(out / "model.pt", map_location=device), live_config(cfg))
    try:
        clean = stages.sample_clean(sampler, args.clean, data.sample_shape, detector=detector,
                                    seed=cfg.seed + 1, budget=args.budget,
                                    batch_size=cfg.sample_batch, device=device,
                                    progress=not args.no_progress)
    finally:
        distributed.finish()
    if rank != 0:
        return 0
    save_samples(out / "samples.pt", clean.result, seed=cfg.seed + 1, config=cfg.to_dict())
    line = (f"kept {len(clean.indices)} of {clean.drawn} drawn ({world} process(es); acceptance"
            f" {clean.acceptance:.1%}){'' if clean.complete else '; budget spent before N'}")
    if getattr(data, "oracle", "none") != "none":
        kept = data.is_hallucination(clean.result.samples.float().cpu()).float().mean()
        line += f"; hallucinated among the kept (oracle): {float(kept):.2%}"
    print(f"{line}; wrote {out / 'samples.pt'}")
    return 0


def _detect(args) -> int:
    if args.fit is not None:
        return _fit_detector(args)
    if args.label_free or args.kind is not None:
        raise ValueError("--label-free and --kind go with --fit FILE")
    from pathlib import Path

    from .experiments.detectors import detector_report
    from .experiments.recipe import config_sampler, dataset_of
    from .pipeline import stages
    from .sampling.store import load_samples
    from .train.checkpoint import load_model

    cfg, out = _config(args), Path(_out_dir(args))
    model = load_model(out / "model.pt", map_location=args.device) \
        if (out / "model.pt").exists() else None
    sampler = None if model is None else config_sampler(model, cfg)  # step ranges: early exit
    data = dataset_of(cfg)
    ev = stages.evaluate(data, stages.result_of(load_samples(out), sampler))
    summary = ev.summary
    if not summary.labelled:
        print(f"{summary.n} finite samples ({ev.n_non_finite} non-finite); {args.dataset} has no "
              "oracle: rank them by score (modeinterp.load_samples)")
        return 0
    reasons = "".join(f", {n} {reason}" for reason, n in summary.reasons.items() if reason != "ok")
    print(f"{summary.n} finite samples ({ev.n_non_finite} non-finite): "
          f"{summary.n_hallucinated} hallucinated ({summary.rate:.2%}){reasons}")
    print(ev.report if ev.report else "detection needs both hallucinated and in-support samples")
    print("\n".join(detector_report(cfg, data, ev, model, device=args.device,
                                    progress=not args.no_progress)))
    return 0


def _fit_detector(args) -> int:
    from .experiments.detectors import fit_run_detector

    detector, n = fit_run_detector(_config(args), _out_dir(args), label_free=args.label_free,
                                   kind=args.kind, device=args.device,
                                   progress=not args.no_progress)
    detector.save(args.fit)
    what = "in-support references" if args.label_free else "labelled samples"
    print(f"fitted a {detector.kind} detector on {n} {what} ({len(detector.names)} features, "
          f"threshold keeps {detector.retained:.0%}); wrote {args.fit}")
    return 0


def _ablate(args) -> int:
    from .experiments.ablations import run_ablation

    cfg = _config(args)
    values = args.values.split(",") if args.values else None
    if values and args.sweep != "sampler":
        values = [None if v == "none" else (float(v) if "." in v else int(v)) for v in values]
    out = args.out or f"runs/ablate-{args.sweep}-{args.dataset}"
    rows = run_ablation(args.sweep, cfg, out, values, device=args.device,
                        progress=not args.no_progress, budget=args.budget)
    print(open(f"{out}/ablation.md").read())
    print(f"table and plot in {out}/ (ablation.md, ablation.json, ablation.png); {len(rows)} rows")
    return 0


def _recursive(args) -> int:
    from .pipeline import distributed
    from .recursive import recursive_config, run_recursive
    from .recursive.report import markdown

    cfg = recursive_config(args.dataset, quick=args.quick, generations=args.generations,
                           filters=args.filter, toml_path=args.config, n_keep=args.n_keep,
                           margin=args.margin, n_train=args.n_train,
                           train_steps=args.train_steps, seed=args.seed, steps=args.steps,
                           method=args.method, eta=args.eta, window=args.window, size=args.size)
    out = args.out or f"runs/recursive-{args.dataset}{'-quick' if args.quick else ''}"
    rank, _, device = distributed.init_from_env(args.device)  # torchrun: DDP + shards
    try:
        summary = run_recursive(cfg, out, device=device, progress=not args.no_progress)
    finally:
        distributed.finish()
    if rank != 0:
        return 0
    print(markdown(summary, {}))
    print(f"artefacts in {out}/ (report.md, report.html, recursive.json, manifest.json, *.png; "
          "one folder per generation)")
    return 0


def _window(text: str):
    from .sampling.window_spec import parse_window  # the one parser of a window's spellings

    return parse_window(text)


def _add_experiment_args(p, quick: bool = True) -> None:
    from .experiments.specs import SPECS

    p.add_argument("dataset", choices=sorted(SPECS),
                   help="; ".join(f"{name}: {s.description}" for name, s in SPECS.items()))
    if quick:
        p.add_argument("--quick", action="store_true",
                       help="small config: <= 10 minutes on 2 CPU cores")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--out", default=None, help="output directory (default runs/<dataset>[-quick])")
    p.add_argument("--config", default=None, help="TOML file with ReproduceConfig keys")
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--train-steps", type=int, default=None)
    p.add_argument("--n-samples", type=int, default=None)
    p.add_argument("--steps", type=int, default=None,
                   help="respace sampling to this many steps (DDIM unless --method ddpm)")
    p.add_argument("--method", choices=["ddpm", "ddim"], default=None,
                   help="sampler (default: the config's; DDPM over all T steps, DDIM with --steps)")
    p.add_argument("--eta", type=float, default=None,
                   help="DDIM's η: 0 deterministic (default), 1 as noisy as DDPM")
    p.add_argument("--window", type=_window, default=None,
                   help="score window: K (the last K steps) or START-STOP (step indices)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--path", default=None, help="folder: the folder of training images")
    p.add_argument("--size", type=int, default=None,
                   help="shapes, folder: image side (default 64; shapes --quick: 32)")
    p.add_argument("--no-progress", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeinterp",
        description="Hallucination scores for diffusion models, computed while sampling.")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_tools(sub)
    _add_experiments(sub)
    return parser


def _add_tools(sub) -> None:
    info = sub.add_parser("info", help="what is installed, whether its CPU/CUDA kernels work "
                                       "here, and which wheel variant to install on a mismatch")
    info.add_argument("--json", action="store_true", help="print the facts as JSON")
    info.set_defaults(func=_info)

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


def _add_experiments(sub) -> None:
    for name, func, help_ in [
            ("reproduce", _reproduce, "train (or resume), sample with scores, label with the "
                                      "oracle, evaluate detection, write report + figures"),
            ("train", _train, "train (or resume) the toy model into OUT/model.pt"),
            ("sample", _sample, "sample OUT/model.pt with scores into OUT/samples.pt"),
            ("detect", _detect, "evaluate detection on OUT's samples (samples.pt or shards) "
                                "with the oracle")]:
        p = sub.add_parser(name, help=help_)
        _add_experiment_args(p)
        p.set_defaults(func=func)
    sample = sub.choices["sample"]
    sample.add_argument("--detector", default=None, metavar="FILE",
                        help="a detector fitted for OUT/model.pt (detect --fit): also write "
                             "each sample's detector score and flag to OUT/flags.pt")
    sample.add_argument("--clean", type=int, default=None, metavar="N",
                        help="keep drawing until N samples the --detector does not flag are "
                             "kept (or --budget samples are drawn); writes those N")
    sample.add_argument("--budget", type=int, default=None,
                        help="--clean: the most samples to draw (default 10·N)")
    detect = sub.choices["detect"]
    detect.add_argument("--fit", default=None, metavar="FILE",
                        help="fit a detector and write it to FILE (JSON): supervised on OUT's "
                             "samples with the oracle's labels, or --label-free")
    detect.add_argument("--label-free", action="store_true",
                        help="--fit on in-support references only (training images noised to "
                             "the late windows and denoised by OUT/model.pt); no labels")
    detect.add_argument("--kind", default=None,
                        help="detector model: logistic (default) or boosting; label-free: "
                             "mahalanobis (default) or gmm")
    sub.choices["sample"].add_argument(
        "--shard-size", type=int, default=None,
        help="stream samples to OUT/shards/ in shards of this many (memory bounded by one "
             "shard, resumable; default under torchrun: 10 sampling batches)")
    _add_ablate(sub)
    _add_recursive(sub)


def _add_ablate(sub) -> None:
    ablate = sub.add_parser("ablate", help="sweep training-set size, mode separation (1-D) or "
                                           "sampling steps (DDPM vs DDIM), or samplers on one model: table + plot")
    ablate.add_argument("sweep", choices=["train-size", "separation", "steps", "sampler"])
    _add_experiment_args(ablate)
    ablate.add_argument("--values", default=None,
                        help="comma-separated values to sweep (steps: 'none' = all T, DDPM; "
                             "sampler: METHOD[:STEPS[:ETA]], default ddpm,ddpm:250,ddim:100:0,"
                             "ddim:100:0.5,ddim:100:1)")
    ablate.add_argument("--budget", choices=["epochs", "steps"], default="epochs",
                        help="train-size sweep: keep the config's epochs (default, the paper's "
                             "protocol: more data, more steps) or its optimizer steps fixed")
    ablate.set_defaults(func=_ablate)


def _add_recursive(sub) -> None:
    rec = sub.add_parser("recursive", help="train generation after generation on the previous "
                                           "one's samples, filtered by none / random / variance")
    _add_experiment_args(rec)
    rec.add_argument("--generations", type=int, default=None,
                     help="generations, generation 0 (real data) included (default 5)")
    rec.add_argument("--filter", default="all",
                     choices=["all", "none", "random", "variance", "variance-calibrated"],
                     help="all (default): every filter from one shared generation 0; variance "
                          "also runs variance-calibrated (the window calibrated on generation 0)")
    rec.add_argument("--n-keep", type=int, default=None,
                     help="N kept per generation (default: the config's n_train)")
    rec.add_argument("--margin", type=float, default=None,
                     help="draw N + margin·N and keep N (default 0.025, the paper's)")
    rec.set_defaults(func=_recursive)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
