"""``modeinterp sample`` and ``detect``: sample a trained model with every score (or N samples a
fitted detector does not flag), and evaluate or fit detection on a run's samples."""

from __future__ import annotations

from pathlib import Path

from . import request
from .types import COUNT

SAMPLE = ("sample the trained model (--model, default OUT/model.pt) with every score into "
          "OUT/samples.pt, or OUT/shards/ with --shard-size or under torchrun")
DETECT = ("evaluate hallucination detection on OUT's samples with the dataset's oracle, or fit "
          "a detector (--fit FILE)")


def add_commands(sub, add_run_args) -> None:
    p = sub.add_parser("sample", help=SAMPLE, description=SAMPLE)
    add_run_args(p, training=False, sampling=True,
                 model="the trained model (default OUT/model.pt, as train writes it), or a "
                       "diffusers UNet2DModel folder (local; a pipeline's or the U-Net's own)",
                 shards="10 sampling batches")
    p.add_argument("--detector", default=None, metavar="FILE",
                   help="a detector fitted for the model (detect --fit): also write each "
                        "sample's detector score and flag to OUT/flags.pt (default: none)")
    p.add_argument("--clean", type=COUNT, default=None, metavar="N",
                   help="keep drawing until N samples the --detector does not flag are kept "
                        "(or --budget samples are drawn); writes those N")
    p.add_argument("--budget", type=COUNT, default=None,
                   help="--clean: the most samples to draw (default 10·N)")
    p.set_defaults(func=sample)

    p = sub.add_parser("detect", help=DETECT, description=DETECT)
    add_run_args(p, training=False, sampling=True, n_samples=False, overwrite=False,
                 model="the run's trained model (default OUT/model.pt, or a diffusers "
                       "UNet2DModel folder; without one, the detectors that need it are skipped)")
    p.add_argument("--fit", default=None, metavar="FILE",
                   help="fit a detector and write it to FILE (JSON): supervised on OUT's "
                        "samples with the oracle's labels, or --label-free")
    p.add_argument("--label-free", action="store_true",
                   help="--fit on in-support references only (training images noised to the "
                        "late windows and denoised by the model); no labels")
    p.add_argument("--kind", default=None,
                   help="detector model: logistic (default) or boosting; label-free: "
                        "mahalanobis (default) or gmm")
    p.add_argument("--n-train", type=COUNT, default=None,
                   help="--label-free: training images the references are drawn from "
                        "(default: the config's)")
    p.set_defaults(func=detect)


def _checked_flags(args) -> None:
    from ..errors import UsageError

    if args.clean is not None and args.detector is None:
        raise UsageError("--clean N needs --detector FILE (modeinterp detect --fit FILE)")
    if args.clean is not None and args.shard_size is not None:
        raise UsageError("--clean samples in one process and writes OUT/samples.pt: drop "
                         "--shard-size")
    if args.budget is not None and (args.clean is None or args.budget < args.clean):
        raise UsageError("--budget B goes with --clean N, and B >= N")


def _detector(args, model_path: Path):
    """The --detector file, checked against this run's model before any work."""
    if args.detector is None:
        return None
    from ..detect import Detector
    from ..train.checkpoint import model_digest

    with request.reading("--detector", args.detector):
        detector = Detector.load(args.detector)
        detector.check_compatible(config_digest=model_digest(model_path))
    return detector


def sample(args) -> int:
    """One samples.pt, or (under torchrun, or with --shard-size) shards: both load with
    ``modeinterp.load_samples`` to the same SampleSet."""
    from ..pipeline.run_folder import claim
    from ..train.checkpoint import model_digest

    _checked_flags(args)
    cfg, out = request.config(args), request.out_dir(args)
    request.check_shard_size(args.shard_size, cfg)
    model = request.model_file(args, out, cfg)
    detector = _detector(args, model)
    asked = {"shard_size": args.shard_size, "clean": args.clean, "budget": args.budget,
             "detector": None if detector is None else model_digest(args.detector)}
    with request.output_folder(out):
        from ..pipeline import distributed

        rank, world, device = distributed.init_from_env(args.device)
        try:
            claim(out, "sample", request.sample_request(cfg, model, **asked),
                  overwrite=args.overwrite, outputs=request.SAMPLE_OUTPUTS, write=rank == 0)
            if args.clean is not None:
                return _sample_clean(args, cfg, out, model, detector, (rank, world, device))
            result, where = _sample_all(args, cfg, out, model, (rank, world, device))
        finally:
            distributed.finish()
    if rank != 0:
        return 0
    if detector is not None:  # the same flags as Sampler(detector=…) in the pass: same features
        flagged = _save_flags(detector, result, out)
        print(f"detector {args.detector}: {flagged} of {len(result.scores)} samples flagged "
              f"(flags in {out / 'flags.pt'})")
    print(f"wrote {len(result.scores)} samples and their scores to {where}"
          f"{f' ({world} processes)' if world > 1 else ''}; read them with "
          "modeinterp.load_samples")
    return 0


