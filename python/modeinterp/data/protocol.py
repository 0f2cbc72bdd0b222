"""What a dataset is to the rest of the package, declared rather than guessed.

Every dataset samples (``sample(n, seed) -> (n, *sample_shape)`` float32) and declares in
``oracle`` how its hallucinations are known:

* ``"exact"`` — a ground-truth oracle (the Gaussian mixtures, Simple Shapes);
* ``"proxy"`` — a stand-in judged by a model (digits: a classifier's confidence), good enough to
  compare scores, not to calibrate a window on;
* ``"none"`` — nothing (an image folder): scores can be ranked, not evaluated.

Where ``oracle`` is not ``"none"`` it also answers ``is_hallucination(x) -> (n,) bool``,
``classify(x)`` and ``summary(x) -> dict``, which :func:`oracle_summary` reads as a typed
:class:`OracleSummary`. ``classify`` gives every dataset's reasons in one form: a list with one
``frozenset`` of reason names per sample, empty for an in-support one (``{"between-neighbours"}``
for a mixture, ``{"malformed", "two-squares"}`` for a Simple Shapes image, ``{"unrecognisable"}``
for a digit); :func:`reasons_key` writes one as text. Anything more is declared in
``capabilities`` (a frozenset) and asked with :func:`has`: ``shape_counts`` (objects per image),
``blame`` (where each hallucination is), ``frechet_distance`` (a feature-space distance to real
data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

ORACLES = ("exact", "proxy", "none")

# Count keys of the mixtures' summary() that are reasons of a hallucination.
_MIXTURE_REASONS = {"n_between_neighbours": "between-neighbours", "n_elsewhere": "elsewhere"}


@runtime_checkable
class Dataset(Protocol):
    oracle: str
    sample_shape: tuple

    def sample(self, n: int, seed: int = 0): ...


@dataclass(frozen=True)
class OracleSummary:
    """The oracle's verdict on a set of samples: ``n`` judged, ``n_hallucinated`` of them
    hallucinated (``rate``), per-reason counts (a sample with two reasons counts for both; ``ok``
    for the in-support ones where the dataset reports them), ``oracle`` (exact / proxy / none)
    and whatever else the dataset adds (``extra``: per-mode counts, shape counts, digit counts)."""

    n: int
    n_hallucinated: int | None
    reasons: dict = field(default_factory=dict)
    oracle: str = "none"
    extra: dict = field(default_factory=dict)

    @property
    def labelled(self) -> bool:
        return self.oracle != "none"

    @property
    def rate(self) -> float | None:
        if self.n_hallucinated is None:
            return None
        return self.n_hallucinated / self.n if self.n else 0.0

    def to_dict(self) -> dict:
        """JSON-able: the dataset's own keys first (as its ``summary()`` gives them), then ours."""
        return {**self.extra, "n": self.n, "n_hallucinated": self.n_hallucinated,
                "rate": self.rate, "reasons": dict(self.reasons), "oracle": self.oracle,
                "labelled": self.labelled}


def reasons_key(reasons: frozenset) -> str:
    """A sample's reasons as text, for captions and tables: ``"ok"`` in support, else the names
    sorted and joined by ``+`` (``"malformed+two-squares"``)."""
    return "+".join(sorted(reasons)) or "ok"


def oracle_of(data) -> str:
    """The dataset's declared oracle, or a TypeError naming what is missing."""
    oracle = getattr(data, "oracle", None)
    if oracle not in ORACLES:
        raise TypeError(f"data must declare oracle = one of {ORACLES} "
                        f"(modeinterp.data.protocol), got {type(data).__name__}.oracle={oracle!r}")
    return oracle


def has(data, capability: str) -> bool:
    """Whether ``data`` declares ``capability`` (see the module docstring)."""
    return capability in getattr(data, "capabilities", ())


def oracle_summary(data, samples) -> OracleSummary:
    """:class:`OracleSummary` of ``samples`` under ``data``'s oracle (only ``n`` when none)."""
    oracle = oracle_of(data)
    if oracle == "none":
        return OracleSummary(n=len(samples), n_hallucinated=None, oracle=oracle)
    raw = dict(data.summary(samples))
    reasons = raw.pop("reasons", None)
    if reasons is None:  # a mixture: its region counts are the reasons
        reasons = {name: int(raw[key]) for key, name in _MIXTURE_REASONS.items() if key in raw}
    n, n_h = int(raw.pop("n")), int(raw.pop("n_hallucinated"))
    raw.pop("rate", None)
    return OracleSummary(n=n, n_hallucinated=n_h, reasons=reasons, oracle=oracle, extra=raw)
