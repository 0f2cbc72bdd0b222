"""The recursive experiment's configuration: how each generation trains and samples (a
ReproduceConfig, from the dataset's spec) and how generations follow one another."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..experiments.config import ReproduceConfig, config_for
from ..detect.filters import FILTERS
from ..validation import check_int, check_real

__all__ = ["RecursiveConfig", "recursive_config"]


@dataclass
class RecursiveConfig:
    """base: every generation's training and sampling recipe (``base.n_train`` real samples
    train generation 0; its ``window`` is the paper's score window). generations: how many,
    generation 0 included. filters: the lineages, each from the shared generation 0.
    n_keep: N, the training-set size of every synthetic generation (default ``base.n_train``).
    margin: draw N + ceil(margin · N) samples per generation and keep N (the paper: 2.5 %)."""

    base: ReproduceConfig
    generations: int = 5
    filters: tuple = ("none", "random", "variance", "variance-calibrated")
    n_keep: int | None = None
    margin: float = 0.025

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

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["base"] = self.base.to_dict()
        return out


def recursive_config(dataset: str, *, quick: bool = False, generations: int | None = None,
                     filters=None, toml_path=None, **overrides) -> RecursiveConfig:
    """The recursive config of ``dataset``: the spec's (quick or full) reproduce config with its
    recursive overrides, then a TOML file and ``overrides`` (ReproduceConfig keys, or
    ``n_keep`` / ``margin``; None values are ignored). ``filters``: a list, or ``"all"``."""
    from ..experiments.specs import get_spec

    spec = get_spec(dataset)
    per_generation = spec.recursive_quick if quick else spec.recursive_full
    if per_generation is None:
        raise ValueError(f"{dataset} has no oracle to measure hallucinations with: the recursive "
                         "experiment needs one (gaussian1d, gaussian2d, gaussian2d-diamond, "
                         "shapes, digits)")
    own = {k: overrides.pop(k) for k in ("n_keep", "margin") if overrides.get(k) is not None}
    per_generation = dict(per_generation)
    recursive_keys = {k: per_generation.pop(k) for k in ("generations", "n_keep", "margin")
                      if k in per_generation}
    base = config_for(dataset, quick=quick, toml_path=toml_path, variant=per_generation,
                      **overrides)
    if filters is None or filters == "all":
        filters = FILTERS
    elif isinstance(filters, str):
        filters = (filters,) if filters != "variance" else ("variance", "variance-calibrated")
    values = {"generations": recursive_keys.pop("generations", 5), **recursive_keys, **own}
    if generations is not None:
        values["generations"] = generations
    return RecursiveConfig(base=base, filters=tuple(filters), **values)
