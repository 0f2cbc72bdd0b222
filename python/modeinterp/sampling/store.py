"""Samples and their scores on disk: one schema, :data:`SCHEMA`, and one reader for every layout.

A :class:`SampleSet` is what a sampling run leaves: the samples and, for every scored window, the
per-sample scores (plus early-exit scores and the non-mean (window, aggregation) pairs).
:func:`save_samples` writes one to ``samples.pt`` (atomically); :func:`load_samples` reads it back
from any layout; :func:`iter_shards` walks a sharded run one memory-mapped shard at a time.

``samples.pt`` of schema 2 is a ``torch.save``d dict that loads with ``weights_only=True``::

    schema         "modeinterp.samples/2"
    samples        (n, *shape) float32
    windows        ["10", "40-60", …] every window, in sampling order (Window.key); [0] the main one
    scores         {"10": (n,) float32, …} keyed like windows, in the same order
    early_scores   {k: (n,) float32} early-exit scores of the main window
    pair_scores    {"10/pool4": (n,) float32} every non-mean (window, aggregation) pair (ScoreKey.key)
    seed           int or None;  config_digest  str or None (:func:`config_digest`)
    run_scores     {name: (n,) float32} the run's own scores (Sampler(run_scores=)), when it has any

:func:`load_samples` also reads the files written before schema 2 (no ``schema`` key: ``modeinterp
sample``'s {samples, scores, early_scores}, ``reproduce``'s {…, window_scores, pair_scores},
``recursive``'s {samples, scores keyed by window}) and ``shards/`` of :mod:`.shards` (any number of
processes). Its ``SampleSet`` unpacks as ``samples, scores = load_samples(out)`` (the main window's
scores), as the reader of earlier versions returned.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

from ..artifacts import load_json, save_json, save_npy, save_pt
from .score_key import DETECTOR, ScoreKey, early_key
from .scores import ScoreViews, Scores
from .window_spec import Window

__all__ = ["LEGACY_SCHEMA", "SCHEMA", "SampleSet", "config_digest", "iter_shards", "load_samples",
           "load_shard_maps", "save_samples", "write_shard"]

SCHEMA = "modeinterp.samples/2"
# Files (and shard markers) written before schema 2 carry no "schema" key; read as this one.
LEGACY_SCHEMA = "modeinterp.samples/1"
# The main window of a legacy file that does not record it (modeinterp sample, one window):
# the default of Sampler and of every experiment config.
LEGACY_WINDOW = 10


def config_digest(config) -> str:
    """The first 16 hex digits of the sha256 of ``json.dumps(config, sort_keys=True)``."""
    text = json.dumps(config, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _f32(t) -> torch.Tensor:
    return torch.as_tensor(t).detach().to("cpu", torch.float32)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, NaN equal to NaN (a diverging model leaves NaN samples)."""
    return a.shape == b.shape and a.dtype == b.dtype and \
        bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())


def _same_dict(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)


