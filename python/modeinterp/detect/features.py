"""Per-sample features for a fitted detector: every score the sampler already computed (each
(window, aggregation) pair, each early score) and a few statistics of the final sample itself, as
one flat ``{name: (n,) float64}`` mapping, so that a detector can be fitted and applied by name.

Names: a score's key as text (:attr:`~modeinterp.sampling.ScoreKey.key`: ``"10/mean"``,
``"80-90/pool4"``, ``"early/3"`` for the main window's score after its first 3 steps, a run
score's name), and ``"image/{stat}"`` for :func:`image_features`. Scores are variances
(nonnegative); image statistics are not.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..validation import ArgumentTypeError, as_array

__all__ = ["IMAGE_FEATURES", "early_steps", "feature_matrix", "feature_sets", "image_features",
           "live_features", "relative", "result_features", "sampler_feature_names", "score_keys"]

IMAGE_FEATURES = ("image/foreground", "image/mean", "image/std", "image/undecided")
_CHUNK = 1024  # samples converted to float64 at a time: bounded memory for large runs


def image_features(samples) -> dict:
    """Statistics of each final sample alone, over all its values: foreground mass (fraction
    > 0), mean, std and the fraction undecided in (-0.5, 0.5). An empty or washed-out image
    can have a low variance score; these say what the image itself looks like."""
    if not hasattr(samples, "shape") or len(samples.shape) < 2 or samples.shape[0] < 1:
        raise ValueError("samples must be an (n, ...) array or tensor with n >= 1, got shape "
                         f"{tuple(getattr(samples, 'shape', ()))}")
    parts = {name: [] for name in IMAGE_FEATURES}
    for b0 in range(0, samples.shape[0], _CHUNK):
        x = as_array("samples", samples[b0:b0 + _CHUNK], np.float64)
        x = x.reshape(x.shape[0], -1)
        for name, value in zip(IMAGE_FEATURES, ((x > 0).mean(1), x.mean(1), x.std(1),
                                                (np.abs(x) < 0.5).mean(1))):
            parts[name].append(value)
    return {name: np.concatenate(values) for name, values in parts.items()}


def _vector(x) -> np.ndarray:
    return as_array("scores", x, np.float64).reshape(-1)


def _score_features(result) -> dict:
    """Every score of a SampleResult or a saved SampleSet (both hold one
    :class:`~modeinterp.sampling.Scores`) but the detector's: every window's mean (the main one
    first), then the other aggregations, then the per-run scores (early ones first) — the
    column order the detectors were fitted in."""
    from ..sampling.score_key import DETECTOR  # lazy: detect stays importable on its own

    keys = list(result.all_scores)
    ordered = [k for k in keys if k.window is not None and k.name == "mean"] + \
        [k for k in keys if k.window is not None and k.name != "mean"] + \
        [k for k in keys if k.window is None and k != DETECTOR]
    return {k.key: _vector(result.all_scores[k]) for k in ordered}


def result_features(result) -> dict:
    """Every per-sample feature of a :class:`~modeinterp.SampleResult` (or a saved
    :class:`~modeinterp.sampling.SampleSet`): {name: (n,) float64}, names as in the module doc.
    Read from ``all_scores`` and ``samples``, which both hold, so a detector sees the same names
    in memory and from disk."""
    for attr in ("all_scores", "samples"):
        if not hasattr(result, attr):
            raise ArgumentTypeError(f"result must be a SampleResult or SampleSet, got "
                                    f"{type(result).__name__} without .{attr}")
    out = _score_features(result)
    out.update(image_features(result.samples))
    return out


def live_features(result) -> dict:
    """:func:`result_features` a detector can read while sampling: no ``rel-`` pairs (they
    depend on the whole run) and only features finite for every sample."""
    features = result_features(result)
    whole_run = set(relative(features))
    return {k: v for k, v in features.items() if k not in whole_run and np.isfinite(v).all()}


def feature_sets(features) -> dict:
    """The detectors' three feature sets over ``features`` {name: …}: ``"trajectory"`` (every
    score), ``"trajectory + image"`` and ``"image only"`` (:data:`IMAGE_FEATURES`)."""
    trajectory = [k for k in features if k not in IMAGE_FEATURES]
    return {"trajectory": trajectory, "trajectory + image": trajectory + list(IMAGE_FEATURES),
            "image only": list(IMAGE_FEATURES)}


def sampler_feature_names(sampler) -> list:
    """The features a sampling pass of ``sampler`` (a :class:`~modeinterp.Sampler`) produces:
    every (window, aggregation) pair, the main window's early scores after 1 … K−1 of its K
    steps (when asked for), its run scores, and the image statistics."""
    from ..sampling.score_key import ScoreKey, early_key

    start, stop = sampler.step_range
    keys = [ScoreKey(w, a.name) for w in sampler.windows for a in sampler.aggregations] + \
        [early_key(k) for k in range(1, stop - start)] + list(sampler.run_scores)
    return [k.key for k in keys] + list(IMAGE_FEATURES)


def score_keys(names) -> list:
    """The :class:`~modeinterp.sampling.ScoreKey` of every score among feature ``names`` (the
    image statistics are not scores)."""
    from ..sampling.score_key import ScoreKey

    return [ScoreKey.parse(n) for n in names if n not in IMAGE_FEATURES]


def early_steps(names) -> list:
    """The early-exit step counts k that features ``names`` read (``"early/k"``)."""
    return sorted(k.early for k in score_keys(names) if k.early is not None)


def relative(names) -> list:
    """The features among ``names`` that are ``rel-`` aggregations (relative to the whole run)."""
    return [k.key for k in score_keys(names) if k.window is not None
            and k.name.startswith("rel-")]


def feature_matrix(features: Mapping, names, *, finite: bool = True) -> np.ndarray:
    """The (n, len(names)) float64 matrix of ``features`` {name: (n,)}, columns in ``names``
    order. A missing name is a detector fitted on scores this sampler does not compute: say
    which, and what is there, rather than fail on a KeyError. ``finite``: refuse NaN/±inf
    (fitting); scoring passes them through."""
    if not isinstance(features, Mapping):
        raise ArgumentTypeError(f"features must be a mapping {{name: (n,) values}}, got "
                                f"{type(features).__name__}")
    if not features:
        raise ValueError("features must hold at least one feature, got an empty mapping")
    names = list(names)
    if not names:
        raise ValueError("names must list at least one feature")
    missing = [n for n in names if n not in features]
    if missing:
        raise ValueError(f"the detector needs features {missing} that the sampler does not "
                         f"produce; it produces {sorted(features)}")
    columns = [as_array(f"features[{name!r}]", features[name], np.float64) for name in names]
    lengths = {name: c.shape for name, c in zip(names, columns)}
    if any(len(s) != 1 for s in lengths.values()) or len(set(lengths.values())) != 1:
        raise ValueError(f"features must be 1-D and of one length (one value per sample), got "
                         f"shapes {lengths}")
    x = np.stack(columns, axis=1)
    if x.shape[0] == 0:
        raise ValueError("features hold no samples (length 0)")
    bad = [name for name, c in zip(names, columns) if not np.isfinite(c).all()]
    if bad and finite:
        raise ValueError(f"features {bad} hold NaN or ±inf values")
    return x
