"""Configurations of the toy reproductions: the paper's sizes (full) and a CPU-friendly --quick."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field

from ..errors import UsageError
from ..sampling.window_spec import Window
from .config_fields import check_fields

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


@dataclass
class ReproduceConfig:
    """Every knob of ``modeinterp reproduce``; defaults are the paper's toy setup.

    Training: DDPM ε-prediction, T = 1000, linear β 1e-3…0.2, Adam 1e-3, batch 10k, 100k steps
    (the paper's ``run.sh``: 10,000 epochs of 10 batches over 100k samples; ``train_toy.py``'s
    own default of 300 epochs would be 3000 steps).
    Sampling: DDPM fixed-large variance over all T steps, score = x̂0 variance over the last
    ``window`` reverse steps (the paper's choice, 10).
    """

    dataset: str = "gaussian2d"
    n_train: int = 100_000
    train_steps: int = 100_000
    batch_size: int = 10_000
    lr: float = 1e-3
    lr_schedule: str = "constant"
    # The cosine's length (None: train_steps). Longer than train_steps, the model is that longer
    # run's checkpoint at train_steps (Trainer's lr_decay_steps).
    lr_decay_steps: int | None = None
    focus_below: int | None = None  # None: t uniform (the paper); else see Trainer
    focus_prob: float = 0.9
    ema: float | None = None
    share_blocks: bool = False
    # The denoiser's target, trained and sampled alike: "eps" (the paper), "x0" or "v" (diffusers'
    # names too). `sample` refuses a model.pt trained for another one.
    prediction: str = "eps"
    T: int = 1000
    beta_start: float = 1e-3
    beta_end: float = 0.2
    n_samples: int = 100_000
    sample_batch: int = 20_000
    method: str | None = None  # None: DDPM over all T steps, DDIM when `steps` is set
    steps: int | None = None  # None: all T steps; else respaced to this many
    eta: float = 0.0  # DDIM's η (0: deterministic, 1: DDPM-like noise); DDPM needs 0
    window: Window = 10  # last K steps, or a (start, stop) range of step indices (any spelling)
    # Windows scored in the same pass for the sweep and the calibrated choice: last K steps, or a
    # mid-trajectory (start, stop) range of step indices (dropped when the run is shorter).
    window_sweep: tuple = (2, 3, 4, 5, 6, 8, 10, 15, 20)
    early_exit: tuple = (2, 3, 5, 7)  # one step has no variance yet
    # How each window's per-pixel x̂0 variance (its score map) becomes a score: "mean" (the paper)
    # and any of modeinterp.sampling.aggregations; every (window, aggregation) pair is scored in
    # the same pass and calibrated like the windows. score_maps: keep the maps (localisation,
    # the score-map figure).
    aggregations: tuple = ("mean",)
    score_maps: bool = False
    trajectory: int = 1000  # x̂0 paths kept for the figure: enough to catch ~1% hallucinations
    seed: int = 0
    score_ts: tuple = field(default=(0, 10, 50, 200))
    means: tuple | None = None  # gaussian1d only: the mode means (default (1, 2, 3))
    clip: float | None = None  # clip x̂0 to [-clip, clip] while sampling (images: 1.0)
    unet: str | None = None  # image experiments: the UNetDenoiser preset (models.unet.PRESETS)
    grad_clip: float | None = None
    # The denoiser's forward while training: "fp32" or "bf16" autocast; train_compile:
    # torch.compile it (modeinterp.sampling.forward). Float32 weights, optimizer and loss.
    train_precision: str = "fp32"
    train_compile: bool = False
    path: str | None = None  # folder: the image folder
    size: int = 64  # folder: image side after resizing
    # The denoiser's forward while sampling, likewise (Sampler(precision=, compile=)); the fused
    # step and the scores stay float32.
    precision: str = "fp32"
    compile: bool = False

    def __post_init__(self):
        # Windows as one value type, whatever the spelling (TOML arrays are lists, "40-60").
        self.window = Window.parse(self.window)
        self.window_sweep = tuple(Window.parse(w, "window_sweep") for w in self.window_sweep)

    def to_dict(self) -> dict:
        """JSON-able, windows as 10 or [40, 60] (what a TOML file holds; run.json and digests
        compare these). The keys of :data:`RECORDED_WHEN_SET` only when they differ from their
        default, so that runs recorded before those keys existed still resume; never the
        :data:`EXECUTION_ONLY` keys, which say how a run is computed, not what it is (like the
        device: a run may resume compiled or not)."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in EXECUTION_ONLY
               and (k not in RECORDED_WHEN_SET or v != RECORDED_WHEN_SET[k])}
        out["window"] = self.window.to_json()
        out["window_sweep"] = tuple(w.to_json() for w in self.window_sweep)
        return out

    def schedule(self):
        """The training and sampling schedule: linear β over T steps."""
        from ..schedules import Schedule

        return Schedule.linear(self.T, self.beta_start, self.beta_end)

    @property
    def sampling_method(self) -> str:
        """The sampler that runs: ``method`` if set, else DDIM for ``--steps S``, else DDPM."""
        return self.method or ("ddim" if self.steps else "ddpm")