@dataclass(eq=False)
class SampleSet(ScoreViews):
    """Samples and their scores, the same in memory whatever wrote them.

    samples: (n, *shape) float32 CPU tensor. all_scores: every score, the
    :class:`~modeinterp.sampling.Scores` a fresh :class:`~modeinterp.sampling.SampleResult`
    holds (float32, CPU; the detector's stays behind: flags.pt holds it), read through the same
    views (:class:`~modeinterp.sampling.ScoreViews`: ``windows``, ``scores``, ``window_scores``,
    …). seed, config_digest: of the run, when it recorded them. schema: the schema it was read as
    (:data:`SCHEMA`, or :data:`LEGACY_SCHEMA` for files written before it).

    Unpacks into ``samples, scores`` (``samples, scores = load_samples(out)``: the main window's
    scores); ``==`` compares every field (NaN equal to NaN).
    """

    samples: torch.Tensor
    all_scores: Scores
    seed: Optional[int] = None
    config_digest: Optional[str] = None
    schema: str = SCHEMA

    @classmethod
    def stored(cls, samples, scores: dict, windows: list, early_scores=None, pair_scores=None,
               run_scores=None, **facts) -> "SampleSet":
        """A SampleSet from the pieces samples.pt and shards hold: ``scores`` {window: (n,)}
        keyed like ``windows``, ``early_scores`` {k: (n,)}, ``pair_scores`` {"10/pool4": (n,)},
        ``run_scores`` {name: (n,)}."""
        windows = [Window.parse(w) for w in windows]
        means = {Window.parse(w): s for w, s in scores.items()}
        if not windows or set(means) != set(windows) or len(means) != len(windows):
            raise ValueError(f"scores must hold exactly the windows {windows}, got "
                             f"{list(means)}")
        values = {ScoreKey(w, "mean"): _f32(means[w]) for w in windows}
        values.update({ScoreKey.parse(key): _f32(s) for key, s in (pair_scores or {}).items()})
        values.update({early_key(k): _f32(s) for k, s in (early_scores or {}).items()})
        values.update({ScoreKey(None, name): _f32(s) for name, s in (run_scores or {}).items()})
        return cls(samples, Scores(windows, values), **facts)

    @classmethod
    def from_result(cls, result, *, seed: Optional[int] = None, config=None) -> "SampleSet":
        """A float32 CPU copy of ``result``'s samples and scores (a SampleResult or SampleSet;
        the detector's scores stay behind: flags.pt holds them); ``seed``/``config`` override
        what it recorded (``config``: any JSON-able dict, stored as :func:`config_digest`)."""
        kept = {k: _f32(v) for k, v in result.all_scores.items() if k != DETECTOR}
        return cls(_f32(result.samples), Scores(result.all_scores.windows, kept),
                   getattr(result, "seed", None) if seed is None else int(seed),
                   getattr(result, "config_digest", None) if config is None
                   else config_digest(config))

    def select(self, keep: torch.Tensor) -> "SampleSet":
        """The set restricted to the samples ``keep`` (a bool mask or indices)."""
        return dataclasses.replace(self, samples=self.samples[keep],
                                   all_scores=self.all_scores.map(lambda v: v[keep]))

    def __iter__(self):
        """``samples, scores = sample_set``: the samples and the main window's scores."""
        yield self.samples
        yield self.scores

    def __eq__(self, other):
        if not isinstance(other, SampleSet):
            return NotImplemented
        return (self.windows == other.windows and self.seed == other.seed
                and self.config_digest == other.config_digest and self.schema == other.schema
                and _same(self.samples, other.samples)
                and _same_dict(dict(self.all_scores), dict(other.all_scores)))

    __hash__ = None

    def to_dict(self) -> dict:
        """The schema-2 dict ``samples.pt`` holds (plain tensors and values; ``run_scores`` only
        when the run has any)."""
        run = self.run_scores
        return {"schema": SCHEMA, "samples": self.samples,
                "windows": [w.key for w in self.windows],
                "scores": {w.key: s for w, s in self.window_scores.items()},
                "early_scores": dict(self.early_scores), "pair_scores": _pair_scores(self),
                "seed": self.seed, "config_digest": self.config_digest,
                **({"run_scores": run} if run else {})}


def _pair_scores(sset) -> dict:
    """{"10/pool4": (n,)}: every (window, aggregation) pair but the means, as stored."""
    return {k.key: s for k, s in sset.aggregate_scores.items() if k.name != "mean"}


def save_samples(path, result, *, seed: Optional[int] = None, config=None) -> SampleSet:
    """Write ``result`` (a SampleResult, or a SampleSet as it is) as ``samples.pt`` of schema 2,
    atomically; ``path``: the file (``….pt``) or its folder. ``config``: any JSON-able dict, stored
    as :func:`config_digest`. Returns the SampleSet written."""
    sset = SampleSet.from_result(result, seed=seed, config=config)
    target = Path(path)
    save_pt(sset.to_dict(), target if target.suffix == ".pt" else target / "samples.pt")
    return sset


