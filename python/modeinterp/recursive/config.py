"""The recursive experiment's configuration: how each generation trains and samples (a
ReproduceConfig, from the dataset's spec) and how generations follow one another."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..experiments.config import ReproduceConfig, config_for
from ..experiments.plan import plan
from ..detect.filters import FILTERS
from ..validation import check_int, check_path, check_real

__all__ = ["RecursiveConfig", "check_detector_file", "recursive_config"]


@dataclass
class RecursiveConfig:
    """base: every generation's training and sampling recipe (``base.n_train`` real samples
    train generation 0; its ``window`` is the paper's score window). generations: how many,
    generation 0 included. filters: the lineages, each from the shared generation 0.
    n_keep: N, the training-set size of every synthetic generation (default ``base.n_train``).
    margin: draw N + ceil(margin · N) samples per generation and keep N (the paper: 2.5 %).
    replicates: independent studies, replicate r seeded with ``Seeds.replicate(r)``
    (:meth:`replicate`: each is the lone run with that seed). detector: a saved
    :class:`~modeinterp.detect.Detector` file for the ``detector`` filter, instead of the
    label-free one fitted on each replicate's generation 0."""

    base: ReproduceConfig
    generations: int = 5
    filters: tuple = ("none", "random", "variance", "variance-calibrated")
    n_keep: int | None = None
    margin: float = 0.025
    replicates: int = 1
    detector: str | None = None

    def __post_init__(self):
        self.generations = check_int("generations", self.generations, 2,
                                     note="generation 0 is real data")
        self.filters = tuple(dict.fromkeys(self.filters))
        bad = [f for f in self.filters if f not in FILTERS]
        if bad or not self.filters:
            raise ValueError(f"filters must be a non-empty subset of {list(FILTERS)}, got "
                             f"{list(self.filters)}")
        self.n_keep = self.base.n_train if self.n_keep is None else self.n_keep
        self.n_keep = check_int("n_keep", self.n_keep, 1)
        self.margin = check_real("margin", self.margin, 0.0, 1.0)
        self.replicates = check_int("replicates", self.replicates, 1)
        if self.detector is not None:
            self.detector = check_path("detector", self.detector)
            if "detector" not in self.filters:
                raise ValueError("detector: a detector file is only read by the 'detector' "
                                 f"filter, which is not among the filters {list(self.filters)}")
            check_detector_file(self.detector, self.base.dataset, plan(self.base))

    def replicate(self, index: int) -> "RecursiveConfig":
        """Replicate ``index``: this study alone, with its own base seed."""
        seed = plan(self.base).seeds.replicate(index)
        return dataclasses.replace(self, base=dataclasses.replace(self.base, seed=seed),
                                   replicates=1)

    def to_dict(self) -> dict:
        """As recorded in a run folder: ``replicates`` and ``detector`` (path and content
        digest) only when set, so that folders written before they existed still resume."""
        out = dataclasses.asdict(self)
        out["base"] = self.base.to_dict()
        if self.replicates == 1:
            del out["replicates"]
        if self.detector is None:
            del out["detector"]
        else:
            digest = hashlib.sha256(Path(self.detector).read_bytes()).hexdigest()
            out["detector"] = {"path": self.detector, "sha256": digest}
        return out


# The keys of a recursive study (not of a generation's ReproduceConfig), in TOML files too.
STUDY_KEYS = ("generations", "n_keep", "margin", "replicates", "filters")


def check_detector_file(path: str, dataset: str, run_plan) -> None:
    """Refuse (ValueError naming ``detector``) a saved detector that is no detector file, was
    fitted on another dataset, or reads features the run's sampler (``run_plan``) does not
    produce: before any work, not at generation 1."""
    from ..detect import Detector
    from ..detect.features import IMAGE_FEATURES
    from ..sampling.score_key import ScoreKey

    produced = [ScoreKey(w, a).key for w in run_plan.windows
                for a in run_plan.live().aggregations]
    try:
        if not Path(path).is_file():
            raise ValueError("no such file (modeinterp detect --fit FILE writes one)")
        det = Detector.load(path)
        if det.dataset is not None and det.dataset != dataset:
            raise ValueError(f"it was fitted on {det.dataset} samples, not {dataset}")
        det.check_compatible(names_available=produced + list(IMAGE_FEATURES))
    except ValueError as exc:
        raise ValueError(f"detector: {path}: {exc}") from None


def recursive_config(dataset: str, *, quick: bool = False, generations: int | None = None,
                     filters=None, toml_path=None, **overrides) -> RecursiveConfig:
    """The recursive config of ``dataset``: the spec's (quick or full) reproduce config with its
    recursive overrides, then a TOML file (any ReproduceConfig key, and the study's: see
    ``STUDY_KEYS``), then the arguments (ReproduceConfig keys, or ``n_keep`` / ``margin`` /
    ``replicates`` / ``detector``; None values are ignored). ``filters``: a list, or ``"all"``."""
    from ..experiments.config import read_toml
    from ..experiments.specs import get_spec

    spec = get_spec(dataset)
    per_generation = spec.recursive_quick if quick else spec.recursive_full
    if per_generation is None:
        raise ValueError(f"{dataset} has no oracle to measure hallucinations with: the recursive "
                         "experiment needs one (gaussian1d, gaussian2d, gaussian2d-diamond, "
                         "shapes, digits)")
    # spec, then TOML, then arguments; the TOML's generation keys go on top of the spec's own
    per_generation = {**per_generation, **(read_toml(toml_path, STUDY_KEYS) if toml_path else {})}
    study = {k: per_generation.pop(k) for k in STUDY_KEYS if k in per_generation}
    study.update({k: overrides.pop(k) for k in ("n_keep", "margin", "replicates", "detector")
                  if overrides.get(k) is not None})
    if generations is not None:
        study["generations"] = generations
    if filters is not None:
        study["filters"] = filters
    base = config_for(dataset, quick=quick, variant=per_generation, **overrides)
    filters = study.pop("filters", "all")
    filters = FILTERS if filters == "all" else \
        ((filters,) if isinstance(filters, str) else tuple(filters))
    if filters == ("variance",):  # the paper's filter alone: with its calibrated twin
        filters += ("variance-calibrated",)
    return RecursiveConfig(base=base, filters=filters, **study)
