"""Where a config becomes objects: :func:`plan` turns a :class:`ReproduceConfig` into a
:class:`RunPlan` — its step table, its score windows (the main one first, then every sweep window
that fits the run), its aggregations and every seed its stages use — once, so that ``reproduce``,
``ablate``, ``recursive``, ``detect`` and ``sample`` build the same run from the same config.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Optional

from ..pipeline.distributed import process_rank
from ..sampling import Sampler
from ..sampling.window_spec import Window
from ..schedules import StepTable
from .config import ReproduceConfig

__all__ = ["REFERENCE_SPAN", "RunPlan", "Seeds", "main_window", "plan"]

REFERENCE_SPAN = 0.2  # label-free references are denoised over the last 20 % of the steps


@dataclass(frozen=True)
class Seeds:
    """Every seed a run derives from its config's ``seed`` (``base``), named here and nowhere
    else. ``generation`` counts the generations of a recursive run (0: trained on real data)."""

    base: int

    @property
    def data(self) -> int:
        """The real training set (and the references' images: its first rows)."""
        return self.base

    def weights(self, generation: int = 0) -> int:
        """The denoiser's initial weights, data order and training noise."""
        return self.base + generation

    def sampling(self, generation: int = 0) -> int:
        """The sampling noise (recorded in samples.pt)."""
        return self.base + generation + 1

    @property
    def references(self) -> int:
        """The forward noise of the label-free references."""
        return self.base + 2

    @property
    def detectors(self) -> int:
        """A detector's fit (its folds) and the calibration / held-out split of a run."""
        return self.base

    def split(self, k: int) -> int:
        """The k-th of the random calibration / held-out splits a spread is measured over."""
        return self.base + 1 + k

    @property
    def repair(self) -> int:
        """The fresh noise of repaired tails: a fixed seed no sampling run of a base seed below
        10⁶ draws (the same for every base: repairs of one model compare across configs)."""
        return 1_000_003

    def selection(self, generation: int) -> int:
        """A recursive filter's random choice of the training set of ``generation``."""
        return self.base * 1000 + generation

    def replicate(self, index: int) -> int:
        """The base seed of replicate ``index`` of a recursive study (0: this seed). Spaced by
        1000, so that no seed above is shared by two replicates of generations < 998."""
        return self.base + 1000 * index


def main_window(cfg: ReproduceConfig, steps: int) -> Window:
    """The config's score window in a run of ``steps`` steps: last K clamped to the run (a very
    short DDIM run scores all its steps), or a (start, stop) range that must fit in it."""
    window = cfg.window.fit(steps)
    if window is None:
        raise ValueError(f"window {cfg.window} does not fit a run of {steps} steps")
    return window


@dataclass(frozen=True)
class RunPlan:
    """A config as the objects its stages need: ``table`` (method, steps, η, clip, prediction),
    ``windows`` (main first), ``aggregations``, ``seeds`` and ``training`` (the settings of
    :func:`~modeinterp.pipeline.stages.train`)."""

    cfg: ReproduceConfig
    table: StepTable
    windows: tuple
    aggregations: tuple
    seeds: Seeds

    @property
    def main_window(self) -> Window:
        return self.windows[0]

    @property
    def training(self) -> dict:
        """The keyword arguments of :func:`~modeinterp.pipeline.stages.train` the config fixes:
        the noise schedule, the optimiser, the objective, precision and checkpoints."""
        cfg = self.cfg
        return dict(schedule=cfg.schedule(), lr=cfg.lr, lr_schedule=cfg.lr_schedule,
                    lr_decay_steps=cfg.lr_decay_steps, focus_below=cfg.focus_below,
                    focus_prob=cfg.focus_prob, batch_size=cfg.batch_size, steps=cfg.train_steps,
                    ema=cfg.ema, grad_clip=cfg.grad_clip, prediction=cfg.prediction,
                    precision=cfg.train_precision, compile=cfg.train_compile,
                    checkpoint_every=max(1, min(500, cfg.train_steps)))

    @property
    def early_exit(self) -> tuple:
        """The config's early-exit steps that lie inside the main window."""
        start, stop = self.main_window.resolve(len(self.table))
        return tuple(k for k in self.cfg.early_exit if k < stop - start)

    def live(self) -> "RunPlan":
        """This plan without the ``rel-`` aggregations: every score then belongs to its sample
        alone (what a detector reads while sampling)."""
        return dataclasses.replace(self, aggregations=tuple(
            a for a in self.aggregations if not a.startswith("rel-")))

    def sampler(self, model, *, windows: Optional[list] = None, sharded: bool = False,
                aggregations: Optional[tuple] = None) -> Sampler:
        """The run's :class:`Sampler`: ``windows`` (default all of the plan's) and
        ``aggregations`` (default the plan's) in one pass. ``sharded`` (or torchrun): without
        the ``rel-`` aggregations, which need the whole run in one process."""
        aggregations = list(self.aggregations if aggregations is None else aggregations)
        relative = [a for a in aggregations if a.startswith("rel-")]
        if relative and (sharded or process_rank()[1] > 1):
            warnings.warn(f"sampling in shards: the aggregations {relative} need the whole run "
                          "in one process; scoring without them", RuntimeWarning, stacklevel=3)
            aggregations = [a for a in aggregations if a not in relative]
        return Sampler(model, self.table, window=list(self.windows if windows is None
                                                      else windows), aggregations=aggregations,
                       precision=self.cfg.precision, compile=self.cfg.compile)

    def reference_windows(self) -> list:
        """The windows that start in the last ``REFERENCE_SPAN`` of the steps: late enough that
        a forward-noised training image is still that image (what references need)."""
        steps = len(self.table)
        late = [w for w in self.windows if w.resolve(steps)[0] >= (1 - REFERENCE_SPAN) * steps]
        return late or [self.main_window]


def plan(cfg: ReproduceConfig) -> RunPlan:
    """``cfg`` as a :class:`RunPlan`; a window that does not fit the run raises ValueError."""
    table = cfg.schedule().table(method=cfg.sampling_method, steps=cfg.steps, clip=cfg.clip,
                                 prediction=cfg.prediction, eta=cfg.eta)
    window = main_window(cfg, len(table))
    sweep = [w for w in dict.fromkeys(w.fit(len(table)) for w in cfg.window_sweep)
             if w is not None and w != window]
    return RunPlan(cfg, table, (window, *sweep), tuple(cfg.aggregations), Seeds(cfg.seed))