def _legacy(saved: dict, legacy_window) -> SampleSet:
    """A samples.pt written before schema 2."""
    scores = saved["scores"]
    if isinstance(scores, dict):  # recursive: {Window.key: scores}, the main window first
        windows = dict(scores)
    else:  # reproduce (window_scores when several windows) or sample (one window, unrecorded)
        windows = dict(saved.get("window_scores") or {}) or {legacy_window: scores}
    pairs = {k: v for k, v in (saved.get("pair_scores") or {}).items()
             if ScoreKey.parse(k).name != "mean"}
    return SampleSet.stored(_f32(saved["samples"]), windows, list(windows),
                            saved.get("early_scores"), pairs, schema=LEGACY_SCHEMA)


def _check_schema(schema, where) -> None:
    if schema not in (None, SCHEMA):
        raise ValueError(f"{where} holds samples of schema {schema!r}, which this modeinterp "
                         f"cannot read: it reads {SCHEMA!r} and the unversioned files written "
                         "before it (a newer modeinterp wrote this one?)")


def _read_file(path: Path, legacy_window) -> SampleSet:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or "samples" not in saved:
        raise ValueError(f"{path} is not a samples file (no 'samples' entry)")
    _check_schema(saved.get("schema"), path)
    if saved.get("schema") is None:
        return _legacy(saved, legacy_window)
    return SampleSet.stored(saved["samples"], saved["scores"], saved["windows"],
                            saved["early_scores"], saved["pair_scores"],
                            saved.get("run_scores"), seed=saved["seed"],
                            config_digest=saved["config_digest"])


def load_samples(out, *, legacy_window=LEGACY_WINDOW) -> SampleSet:
    """The :class:`SampleSet` of a sampling run, in global sample order, whatever it left:
    ``out/shards/`` (streamed, any number of processes; preferred when present), else
    ``out/samples.pt`` (``out`` may also name the ``.pt`` file itself) of schema 2 or earlier.
    ``legacy_window``: the main window of an earlier file that does not record it.
    ``samples, scores = load_samples(out)`` unpacks the samples and the main window's scores."""
    out = Path(out)
    if out.is_file():
        return _read_file(out, legacy_window)
    if _shard_markers(out):
        return _cat(list(iter_shards(out, legacy_window=legacy_window)))
    if (out / "samples.pt").exists():
        return _read_file(out / "samples.pt", legacy_window)
    raise FileNotFoundError(f"{out} holds no samples: neither samples.pt nor shards/*.json")


# -- shards/: one marker json per complete shard, one .npy per array --------------------------

def _layout(windows, early, pairs, run=()) -> list:
    """[(field, key, file suffix)] of one shard's arrays (shards/<start>-<stop><suffix>)."""
    rows = [("samples", None, ".samples.npy"), ("scores", windows[0], ".scores.npy")]
    rows += [("scores", w, f".window-{Window.parse(w).key}.npy") for w in windows[1:]]
    rows += [("early_scores", k, f".early-{k}.npy") for k in early]
    rows += [("pair_scores", p, f".pair-{ScoreKey.parse(p).file_stem}.npy") for p in pairs]
    rows += [("run_scores", name, f".run-{name}.npy") for name in run]
    return rows


def _maps_suffix(window) -> str:
    return f".maps-{Window.parse(window).key}.npy"


def write_shard(base: Path, sset: SampleSet, maps: Optional[dict] = None, **facts) -> dict:
    """Write one shard: every array of ``sset`` next to ``base`` (``shards/<start>-<stop>``), then
    its marker ``base.json`` — last: the shard is complete once it exists. ``maps``: the score
    maps {window: (n, *shape)} of ``Sampler.sample(score_maps=True)``, when the run keeps them
    (read back by :func:`load_shard_maps`). The marker holds the windows (``main_window``;
    ``windows``: the others), early-exit steps, pairs, the windows of the maps, seed, config
    digest, schema and ``facts``. Returns the marker."""
    fields = {"scores": sset.window_scores, "early_scores": sset.early_scores,
              "pair_scores": _pair_scores(sset), "run_scores": sset.run_scores}
    for name, key, suffix in _layout(sset.windows, fields["early_scores"],
                                     fields["pair_scores"], fields["run_scores"]):
        array = sset.samples if key is None else fields[name][key]
        save_npy(array.numpy(), f"{base}{suffix}")
    for window, array in (maps or {}).items():
        save_npy(_f32(array).numpy(), f"{base}{_maps_suffix(window)}")
    marker = {**facts, "schema": SCHEMA, "seed": sset.seed, "config_digest": sset.config_digest,
              "main_window": sset.windows[0].key,
              "windows": [w.key for w in sset.windows[1:]],
              "early": sorted(fields["early_scores"]), "pairs": list(fields["pair_scores"]),
              **({"run": list(fields["run_scores"])} if fields["run_scores"] else {}),
              **({"maps": [Window.parse(w).key for w in maps]} if maps else {})}
    save_json(marker, f"{base}.json", indent=None)
    return marker