def _sample_all(args, cfg, out, model, process):
    from ..experiments.plan import plan
    from ..experiments.recipe import sample_run
    from ..train.checkpoint import load_model

    rank, world, device = process
    shard_size = args.shard_size or (10 * cfg.sample_batch if world > 1 else None)
    result = sample_run(load_model(model, map_location=device), plan(cfg), device,
                        not args.no_progress, out=out, shard_size=shard_size)
    return result, out / ("shards" if shard_size else "samples.pt")


def _save_flags(detector, result, out) -> int:
    import torch

    from .. import artifacts

    scores = torch.as_tensor(detector.score(result))
    flags = scores > detector.threshold
    artifacts.save_pt({"detector_scores": scores, "flags": flags}, out / "flags.pt")
    return int(flags.sum())


def _sample_clean(args, cfg, out, model, detector, process) -> int:
    """``sample --clean N``: the first N samples of the stream the detector does not flag."""
    from ..experiments.plan import plan
    from ..experiments.recipe import dataset_of
    from ..pipeline import stages
    from ..train.checkpoint import load_model

    rank, world, device = process
    data, run = dataset_of(cfg), plan(cfg).live()
    sampler = run.sampler(load_model(model, map_location=device))
    clean = stages.sample_clean(sampler, args.clean, data.sample_shape, detector=detector,
                                seed=run.seeds.sampling(), budget=args.budget,
                                batch_size=cfg.sample_batch, device=device,
                                progress=not args.no_progress, out=out, config=cfg.to_dict())
    if rank != 0:
        return 0
    line = (f"kept {len(clean.indices)} of {clean.drawn} drawn ({world} process(es); acceptance"
            f" {clean.acceptance:.1%}){'' if clean.complete else '; budget spent before N'}")
    if getattr(data, "oracle", "none") != "none":
        kept = data.is_hallucination(clean.result.samples.float().cpu()).float().mean()
        line += f"; hallucinated among the kept (oracle): {float(kept):.2%}"
    print(f"{line}; wrote {out / 'samples.pt'}")
    return 0


def detect(args) -> int:
    from ..errors import UsageError

    if args.fit is None and (args.label_free or args.kind is not None):
        raise UsageError("--label-free and --kind go with --fit FILE")
    cfg = request.config(args)
    out = Path(args.out or f"runs/{args.dataset}{'-quick' if args.quick else ''}")
    if args.fit is not None:
        request.check_writable(Path(args.fit).absolute().parent, "--fit")
        return _fit_detector(args, cfg, out)
    from ..sampling.store import load_samples

    with request.reading("--out", out):
        samples = load_samples(out)
    model_path = Path(args.model) if args.model else out / "model.pt"
    model = None
    if args.model or model_path.exists():
        from ..train.checkpoint import load_model

        request.model_file(args, out, cfg)
        model = load_model(model_path, map_location=args.device)
    return _report_detection(args, cfg, samples, model)


def _report_detection(args, cfg, samples, model) -> int:
    from ..experiments.detectors import detector_report
    from ..experiments.plan import plan
    from ..experiments.recipe import dataset_of
    from ..pipeline import stages

    sampler = None if model is None else plan(cfg).sampler(model)  # step ranges: early exit
    data = dataset_of(cfg)
    ev = stages.evaluate(data, samples)
    summary = ev.summary
    if not summary.labelled:
        print(f"{summary.n} finite samples ({ev.n_non_finite} non-finite); {args.dataset} has no "
              "oracle: rank them by score (modeinterp.load_samples)")
        return 0
    reasons = "".join(f", {n} {reason}" for reason, n in summary.reasons.items() if reason != "ok")
    print(f"{summary.n} finite samples ({ev.n_non_finite} non-finite): "
          f"{summary.n_hallucinated} hallucinated ({summary.rate:.2%}){reasons}")
    print(ev.report if ev.report else "detection needs both hallucinated and in-support samples")
    run_steps = None if sampler is None else (len(sampler.table), sampler.step_range[0])
    print("\n".join(detector_report(cfg, data, ev, model, device=args.device,
                                    progress=not args.no_progress, run_steps=run_steps)))
    return 0


def _fit_detector(args, cfg, out) -> int:
    from ..detect.detector import LABEL_FREE, SUPERVISED
    from ..errors import UsageError
    from ..experiments.detectors import fit_run_detector
    from ..experiments.recipe import dataset_of
    from ..sampling.store import load_samples

    kinds = LABEL_FREE if args.label_free else SUPERVISED
    if args.kind is not None and args.kind not in kinds:
        raise UsageError(f"--kind {args.kind!r}: one of {', '.join(kinds)}"
                         f"{' (with --label-free)' if args.label_free else ''}")
    model = request.model_file(args, out, cfg)
    if not args.label_free:
        if getattr(dataset_of(cfg), "oracle", "none") == "none":
            raise UsageError(f"{args.dataset} has no oracle to label samples with: fit with "
                             "--label-free")
        with request.reading("--out", out):
            load_samples(out)
    detector, n = fit_run_detector(cfg, out, label_free=args.label_free, kind=args.kind,
                                   device=args.device, progress=not args.no_progress,
                                   model_path=model)
    detector.save(args.fit)
    what = "in-support references" if args.label_free else "labelled samples"
    print(f"fitted a {detector.kind} detector on {n} {what} ({len(detector.names)} features, "
          f"threshold keeps {detector.retained:.0%}); wrote {args.fit}")
    return 0