# Keys added after run records existed, with their defaults (see ReproduceConfig.to_dict).
RECORDED_WHEN_SET = {"train_precision": "fp32", "precision": "fp32", "lr_decay_steps": None}
# Keys that change how a run is computed (within float rounding), not the run.
EXECUTION_ONLY = ("train_compile", "compile")


def _check_keys(values: dict) -> None:
    known = {f.name for f in dataclasses.fields(ReproduceConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        raise UsageError(f"unknown config key {unknown[0]!r}"
                         + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f"; the keys are ReproduceConfig's fields: {', '.join(sorted(known))}")


def read_toml(path, extra=()) -> dict:
    """The top-level keys of the TOML file ``path``, each checked like any config value (but
    the ``extra`` keys, which the caller checks); a missing, unreadable or malformed file, or a
    wrong value, is a UsageError naming the file."""
    if tomllib is None:
        raise RuntimeError("reading a TOML config needs Python >= 3.11 (tomllib)")
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        own = {k: v for k, v in values.items() if k not in extra}
        _check_keys(own)
        check_fields(own)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return values


def config_for(dataset: str, quick: bool = False, toml_path=None, *, variant=None,
               **overrides) -> ReproduceConfig:
    """The config of ``dataset``: full size, or ``quick`` (≤ 10 minutes on 2 CPU cores), then a
    ``variant``'s changes to it (e.g. the recursive experiment's), then the values of a TOML
    file's top-level keys, then ``overrides`` (None values are ignored)."""
    from .specs import get_spec

    spec = get_spec(dataset)
    values = {"dataset": dataset, **(spec.quick if quick else spec.full), **(variant or {})}
    if toml_path is not None:
        values.update(read_toml(toml_path))
    values.update({k: v for k, v in overrides.items() if v is not None})
    _check_keys(values)
    check_fields(values)
    try:
        return _build(values)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"config key {exc}") from None


def _build(values: dict) -> ReproduceConfig:
    """The checked values in their one spelling, as a config."""
    if "prediction" in values:  # one spelling in configs, reports and checkpoints
        from ..schedules.step_table import PREDICTIONS
        from ..validation import check_choice

        values["prediction"] = check_choice("prediction", values["prediction"], PREDICTIONS)
    for key in ("early_exit", "score_ts", "means", "aggregations"):
        if values.get(key) is None and key == "means":
            continue
        values[key] = tuple(values.get(key, getattr(ReproduceConfig, key, ())) or ())
    cfg = ReproduceConfig(**values)
    if cfg.eta and cfg.sampling_method == "ddpm":
        raise ValueError(f"eta={cfg.eta} is DDIM's η; the ddpm sampler takes none (method ddim)")
    if cfg.steps is not None and cfg.steps > cfg.T:
        raise ValueError(f"steps={cfg.steps} respaces a schedule of T={cfg.T} steps: at most T")
    if cfg.beta_start >= cfg.beta_end:
        raise ValueError(f"beta_start={cfg.beta_start} must be below beta_end={cfg.beta_end}")
    return cfg