def _shard_markers(out: Path) -> list:
    folder = out / "shards"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _contiguous(out: Path) -> list:
    """The complete shards' markers in order; an error naming the gap when they do not cover a
    contiguous range from 0."""
    markers = _shard_markers(out)
    if not markers:
        raise FileNotFoundError(f"{out} holds no samples: neither samples.pt nor shards/*.json")
    spans = [tuple(int(v) for v in m.stem.split("-")) for m in markers]
    gaps = [f"[{a}, {b})" for (_, a), (b, _) in zip(spans, spans[1:]) if a != b]
    if spans[0][0] != 0 or gaps:
        raise RuntimeError(f"{out / 'shards'}: shards do not cover a contiguous range from 0 "
                           f"(missing {', '.join(gaps) or f'[0, {spans[0][0]})'}): rerun the "
                           "sampling")
    return markers


def _main_window(out: Path, marker: dict, legacy_window):
    """The main window of a sharded run: its markers say (schema 2); before, shards.json may
    (``modeinterp sample`` wrote str(spec): "10", "(40, 60)")."""
    if "main_window" in marker:
        return Window.parse(marker["main_window"])
    index = out / "shards.json"
    listed = load_json(index).get("windows") if index.exists() else None
    if listed:
        return Window.parse(str(listed[0]))
    return Window.parse(legacy_window)


def iter_shards(out, *, legacy_window=LEGACY_WINDOW) -> Iterator[SampleSet]:
    """One :class:`SampleSet` per shard of ``out/shards/``, in sample order, its samples
    memory-mapped (copy-on-write: numpy-backed tensors read from disk as used) — runs larger than
    memory, a shard at a time. A one-file run yields its one SampleSet."""
    out = Path(out)
    if not _shard_markers(out) and (out.is_file() or (out / "samples.pt").exists()):
        yield load_samples(out, legacy_window=legacy_window)
        return
    markers = _contiguous(out)
    meta = load_json(markers[0])
    _check_schema(meta.get("schema"), markers[0])
    windows = [_main_window(out, meta, legacy_window)] + \
        [Window.parse(w) for w in meta.get("windows", [])]
    early = [int(k) for k in meta.get("early", [])]
    layout = _layout(windows, early, meta.get("pairs", []), meta.get("run", []))
    for marker in markers:
        fields = {"scores": {}, "early_scores": {}, "pair_scores": {}, "run_scores": {}}
        for name, key, suffix in layout:
            path = marker.with_suffix(suffix)
            if key is None:
                samples = torch.from_numpy(np.load(path, mmap_mode="c"))
            else:
                fields[name][key] = torch.from_numpy(np.load(path))
        yield SampleSet.stored(samples, windows=windows, seed=meta.get("seed"),
                               config_digest=meta.get("config_digest"),
                               schema=meta.get("schema", LEGACY_SCHEMA), **fields)


def load_shard_maps(out) -> dict:
    """The score maps {Window: (n, *shape) float32} a sharded run kept (``write_shard``'s
    ``maps``), in global sample order; {} when its shards hold none."""
    markers = _contiguous(Path(out))
    keys = load_json(markers[0]).get("maps", [])
    return {Window.parse(key): torch.cat([torch.from_numpy(np.load(m.with_suffix(
        _maps_suffix(key)))) for m in markers]) for key in keys}


def _cat(sets: list) -> SampleSet:
    """Shards (in order) as one SampleSet."""
    first = sets[0]

    return dataclasses.replace(first, samples=torch.cat([s.samples for s in sets]),
                               all_scores=Scores.cat([s.all_scores for s in sets]))
