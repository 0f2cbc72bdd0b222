"""What an experiment is, per dataset: everything the CLI, the configs and ``reproduce`` need to
know about it, in one place — so a new dataset is one new file in this package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["ExperimentSpec"]


@dataclass(frozen=True)
class ExperimentSpec:
    """One dataset's experiment.

    name: the CLI's dataset name. description: one line for ``--help``.
    dataset: ``dataset(cfg)`` builds the dataset (:mod:`modeinterp.data.protocol`: it declares
        its oracle and sample shape) from a ReproduceConfig. model: ``model(cfg, data)`` builds
        the untrained denoiser (seed torch first).
    quick / full: ReproduceConfig overrides for ``--quick`` and for the full run.
    recursive_quick / recursive_full: ``modeinterp recursive``'s per-generation overrides on top
        of quick / full (None: the dataset has no oracle, so no recursive experiment).
    figures: ``figures(cfg, data, model, evaluation, out) -> {name: path}`` (an
        :class:`~modeinterp.pipeline.stages.Evaluation`).
    """
    name: str
    description: str
    dataset: Callable[[Any], Any]
    model: Callable[[Any, Any], Any]
    figures: Callable[..., dict]
    quick: Mapping[str, Any] = field(default_factory=dict)
    full: Mapping[str, Any] = field(default_factory=dict)
    recursive_quick: Mapping[str, Any] | None = None
    recursive_full: Mapping[str, Any] | None = None
